"""``ecgimn study``: the accuracy-parity design study (configurations x seeds -> results table)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ecgimn.cli.common import add_command
from ecgimn.constants import TASKS


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "study", run_study_cmd, help="train configurations x seeds; select on fold 9, report fold 10"
    )
    p.add_argument("--data", help="PTB-XL root folder (required unless --list)")
    p.add_argument("--task", default="superdiagnostic", choices=TASKS)
    p.add_argument("--fs", type=int, default=100, choices=(100, 500))
    p.add_argument(
        "--configs", nargs="+", help="preset names and/or JSON files of configurations (see --list)"
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--out", help="study folder (results.json, results.md, one run per config/seed); required to train"
    )
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="recipe defaults for every configuration, e.g. epochs=30 batch_size=64 (JSON values)",
    )
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--reevaluate", action="store_true", help="re-score finished runs from their checkpoints")
    p.add_argument(
        "--estimate", action="store_true", help="only print the expected time (timed steps) and exit"
    )
    p.add_argument("--no-progress", action="store_true")


def _parse_sets(items: list[str]) -> dict:
    from ecgimn.errors import ConfigError

    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _study(args: argparse.Namespace) -> tuple[str, dict[str, dict[str, Any]], dict[str, Any]]:
    """What the study's time estimate and the study itself both read: the data, the configurations and the
    seeds, task, rate and ``--set`` defaults (keyword arguments)."""
    from ecgimn.study.presets import load_configs

    options = dict(seeds=args.seeds, task=args.task, fs=args.fs, defaults=_parse_sets(args.set))
    return args.data, load_configs(args.configs), options


def run_study_cmd(args: argparse.Namespace) -> int:
    from ecgimn.study.presets import STUDY_PRESETS
    from ecgimn.study.runner import run_study

    if args.list:
        for name, recipe in STUDY_PRESETS.items():
            print(f"{name:24s} {json.dumps(recipe)}")
        return 0
    from ecgimn.errors import ConfigError

    needed = ["--data", "--configs"] + ([] if args.estimate else ["--out"])
    missing = [flag for flag in needed if getattr(args, flag[2:]) is None]
    if missing:
        raise ConfigError(f"ecgimn study needs {' and '.join(missing)} (only --list works without them)")
    if args.estimate:
        from ecgimn.study.estimate import estimate_seconds

        data, configs, options = _study(args)
        est = estimate_seconds(data, configs, **options, study_dir=args.out or ".")
        for row in est["rows"]:
            missing = (
                f"  (+ {row['teachers_missing']} teacher(s) not trained yet)"
                if row["teachers_missing"]
                else ""
            )
            print(
                f"{row['config']:24s} {row['seconds_per_step'] * 1e3:8.1f} ms/step  ~{row['seconds'] / 60:.1f} min"
                f"{missing}"
            )
        print(
            f"expected training time: about {est['total_seconds'] / 60:.0f} min for {est['n_train']} training "
            f"records x {len(args.seeds)} seeds (plus evaluation)"
        )
        return 0
    data, configs, options = _study(args)
    result = run_study(
        data, configs, **options, out=args.out, progress=not args.no_progress, reevaluate=args.reevaluate
    )
    print(open(result["markdown"]).read())
    return 0
