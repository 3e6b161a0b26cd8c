"""The metric vocabulary shared by training and the reading side, in a module that imports nothing heavy:
the board, claims and `reproduce` read it without importing torch."""

PRIMARY_METRIC = {"language-model": "perplexity", "classification": "error", "regression": "rmse"}
HIGHER_IS_BETTER = {"perplexity": False, "error": False, "rmse": False, "loss": False}
