"""Compare explanations: ECG-IMN's exact W*x against post-hoc explainers of black boxes (and of the IMN itself).

On fold 10 of PTB-XL (the test fold: reporting only, nothing is selected or tuned on it), for the first
``--n-records`` positive records (by ecg_id) of every class, each model explains that class with each method:

* faithfulness: deletion / insertion AUC (Petsiuk et al. 2018) with the whole model re-run on perturbed inputs,
  0.25 s x lead cells, 5% of cells per step, baselines "flat 0 mV" and "linear interpolation";
  a ``random`` map (uniform, fixed seed) gives the chance level of both curves;
* randomisation sanity check (Adebayo et al. 2018): Spearman rho of |map| after re-initialising every weight
  (all pairs), and a cascading re-initialisation (output side first) on ``--cascade-records`` pairs (JSON only);
* localisation: share of the positive evidence inside the expected wave window (NeuroKit2 delineation of lead II:
  STTC/MI -> ST-T, CD/HYP -> QRS) vs. the share of the record the window covers (chance);
* cost: wall time and counted forward/backward passes per ECG, one record at a time, methods interleaved
  round-robin in one process on the same inputs, as ratios to one IMN forward pass (median over records).

Writes ``results.json``, ``README.md`` (tables) and PNGs to ``--out``.

    python benchmarks/explainers.py --imn runs/study-superdiag/imn-1d-crop/seed0/best.pt \\
        --blackbox runs/study-superdiag/blackbox-1d-crop/seed0/best.pt --data ../shared/ptbxl \\
        --task superdiagnostic --n-records 15 --out docs/results/explainers
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecgimn.data import load_task
from ecgimn.explain.faithfulness import (
    perturbation_curves,
    randomization_check,
    randomized_models,
    rank_correlation,
    zero_mv_fill,
)
from ecgimn.explain.localisation import EXPECTED_WINDOW, delineate, evidence_fraction
from ecgimn.explain.posthoc import LogitModel, attribute
from ecgimn.inference.predictor import Predictor

IMN_METHODS = ["imn", "integrated_gradients", "gradient_shap", "input_x_gradient", "saliency", "random"]
BLACKBOX_METHODS = [
    "gradcam",
    "integrated_gradients",
    "gradient_shap",
    "input_x_gradient",
    "saliency",
    "random",
]
LABELS = {
    "imn": "ECG-IMN W*x (exact)",
    "gradcam": "Grad-CAM",
    "integrated_gradients": "Integrated Gradients",
    "gradient_shap": "GradientSHAP",
    "input_x_gradient": "Input x Gradient",
    "saliency": "Saliency |grad|",
    "random": "random map (chance)",
}
UNITS = {
    "imn": "logit",
    "integrated_gradients": "logit",
    "gradient_shap": "logit",
    "input_x_gradient": "logit",
    "gradcam": "a.u. (ReLU)",
    "saliency": "|dlogit/dx|",
}


#: per-pair faithfulness numbers summarised for every method
CURVE_METRICS = (
    "deletion_zero",
    "insertion_zero",
    "deletion_interp",
    "insertion_interp",
    "randomisation_rho",
)


def _clean(obj: Any) -> Any:
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _label(path: str) -> str:
    p = Path(path)
    return f"{p.parent.parent.name}/{p.parent.name}" if p.parent.name.startswith("seed") else p.parent.name


class Entry:
    """One checkpoint: model, preprocessing and the methods it is explained with."""

    def __init__(self, path: str, kind: str) -> None:
        self.path, self.kind = path, kind
        predictor = Predictor.from_checkpoint(path, device="cpu")
        self.ck, self.model = predictor.checkpoint, predictor.model
        self.label = _label(path)
        self.standardizer = predictor.standardizer
        self.window, self.stride = predictor.window, predictor.stride
        if kind == "imn" and not getattr(self.model, "interpretable", False):
            raise SystemExit(f"error: --imn {path} is not an interpretable model")
        self.methods = IMN_METHODS if kind == "imn" else BLACKBOX_METHODS

    def info(self) -> dict[str, Any]:
        metrics = self.ck.get("metrics", {})
        return {
            "path": self.path,
            "label": self.label,
            "model": self.ck["model_config"]["name"],
            "kind": self.kind,
            "window_samples": self.window,
            "stride_samples": self.stride,
            "standardizer": self.ck["standardizer"]["mode"],
            "best_val_macro_auroc": metrics.get("best_val_macro_auroc"),
        }


def explain(
    entry: Entry, model: torch.nn.Module, x: np.ndarray, k: int, method: str, seed: int
) -> np.ndarray:
    """The method's (N, 12, L) map of class ``k`` (``random``: uniform noise, seeded)."""
    if method == "random":
        return np.random.default_rng(seed).random(x.shape).astype(np.float32)
    torch.manual_seed(seed)  # GradientSHAP draws baselines and noise from torch ...
    np.random.seed(seed)  # ... and its interpolation coefficients from numpy's global generator (captum)
    return attribute(model, x, k, method, window=entry.window, stride=entry.stride)


def _stat(values: list[float]) -> dict[str, float | int]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return {"mean": float("nan"), "se": float("nan"), "n": 0}
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "se": se, "n": int(len(v))}


def timing(entries: list[Entry], imn: Entry, xs: dict[str, np.ndarray], ks: list[int], repeats: int) -> dict:
    """Wall time and counted passes per ECG, one record at a time, interleaved round-robin; median per method."""
    jobs: list[tuple[str, str]] = [(imn.label, "forward")] + [
        (e.label, m) for e in entries for m in e.methods if m != "random"
    ]
    by = {e.label: e for e in entries}
    times: dict[tuple[str, str], list[float]] = {j: [] for j in jobs}
    passes: dict[tuple[str, str], dict[str, int]] = {}
    for rep in range(repeats + 1):  # round 0 is a warm-up
        for i, k in enumerate(ks):
            for label, method in jobs:
                e = by[label]
                x = xs[label][i : i + 1]
                wrapper = LogitModel(e.model, e.window, e.stride)
                t0 = time.perf_counter()
                if method == "forward":
                    with torch.no_grad():
                        wrapper(torch.as_tensor(x))
                else:
                    torch.manual_seed(0)
                    attribute(wrapper, x, k, method)
                dt = time.perf_counter() - t0
                if rep > 0:
                    times[label, method].append(dt)
                    passes[label, method] = wrapper.counts()
    ref = float(np.median(times[imn.label, "forward"]))
    out: dict[str, dict[str, Any]] = {}
    for (label, method), ts in times.items():
        med = float(np.median(ts))
        c = passes[label, method]
        out.setdefault(label, {})[method] = {
            "seconds_per_ecg": med,
            "ratio_to_imn_forward": med / ref,
            "forward_records": c["forward_records"],
            "backward_records": c["backward_records"],
            "passes": c["forward_records"] + c["backward_records"],
            "n_timed": len(ts),
        }
    return out


def _fmt(s: dict[str, Any], digits: int = 3) -> str:
    if not s or not s.get("n"):
        return "–"
    return f"{s['mean']:.{digits}f} ± {s['se']:.{digits}f}"


def write_readme(out: Path, res: dict[str, Any], command: str) -> None:
    """Markdown tables of the summary."""
    cfg = res["config"]
    lines = [
        "# Explanations compared: ECG-IMN vs. post-hoc explainers of black boxes",
        "",
        "Generated by `benchmarks/explainers.py`; every number below is measured by that script (see "
        "`results.json` for per-class values, per-pair values, curves and the cascading randomisation).",
        "",
        *(
            [
                "What the numbers say (hand-written, for the run committed here): [FINDINGS.md](FINDINGS.md).",
                "",
            ]
            if (out / "FINDINGS.md").is_file()
            else []
        ),
        "```",
        command,
        "```",
        "",
        f"- Data: `{cfg['data']}`, task `{cfg['task']}` at {cfg['fs']} Hz, **fold 10** (test fold; reporting "
        f"only, nothing selected on it): {cfg['n_test_records']} records; the first {cfg['n_records']} positive "
        f"records (by ecg_id) of each class -> **{cfg['n_pairs']} (record, class) pairs** "
        f"({', '.join(f'{c}: {n}' for c, n in cfg['pairs_per_class'].items())}).",
        f"- Deletion/insertion: {cfg['cell_seconds']} s x lead cells, {cfg['step_fraction']:.0%} of cells per "
        "step, probability sigmoid(logit) of the explained class recomputed by the whole model (sliding windows "
        "included) at every step; AUC over fraction of cells in [0, 1] (trapezoid).",
        f"- Randomisation: all weights re-initialised (seed {cfg['seed']}), map recomputed, Spearman rho of |map| "
        f"per pair; cascading stages on {cfg['cascade_records']} pair(s) per model in the JSON.",
        f"- Cost: {cfg['timing_records']} records x {cfg['timing_repeats']} repeats, one ECG per call, "
        f"methods interleaved, median; torch threads = {cfg['threads']}; load average at start "
        f"{cfg['loadavg_start']}, at end {res['loadavg_end']} (shared 2-core machine: absolute times are noisy, "
        "ratios are measured in the same rounds).",
        f"- Run time: {res['seconds']:.0f} s.",
        "",
        "## Models",
        "",
        "| label | model | kind | window / stride (samples) | fold-9 macro-AUROC |",
        "|---|---|---|---|---|",
    ]
    for m in res["models"]:
        val = m["best_val_macro_auroc"]
        lines.append(
            f"| {m['label']} | {m['model']} | {m['kind']} | {m['window_samples']} / {m['stride_samples']} | "
            f"{'–' if val is None else f'{val:.3f}'} |"
        )
    lines += [
        "",
        "## Summary (mean ± standard error over pairs)",
        "",
        "Deletion AUC: lower is better; insertion AUC: higher is better; randomisation rho: lower is better "
        "(the map depends on the learned weights); localisation: share of positive evidence in the expected "
        "window (STTC/MI: ST-T, CD/HYP: QRS) vs. the share the window covers (chance); time: seconds per ECG and "
        "ratio to one IMN forward pass; passes: forward + backward record-passes per ECG.",
        "",
        "| model | method | deletion AUC ↓ (0 mV) | insertion AUC ↑ (0 mV) | deletion AUC ↓ (interp.) | "
        "insertion AUC ↑ (interp.) | randomisation ρ ↓ | localisation (chance) | time / ECG (× IMN fwd) | passes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, methods in res["summary"].items():
        for method, s in methods.items():
            loc = s["localisation"]
            loc_s = (
                f"{loc['fraction']['mean']:.3f} ({loc['coverage']['mean']:.3f})"
                if loc["fraction"]["n"]
                else "–"
            )
            t = res["timing"].get(label, {}).get(method)
            t_s = f"{t['seconds_per_ecg'] * 1000:.1f} ms (×{t['ratio_to_imn_forward']:.1f})" if t else "–"
            lines.append(
                f"| {label} | {LABELS[method]} | {_fmt(s['deletion_zero'])} | {_fmt(s['insertion_zero'])} | "
                f"{_fmt(s['deletion_interp'])} | {_fmt(s['insertion_interp'])} | {_fmt(s['randomisation_rho'])} | "
                f"{loc_s} | {t_s} | {t['passes'] if t else '–'} |"
            )
    ref = res["timing"][res["imn_label"]]["forward"]
    lines += [
        "",
        f"Reference: one IMN forward pass ({res['imn_label']}) = {ref['seconds_per_ecg'] * 1000:.1f} ms per ECG.",
        "",
        "## Localisation per class (share of positive evidence in the expected window; chance in brackets)",
        "",
        "| model | method | " + " | ".join(f"{c} ({w})" for c, w in res["expected_windows"].items()) + " |",
        "|---|---|" + "---|" * len(res["expected_windows"]),
    ]
    for label, methods in res["summary"].items():
        for method, s in methods.items():
            cells = []
            for c in res["expected_windows"]:
                pc = s["localisation"]["per_class"].get(c)
                cells.append(
                    f"{pc['fraction']['mean']:.3f} ({pc['coverage']['mean']:.3f})"
                    if pc and pc["fraction"]["n"]
                    else "–"
                )
            lines.append(f"| {label} | {LABELS[method]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Delineation failures (records skipped for localisation): {res['delineation']['failed']} of "
        f"{res['delineation']['records']}.",
        "",
        "## Pictures",
        "",
    ]
    lines += [f"![{p}]({p})" for p in res["figures"]]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in res["notes"]]
    (out / "README.md").write_text("\n".join(lines) + "\n")


def make_figures(
    out: Path,
    entries: list[Entry],
    maps: dict,
    X: np.ndarray,
    ecg_ids: np.ndarray,
    fs: float,
    classes: list[str],
    plot_pairs: list[tuple[int, int]],
    probs: dict,
) -> list[str]:
    """Side-by-side heatmaps (IMN vs. Grad-CAM vs. IG ...) and ECG printouts for a few pairs."""
    from matplotlib.figure import Figure

    from ecgimn.viz import plot_ecg_evidence, plot_evidence_heatmap, save_figure

    files = []
    imn = entries[0]
    rows = [(imn, "imn"), (imn, "integrated_gradients")] + [
        (e, m) for e in entries[1:] for m in ("gradcam", "integrated_gradients")
    ]
    for n, (r, k) in enumerate(plot_pairs):
        fig = Figure(figsize=(10, 2.9 * len(rows)), dpi=100, layout="constrained")
        axes = fig.subplots(len(rows), 1)
        for ax, (e, m) in zip(np.atleast_1d(axes), rows):
            a = maps[e.label, m, r, k]
            plot_evidence_heatmap(
                a,
                fs,
                ax=ax,
                evidence_label=UNITS.get(m, ""),
                title=f"{e.label}: {LABELS[m]}  (p({classes[k]}) = {probs[e.label, r, k]:.2f})",
            )
        fig.suptitle(f"ecg_id {ecg_ids[r]}, class {classes[k]} (fold 10)", fontsize=11)
        name = f"compare_{classes[k]}_ecg{ecg_ids[r]}.png"
        save_figure(fig, out / name, dpi=80)
        files.append(name)
        if n == 0:
            for e, m in rows:
                if m == "integrated_gradients" and e is imn:
                    continue
                f = plot_ecg_evidence(
                    X[r],
                    fs,
                    maps[e.label, m, r, k],
                    layout="3x4",
                    evidence_label=UNITS.get(m, ""),
                    title=f"ecg_id {ecg_ids[r]} {classes[k]}: {e.label} {LABELS[m]} "
                    f"(p = {probs[e.label, r, k]:.2f})",
                )
                name = f"ecg_{classes[k]}_ecg{ecg_ids[r]}_{e.label.replace('/', '_')}_{m}.png"
                save_figure(f, out / name, dpi=80)
                files.append(name)
    return files


def curves_figure(out: Path, res: dict[str, Any]) -> str:
    """Mean deletion and insertion curves (0 mV baseline) per model and method."""
    from matplotlib.figure import Figure

    from ecgimn.viz import save_figure

    fig = Figure(figsize=(10, 3.6 * len(res["summary"])), dpi=100, layout="constrained")
    axes = fig.subplots(len(res["summary"]), 2, squeeze=False)
    for row, (label, methods) in zip(axes, res["summary"].items()):
        for ax, kind in zip(row, ("deletion", "insertion")):
            for method, s in methods.items():
                c = s["mean_curves"]
                ax.plot(c["fractions"], c[kind], label=LABELS[method], ls="--" if method == "random" else "-")
            ax.set_title(f"{label}: {kind} (0 mV baseline)", fontsize=10)
            ax.set_xlabel("fraction of 0.25 s x lead cells")
            ax.set_ylabel("probability")
            ax.legend(fontsize=7)
    save_figure(fig, out / "curves.png", dpi=80)
    return "curves.png"


NOTES = [
    "Grad-CAM of a 1-D encoder is one time profile broadcast to all 12 leads (the layer has no lead axis), "
    "so it cannot localise by lead; its ties across leads are broken at random in the cell ranking.",
    "Saliency is unsigned (|gradient|): all of it counts as 'positive' evidence in the ranking and the "
    "localisation share. Grad-CAM is ReLU'd (non-negative) by definition.",
    "Deletion/insertion AUCs compare explanations of the same model; across models they also reflect each "
    "model's probabilities and its reaction to flat-line (out-of-distribution) cells.",
    "Wave windows come from NeuroKit2's DWT delineation of lead II upsampled to 500 Hz; its QRS "
    "onset/offset are generous (QRS masks cover ~20% of a record), so 'chance' is the window's coverage.",
]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--imn", required=True, help="IMN checkpoint")
    p.add_argument("--blackbox", action="append", required=True, help="black-box checkpoint (repeatable)")
    p.add_argument("--data", required=True, help="PTB-XL root")
    p.add_argument("--task", default="superdiagnostic")
    p.add_argument("--n-records", type=int, default=15, help="positive records per class (first by ecg_id)")
    p.add_argument("--out", default="docs/results/explainers")
    p.add_argument("--cell-seconds", type=float, default=0.25)
    p.add_argument("--step-fraction", type=float, default=0.05)
    p.add_argument(
        "--cascade-records", type=int, default=1, help="pairs per model for cascading randomisation"
    )
    p.add_argument("--timing-records", type=int, default=4)
    p.add_argument("--timing-repeats", type=int, default=2)
    p.add_argument("--plot-classes", nargs="*", default=["MI", "CD", "STTC"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--only-present", action="store_true")
    return p


def _entries(args: argparse.Namespace) -> tuple[list[Entry], int, list[str]]:
    """The IMN and black-box checkpoints (distinct labels), checked to share task, rate and classes."""
    entries = [Entry(args.imn, "imn")] + [Entry(b, "blackbox") for b in args.blackbox]
    labels = [e.label for e in entries]
    if len(set(labels)) != len(labels):
        for i, e in enumerate(entries):
            e.label = f"{e.label}#{i}"
    fs = int(entries[0].ck["fs"])
    classes = list(entries[0].ck["class_names"])
    for e in entries:
        if e.ck["task"] != args.task or int(e.ck["fs"]) != fs or list(e.ck["class_names"]) != classes:
            raise SystemExit(f"error: {e.path}: task/fs/classes differ from --task {args.task} and the IMN's")
    return entries, fs, classes


def _plot_pairs(
    plot_classes: list[str], classes: list[str], pairs: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The first pair of each class to draw."""
    out = []
    for c in plot_classes:
        if c in classes and any(k == classes.index(c) for _, k in pairs):
            out.append(next((r, k) for r, k in pairs if k == classes.index(c)))
    return out


class Run:
    """One benchmark run: the data, the pairs and everything measured on them."""

    def __init__(
        self, args: argparse.Namespace, entries: list[Entry], fs: int, classes: list[str], data: Any
    ) -> None:
        self.args, self.entries, self.fs, self.classes, self.data = args, entries, fs, classes, data
        self.pairs = [
            (int(r), k)
            for k in range(len(classes))
            for r in np.flatnonzero(data.Y[:, k] > 0)[: args.n_records]
        ]
        self.used = sorted({r for r, _ in self.pairs})
        self.plot_pairs = _plot_pairs(args.plot_classes, classes, self.pairs)
        self.masks: dict[int, Any] = {}
        self.per_pair: list[dict[str, Any]] = []
        self.maps: dict[tuple, np.ndarray] = {}
        self.probs: dict[tuple, float] = {}
        self.cascade: dict[str, dict[str, Any]] = {}
        self.fractions: list[float] = []

    def delineate(self) -> list[int]:
        """Wave masks once per record; the ecg_ids whose delineation failed."""
        self.masks = {r: delineate(self.data.X[r], self.fs) for r in self.used}
        return [int(self.data.ecg_ids[r]) for r, m in self.masks.items() if m is None]

    def evaluate(self, e: Entry) -> None:
        """Faithfulness, randomisation and localisation of every method of ``e``, class by class."""
        xs_all = {r: e.standardizer.transform(self.data.X[r : r + 1])[0] for r in self.used}
        rand_model = next(randomized_models(e.model, "full", self.args.seed))[1]
        self.cascade[e.label] = {}
        for k, cname in enumerate(self.classes):
            rs = [r for r, kk in self.pairs if kk == k]
            if rs:
                self._evaluate_class(e, k, cname, rs, xs_all, rand_model)
        self.cascade[e.label] = self._cascading(e, xs_all)
        print(f"[explainers] {e.label}: cascading randomisation done", flush=True)

    def _evaluate_class(
        self, e: Entry, k: int, cname: str, rs: list[int], xs_all: dict[int, np.ndarray], rand_model: Any
    ) -> None:
        args = self.args
        x = np.stack([xs_all[r] for r in rs])
        fill = zero_mv_fill(e.standardizer, self.data.X[rs])
        wrapper = LogitModel(e.model, e.window, e.stride)
        with torch.no_grad():
            p0 = torch.sigmoid(wrapper(torch.as_tensor(x))[:, k]).numpy()
        for r, pr in zip(rs, p0):
            self.probs[e.label, r, k] = float(pr)
        common = dict(fs=self.fs, window=e.window, stride=e.stride, cell_seconds=args.cell_seconds,
                      step_fraction=args.step_fraction, seed=args.seed)  # fmt: skip
        for method in e.methods:
            t0 = time.perf_counter()
            a = explain(e, e.model, x, k, method, args.seed)
            cz = perturbation_curves(e.model, x, a, k, baseline="constant", fill=fill, **common)
            ci = perturbation_curves(e.model, x, a, k, baseline="interpolate", fill=fill, **common)
            if method == "random":
                rhos = [float("nan")] * len(rs)
            else:
                a_rand = explain(e, rand_model, x, k, method, args.seed)
                rhos = [rank_correlation(u, v) for u, v in zip(a, a_rand)]
            for j, r in enumerate(rs):
                self.per_pair.append(
                    self._pair_row(e, method, r, cname, a[j], float(p0[j]), cz, ci, j, rhos[j])
                )
                if (r, k) in self.plot_pairs:
                    self.maps[e.label, method, r, k] = a[j]
            self.fractions = cz.fractions.tolist()
            print(f"[explainers] {e.label} {cname} {method}: {time.perf_counter() - t0:.1f} s", flush=True)

    def _pair_row(
        self,
        e: Entry,
        method: str,
        r: int,
        cname: str,
        a: np.ndarray,
        p: float,
        cz: Any,
        ci: Any,
        j: int,
        rho: float,
    ) -> dict[str, Any]:
        win = EXPECTED_WINDOW.get(cname)
        frac = cov = None
        if win and self.masks[r] is not None:
            frac, cov = evidence_fraction(a, self.masks[r].window(win))
        return {
            "model": e.label, "method": method, "ecg_id": int(self.data.ecg_ids[r]), "class": cname,
            "probability": p,
            "deletion_zero": float(cz.deletion_auc[j]), "insertion_zero": float(cz.insertion_auc[j]),
            "deletion_interp": float(ci.deletion_auc[j]), "insertion_interp": float(ci.insertion_auc[j]),
            "randomisation_rho": rho, "window": win, "loc_fraction": frac, "loc_coverage": cov,
            "_del": cz.deletion[j].tolist(), "_ins": cz.insertion[j].tolist(),
        }  # fmt: skip

    def _cascading(self, e: Entry, xs_all: dict[int, np.ndarray]) -> dict[str, Any]:
        """Cascading randomisation on the first pairs of a class with an expected window."""
        args, classes = self.args, self.classes
        casc_pairs = [pr for pr in self.pairs if classes[pr[1]] in EXPECTED_WINDOW][: args.cascade_records]
        out: dict[str, Any] = {}
        for method in e.methods:
            if method == "random":
                continue
            stages = []
            for r, k in casc_pairs:
                x1 = xs_all[r][None]
                res_c = randomization_check(
                    e.model,
                    lambda m, e=e, x1=x1, k=k, method=method: explain(e, m, x1, k, method, args.seed),
                    mode="cascading",
                    seed=args.seed,
                )
                stages.append({
                    "ecg_id": int(self.data.ecg_ids[r]), "class": classes[k],
                    "stages": [{"stage": s["stage"], "rho": s["rho"][0]} for s in res_c],
                })  # fmt: skip
            out[method] = stages
        return out

    def timing_records(self) -> list[tuple[int, int]]:
        """The first ``--timing-records`` records with their first class."""
        seen: dict[int, int] = {}
        for r, k in self.pairs:
            seen.setdefault(r, k)
        return list(seen.items())[: self.args.timing_records]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per model and method: means and standard errors of every metric, localisation, mean curves."""
        summary: dict[str, dict[str, Any]] = {}
        for e in self.entries:
            summary[e.label] = {
                method: self._method_summary(
                    [q for q in self.per_pair if q["model"] == e.label and q["method"] == method]
                )
                for method in e.methods
            }
        return summary

    def _method_summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        classes = self.classes
        loc_rows = [q for q in rows if q["loc_fraction"] is not None]
        per_class = {
            c: {
                "fraction": _stat([q["loc_fraction"] for q in loc_rows if q["class"] == c]),
                "coverage": _stat([q["loc_coverage"] for q in loc_rows if q["class"] == c]),
            }
            for c in EXPECTED_WINDOW
            if c in classes
        }
        return {
            **{m: _stat([q[m] for q in rows]) for m in (*CURVE_METRICS, "probability")},
            "localisation": {
                "fraction": _stat([q["loc_fraction"] for q in loc_rows]),
                "coverage": _stat([q["loc_coverage"] for q in loc_rows]),
                "per_class": per_class,
            },
            "per_class": {
                c: {m: _stat([q[m] for q in rows if q["class"] == c]) for m in CURVE_METRICS} for c in classes
            },
            "mean_curves": {
                "fractions": self.fractions,
                "deletion": np.mean([q["_del"] for q in rows], axis=0).tolist(),
                "insertion": np.mean([q["_ins"] for q in rows], axis=0).tolist(),
            },
        }

    def config(self, t_recs: list[tuple[int, int]], loadavg_start: list[float]) -> dict[str, Any]:
        args, classes, pairs = self.args, self.classes, self.pairs
        return {
            "data": args.data, "task": args.task, "fs": self.fs, "split": "test (fold 10)",
            "n_test_records": int(len(self.data.X)), "n_records": args.n_records, "n_pairs": len(pairs),
            "pairs_per_class": {c: sum(1 for _, k in pairs if k == i) for i, c in enumerate(classes)},
            "cell_seconds": args.cell_seconds, "step_fraction": args.step_fraction, "seed": args.seed,
            "cascade_records": args.cascade_records, "timing_records": len(t_recs),
            "timing_repeats": args.timing_repeats, "threads": args.threads, "loadavg_start": loadavg_start,
            "python": platform.python_version(), "torch": torch.__version__,
        }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = "python benchmarks/explainers.py " + " ".join(sys.argv[1:] if argv is None else argv)

    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    loadavg_start = [round(v, 2) for v in os.getloadavg()]
    entries, fs, classes = _entries(args)
    data = load_task(
        args.data, args.task, fs, only_present=args.only_present, cache_dir=args.cache_dir, progress=False
    ).split("test")
    if list(data.classes) != classes:
        raise SystemExit(f"error: data classes {data.classes} differ from the checkpoints' {classes}")
    run = Run(args, entries, fs, classes, data)
    print(
        f"[explainers] {len(run.pairs)} pairs on {len(run.used)} fold-10 records; models: "
        f"{', '.join(e.label for e in entries)}",
        flush=True,
    )
    failed = run.delineate()
    for e in entries:
        run.evaluate(e)

    # cost, on the first timing records (their first class)
    t_recs = run.timing_records()
    xs_t = {
        e.label: np.stack([e.standardizer.transform(data.X[r : r + 1])[0] for r, _ in t_recs])
        for e in entries
    }
    timing_res = timing(entries, entries[0], xs_t, [k for _, k in t_recs], args.timing_repeats)
    summary = run.summary()
    for q in run.per_pair:
        q.pop("_del"), q.pop("_ins")

    res: dict[str, Any] = {
        "command": command,
        "config": run.config(t_recs, loadavg_start),
        "models": [e.info() for e in entries],
        "imn_label": entries[0].label,
        "expected_windows": {c: w for c, w in EXPECTED_WINDOW.items() if c in classes},
        "delineation": {"records": len(run.used), "failed": len(failed), "failed_ecg_ids": failed},
        "summary": summary,
        "timing": timing_res,
        "cascading_randomisation": run.cascade,
        "per_pair": run.per_pair,
        "notes": NOTES,
    }
    res["figures"] = make_figures(
        out, entries, run.maps, data.X, data.ecg_ids, fs, classes, run.plot_pairs, run.probs
    )
    res["figures"].insert(0, curves_figure(out, res))
    res["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    res["seconds"] = time.perf_counter() - t_start
    (out / "results.json").write_text(json.dumps(_clean(res), indent=1, allow_nan=False))
    write_readme(out, res, command)
    print(
        f"[explainers] wrote {out}/results.json, README.md and {len(res['figures'])} figures "
        f"in {res['seconds']:.0f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
