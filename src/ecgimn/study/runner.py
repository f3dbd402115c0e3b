"""Design study: train named configurations x seeds, pick winners on fold 9, report fold 10 for all.

A configuration is a model name plus recipe overrides (any :class:`TrainConfig` field; presets in
:mod:`ecgimn.study.presets`). Results under the study folder: ``results.json`` (every run, every seed ensemble),
``results.md`` (:mod:`ecgimn.study.tables`) and ``comparison.json`` (the fold-9-selected IMN minus the
fold-9-selected black box on the same fold-10 records, paired bootstrap).

Classes absent from a small data set's split are left out of its macro averages on purpose (the scoring's
:class:`~ecgimn.evaluation.ExcludedClassWarning`, which the study expects and silences); every other warning shows.
"""

from __future__ import annotations

import json
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ecgimn.errors import ConfigError
from ecgimn.evaluation import ExcludedClassWarning
from ecgimn.inference.predict import sigmoid
from ecgimn.study.presets import expand_study_paths
from ecgimn.study.tables import (
    comparison_markdown,
    ensembles_markdown,
    summarise,
    to_markdown,
    twins_markdown,
)
from ecgimn.training.config import TrainConfig


@contextmanager
def _expected_exclusions():
    """Silence only the scoring's note that classes absent from the split were left out of a macro average."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ExcludedClassWarning)
        yield


def _say(message: str) -> None:
    """A line above the progress bar (the training's tqdm), not through it."""
    tqdm.write(f"[study] {message}")


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
        raise ConfigError(
            f"{run_dir} holds a run without a readable config.json; move it away or choose another "
            "--out (the study does not overwrite runs)"
        ) from None
    ours = config.to_dict()
    same_data = Path(str(saved.get("data"))).resolve() == Path(config.data).resolve()
    diffs = [k for k in ours if k not in _EXECUTION_FIELDS and k != "data" and saved.get(k) != ours[k]]
    if diffs or not same_data:
        shown = ", ".join(f"{k}: {saved.get(k)!r} there, {ours[k]!r} here" for k in diffs[:3])
        raise ConfigError(
            f"{run_dir} holds a run of another recipe ({shown or 'other data'}); move it away or "
            "choose another --out (the study does not overwrite runs)"
        )
    return {"resume": True}


def _ensemble_key(name: str, seeds: list[int]) -> str:
    """Key of a seed ensemble in results.json: ensembles of different seed sets are kept apart."""
    return f"{name} | seeds {','.join(str(s) for s in seeds)}"


def _evaluate(checkpoint: Path, data: str, config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    from ecgimn.study.evaluate import evaluate_checkpoint

    kw = dict(only_present=config.only_present, cache_dir=config.cache_dir, progress=False)
    with _expected_exclusions():
        val = evaluate_checkpoint(checkpoint, data, split="val", n_bootstrap=0, **kw)
        test = evaluate_checkpoint(
            checkpoint, data, split="test", n_bootstrap=100, out=run_dir / "eval_test.json", **kw
        )
    return {
        "interpretable": test["exactness_max_rel_error"] is not None,
        "val_macro_auroc": val["macro_auroc"],
        "test_macro_auroc": test["macro_auroc"],
        "test_ci": [test["ci_low"], test["ci_high"]],
        "test_fmax": test["fmax"],
        "test_per_class_auroc": test["per_class_auroc"],
        "n_test": test["n_records"],
        "exactness_max_rel_error": test["exactness_max_rel_error"],
        "bias_variance_fraction": test.get("bias_variance_fraction"),
    }


def split_logits(
    checkpoints: list[Path],
    data: str,
    splits: tuple[str, ...] = ("val", "test"),
    *,
    only_present: bool = False,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """Logits of every checkpoint (same task) on each split, from one load of the data.

    Returns ``{"classes": [...], split: {"Y": (N, K), "logits": [(N, K) per checkpoint]}}``.
    """
    from ecgimn.data import load_task
    from ecgimn.inference.predictor import Predictor

    predictors = [Predictor.from_checkpoint(p, device="cpu") for p in checkpoints]
    first = predictors[0]
    task = load_task(
        data, first.task, first.fs, only_present=only_present, cache_dir=cache_dir, progress=False
    )
    result: dict[str, Any] = {"classes": list(first.class_names)}
    for split in splits:
        part = task.split(split)
        logits = [p.forward(p.standardise(part.X))["logits"] for p in predictors]
        result[split] = {"Y": part.Y, "logits": logits}
    return result


def ensemble_scores(
    checkpoints: list[Path], data: str, *, only_present: bool = False, cache_dir: str | None = None
) -> dict[str, Any]:
    """Fold-9 and fold-10 macro-AUROC of the average of the members' logits.

    For IMNs the average of linear models is one linear model (mean W, mean b): the ensemble stays exact.
    """
    from ecgimn.evaluation import score

    outputs = split_logits(checkpoints, data, only_present=only_present, cache_dir=cache_dir)
    result: dict[str, Any] = {"members": [str(p) for p in checkpoints]}
    for split in ("val", "test"):
        mean = np.mean(outputs[split]["logits"], axis=0)
        with _expected_exclusions():
            rep = score(
                outputs[split]["Y"],
                sigmoid(mean),
                classes=outputs["classes"],
                n_bootstrap=100 if split == "test" else 0,
            )
        result[split] = {k: rep[k] for k in ("macro_auroc", "ci_low", "ci_high", "per_class_auroc")}
    return result


def paired_comparison(
    checkpoints_a: list[Path],
    checkpoints_b: list[Path],
    data: str,
    *,
    only_present: bool = False,
    n_bootstrap: int = 1000,
) -> dict[str, Any]:
    """Fold-10 difference A - B with a paired bootstrap over the test records: of the mean single-model
    macro-AUROC (one run per seed on each side) and of the seed ensembles (mean logits)."""
    from ecgimn.evaluation import paired_bootstrap_difference

    outputs = split_logits([*checkpoints_a, *checkpoints_b], data, ("test",), only_present=only_present)
    y, logits = outputs["test"]["Y"], outputs["test"]["logits"]
    a, b = logits[: len(checkpoints_a)], logits[len(checkpoints_a) :]

    with _expected_exclusions():
        single = paired_bootstrap_difference(
            y, [sigmoid(z) for z in a], [sigmoid(z) for z in b], n=n_bootstrap, classes=outputs["classes"]
        )
        ensemble = paired_bootstrap_difference(
            y, [sigmoid(np.mean(a, 0))], [sigmoid(np.mean(b, 0))], n=n_bootstrap, classes=outputs["classes"]
        )
    return {
        "a": [str(p) for p in checkpoints_a],
        "b": [str(p) for p in checkpoints_b],
        "single_models": single,
        "ensembles": ensemble,
    }


@dataclass
class _Study:
    """One study invocation: what to train (configurations x seeds), where, and the state read from results.json."""

    data: str
    configs: dict[str, dict[str, Any]]
    seeds: list[int]
    out: Path
    task: str
    fs: int
    defaults: dict[str, Any]
    progress: bool
    runs: list[dict[str, Any]] = field(default_factory=list)
    ensembles: dict[str, Any] = field(default_factory=dict)

    @property
    def results_path(self) -> Path:
        return self.out / "results.json"

    def recipe(self, name: str) -> dict[str, Any]:
        return {**self.defaults, **self.configs[name]}

    def run_config(self, name: str, seed: int) -> tuple[dict[str, Any], Path, TrainConfig]:
        recipe = expand_study_paths(self.recipe(name), self.out)
        run_dir = self.out / name / f"seed{seed}"
        return (
            recipe,
            run_dir,
            TrainConfig(
                **{
                    "progress": self.progress,
                    **recipe,
                    "data": self.data,
                    "task": self.task,
                    "fs": self.fs,
                    "out": str(run_dir),
                    "seed": seed,
                }
            ),
        )

    def members(self, name: str) -> list[Path]:
        return [self.out / name / f"seed{s}" / "best.pt" for s in self.seeds]

    def save(self) -> None:
        self.results_path.write_text(
            json.dumps(
                {
                    "task": self.task,
                    "fs": self.fs,
                    "seeds": self.seeds,
                    "runs": self.runs,
                    "ensembles": self.ensembles,
                },
                indent=2,
                default=float,
            )
        )


def _announce_estimate(study: _Study, to_train: list[tuple[str, int]]) -> None:
    """The expected training time of the runs still to train, per configuration."""
    from ecgimn.study.estimate import estimate_seconds

    pending = {n: study.configs[n] for n in dict.fromkeys(n for n, _ in to_train)}
    n_runs = {n: sum(1 for m, _ in to_train if m == n) for n in pending}
    est = estimate_seconds(
        study.data,
        pending,
        seeds=[0],
        task=study.task,
        fs=study.fs,
        defaults=study.defaults,
        study_dir=study.out,
    )
    total = sum(row["seconds"] * n_runs[row["config"]] for row in est["rows"])
    _say(
        f"{len(to_train)} runs on {est['n_train']} training records; expected training time about "
        f"{total / 60:.0f} min on this machine (plus evaluation):"
    )
    for row in est["rows"]:
        n = n_runs[row["config"]]
        missing = (
            f"  (+ {row['teachers_missing']} teacher(s) not trained yet)" if row["teachers_missing"] else ""
        )
        _say(
            f"  {row['config']:24s} {row['seconds_per_step'] * 1e3:8.1f} ms/step  {row['epochs']} epochs x "
            f"{n} run(s)  ~{row['seconds'] * n / 60:.1f} min{missing}"
        )


def _plan(study: _Study, todo: list[tuple[str, int]], done: dict) -> dict[tuple[str, int], dict[str, bool]]:
    """How to train each run not in results.json: adopt or resume what its folder holds (after checking that the
    recipe matches: a mismatch stops before any training), else train it from scratch."""
    in_folders = [
        (n, s) for n, s in todo if (n, s) not in done and (study.out / n / f"seed{s}" / "last.pt").exists()
    ]
    how = {key: _existing_run(*study.run_config(*key)[1:]) for key in in_folders}
    if in_folders:
        _say(
            f"{len(in_folders)} run(s) not in results.json found in their folders: finished ones are adopted, "
            "interrupted ones resumed (after checking that the recipe matches)"
        )
    to_train = [(n, s) for n, s in todo if (n, s) not in done and (n, s) not in in_folders]
    if to_train:
        _announce_estimate(study, to_train)
    return how


def _run_one(study: _Study, name: str, seed: int, done: dict, how: dict) -> dict[str, Any]:
    """Train (or re-score, when results.json lists it) one configuration x seed; its results.json record."""
    from ecgimn.training.loop import train

    recipe, run_dir, config = study.run_config(name, seed)
    if (name, seed) in done:
        record = done[(name, seed)]
        record.update(_evaluate(run_dir / "best.pt", study.data, config, run_dir))
        return record
    summary = train(config, **how.get((name, seed), {}))
    record = {
        "config": name,
        "seed": seed,
        "model": config.model,
        "recipe": recipe,
        "n_params": summary["n_params"],
        "seconds_per_epoch": summary["seconds_per_epoch"],
        "epochs_run": summary["epochs_run"],
        "best_epoch": summary["best_epoch"],
        **_evaluate(Path(summary["checkpoint"]), study.data, config, run_dir),
    }
    study.runs.append(record)
    return record


def _train_all(study: _Study, todo: list[tuple[str, int]], done: dict, how: dict) -> None:
    """Every run of ``todo``, one step of the progress bar each; results.json is saved after each."""
    t_start = time.perf_counter()
    bar = tqdm(todo, desc="study", unit="run", disable=not study.progress)
    for i, (name, seed) in enumerate(bar):
        record = _run_one(study, name, seed, done, how)
        study.save()
        left = (time.perf_counter() - t_start) / (i + 1) * (len(todo) - i - 1)
        bar.set_postfix_str(f"about {left / 60:.0f} min left")
        _say(
            f"{name} seed {seed}: fold-9 {record['val_macro_auroc']:.4f}  fold-10 "
            f"{record['test_macro_auroc']:.4f}  ({i + 1}/{len(todo)} runs)"
        )


def _score_ensembles(study: _Study, reevaluate: bool) -> None:
    """The seed ensemble (mean logits) of every configuration whose seeds are all trained, unless up to date."""
    for name in study.configs:
        members = study.members(name)
        key = _ensemble_key(name, study.seeds)
        stale = (
            key not in study.ensembles
            or reevaluate
            or study.ensembles[key]["members"] != [str(m) for m in members]
        )
        if len(members) > 1 and all(m.exists() for m in members) and stale:
            only_present = bool(study.recipe(name).get("only_present", False))
            study.ensembles[key] = ensemble_scores(members, study.data, only_present=only_present)
            study.save()


def _compare_winners(study: _Study, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The fold-9-selected IMN against the fold-9-selected black box (paired over fold 10), when both exist."""
    best_imn = next((r["config"] for r in rows if r["interpretable"]), None)
    best_bb = next((r["config"] for r in rows if not r["interpretable"]), None)
    if not (best_imn and best_bb):
        return None
    a, b = study.members(best_imn), study.members(best_bb)
    if not all(p.exists() for p in a + b):
        return None
    only_present = bool(study.recipe(best_imn).get("only_present", False))
    return {
        "imn": best_imn,
        "blackbox": best_bb,
        **paired_comparison(a, b, study.data, only_present=only_present),
    }


def _write_report(study: _Study) -> dict[str, Any]:
    """results.md (and comparison.json) from the runs and ensembles of this study's configurations and seeds."""
    rows = summarise([r for r in study.runs if r["config"] in study.configs and r["seed"] in study.seeds])
    n_test = study.runs[0]["n_test"] if study.runs else 0
    keys = {n: _ensemble_key(n, study.seeds) for n in study.configs}
    md = (
        to_markdown(rows, task=study.task, note=f"Fold 10 has {n_test} records; seeds {study.seeds}.")
        + twins_markdown(rows)
        + ensembles_markdown({n: study.ensembles[k] for n, k in keys.items() if k in study.ensembles}, rows)
    )
    comparison = _compare_winners(study, rows)
    if comparison:
        md += comparison_markdown(comparison)
        (study.out / "comparison.json").write_text(json.dumps(comparison, indent=2, default=float))
    (study.out / "results.md").write_text(md)
    return {
        "rows": rows,
        "runs": study.runs,
        "ensembles": study.ensembles,
        "comparison": comparison,
        "markdown": str(study.out / "results.md"),
    }


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
    study = _Study(data, configs, list(seeds), Path(out), task, fs, dict(defaults or {}), progress)
    study.out.mkdir(parents=True, exist_ok=True)
    previous = json.loads(study.results_path.read_text()) if study.results_path.exists() else {}
    study.runs, study.ensembles = previous.get("runs", []), previous.get("ensembles", {})
    done = {(r["config"], r["seed"]): r for r in study.runs}
    todo = [(n, s) for n in configs for s in study.seeds if (n, s) not in done or reevaluate]
    how = _plan(study, todo, done)
    _train_all(study, todo, done, how)
    _score_ensembles(study, reevaluate)
    return _write_report(study)
