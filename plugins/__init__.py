"""rnnreg's built-in regularizer plugins (installed as the package `rnnreg_plugins`), one module each."""
