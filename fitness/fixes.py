"""Named fixes of PIMSYN's modelling shortcuts (MODEL.md §13), switchable one by one.

With no fix the model is PIMSYN's, bit for bit. Each fix replaces one shortcut with the
rule a hardware architect would expect; ``docs/model-fixes.md`` has a paragraph per fix
(PIMSYN's behaviour, why it is not physical, the revised rule, the quirk it answers).
A set of fixes is a ``frozenset`` of the names below; ``parse_fixes`` reads the command
line's ``none``, ``all`` or ``NAME,NAME`` and ``fixes_label`` writes it back canonically.
"""

from __future__ import annotations

import difflib
from typing import Iterable

from fitness.errors import InputError

# name -> the MODEL.md quirk it answers (canonical order: the order of docs/model-fixes.md)
FIXES: dict[str, str] = {
    "fc": "Q15",
    "min-power": "Q16",
    "eltwise-loads": "Q20",
    "final-op": "Q22",
    "live-window": "Q24",
    "pixel-window": "Q25",
    "fixed-point": "Q26",
    "min-capacity": "Q21",
    "non-square": "Q1",
    "pool-surplus": "Q11",
    "input-load": "-",
    "activations": "Q2",
}
NONE: frozenset[str] = frozenset()
ALL: frozenset[str] = frozenset(FIXES)


def parse_fixes(spec: str | Iterable[str] | None) -> frozenset[str]:
    """``None``/``"none"`` -> no fix, ``"all"`` -> every fix, ``"fc,min-power"`` (or an
    iterable of names) -> those; an unknown name is an :class:`InputError`."""
    if spec is None:
        return NONE
    if isinstance(spec, frozenset) and spec <= ALL:
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        if text in ("", "none"):
            return NONE
        if text == "all":
            return ALL
        names = [s.strip() for s in text.split(",")]
    else:
        names = [str(s).strip() for s in spec]
    for name in names:
        if name not in FIXES:
            close = difflib.get_close_matches(name, list(FIXES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"The 'fixes' parameter must be none, all or a comma list of {', '.join(FIXES)}. "
                             f"Got unknown fix {name!r}{hint} instead.")
    return frozenset(names)


def fixes_label(fixes: Iterable[str]) -> str:
    """The canonical text of a set of fixes: ``none``, ``all`` or the names in FIXES order."""
    chosen = frozenset(fixes)
    if not chosen:
        return "none"
    if chosen == ALL:
        return "all"
    return ",".join(name for name in FIXES if name in chosen)
