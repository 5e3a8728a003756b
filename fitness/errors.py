"""Errors raised for bad user input anywhere below the CLI.

The CLI turns an :class:`InputError` into one line on stderr and exit code 2, so its
message must name the file, field or layer at fault and say what rule it broke.
"""


class InputError(ValueError):
    """Bad user input (file, field, value). The message is shown to the user as is."""
