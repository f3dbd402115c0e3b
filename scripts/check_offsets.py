"""Do baseline offsets explain a study configuration's fold-9 / fold-10 AUROC? (A diagnostic, not a selection.)

    python scripts/check_offsets.py --study runs/study-norm-vs-mi --data ../shared/ptbxl \
        --configs imn-1d-aug-global-crop blackbox-1d-aug-global-crop --seeds 0 1 2 3 4

For every seed's ``best.pt``: macro-AUROC on folds 9 and 10 as trained, and again after removing each lead's mean
from every record before the checkpoint's own preprocessing (baseline filter, if any, and standardisation).
Prints the mean over seeds.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from ecgimn.data import load_task
from ecgimn.evaluation import ExcludedClassWarning, macro_auroc
from ecgimn.inference.predictor import Predictor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--configs", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ExcludedClassWarning)  # classes absent from a small subset
    models = {
        c: [
            Predictor.from_checkpoint(Path(args.study) / c / f"seed{s}" / "best.pt", device="cpu")
            for s in args.seeds
        ]
        for c in args.configs
    }
    first = next(iter(models.values()))[0]
    task = load_task(args.data, first.task, first.fs, progress=False)
    for split in ("val", "test"):
        part = task.split(split)
        centred = part.X - part.X.mean(-1, keepdims=True)
        for name, members in models.items():
            scores = [
                [macro_auroc(part.Y, p.forward(p.standardise(x))["logits"]) for x in (part.X, centred)]
                for p in members
            ]
            as_trained, no_offset = np.mean(scores, axis=0)
            print(
                f"{split:4s} {name:32s} as trained {as_trained:.4f}  lead means removed {no_offset:.4f}  "
                f"({len(members)} seeds)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
