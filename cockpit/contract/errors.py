"""The one error class meant for users: caught once in cli.py, printed as one line, exit 2."""


class CockpitError(Exception):
    """Bad input or an impossible request, worded for the user: what, where, and what to do."""
