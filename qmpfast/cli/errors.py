"""The one error every subcommand reports the same way."""


class CLIError(Exception):
    """A failure to report as one line (``qmpfast: ...``) and exit status 1."""
