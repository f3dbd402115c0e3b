"""``ecgimn`` command line: thin sub-commands over the package API.

Each command group lives in its own module exposing ``register(subparsers)``; the parser sets ``func``.
User-facing errors (:class:`ecgimn.errors.EcgImnError`) are printed as one line, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ecgimn import __version__
from ecgimn.errors import EcgImnError

#: modules under ecgimn.cli that add sub-commands
COMMAND_MODULES = ("data", "score", "train", "explain", "predict", "export", "app", "study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecgimn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ecgimn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"ecgimn.cli.{name}")
        except ModuleNotFoundError as exc:  # a command group not installed / not yet written
            if exc.name and exc.name.startswith("ecgimn.cli."):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except EcgImnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
