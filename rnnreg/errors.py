"""The one exception type a user can cause.

Anything raised as `RnnregError` is a user mistake or an unmet precondition (bad name, bad parameter,
missing data). The CLI prints it as a single line and exits non-zero; everything else is a bug and keeps
its traceback.
"""


class RnnregError(Exception):
    """A problem the user can fix; its message is one line that names the bad value and what is allowed."""


class Diverged(RuntimeError):
    """Training produced a non-finite loss; the job is recorded as failed with this reason."""
