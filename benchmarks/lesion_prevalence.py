"""Can the training data teach a lesion? ST level and Q depth per lead group, NORM vs MI, training folds only.

The localisation benchmark (``bench_localisation.py``) writes lesions into NORM records and asks whether the
target class's logit grows with the lesion's size. A model that reads its training data faithfully can only do so
if the lesion is more frequent or larger among the target class's training records than among NORM ones. This
script measures that on PTB-XL (Wagner et al., Sci Data 2020), **training folds 1-8 only** (nothing of folds 9 and
10 is read):

For every record, beats are delineated with the package's delineator
(:func:`ecgimn.explain.waves.delineate_beats`, the one the lesion writer uses) and, per lead, per beat:

* **ST level**: the signal at J + 60 ms (J = QRS offset) minus the PR baseline (the mean over the last 40 ms
  before QRS onset, not earlier than the P offset), mV; median over beats;
* **Q depth**: the lowest value within the first 40 ms after QRS onset minus the PR baseline, mV (negative = a
  Q wave; the lesion writer's Q wave is a negative triangle there); median over beats.

A lead group's value is the mean over its leads (the lesion groups of :mod:`ecgimn.explain.lesions`). Reported
per lead group and class (NORM-only records, all MI records, MI by subclass): mean and quartiles, the share of
records with ST >= 0.1 mV (resp. Q <= -0.1 mV) in at least two leads of the group, and the AUROC of the measure
for MI against NORM in the lesion's direction (ST elevation: higher = MI; Q: deeper = MI). An AUROC below 0.5
means the direction the lesion writes points to NORM in the training data.

    python benchmarks/lesion_prevalence.py --data ../shared/ptbxl --out docs/results/lesion-prevalence.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ecgimn.constants import LEADS
from ecgimn.data import PTBXL, load_task
from ecgimn.evaluation.scoring import per_class_auroc
from ecgimn.explain.lesions import LEAD_GROUPS
from ecgimn.explain.waves import delineate_beats

GROUPS = ("inferior", "lateral", "anterior")
MI_SUBCLASSES = ("IMI", "AMI", "LMI", "PMI")


def beat_measures(x_mv: np.ndarray, fs: int, method: str = "neurokit") -> tuple[np.ndarray, np.ndarray]:
    """Per-lead ``(st, q)`` (12,) of one record (mV, medians over beats; NaN with no usable beat)."""
    beats = delineate_beats(x_mv, fs, method=method)
    L = x_mv.shape[1]
    j60, q40, pr20 = (int(round(s * fs)) for s in (0.06, 0.04, 0.02))
    st, q = [], []
    for b in beats.bounds:
        p_off, q_on, q_off = int(b[1]), int(b[2]), int(b[3])
        lo = min(max(p_off, q_on - 2 * pr20), q_on - 1)
        if lo < 0 or q_off + j60 >= L or q_on + q40 > L:
            continue
        base = x_mv[:, lo:q_on].mean(1)
        st.append(x_mv[:, q_off + j60] - base)
        q.append(x_mv[:, q_on : min(q_on + q40, q_off)].min(1) - base)
    if not st:
        return np.full(len(LEADS), np.nan), np.full(len(LEADS), np.nan)
    return np.median(st, 0), np.median(q, 0)


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUROC of ``pos`` against ``neg`` (the package's scoring; NaN values dropped, NaN when a side is empty)."""
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if not len(pos) or not len(neg):
        return float("nan")
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))][:, None]
    value = per_class_auroc(y, np.r_[pos, neg][:, None], classes=["x"])["x"]
    return float("nan") if value is None else float(value)


def summarise(values: np.ndarray, per_lead: np.ndarray, threshold: float, above: bool) -> dict[str, float]:
    v = values[np.isfinite(values)]
    hits = (per_lead >= threshold) if above else (per_lead <= threshold)
    return {
        "n": int(len(v)),
        "mean": float(v.mean()) if len(v) else float("nan"),
        "q25": float(np.percentile(v, 25)) if len(v) else float("nan"),
        "median": float(np.median(v)) if len(v) else float("nan"),
        "q75": float(np.percentile(v, 75)) if len(v) else float("nan"),
        "share_2_leads": float((hits[np.isfinite(values)].sum(1) >= 2).mean()) if len(v) else float("nan"),
    }


def run(data: str, method: str, limit: int | None) -> dict:
    task = load_task(data, "superdiagnostic", 100, progress=False)
    train = task.split("train")
    classes = list(task.classes)
    norm = (train.Y[:, classes.index("NORM")] == 1) & (train.Y.sum(1) == 1)
    mi = train.Y[:, classes.index("MI")] == 1
    keep = np.flatnonzero(norm | mi)
    if limit:
        keep = keep[:limit]
    dataset = PTBXL(data)
    meta = dataset.metadata
    sub_of = dataset.statements["diagnostic_subclass"].to_dict()
    st = np.full((len(keep), len(LEADS)), np.nan)
    q = np.full_like(st, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", RuntimeWarning
        )  # NeuroKit2 on flat stretches; the fallback handles them
        for i, r in enumerate(keep):
            st[i], q[i] = beat_measures(train.X[r].astype(np.float64), task.fs, method)
    ids = train.ecg_ids[keep]
    subclasses = [
        {sub_of.get(c) for c, v in meta.at[int(e), "scp_codes"].items() if sub_of.get(c) in MI_SUBCLASSES}
        for e in ids
    ]
    groups_of = {"NORM": norm[keep], "MI": mi[keep]}
    for s in MI_SUBCLASSES:
        groups_of[f"MI: {s}"] = mi[keep] & np.array([s in subs for subs in subclasses])
    out: dict = {"records": {k: int(v.sum()) for k, v in groups_of.items()}, "method": method, "groups": {}}
    for g in GROUPS:
        rows = [LEADS.index(n) for n in LEAD_GROUPS[g]]
        entry: dict = {}
        for measure, values, thr, above in (("st", st, 0.1, True), ("q", q, -0.1, False)):
            per_lead = values[:, rows]
            finite = np.isfinite(per_lead).sum(1)
            mean = np.where(finite > 0, np.nansum(per_lead, 1) / np.maximum(finite, 1), np.nan)
            cls = {k: summarise(mean[m], per_lead[m], thr, above) for k, m in groups_of.items()}
            sign = 1.0 if above else -1.0
            for k, m in groups_of.items():
                if k != "NORM":
                    cls[k]["auroc_vs_norm"] = auroc(sign * mean[m], sign * mean[groups_of["NORM"]])
            entry[measure] = cls
        out["groups"][g] = entry
    return out


def markdown(res: dict, command: str, seconds: float) -> str:
    lines = [
        "# Can the training data teach the lesions? ST level and Q depth, NORM vs MI (training folds 1-8)",
        "",
        f"Generated by `benchmarks/lesion_prevalence.py` ({seconds:.0f} s) on PTB-XL (Wagner et al., Sci Data 2020),"
        " training folds 1-8 of the shared subset only. Raw numbers: the JSON beside this file.",
        "",
        "```",
        command,
        "```",
        "",
        f"Records: {', '.join(f'{k} {v}' for k, v in res['records'].items())}. Delineation: `{res['method']}`."
        " ST: J + 60 ms minus the PR baseline; Q: lowest value in the first 40 ms of the QRS minus the PR"
        " baseline (mV, medians over beats, mean over the group's leads). AUROC: MI (or the subclass) against"
        " NORM in the lesion's direction (ST: higher; Q: deeper); below 0.5 the lesion's direction points to NORM.",
        "",
    ]
    for measure, title, thr in (
        ("st", "ST level at J + 60 ms (mV)", "ST >= 0.1 mV"),
        ("q", "Q depth (mV)", "Q <= -0.1 mV"),
    ):
        lines += [
            f"## {title}",
            "",
            f"| lead group | records | n | mean | median [q25, q75] | {thr} in >= 2 leads | AUROC vs NORM |",
            "|---|---|---|---|---|---|---|",
        ]
        for g, entry in res["groups"].items():
            for k, s in entry[measure].items():
                a = s.get("auroc_vs_norm")
                lines.append(
                    f"| {g} | {k} | {s['n']} | {s['mean']:+.3f} | {s['median']:+.3f} [{s['q25']:+.3f}, "
                    f"{s['q75']:+.3f}] | {s['share_2_leads']:.2f} | {'' if a is None else f'{a:.2f}'} |"
                )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="PTB-XL folder")
    p.add_argument(
        "--out", default="runs/lesion-prevalence.md", help="markdown file (the JSON goes beside it)"
    )
    p.add_argument("--method", default="neurokit", choices=("neurokit", "fixed"), help="beat delineation")
    p.add_argument("--limit", type=int, default=None, help="only the first N NORM/MI records (a quick look)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.data, args.method, args.limit)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    command = "python benchmarks/lesion_prevalence.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out.write_text(markdown(res, command, time.perf_counter() - t0) + "\n")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
