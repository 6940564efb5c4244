"""The failure every verb may raise to end with kubectl's ``error: <message>`` and exit code 1."""


class CommandError(Exception):
    """A failure kubectl reports as ``error: <message>`` with exit code 1."""
