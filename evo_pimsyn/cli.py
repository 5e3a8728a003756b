"""The ``evo-pimsyn`` command line: one subcommand module per job.

Every subcommand module in :mod:`evo_pimsyn.commands` exposes ``add_parser(subparsers)``
which registers its parser and sets ``func`` (``args -> exit code``). Bad input anywhere
below surfaces as :class:`fitness.errors.InputError` and becomes one line on stderr with
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from evo_pimsyn import __version__
from evo_pimsyn.messages import use_cli_format
from fitness.errors import InputError

# Order here is the order in `--help`.
COMMANDS = ("network", "evaluate", "sample", "run", "resume", "study", "report", "export", "pimsyn")

EXIT_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """Bad usage is one line on stderr and exit 2, like every other input error.

    argparse would print the whole usage block first; the help is one flag away.
    Subparsers inherit this class, so every subcommand answers the same way.
    """

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="evo-pimsyn",
        description="Synthesize ReRAM processing-in-memory CNN accelerators with a multi-objective GA.",
    )
    parser.add_argument("--version", action="version", version=f"evo-pimsyn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"evo_pimsyn.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"evo_pimsyn.commands.{name}":
                continue  # subcommand not shipped in this version
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    use_cli_format()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"evo-pimsyn: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("evo-pimsyn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
