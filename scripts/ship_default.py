"""Make a trained checkpoint the bundled default model, with a model card measured on fold 10.

    python scripts/ship_default.py --checkpoint runs/study-superdiag/imn-1d-crop/seed0/best.pt \
        --data ../shared/ptbxl [--name default] [--study runs/study-superdiag/results.md]

Copies the checkpoint to ``src/ecgimn/pretrained/<name>.pt`` (refuses to replace one without ``--overwrite``),
scores it once on fold 10 with ``ecgimn evaluate``'s code, and writes ``src/ecgimn/pretrained/<name>.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ecgimn import __version__
from ecgimn.constants import PTBXL_CITATION
from ecgimn.data import PTBXL
from ecgimn.inference.checkpoint import ensemble_payload, load_checkpoint, save_checkpoint
from ecgimn.study.evaluate import evaluate_checkpoint

PRETRAINED = Path(__file__).resolve().parents[1] / "src" / "ecgimn" / "pretrained"


def model_card(
    name: str,
    ckpt: dict,
    report: dict,
    n_records: int,
    study: str | None,
    seeds: list[int],
    note: str | None = None,
) -> str:
    cfg = ckpt["train_config"]
    members = ckpt["model_config"].get("members")
    if members:
        vals = [m["best_val_macro_auroc"] for m in ckpt["metrics"]["members"]]
        selection = (
            f"An exact ensemble (average of W and b) of {len(members)} seeds of "
            f"`{members[0]['name']}`; the members' best fold-9 macro-AUROC: "
            + ", ".join(f"{v:.4f}" for v in vals)
            + "."
        )
        arch = f"ensemble of {len(members)} x {members[0]['name']}"
    else:
        selection = (
            f"Best fold-9 macro-AUROC {ckpt['metrics']['best_val_macro_auroc']:.4f} at epoch "
            f"{ckpt['metrics']['best_epoch'] + 1}."
        )
        arch = ckpt["model_config"]["name"]
    per_class = "\n".join(f"| {c} | {v:.3f} |" for c, v in report["per_class_auroc"].items() if v is not None)
    crop = f"random {cfg['crop_seconds']} s crops" if cfg.get("crop_seconds") else "full 10 s records"
    design = ""
    stdz = ckpt["standardizer"]
    if stdz.get("mode") == "global":
        sign = "-" if stdz["mean"] >= 0 else "+"
        design += (
            f" x_std = (x {sign} {abs(stdz['mean']):.2g} mV) / {stdz['std']:.3g} mV, one mean and standard deviation "
            "over all training values (absolute amplitudes are kept)."
        )
    if (members[0] if members else ckpt["model_config"]).get("dual_view"):
        design += (
            " The hypernetwork reads each window twice, z-scored per lead and as x_std; the linear model acts "
            "on the z-scored window, and W and b are returned in the units of x_std, so the identity holds "
            "for x_std."
        )
    extras = ""
    if cfg.get("ema"):
        extras += f" Weights averaged during training (EMA, decay {cfg['ema']})."
    if cfg.get("distill_from"):
        names = sorted(
            {
                load_checkpoint(p)["model_config"].get("name", "?") if Path(p).is_file() else Path(p).name
                for p in cfg["distill_from"]
            }
        )
        extras += (
            f" Knowledge distillation: the loss mixes the labels (weight {1 - cfg['distill_weight']:g}) with the "
            f"mean soft labels of {len(cfg['distill_from'])} teacher checkpoint(s) ({', '.join(names)}, trained "
            f"by the same study on the same folds 1-8; weight {cfg['distill_weight']:g}, temperature "
            f"{cfg['distill_temperature']:g}). The teachers are used only in training: this file holds the IMN "
            "alone, and its explanation is exact for it."
        )
    return f"""# Model card: `{name}` (ECG-IMN, {arch})

**Intended use:** research and teaching on interpretable ECG classification. **Not a medical device; not for
diagnosis or any clinical decision.**

## What it is
An Interpretable Mesomorphic Network: a hypernetwork that writes, for each ECG, a linear model (weight map W over
12 leads x time and bias b per class); the logit is exactly sum(W * x_std) + b.{design} Architecture
`{arch}` ({sum(v.numel() for v in ckpt["state_dict"].values() if v.is_floating_point()):,}
stored values), task `{ckpt["task"]}` ({", ".join(ckpt["class_names"])}; sigmoid per class), {ckpt["fs"]} Hz,
standardisation `{ckpt["standardizer"].get("mode")}`, input window {ckpt["window_samples"] / ckpt["fs"]:g} s (longer
records: sliding windows, stride {ckpt["stride_samples"] / ckpt["fs"]:g} s, averaged: still one exact linear model).
Trained by this repository's `ecgimn train` (ecgimn {ckpt.get("package_version", __version__)}).

## Data
PTB-XL (CC BY 4.0), **only the 1,999-record subset available to the developers** (ecg_id 1-1999, {n_records} records
with a label in this task), official folds: 1-8 training ({report.get("n_train", ckpt["metrics"].get("n_train"))}
records), 9 validation (checkpoint selection), 10 test ({report["n_records"]} records: reported, never used to select).
Not trained on the full 21,799-record release; numbers on the full test fold (2,163 records for this task in release 1.0.1)
will differ.

## Recipe
AdamW lr {cfg["lr"]}, weight decay {cfg["weight_decay"]}, {cfg["schedule"]} schedule, {cfg["epochs"]} epochs,
batch {cfg["batch_size"]}, {crop}, seed(s) {", ".join(map(str, seeds))}, L1 {cfg["l1"]}, TV {cfg["tv"]}, augment {cfg["augment"]}.{extras}
{selection}

## Fold-10 results ({report["n_records"]}-record test fold of the subset; 90% bootstrap interval, 100 resamples)
macro-AUROC **{report["macro_auroc"]:.4f}** [{report["ci_low"]:.4f}, {report["ci_high"]:.4f}], Fmax {report["fmax"]:.4f};
exactness max |sum(W*x)+b - logit| / max(1,|logit|) = {report["exactness_max_rel_error"]:.1e};
share of the logit variance carried by the input-dependent bias: {report["bias_variance_fraction"]:.2f}.

| class | AUROC |
|---|---|
{per_class}

Reproduce: `ecgimn evaluate --checkpoint src/ecgimn/pretrained/{name}.pt --data PTBXL_DIR`.
{("Design study that selected this configuration: `" + study + "`.") if study else ""}{(" " + note) if note else ""}

## Limitations
Small training set (about 1,500 records); one hospital's recordings (PTB-XL); 100 Hz only; the 5 superclasses are
coarse. Explanations are exact for the model, which does not make the model right: read them as what the model
used, not as ground truth about the patient.

## Citation
{PTBXL_CITATION}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        required=True,
        nargs="+",
        help="one checkpoint, or several of one configuration to ship as an exact ensemble",
    )
    parser.add_argument("--data", required=True)
    parser.add_argument("--name", default="default")
    parser.add_argument("--study", default=None, help="results table that selected it (path, for the card)")
    parser.add_argument("--note", default=None, help="one more sentence for the card, after the study line")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    target = PRETRAINED / f"{args.name}.pt"
    if target.exists() and not args.overwrite:
        print(f"error: {target} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    members = [load_checkpoint(p) for p in args.checkpoint]
    PRETRAINED.mkdir(parents=True, exist_ok=True)
    staging = PRETRAINED / f".{args.name}.staging.pt"
    if len(members) > 1:
        save_checkpoint(staging, ensemble_payload(members))
    else:
        shutil.copyfile(args.checkpoint[0], staging)
    ckpt = load_checkpoint(staging)
    report = evaluate_checkpoint(staging, args.data, progress=False)
    report["n_train"] = members[0]["metrics"].get("n_train")
    report["checkpoint"] = f"src/ecgimn/pretrained/{args.name}.pt"
    n_records = len(PTBXL(args.data).labels(ckpt["task"]).ecg_ids)
    staging.replace(target)
    (PRETRAINED / f"{args.name}.md").write_text(
        model_card(
            args.name,
            ckpt,
            report,
            n_records,
            args.study,
            [m["train_config"]["seed"] for m in members],
            args.note,
        )
    )
    (PRETRAINED / f"{args.name}_eval.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"shipped {target} ({target.stat().st_size / 1e6:.1f} MB); card {PRETRAINED / (args.name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
