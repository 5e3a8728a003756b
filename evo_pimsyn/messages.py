"""Warnings about user input that the tool worked around (dynamic batch, dropped nodes).

They go through :mod:`warnings` with their own category, so library callers and tests can
filter or record them; the CLI prints them as ``evo-pimsyn: warning: <msg>`` (one line)
once :func:`use_cli_format` has been called.
"""

from __future__ import annotations

import sys
import warnings


class InputWarning(UserWarning):
    """Input accepted with an assumption the user should know about."""


def warn(message: str) -> None:
    warnings.warn(message, InputWarning, stacklevel=3)


_default_showwarning = warnings.showwarning


def _show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings API
    if issubclass(category, InputWarning):
        print(f"evo-pimsyn: warning: {message}", file=file if file is not None else sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


def use_cli_format() -> None:
    """Print :class:`InputWarning` as one line; other warnings keep Python's format."""
    warnings.showwarning = _show
