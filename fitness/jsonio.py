"""Reading JSON input files with the one-line errors every loader owes the user."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fitness.errors import InputError


def read_json(path: str | Path) -> Any:
    """Parsed content of ``path``; a missing, unreadable or malformed file is an InputError."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
