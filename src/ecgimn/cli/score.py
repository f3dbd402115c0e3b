"""``ecgimn score``: score saved labels and model outputs as the PTB-XL benchmark does."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ecgimn.cli.common import add_command
from ecgimn.errors import DataError, InputError

HELP = "macro-AUROC with 90%% bootstrap interval, Fmax and per-class AUROC of saved scores"
DESCRIPTION = "Score a model's outputs exactly as the PTB-XL benchmark (Strodthoff et al. 2021) does."


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "score", run_score, help=HELP, description=DESCRIPTION)
    p.add_argument("--labels", required=True, help=".npy of 0/1 labels, shape (N, K) or (N,)")
    p.add_argument("--scores", required=True, help=".npy of scores/probabilities, same shape as the labels")
    p.add_argument(
        "--bootstrap-ids", default=None, help=".npy of resample row indices (n, N), e.g. the benchmark's"
    )
    p.add_argument("--classes", default=None, help="JSON list of the K class names (column order)")
    p.add_argument(
        "--n-bootstrap", type=int, default=100, help="resamples to draw when no ids are given (0: none)"
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the drawn resamples")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def load_array(path: str | Path, what: str) -> np.ndarray:
    """Load one array from a .npy (or single-array .npz) without unpickling; clear :class:`DataError` otherwise."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} file not found: {p}")
    with p.open("rb") as fh:
        head = fh.read(6)
    pickled = DataError(
        f"{p} ({what}) holds pickled Python objects, which are never loaded (unsafe); re-save it as a plain "
        "numeric array, e.g. np.save(path, np.asarray(np.load(path, allow_pickle=True), float))"
    )
    if not head.startswith((b"\x93NUMPY", b"PK")):  # neither .npy nor .npz
        if head.startswith(b"\x80"):  # pickle protocol >= 2, e.g. ndarray.dump()
            raise pickled
        raise DataError(f"{p} ({what}) is not a .npy file; save the array with numpy.save")
    try:
        loaded = np.load(p, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):  # object arrays
            raise pickled from exc
        raise DataError(f"{p} ({what}) is not a readable .npy file: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise DataError(f"{p} ({what}) is not a readable .npy file: {exc}") from exc
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if len(loaded.files) != 1:
                raise DataError(
                    f"{p} ({what}) holds {len(loaded.files)} arrays {loaded.files}; save just one"
                )
            return loaded[loaded.files[0]]
    return loaded


def load_classes(path: str | Path) -> list[str]:
    """Class names from a JSON list (or an object with a ``classes`` list)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"classes file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{p} is not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("classes")
    if not isinstance(data, list) or not all(isinstance(c, str) for c in data):
        raise InputError(f'{p} must hold a JSON list of class names (strings), e.g. ["NORM", "MI"]')
    return data


def _fmt(x: float | None, digits: int = 5) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def format_score(result: dict[str, Any], n_positive: dict[str, int] | None = None) -> str:
    """Human-readable table of a :func:`ecgimn.evaluation.score` result (per-class AUROC best first)."""
    lines = [
        f"{result['n_records']} records, {result['n_classes']} classes, {result['n_bootstrap']} bootstrap resamples"
    ]
    ci = (
        f"[{result['ci_level']:.0%} CI {_fmt(result['ci_low'])}-{_fmt(result['ci_high'])}]"
        f"  bootstrap mean {_fmt(result['bootstrap_mean'])}"
        if result["ci_low"] is not None
        else "[no bootstrap interval]"
    )
    lines.append(f"macro-AUROC  {_fmt(result['macro_auroc'])}  {ci}")
    lines.append(f"Fmax         {_fmt(result['fmax'])}  (sample-centric)")
    excluded = result["excluded_classes"]
    lines.append(f"excluded     {', '.join(excluded) if excluded else 'none'}")
    per_class = result["per_class_auroc"]
    width = max([5, *(len(c) for c in per_class)])
    order = sorted(per_class, key=lambda c: (per_class[c] is None, -(per_class[c] or 0.0)))
    lines += [
        "",
        "per-class AUROC (best first)",
        f"{'class':<{width}}  AUROC" + ("    positives" if n_positive is not None else ""),
    ]
    for c in order:
        pos = "" if n_positive is None else str(n_positive[c])
        lines.append(f"{c:<{width}}  {_fmt(per_class[c], 4):<7}  {pos}".rstrip())
    return "\n".join(lines)


def run_score(args: argparse.Namespace) -> int:
    from ecgimn.evaluation import score

    y = load_array(args.labels, "labels")
    s = load_array(args.scores, "scores")
    ids = load_array(args.bootstrap_ids, "bootstrap ids") if args.bootstrap_ids else None
    classes = load_classes(args.classes) if args.classes else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = score(y, s, classes=classes, bootstrap_ids=ids, n_bootstrap=args.n_bootstrap, seed=args.seed)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        counts = np.asarray(y).reshape(len(y), -1).sum(axis=0)
        print(format_score(result, dict(zip(result["per_class_auroc"], (int(c) for c in counts)))))
    return 0
