"""Design study: train named configurations x seeds, pick winners on fold 9, report fold 10 for all.

A configuration is a model name plus recipe overrides (any :class:`TrainConfig` field). Presets live in
``STUDY_PRESETS``; a JSON file ``{"name": {"model": ..., "epochs": ..., ...}}`` works the same way.
Results: ``results.json`` (every run) and ``results.md`` (mean +- sd over seeds) under the study folder.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ecgimn.errors import ConfigError
from ecgimn.training.config import TrainConfig

#: Named configurations of the accuracy-parity study (issue 8). IMNs and black boxes get the same recipe options.
STUDY_PRESETS: dict[str, dict[str, Any]] = {
    # the seed paper's design and its black-box twin, plain recipe
    "imn-paper": {"model": "imn-paper", "l1": 1e-4},
    "blackbox-paper": {"model": "blackbox-paper"},
    # fast 1-D family
    "imn-1d": {"model": "imn-1d"},
    "imn-1d-l1": {"model": "imn-1d", "l1": 1e-4},
    "imn-1d-l1-1e-5": {"model": "imn-1d", "l1": 1e-5},
    "imn-1d-tv": {"model": "imn-1d", "tv": 1e-3},
    "imn-1d-global-std": {"model": "imn-1d", "standardize": "global"},
    "imn-1d-coarse": {"model": "imn-1d-coarse"},
    "imn-1d-unet": {"model": "imn-1d-unet"},
    "imn-1d-static": {"model": "imn-1d-static"},
    "imn-1d-crop": {"model": "imn-1d", "crop_seconds": 2.5},
    "imn-1d-aug": {"model": "imn-1d", "augment": True},
    "blackbox-1d": {"model": "blackbox-1d"},
    "blackbox-1d-crop": {"model": "blackbox-1d", "crop_seconds": 2.5},
    "blackbox-1d-aug": {"model": "blackbox-1d", "augment": True},
    "xresnet1d101": {"model": "xresnet1d101"},
    "xresnet1d101-crop": {"model": "xresnet1d101", "crop_seconds": 2.5},
}


def load_configs(spec: list[str]) -> dict[str, dict[str, Any]]:
    """Preset names and/or JSON files of named configurations."""
    configs: dict[str, dict[str, Any]] = {}
    for item in spec:
        path = Path(item)
        if path.suffix == ".json":
            if not path.is_file():
                raise ConfigError(f"{path}: study configuration file not found")
            configs.update(json.loads(path.read_text()))
        elif item in STUDY_PRESETS:
            configs[item] = STUDY_PRESETS[item]
        else:
            raise ConfigError(f"unknown study configuration {item!r}; presets: {', '.join(STUDY_PRESETS)}")
    return configs


def _mean_sd(values: list[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not len(arr):
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean +- sd per configuration over seeds, sorted by mean fold-9 macro-AUROC (winners chosen on fold 9)."""
    rows = []
    for name in dict.fromkeys(r["config"] for r in runs):
        rs = [r for r in runs if r["config"] == name]
        val_m, val_s = _mean_sd([r["val_macro_auroc"] for r in rs])
        test_m, test_s = _mean_sd([r["test_macro_auroc"] for r in rs])
        classes = rs[0]["test_per_class_auroc"].keys()
        per_class = {c: _mean_sd([r["test_per_class_auroc"].get(c) for r in rs])[0] for c in classes}
        exact = [r["exactness_max_rel_error"] for r in rs if r["exactness_max_rel_error"] is not None]
        rows.append({
            "config": name, "model": rs[0]["model"], "interpretable": rs[0]["interpretable"], "seeds": len(rs),
            "val_mean": val_m, "val_sd": val_s, "test_mean": test_m, "test_sd": test_s,
            "test_per_class_mean": per_class, "params": rs[0]["n_params"],
            "seconds_per_epoch": float(np.mean([r["seconds_per_epoch"] for r in rs])),
            "exactness_max_rel_error": max(exact) if exact else None, "recipe": rs[0]["recipe"],
        })
    return sorted(rows, key=lambda r: -r["val_mean"])


def to_markdown(rows: list[dict[str, Any]], *, task: str, note: str = "") -> str:
    """The results table (fold-9 selects, fold 10 reports)."""
    classes = list(rows[0]["test_per_class_mean"]) if rows else []
    head = ["config", "model", "exact", "seeds", "params", "s/epoch", "fold-9 AUROC", "fold-10 AUROC", *classes,
            "max rel. exactness error"]
    lines = [f"Task `{task}`. Sorted by mean fold-9 macro-AUROC (selection); fold 10 reported for all. {note}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        exact = "n/a" if r["exactness_max_rel_error"] is None else f"{r['exactness_max_rel_error']:.1e}"
        cells = [r["config"], r["model"], "yes" if r["interpretable"] else "no", str(r["seeds"]),
                 f"{r['params'] / 1e3:.0f} k", f"{r['seconds_per_epoch']:.1f}",
                 f"{r['val_mean']:.4f} ± {r['val_sd']:.4f}", f"{r['test_mean']:.4f} ± {r['test_sd']:.4f}",
                 *[f"{r['test_per_class_mean'][c]:.3f}" for c in classes], exact]
        lines.append("| " + " | ".join(cells) + " |")
    best_imn = next((r for r in rows if r["interpretable"]), None)
    best_bb = next((r for r in rows if not r["interpretable"]), None)
    if best_imn and best_bb:
        gap = best_imn["test_mean"] - best_bb["test_mean"]
        spread = max(best_imn["test_sd"], best_bb["test_sd"])
        lines += ["", f"Best interpretable (by fold 9): **{best_imn['config']}**, fold 10 {best_imn['test_mean']:.4f} "
                  f"± {best_imn['test_sd']:.4f}. Best black box (by fold 9): **{best_bb['config']}**, fold 10 "
                  f"{best_bb['test_mean']:.4f} ± {best_bb['test_sd']:.4f}. Difference {gap:+.4f} "
                  f"({'within' if abs(gap) <= spread else 'outside'} one seed sd of {spread:.4f})."]
    return "\n".join(lines) + "\n"


def run_study(
    data: str,
    configs: dict[str, dict[str, Any]],
    *,
    seeds: list[int],
    out: str | Path,
    task: str = "superdiagnostic",
    fs: int = 100,
    defaults: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train every configuration with every seed (resuming finished runs), evaluate fold 9 and fold 10."""
    from ecgimn.evaluation.checkpoint_eval import evaluate_checkpoint
    from ecgimn.training.loop import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    runs: list[dict[str, Any]] = json.loads(results_path.read_text())["runs"] if results_path.exists() else []
    done = {(r["config"], r["seed"]) for r in runs}
    todo = [(n, s) for n in configs for s in seeds if (n, s) not in done]
    t_start = time.perf_counter()
    for i, (name, seed) in enumerate(todo):
        recipe = {**(defaults or {}), **configs[name]}
        run_dir = out / name / f"seed{seed}"
        config = TrainConfig(data=data, task=task, fs=fs, out=str(run_dir), seed=seed, progress=progress, **recipe)
        summary = train(config, overwrite=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            val = evaluate_checkpoint(summary["checkpoint"], data, split="val", n_bootstrap=0,
                                      only_present=config.only_present, cache_dir=config.cache_dir, progress=False)
            test = evaluate_checkpoint(summary["checkpoint"], data, split="test", n_bootstrap=100,
                                       only_present=config.only_present, cache_dir=config.cache_dir, progress=False,
                                       out=run_dir / "eval_test.json")
        runs.append({
            "config": name, "seed": seed, "model": config.model, "recipe": recipe,
            "interpretable": test["exactness_max_rel_error"] is not None,
            "val_macro_auroc": val["macro_auroc"], "test_macro_auroc": test["macro_auroc"],
            "test_ci": [test["ci_low"], test["ci_high"]], "test_fmax": test["fmax"],
            "test_per_class_auroc": test["per_class_auroc"], "n_test": test["n_records"],
            "n_params": summary["n_params"], "seconds_per_epoch": summary["seconds_per_epoch"],
            "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
            "exactness_max_rel_error": test["exactness_max_rel_error"],
        })
        results_path.write_text(json.dumps({"task": task, "fs": fs, "seeds": seeds, "runs": runs}, indent=2,
                                           default=float))
        elapsed = time.perf_counter() - t_start
        left = elapsed / (i + 1) * (len(todo) - i - 1)
        print(f"[study] {name} seed {seed}: fold-9 {val['macro_auroc']:.4f}  fold-10 {test['macro_auroc']:.4f}  "
              f"({i + 1}/{len(todo)} runs, about {left / 60:.0f} min left)", flush=True)
    rows = summarise([r for r in runs if r["config"] in configs and r["seed"] in seeds])
    n_test = runs[0]["n_test"] if runs else 0
    note = f"Fold 10 has {n_test} records; seeds {seeds}."
    (out / "results.md").write_text(to_markdown(rows, task=task, note=note))
    return {"rows": rows, "runs": runs, "markdown": str(out / "results.md")}


def estimate_seconds(configs: dict[str, dict[str, Any]], seeds: list[int], seconds_per_epoch: dict[str, float],
                     defaults: dict[str, Any] | None = None) -> float:
    """Expected wall time of a study from measured seconds per epoch per model."""
    total = 0.0
    for recipe in configs.values():
        r = {**(defaults or {}), **recipe}
        total += seconds_per_epoch.get(r["model"], float("nan")) * r.get("epochs", 30) * len(seeds)
    return total
