"""Fit the lead-reversal classifiers of :mod:`ecgimn.io.quality` and write ``src/ecgimn/io/lead_reversal.json``.

Protocol: logistic regressions (one per limb electrode swap, clean vs swapped) fitted on PTB-XL folds 1-8 of the
records given (their median-beat features, each record once clean and once with the swap applied); the decision
threshold of each is chosen on fold 9 only (the smallest probability >= 0.5 that keeps false alarms on clean
fold-9 records at or below --max-false-alarm; a swap detected in fewer than --min-detection of fold-9 cases at
that threshold is left out); so is the threshold of the inverted-precordial rule. Fold 10 is not
read here (``bench_input_checks.py`` reports it).

    PYTHONPATH=src python benchmarks/fit_input_checks.py --data ../shared/ptbxl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from ecgimn.data.ptbxl import PTBXL
from ecgimn.io import quality

FS = 100


def load_beats(root: str, folds: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Median beats (N, 12, 75) and folds of the records of ``folds`` that have at least two beats."""
    ds = PTBXL(root)
    meta = ds.metadata
    ids = meta.index[meta["strat_fold"].isin(folds)].to_numpy()
    X, ids = ds.signals(ids, FS, only_present=True, progress=False)
    beats, keep = [], []
    for i, x in enumerate(X):
        b = quality.median_beat(x, FS)
        if b is not None:
            beats.append(b)
            keep.append(i)
    return np.stack(beats), meta.loc[ids[keep], "strat_fold"].to_numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="PTB-XL folder")
    ap.add_argument("--max-false-alarm", type=float, default=0.01)
    ap.add_argument("--min-detection", type=float, default=0.5)
    ap.add_argument("--out", default=str(quality.REVERSAL_MODEL))
    args = ap.parse_args()
    beats, folds = load_beats(args.data, tuple(range(1, 10)))
    train, val = folds <= 8, folds == 9
    clean = np.stack([quality.reversal_features(b) for b in beats])
    mean, scale = clean[train].mean(0), clean[train].std(0) + 1e-6
    model: dict = {
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "classifiers": {},
        "fitted_on": f"PTB-XL folds 1-8 ({int(train.sum())} records of {args.data}), thresholds on "
        f"fold 9 ({int(val.sum())} records), max false alarm {args.max_false_alarm}",
        "features": "per limb lead: QRS peak, QRS area, P peak, T peak (/ median QRS size), "
        "corr with V6, corr with V1",
    }
    for swap in quality.SWAPS:
        swapped = np.stack([quality.reversal_features(quality.swap_limb_leads(b, swap)) for b in beats])
        xtr = (np.concatenate([clean[train], swapped[train]]) - mean) / scale
        ytr = np.r_[np.zeros(train.sum()), np.ones(train.sum())]
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(xtr, ytr)
        p_clean = lr.predict_proba((clean[val] - mean) / scale)[:, 1]
        p_swap = lr.predict_proba((swapped[val] - mean) / scale)[:, 1]
        candidates = np.unique(np.r_[0.5, p_clean[p_clean > 0.5] + 1e-9])
        threshold = next(t for t in candidates if (p_clean >= t).mean() <= args.max_false_alarm)
        detection = float((p_swap >= threshold).mean())
        print(
            f"{swap}: threshold {threshold:.3f}; fold 9 detection {detection:.3f}, "
            f"false alarms {(p_clean >= threshold).mean():.3f}"
        )
        if detection < args.min_detection:  # a warning that rarely fires but still false-alarms helps nobody
            print(f"{swap}: left out (fold-9 detection below {args.min_detection})")
            model.setdefault("left_out", {})[swap] = f"fold-9 detection {detection:.3f} at the threshold"
            continue
        model["classifiers"][swap] = {
            "coef": lr.coef_[0].tolist(),
            "intercept": float(lr.intercept_[0]),
            "threshold": float(threshold),
        }
    worst = np.array([quality.precordial_scores(b).min() for b in beats[val]])
    cands = np.sort(np.r_[worst, -1.0])
    thr = max(t for t in cands if t <= 0 and (worst < t).mean() <= args.max_false_alarm)
    model["precordial_threshold"] = float(thr)
    inv = beats[val].copy()
    inv[:, 7] *= -1
    det = np.mean([quality.precordial_scores(b)[1] < thr for b in inv])
    print(
        f"inverted precordial: threshold {thr:.3f}; fold 9 V2 detection {det:.3f}, "
        f"false alarms {(worst < thr).mean():.3f}"
    )
    Path(args.out).write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
