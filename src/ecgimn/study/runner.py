"""Design study: train named configurations x seeds, pick winners on fold 9, report fold 10 for all.

A configuration is a model name plus recipe overrides (any :class:`TrainConfig` field). Presets live in
``STUDY_PRESETS``; a JSON file ``{"name": {"model": ..., "epochs": ..., ...}}`` works the same way.
Results under the study folder: ``results.json`` (every run, every seed ensemble), ``results.md`` (mean +- sd over
seeds, matched IMN/black-box twins, seed ensembles) and ``comparison.json`` (the fold-9-selected IMN minus the
fold-9-selected black box on the same fold-10 records, paired bootstrap). ``{study}`` in a ``distill_from`` path is
the study folder, so a configuration can learn from teachers the same study trained.
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
    "imn-1d-static-crop": {"model": "imn-1d-static", "crop_seconds": 2.5},
    "imn-1d-unet-crop": {"model": "imn-1d-unet", "crop_seconds": 2.5},
    "imn-1d-coarse-crop": {"model": "imn-1d-coarse", "crop_seconds": 2.5},
    "imn-1d-l1-crop": {"model": "imn-1d", "crop_seconds": 2.5, "l1": 1e-4},
    "imn-1d-l1-1e-5-crop": {"model": "imn-1d", "crop_seconds": 2.5, "l1": 1e-5},
    "imn-1d-tv-crop": {"model": "imn-1d", "crop_seconds": 2.5, "tv": 1e-3},
    "imn-1d-l1-strong-crop": {"model": "imn-1d", "crop_seconds": 2.5, "l1": 1e-1},
    "imn-1d-tv-strong-crop": {"model": "imn-1d", "crop_seconds": 2.5, "tv": 1.0},
    "imn-1d-aug-crop": {"model": "imn-1d", "crop_seconds": 2.5, "augment": True},
    "imn-1d-global-crop": {"model": "imn-1d", "crop_seconds": 2.5, "standardize": "global"},
    "imn-1d-crop-40ep": {"model": "imn-1d", "crop_seconds": 2.5, "epochs": 40},
    "imn-1d-aug-crop-40ep": {"model": "imn-1d", "crop_seconds": 2.5, "augment": True, "epochs": 40},
    "imn-1d-coarse-aug-crop": {"model": "imn-1d-coarse", "crop_seconds": 2.5, "augment": True},
    "blackbox-1d-aug-crop-40ep": {"model": "blackbox-1d", "crop_seconds": 2.5, "augment": True, "epochs": 40},
    "imn-paper-crop": {"model": "imn-paper", "crop_seconds": 2.5, "l1": 1e-4},
    "blackbox-paper-crop": {"model": "blackbox-paper", "crop_seconds": 2.5},
    "blackbox-1d-aug-crop": {"model": "blackbox-1d", "crop_seconds": 2.5, "augment": True},
    "blackbox-1d-global-crop": {"model": "blackbox-1d", "crop_seconds": 2.5, "standardize": "global"},
    "blackbox-1d-crop-40ep": {"model": "blackbox-1d", "crop_seconds": 2.5, "epochs": 40},
    "blackbox-1d": {"model": "blackbox-1d"},
    "blackbox-1d-crop": {"model": "blackbox-1d", "crop_seconds": 2.5},
    "blackbox-1d-aug": {"model": "blackbox-1d", "augment": True},
    # round 2: weight averaging (both sides), global context / skips in the IMN decoder, a wider black box
    "imn-1d-aug-crop-ema": {"model": "imn-1d", "crop_seconds": 2.5, "augment": True, "ema": 0.99},
    "blackbox-1d-aug-crop-ema": {"model": "blackbox-1d", "crop_seconds": 2.5, "augment": True, "ema": 0.99},
    "imn-1d-ctx-aug-crop": {"model": "imn-1d-ctx", "crop_seconds": 2.5, "augment": True},
    "imn-1d-unet-aug-crop": {"model": "imn-1d-unet", "crop_seconds": 2.5, "augment": True},
    "blackbox-1d-wide-aug-crop": {"model": "blackbox-1d-wide", "crop_seconds": 2.5, "augment": True},
    "imn-1d-wide-aug-crop": {"model": "imn-1d-wide", "crop_seconds": 2.5, "augment": True},
    # round 3: distillation from the study's own black-box seed ensemble (trained on folds 1-8), both sides
    "imn-1d-aug-crop-kd": {"model": "imn-1d", "crop_seconds": 2.5, "augment": True,
                           "distill_from": [f"{{study}}/blackbox-1d-aug-crop/seed{s}/best.pt" for s in range(3)]},
    "blackbox-1d-aug-crop-kd": {"model": "blackbox-1d", "crop_seconds": 2.5, "augment": True,
                                "distill_from": [f"{{study}}/blackbox-1d-aug-crop/seed{s}/best.pt"
                                                 for s in range(3)]},
    # round 4: the remaining axes, both sides: schedule + early stopping, training-set normalisation
    "imn-1d-aug-crop-const-es": {"model": "imn-1d", "crop_seconds": 2.5, "augment": True, "schedule": "constant",
                                 "epochs": 40, "patience": 5},
    "blackbox-1d-aug-crop-const-es": {"model": "blackbox-1d", "crop_seconds": 2.5, "augment": True,
                                      "schedule": "constant", "epochs": 40, "patience": 5},
    "imn-1d-aug-global-crop": {"model": "imn-1d", "crop_seconds": 2.5, "augment": True, "standardize": "global"},
    "blackbox-1d-aug-global-crop": {"model": "blackbox-1d", "crop_seconds": 2.5, "augment": True,
                                    "standardize": "global"},
    # round 5 (planned in docs/results/round5-plan.md before it ran): training-set normalisation with a second,
    # per-lead z-scored view for the encoder; the IMN's linear model acts on the z-scored view. Both sides.
    "imn-1d-dual-aug-global-crop": {"model": "imn-1d-dual", "crop_seconds": 2.5, "augment": True,
                                    "standardize": "global"},
    # localisation candidate (docs/results/localisation-plan.md): the same encoder, the linear model on the input
    # as given (no per-window z-score in the read-out) and a static bias; its twin is blackbox-1d-dual-aug-global-crop
    "imn-1d-dual-x-static-aug-global-crop": {"model": "imn-1d-dual-x-static", "crop_seconds": 2.5,
                                             "augment": True, "standardize": "global"},
    "blackbox-1d-dual-aug-global-crop": {"model": "blackbox-1d-dual", "crop_seconds": 2.5, "augment": True,
                                         "standardize": "global"},
    "xresnet1d101": {"model": "xresnet1d101"},
    "xresnet1d101-crop": {"model": "xresnet1d101", "crop_seconds": 2.5},
}


def _expand_study_paths(recipe: dict[str, Any], out: Path) -> dict[str, Any]:
    """``{study}`` in ``distill_from`` paths is the study folder (teachers trained by the same study)."""
    if recipe.get("distill_from"):
        recipe = {**recipe, "distill_from": [str(p).replace("{study}", str(out)) for p in recipe["distill_from"]]}
    return recipe


#: TrainConfig fields that say how a run was executed, not what was trained: a run folder may differ in them.
_EXECUTION_FIELDS = ("out", "progress", "num_threads", "device", "cache_dir", "data_on_device")


def _existing_run(run_dir: Path, config: TrainConfig) -> dict[str, bool]:
    """How to train a run that results.json does not list: ``{}`` for an empty folder, ``{"resume": True}`` when
    the folder holds this recipe's run (finished: adopted as it is; interrupted: continued). A different run there
    is never overwritten.

    Raises:
        ConfigError: the folder holds a run of another recipe, or one without a readable ``config.json``.
    """
    if not (run_dir / "last.pt").exists():
        return {}
    try:
        saved = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        raise ConfigError(f"{run_dir} holds a run without a readable config.json; move it away or choose another "
                          "--out (the study does not overwrite runs)") from None
    ours = config.to_dict()
    same_data = Path(str(saved.get("data"))).resolve() == Path(config.data).resolve()
    diffs = [k for k in ours if k not in _EXECUTION_FIELDS and k != "data" and saved.get(k) != ours[k]]
    if diffs or not same_data:
        shown = ", ".join(f"{k}: {saved.get(k)!r} there, {ours[k]!r} here" for k in diffs[:3])
        raise ConfigError(f"{run_dir} holds a run of another recipe ({shown or 'other data'}); move it away or "
                          "choose another --out (the study does not overwrite runs)")
    return {"resume": True}


def _ensemble_key(name: str, seeds: list[int]) -> str:
    """Key of a seed ensemble in results.json: ensembles of different seed sets are kept apart."""
    return f"{name} | seeds {','.join(str(s) for s in seeds)}"


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
        bias_frac = [r.get("bias_variance_fraction") for r in rs if r.get("bias_variance_fraction") is not None]
        rows.append({
            "config": name, "model": rs[0]["model"], "interpretable": rs[0]["interpretable"], "seeds": len(rs),
            "val_mean": val_m, "val_sd": val_s, "test_mean": test_m, "test_sd": test_s,
            "test_per_class_mean": per_class, "params": rs[0]["n_params"],
            "seconds_per_epoch": float(np.mean([r["seconds_per_epoch"] for r in rs])),
            "exactness_max_rel_error": max(exact) if exact else None, "recipe": rs[0]["recipe"],
            "bias_variance_fraction": float(np.mean(bias_frac)) if bias_frac else None,
        })
    return sorted(rows, key=lambda r: -r["val_mean"])


def to_markdown(rows: list[dict[str, Any]], *, task: str, note: str = "") -> str:
    """The results table (fold-9 selects, fold 10 reports)."""
    classes = list(rows[0]["test_per_class_mean"]) if rows else []
    head = ["config", "model", "exact", "seeds", "params", "s/epoch", "fold-9 AUROC", "fold-10 AUROC", *classes,
            "max rel. exactness error", "bias var. share"]
    lines = [f"Task `{task}`. Sorted by mean fold-9 macro-AUROC (selection); fold 10 reported for all. {note} "
             "'bias var. share' = var(b(x)) / var(logit) over the test records: the part of an IMN's decision that "
             "its input-dependent bias carries instead of the map W * x (0 for a static bias).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        exact = "n/a" if r["exactness_max_rel_error"] is None else f"{r['exactness_max_rel_error']:.1e}"
        share = "n/a" if r.get("bias_variance_fraction") is None else f"{r['bias_variance_fraction']:.2f}"
        cells = [r["config"], r["model"], "yes" if r["interpretable"] else "no", str(r["seeds"]),
                 f"{r['params'] / 1e3:.0f} k", f"{r['seconds_per_epoch']:.1f}",
                 f"{r['val_mean']:.4f} ± {r['val_sd']:.4f}", f"{r['test_mean']:.4f} ± {r['test_sd']:.4f}",
                 *[f"{r['test_per_class_mean'][c]:.3f}" for c in classes], exact, share]
        lines.append("| " + " | ".join(cells) + " |")
    best_imn = next((r for r in rows if r["interpretable"]), None)
    best_bb = next((r for r in rows if not r["interpretable"]), None)
    if best_imn and best_bb:
        gap = best_imn["test_mean"] - best_bb["test_mean"]
        spread = max(best_imn["test_sd"], best_bb["test_sd"])
        lines += ["", f"Best interpretable (by fold 9): **{best_imn['config']}**, fold 10 {best_imn['test_mean']:.4f} "
                  f"± {best_imn['test_sd']:.4f}. Best black box (by fold 9): **{best_bb['config']}**, fold 10 "
                  f"{best_bb['test_mean']:.4f} ± {best_bb['test_sd']:.4f}. Difference {gap:+.4f} "
                  + (f"({'within' if abs(gap) <= spread else 'outside'} one seed sd of {spread:.4f})."
                     if min(best_imn["seeds"], best_bb["seeds"]) > 1 else "(single seed: no spread to compare with).")]
    return "\n".join(lines) + "\n"


def _evaluate(checkpoint: Path, data: str, config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    from ecgimn.study.evaluate import evaluate_checkpoint

    kw = dict(only_present=config.only_present, cache_dir=config.cache_dir, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        val = evaluate_checkpoint(checkpoint, data, split="val", n_bootstrap=0, **kw)
        test = evaluate_checkpoint(checkpoint, data, split="test", n_bootstrap=100, out=run_dir / "eval_test.json",
                                   **kw)
    return {
        "interpretable": test["exactness_max_rel_error"] is not None,
        "val_macro_auroc": val["macro_auroc"], "test_macro_auroc": test["macro_auroc"],
        "test_ci": [test["ci_low"], test["ci_high"]], "test_fmax": test["fmax"],
        "test_per_class_auroc": test["per_class_auroc"], "n_test": test["n_records"],
        "exactness_max_rel_error": test["exactness_max_rel_error"],
        "bias_variance_fraction": test.get("bias_variance_fraction"),
    }


def split_logits(checkpoints: list[Path], data: str, splits: tuple[str, ...] = ("val", "test"), *,
                 only_present: bool = False, cache_dir: str | None = None) -> dict[str, Any]:
    """Logits of every checkpoint (same task) on each split, from one load of the data.

    Returns ``{"classes": [...], split: {"Y": (N, K), "logits": [(N, K) per checkpoint]}}``.
    """
    from ecgimn.data import Standardizer, load_task
    from ecgimn.inference.checkpoint import load_checkpoint, model_from_checkpoint
    from ecgimn.inference.predict import predict

    ckpts = [load_checkpoint(p) for p in checkpoints]
    first = ckpts[0]
    task = load_task(data, first["task"], first["fs"], only_present=only_present, cache_dir=cache_dir,
                     progress=False)
    result: dict[str, Any] = {"classes": list(first["class_names"])}
    for split in splits:
        part = task.split(split)
        logits = []
        for ckpt in ckpts:
            x_std = Standardizer.from_dict(ckpt["standardizer"]).transform(part.X).astype(np.float32)
            logits.append(predict(model_from_checkpoint(ckpt), x_std, window=int(ckpt["window_samples"]),
                                  stride=int(ckpt["stride_samples"]))["logits"])
        result[split] = {"Y": part.Y, "logits": logits}
    return result


def ensemble_scores(checkpoints: list[Path], data: str, *, only_present: bool = False,
                    cache_dir: str | None = None) -> dict[str, Any]:
    """Fold-9 and fold-10 macro-AUROC of the average of the members' logits.

    For IMNs the average of linear models is one linear model (mean W, mean b): the ensemble stays exact.
    """
    from ecgimn.evaluation import score

    outputs = split_logits(checkpoints, data, only_present=only_present, cache_dir=cache_dir)
    result: dict[str, Any] = {"members": [str(p) for p in checkpoints]}
    for split in ("val", "test"):
        mean = np.mean(outputs[split]["logits"], axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = score(outputs[split]["Y"], 1 / (1 + np.exp(-mean)), classes=outputs["classes"],
                        n_bootstrap=100 if split == "test" else 0)
        result[split] = {k: rep[k] for k in ("macro_auroc", "ci_low", "ci_high", "per_class_auroc")}
    return result


def paired_comparison(checkpoints_a: list[Path], checkpoints_b: list[Path], data: str, *,
                      only_present: bool = False, n_bootstrap: int = 1000) -> dict[str, Any]:
    """Fold-10 difference A - B with a paired bootstrap over the test records: of the mean single-model
    macro-AUROC (one run per seed on each side) and of the seed ensembles (mean logits)."""
    from ecgimn.evaluation import paired_bootstrap_difference

    outputs = split_logits([*checkpoints_a, *checkpoints_b], data, ("test",), only_present=only_present)
    y, logits = outputs["test"]["Y"], outputs["test"]["logits"]
    a, b = logits[: len(checkpoints_a)], logits[len(checkpoints_a):]

    def prob(z: np.ndarray) -> np.ndarray:  # scored as probabilities, as evaluate_checkpoint does (same ties)
        return 1 / (1 + np.exp(-z))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = paired_bootstrap_difference(y, [prob(z) for z in a], [prob(z) for z in b], n=n_bootstrap,
                                             classes=outputs["classes"])
        ensemble = paired_bootstrap_difference(y, [prob(np.mean(a, 0))], [prob(np.mean(b, 0))], n=n_bootstrap,
                                               classes=outputs["classes"])
    return {"a": [str(p) for p in checkpoints_a], "b": [str(p) for p in checkpoints_b],
            "single_models": single, "ensembles": ensemble}


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
    reevaluate: bool = False,
) -> dict[str, Any]:
    """Train every configuration with every seed (skipping finished runs), evaluate fold 9 and fold 10.

    ``reevaluate`` re-scores finished runs from their checkpoints (no training), e.g. after the scoring changed.
    Also scores the seed ensemble of every configuration (average of logits; exact for IMNs).
    """
    from ecgimn.training.loop import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    previous = json.loads(results_path.read_text()) if results_path.exists() else {}
    runs: list[dict[str, Any]] = previous.get("runs", [])
    ensembles: dict[str, Any] = previous.get("ensembles", {})
    done = {(r["config"], r["seed"]): r for r in runs}
    todo = [(n, s) for n in configs for s in seeds if (n, s) not in done or reevaluate]

    def run_config(name: str, seed: int) -> tuple[dict[str, Any], Path, TrainConfig]:
        recipe = _expand_study_paths({**(defaults or {}), **configs[name]}, out)
        run_dir = out / name / f"seed{seed}"
        return recipe, run_dir, TrainConfig(**{"progress": progress, **recipe, "data": data, "task": task,
                                               "fs": fs, "out": str(run_dir), "seed": seed})

    in_folders = [(n, s) for n, s in todo if (n, s) not in done and (out / n / f"seed{s}" / "last.pt").exists()]
    how = {key: _existing_run(*run_config(*key)[1:]) for key in in_folders}  # a mismatch stops before any training
    if in_folders:
        print(f"[study] {len(in_folders)} run(s) not in results.json found in their folders: finished ones are "
              "adopted, interrupted ones resumed (after checking that the recipe matches)", flush=True)
    to_train = [(n, s) for n, s in todo if (n, s) not in done and (n, s) not in in_folders]
    if to_train:
        pending = {n: configs[n] for n in dict.fromkeys(n for n, _ in to_train)}
        n_runs = {n: sum(1 for m, _ in to_train if m == n) for n in pending}
        est = estimate_seconds(data, pending, seeds=[0], task=task, fs=fs, defaults=defaults, study_dir=out)
        total = sum(row["seconds"] * n_runs[row["config"]] for row in est["rows"])
        print(f"[study] {len(to_train)} runs on {est['n_train']} training records; expected training time about "
              f"{total / 60:.0f} min on this machine (plus evaluation):", flush=True)
        for row in est["rows"]:
            print(f"[study]   {row['config']:24s} {row['seconds_per_step'] * 1e3:8.1f} ms/step  "
                  f"{row['epochs']} epochs x {n_runs[row['config']]} run(s)  "
                  f"~{row['seconds'] * n_runs[row['config']] / 60:.1f} min"
                  + (f"  (+ {row['teachers_missing']} teacher(s) not trained yet)" if row["teachers_missing"] else ""),
                  flush=True)
    t_start = time.perf_counter()

    def save() -> None:
        results_path.write_text(json.dumps({"task": task, "fs": fs, "seeds": seeds, "runs": runs,
                                            "ensembles": ensembles}, indent=2, default=float))

    for i, (name, seed) in enumerate(todo):
        recipe, run_dir, config = run_config(name, seed)
        if (name, seed) in done:
            record = done[(name, seed)]
            record.update(_evaluate(run_dir / "best.pt", data, config, run_dir))
        else:
            summary = train(config, **how.get((name, seed), {}))
            record = {"config": name, "seed": seed, "model": config.model, "recipe": recipe,
                      "n_params": summary["n_params"], "seconds_per_epoch": summary["seconds_per_epoch"],
                      "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
                      **_evaluate(Path(summary["checkpoint"]), data, config, run_dir)}
            runs.append(record)
        save()
        elapsed = time.perf_counter() - t_start
        left = elapsed / (i + 1) * (len(todo) - i - 1)
        print(f"[study] {name} seed {seed}: fold-9 {record['val_macro_auroc']:.4f}  fold-10 "
              f"{record['test_macro_auroc']:.4f}  ({i + 1}/{len(todo)} runs, about {left / 60:.0f} min left)",
              flush=True)
    for name in configs:
        members = [out / name / f"seed{s}" / "best.pt" for s in seeds]
        key = _ensemble_key(name, seeds)
        stale = key not in ensembles or reevaluate or ensembles[key]["members"] != [str(m) for m in members]
        if len(members) > 1 and all(m.exists() for m in members) and stale:
            only_present = bool({**(defaults or {}), **configs[name]}.get("only_present", False))
            ensembles[key] = ensemble_scores(members, data, only_present=only_present)
            save()
    rows = summarise([r for r in runs if r["config"] in configs and r["seed"] in seeds])
    n_test = runs[0]["n_test"] if runs else 0
    note = f"Fold 10 has {n_test} records; seeds {seeds}."
    md = to_markdown(rows, task=task, note=note) + twins_markdown(rows) + ensembles_markdown(
        {n: ensembles[_ensemble_key(n, seeds)] for n in configs if _ensemble_key(n, seeds) in ensembles}, rows)
    best_imn = next((r["config"] for r in rows if r["interpretable"]), None)
    best_bb = next((r["config"] for r in rows if not r["interpretable"]), None)
    comparison = None
    if best_imn and best_bb:
        a = [out / best_imn / f"seed{s}" / "best.pt" for s in seeds]
        b = [out / best_bb / f"seed{s}" / "best.pt" for s in seeds]
        if all(p.exists() for p in a + b):
            only_present = bool({**(defaults or {}), **configs[best_imn]}.get("only_present", False))
            comparison = {"imn": best_imn, "blackbox": best_bb,
                          **paired_comparison(a, b, data, only_present=only_present)}
            md += comparison_markdown(comparison)
    (out / "results.md").write_text(md)
    if comparison:
        (out / "comparison.json").write_text(json.dumps(comparison, indent=2, default=float))
    return {"rows": rows, "runs": runs, "ensembles": ensembles, "comparison": comparison,
            "markdown": str(out / "results.md")}


def comparison_markdown(c: dict[str, Any]) -> str:
    """The fold-9-selected IMN against the fold-9-selected black box, paired over the same fold-10 records."""
    def line(what: str, d: dict[str, Any]) -> str:
        return (f"| {what} | {d['difference']:+.4f} | [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] | "
                f"{d['share_a_below']:.2f} |")

    return "\n".join([
        "", f"Paired comparison on the same fold-10 records: **{c['imn']}** (IMN) minus **{c['blackbox']}** "
        f"(black box), each chosen on fold 9; {c['single_models']['n_bootstrap']} paired bootstrap resamples of "
        "the test records (90% interval). 'share IMN below' = share of resamples in which the IMN scores lower.", "",
        "| compared | fold-10 macro-AUROC difference | 90% interval | share IMN below |", "|---|---|---|---|",
        line(f"mean of single models ({len(c['a'])} seeds each)", c["single_models"]),
        line("seed ensembles (mean logits)", c["ensembles"]),
    ]) + "\n"


def twin_pairs(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(IMN, black box) rows trained with the same recipe whose models are twins (``imn-X`` and ``blackbox-X``:
    the same encoder), e.g. ``imn-1d-aug-crop`` and ``blackbox-1d-aug-crop``."""
    def recipe_key(r: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in r["recipe"].items() if k != "model"}, sort_keys=True, default=str)

    pairs = []
    for imn in (r for r in rows if r["interpretable"] and r["model"].startswith("imn-")):
        twin = "blackbox-" + imn["model"].removeprefix("imn-")
        pairs += [(imn, bb) for bb in rows
                  if not bb["interpretable"] and bb["model"] == twin and recipe_key(bb) == recipe_key(imn)]
    return pairs


def twins_markdown(rows: list[dict[str, Any]]) -> str:
    """IMN minus its black-box twin under the same recipe: the cost of interpretability, recipe by recipe."""
    pairs = twin_pairs(rows)
    if not pairs:
        return ""
    lines = ["", "Matched twins (the same encoder and recipe; the IMN generates a linear model, the black box pools "
             "features): IMN minus black box, mean over seeds.", "",
             "| IMN | black box | fold-9 difference | fold-10 difference | fold-10 seed sd (IMN / black box) |",
             "|---|---|---|---|---|"]
    for imn, bb in pairs:
        lines.append(f"| {imn['config']} | {bb['config']} | {imn['val_mean'] - bb['val_mean']:+.4f} | "
                     f"{imn['test_mean'] - bb['test_mean']:+.4f} | {imn['test_sd']:.4f} / {bb['test_sd']:.4f} |")
    diffs = [imn["test_mean"] - bb["test_mean"] for imn, bb in pairs]
    lines += ["", f"Mean fold-10 difference over the {len(pairs)} matched recipe(s): {np.mean(diffs):+.4f} "
              f"(range {min(diffs):+.4f} to {max(diffs):+.4f})."]
    return "\n".join(lines) + "\n"


def ensembles_markdown(ensembles: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Seed ensembles (average of the seeds' logits), sorted by fold 9."""
    if not ensembles:
        return ""
    kinds = {r["config"]: r["interpretable"] for r in rows}
    lines = ["", "Seed ensembles (average of the seed models' logits; for IMNs one exact linear model):", "",
             "| config | exact | members | fold-9 AUROC | fold-10 AUROC [90% CI] |", "|---|---|---|---|---|"]
    for name, e in sorted(ensembles.items(), key=lambda kv: -kv[1]["val"]["macro_auroc"]):
        t = e["test"]
        lines.append(f"| {name} | {'yes' if kinds.get(name) else 'no'} | {len(e['members'])} | "
                     f"{e['val']['macro_auroc']:.4f} | {t['macro_auroc']:.4f} [{t['ci_low']:.4f}-{t['ci_high']:.4f}] |")
    return "\n".join(lines) + "\n"


def estimate_seconds(
    data: str,
    configs: dict[str, dict[str, Any]],
    *,
    seeds: list[int],
    task: str = "superdiagnostic",
    fs: int = 100,
    defaults: dict[str, Any] | None = None,
    steps: int = 3,
    study_dir: str | Path = ".",
) -> dict[str, Any]:
    """Expected wall time of a study: a few timed training steps per configuration on random inputs of the real
    shape (this machine, this device), times the steps per epoch of the data set found at ``data``.

    Distillation teachers that exist already are run in the timed steps too; a row whose teachers are not trained
    yet has ``teachers_missing`` > 0 (its estimate is low by their forward passes)."""
    import torch
    import torch.nn.functional as F

    from ecgimn.data import PTBXL
    from ecgimn.inference.checkpoint import load_checkpoint, model_from_checkpoint
    from ecgimn.inference.predict import resolve_device
    from ecgimn.models import create_model

    labels = PTBXL(data).labels(task)
    n_train = int(np.isin(labels.folds, (1, 2, 3, 4, 5, 6, 7, 8)).sum())
    rows, total = [], 0.0
    for name, recipe in configs.items():
        config = TrainConfig(data=data, task=task, fs=fs,
                             **_expand_study_paths({**(defaults or {}), **recipe}, Path(study_dir))).validate()
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        device = resolve_device(config.device)
        model = create_model(config.model, num_classes=len(labels.classes), **config.model_kwargs).to(device)
        paths = config.distill_from or []
        teachers = [model_from_checkpoint(load_checkpoint(p)).to(device).eval() for p in paths if Path(p).is_file()]
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr)
        x = torch.randn(config.batch_size, 12, config.window_samples, device=device)
        y = torch.zeros(config.batch_size, len(labels.classes), device=device)
        times = []
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            with torch.no_grad():
                for teacher in teachers:
                    teacher(x)
            loss = F.binary_cross_entropy_with_logits(model(x).logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        step = float(np.median(times[1:]))  # the first step warms up
        seconds = step * -(-n_train // config.batch_size) * config.epochs * len(seeds)
        total += seconds
        rows.append({"config": name, "seconds_per_step": step, "epochs": config.epochs, "seconds": seconds,
                     "teachers_missing": len(paths) - len(teachers)})
    return {"n_train": n_train, "rows": rows, "total_seconds": total}
