"""Registers the built-in tasks through the same hook a task plugin uses."""

from rnnreg import hookimpl
from rnnreg.tasks.synthetic import SyntheticLM, SyntheticSentiment
from rnnreg.tasks.text import PennTreebank, SentimentPolarity, SentimentScale, WikiText2


@hookimpl
def register_tasks(register):
    register(SyntheticLM)
    register(SyntheticSentiment)
    for task in (PennTreebank, WikiText2, SentimentScale, SentimentPolarity):
        register(task)
