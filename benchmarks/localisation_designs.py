"""Apply the selection rule of the localisation plans: accuracy (study results) + fold-9 localisation.

Reads the studies' ``results.json`` (fold-9 / fold-10 macro-AUROC per seed) and the JSON outputs of
``bench_localisation.py --fold 9`` for the shipped default and for each seed of each candidate, and writes a markdown
table with the verdict of each bar (docs/results/localisation-plan.md, localisation-plan-2.md).

    python benchmarks/localisation_designs.py --study runs/study-loc/results.json \\
        --default runs/loc9/default.json --candidate runs/loc9/cand-seed0.json runs/loc9/cand-seed1.json \\
        runs/loc9/cand-seed2.json --out docs/results/localisation-designs.md
    python benchmarks/localisation_designs.py --study runs/study-loc2-local/results.json \\
        runs/study-loc2-lead/results.json --default docs/results/localisation-fold9/default.json \\
        --candidate imn-1d-local-aug-global-crop runs/loc9-2/local-seed0.json ... \\
        --candidate imn-1d-lead-local-aug-global-crop runs/loc9-2/lead-seed0.json ... \\
        --plan localisation-plan-2.md --out docs/results/localisation-designs-2.md
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: fold-9 macro-AUROC of the default recipe's members (model card of the shipped default), and the allowed drop
DEFAULT_MEMBERS_FOLD9 = (0.9326, 0.9320, 0.9309)
MAX_DROP = 0.005
CANDIDATE = "imn-1d-dual-x-static-aug-global-crop"


def _loc(paths: list[str]) -> dict[str, Any]:
    runs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    s = [r["summary"] for r in runs]
    grows = [int(x["dlogit_grows_with_size"].split()[0]) for x in s]
    return {
        "n": len(runs),
        "cells": float(np.mean([x["cells_share_mean"] for x in s])),
        "cells_median": float(np.mean([x["cells_share_median"] for x in s])),
        "bias": float(np.mean([x["bias_share_mean"] for x in s])),
        "abs": float(np.mean([x["abs_cells_share_mean"] for x in s])),
        "grows_min": min(grows),
        "grows_of": s[0]["dlogit_grows_with_size"].split()[-1],
        "control": float(np.max([x["control_max_abs_dp"] for x in s])),
        "sttc": float(np.mean([r["real"]["sttc_st_t_share_norm_referenced"] for r in runs])),
        "mi": float(np.mean([r["real"]["mi_top_lead_in_territory"]["model"] for r in runs])),
    }


def _parse_candidates(groups: list[list[str]]) -> list[tuple[str, list[str]]]:
    """``--candidate [CONFIG] JSON...`` groups -> (config, JSONs); without a config name: round 1's candidate."""
    out = []
    for g in groups:
        name, paths = (CANDIDATE, g) if g[0].endswith(".json") else (g[0], g[1:])
        if not paths:
            raise SystemExit(f"error: --candidate {name}: no bench_localisation JSON given")
        out.append((name, paths))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--study", nargs="+", required=True, help="study results.json file(s) holding the candidates"
    )
    p.add_argument("--default", required=True, help="bench_localisation --fold 9 JSON of the shipped default")
    p.add_argument(
        "--candidate",
        nargs="+",
        action="append",
        required=True,
        metavar="[CONFIG] JSON",
        help="a candidate's study config name, then its bench_localisation --fold 9 JSON per seed "
        f"(repeat for several candidates; without a name: {CANDIDATE})",
    )
    p.add_argument(
        "--plan", default="localisation-plan.md", help="the plan's file name, linked from the output"
    )
    p.add_argument("--title", default="Localisation designs: result of the plan (fold 9 selects)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    runs_all = [r for path in args.study for r in json.loads(Path(path).read_text(encoding="utf-8"))["runs"]]
    bar = float(np.mean(DEFAULT_MEMBERS_FOLD9)) - MAX_DROP
    d = _loc([args.default])
    cols, verdicts = [], []
    for name, paths in _parse_candidates(args.candidate):
        runs = [r for r in runs_all if r["config"] == name]
        if not runs:
            raise SystemExit(f"error: no runs of {name!r} in {', '.join(args.study)}")
        f9 = [r["val_macro_auroc"] for r in runs]
        f10 = [r["test_macro_auroc"] for r in runs]
        c = _loc(paths)
        checks = {
            f"fold-9 macro-AUROC >= {bar:.4f}": float(np.mean(f9)) >= bar,
            "cells share >= 0.80": c["cells"] >= 0.80,
            "bias share <= 0.10": c["bias"] <= 0.10,
            "dlogit grows with size for every type": c["grows_min"] == int(c["grows_of"]),
            "control |dp| < 0.02": c["control"] < 0.02,
        }
        complete = len(runs) >= 3 and c["n"] >= 3
        cols.append((name, c, f9, f10))
        verdicts.append((name, checks, complete, float(np.mean(f9))))

    def same(label: str, cell: Callable[[dict], str]) -> tuple[str, str, list[str]]:
        """A row whose default cell and candidate cells are written the same way."""
        return label, cell(d), [cell(c) for _, c, _, _ in cols]

    rows = [
        (
            "fold-9 macro-AUROC (mean of seeds)",
            f"{np.mean(DEFAULT_MEMBERS_FOLD9):.4f} (members)",
            [f"{np.mean(f9):.4f} ({', '.join(f'{v:.4f}' for v in f9)})" for _, _, f9, _ in cols],
        ),
        (
            "fold-10 macro-AUROC (reported only)",
            "0.8827 ± 0.0036 (5 seeds, study)",
            [f"{np.mean(f10):.4f} ({', '.join(f'{v:.4f}' for v in f10)})" for _, _, _, f10 in cols],
        ),
        same(
            "dlogit share in the altered cells, mean (median)",
            lambda s: f"{s['cells']:.2f} ({s['cells_median']:.2f})",
        ),
        same("bias share of dlogit, mean", lambda s: f"{s['bias']:.2f}"),
        same("absolute mass of the change in the altered cells", lambda s: f"{s['abs']:.2f}"),
        (
            "lesion types with dlogit growing with size",
            f"{d['grows_min']} of {d['grows_of']}",
            [f"{c['grows_min']} of {c['grows_of']} (worst seed)" for _, c, _, _ in cols],
        ),
        same("neutral control, max abs dp", lambda s: f"{s['control']:.3f}"),
        same("STTC: ST+T share, NORM-referenced", lambda s: f"{s['sttc']:.2f}"),
        same("MI: top lead in the territory", lambda s: f"{s['mi']:.2f}"),
    ]
    head = " | ".join(f"candidate `{n}` ({c['n']} seeds)" for n, c, _, _ in cols)
    lines = [
        f"# {args.title}",
        "",
        f"Plan and rule: [{args.plan}]({args.plan}), committed before the runs. Generated by "
        "`benchmarks/localisation_designs.py` from the study results and `bench_localisation.py --fold 9` outputs "
        "(the shipped default: one run of the 3-member ensemble; a candidate: one run per seed, averaged).",
        "",
        "```",
        "python benchmarks/localisation_designs.py "
        + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "```",
        "",
        f"| fold 9 | shipped default (`imn-1d-dual`, ensemble) | {head} |",
        "|---|---|" + "---|" * len(cols),
        *[f"| {a} | {b} | {' | '.join(v)} |" for a, b, v in rows],
        "",
    ]
    passing = []
    for name, checks, complete, f9_mean in verdicts:
        lines.append(
            f"Bars of the rule, `{name}`: "
            + "; ".join(f"{k}: {'met' if v else 'not met'}" for k, v in checks.items())
            + ("." if complete else "; incomplete (fewer than 3 seeds): cannot be proposed.")
        )
        lines.append("")
        if all(checks.values()) and complete:
            passing.append((name, f9_mean))
    if len(cols) == 1 and args.candidate[0][0].endswith(".json"):  # round 1's wording
        verdict = "adopt the candidate" if passing else "the shipped default stays"
    elif passing:
        best = max(passing, key=lambda t: t[1])[0]
        verdict = (
            f"`{best}` meets all bars (highest fold-9 AUROC of those that do); proposed to replace the "
            "shipped default, which is the lead's decision"
        )
    else:
        verdict = "no candidate meets all bars; the shipped default stays"
    lines += [f"**Verdict: {verdict}.**", ""]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
