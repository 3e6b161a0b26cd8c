"""The suites shipped with rnnreg (benchmarks/suites/*.yaml), installed as `rnnreg_suites`."""
