"""What the sub-commands share: how a command is added, and the options that choose the model."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_command(
    sub: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int],
    help: str,
    description: str | None = None,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """Add the sub-command ``name``; :func:`ecgimn.cli.main` calls ``run(args)`` with its parsed arguments."""
    p = sub.add_parser(name, help=help, description=description, **kwargs)
    p.set_defaults(func=run)
    return p


def add_model_arguments(
    p: argparse.ArgumentParser, *, device: bool = True, interpretable: bool = False
) -> None:
    """``--model`` (a bundled model name or a checkpoint path; default: the bundled ``default``) and ``--device``."""
    kind = "ECG-IMN checkpoint" if interpretable else "checkpoint"
    p.add_argument(
        "--model",
        default="default",
        help=f"bundled model name or {kind} path (default: the bundled 'default')",
    )
    if device:
        p.add_argument("--device", default=None, help="auto (CUDA when present), cpu, cuda ...")
