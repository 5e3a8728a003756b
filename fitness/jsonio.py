"""Reading JSON input files with the one-line errors every loader owes the user.

One style for every input file (hardware config, network, run record, designs):
``PATH: no such file``, ``PATH: is a directory, expected WHAT``, ``PATH: not a text
file, expected WHAT``, ``PATH: empty file, expected WHAT`` and
``PATH:LINE: not valid JSON (WHY, column C)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fitness.errors import InputError


def read_text(path: str | Path, what: str = "a JSON file") -> str:
    """Text of ``path`` (UTF-8); a missing, unreadable or binary file is an InputError
    saying what the file should have been (``what``)."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected {what}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file, expected {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def parse_json(text: str, source: str | Path, first_line: int = 1) -> Any:
    """``text`` parsed; malformed JSON is an InputError naming ``source`` and the line
    (counted from ``first_line``, for one line of a JSON-lines file) and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}:{first_line + exc.lineno - 1}: not valid JSON ({exc.msg}, column {exc.colno})") \
            from None


def read_json(path: str | Path, what: str = "a JSON file") -> Any:
    """Parsed content of ``path``; a missing, unreadable, empty or malformed file is an
    InputError (see the module docstring)."""
    text = read_text(path, what)
    if not text.strip():
        raise InputError(f"{path}: empty file, expected {what}")
    return parse_json(text, path)
