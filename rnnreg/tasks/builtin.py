"""Registers the built-in tasks through the same hook a task plugin uses."""

from rnnreg import hookimpl
from rnnreg.tasks.synthetic import SyntheticLM, SyntheticSentiment


@hookimpl
def register_tasks(register):
    register(SyntheticLM)
    register(SyntheticSentiment)
