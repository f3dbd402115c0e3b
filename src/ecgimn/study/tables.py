"""The study's tables: mean +- sd over seeds (fold 9 selects, fold 10 reports), matched IMN / black-box twins,
seed ensembles and the paired comparison of the fold-9 winners, as Markdown."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


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
        bias_frac = [
            r.get("bias_variance_fraction") for r in rs if r.get("bias_variance_fraction") is not None
        ]
        rows.append(
            {
                "config": name,
                "model": rs[0]["model"],
                "interpretable": rs[0]["interpretable"],
                "seeds": len(rs),
                "val_mean": val_m,
                "val_sd": val_s,
                "test_mean": test_m,
                "test_sd": test_s,
                "test_per_class_mean": per_class,
                "params": rs[0]["n_params"],
                "seconds_per_epoch": float(np.mean([r["seconds_per_epoch"] for r in rs])),
                "exactness_max_rel_error": max(exact) if exact else None,
                "recipe": rs[0]["recipe"],
                "bias_variance_fraction": float(np.mean(bias_frac)) if bias_frac else None,
            }
        )
    return sorted(rows, key=lambda r: -r["val_mean"])


def to_markdown(rows: list[dict[str, Any]], *, task: str, note: str = "") -> str:
    """The results table (fold-9 selects, fold 10 reports)."""
    classes = list(rows[0]["test_per_class_mean"]) if rows else []
    head = [
        "config",
        "model",
        "exact",
        "seeds",
        "params",
        "s/epoch",
        "fold-9 AUROC",
        "fold-10 AUROC",
        *classes,
        "max rel. exactness error",
        "bias var. share",
    ]
    lines = [
        f"Task `{task}`. Sorted by mean fold-9 macro-AUROC (selection); fold 10 reported for all. {note} "
        "'bias var. share' = var(b(x)) / var(logit) over the test records: the part of an IMN's decision that "
        "its input-dependent bias carries instead of the map W * x (0 for a static bias).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        exact = "n/a" if r["exactness_max_rel_error"] is None else f"{r['exactness_max_rel_error']:.1e}"
        share = "n/a" if r.get("bias_variance_fraction") is None else f"{r['bias_variance_fraction']:.2f}"
        cells = [
            r["config"],
            r["model"],
            "yes" if r["interpretable"] else "no",
            str(r["seeds"]),
            f"{r['params'] / 1e3:.0f} k",
            f"{r['seconds_per_epoch']:.1f}",
            f"{r['val_mean']:.4f} ± {r['val_sd']:.4f}",
            f"{r['test_mean']:.4f} ± {r['test_sd']:.4f}",
            *[f"{r['test_per_class_mean'][c]:.3f}" for c in classes],
            exact,
            share,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    best_imn = next((r for r in rows if r["interpretable"]), None)
    best_bb = next((r for r in rows if not r["interpretable"]), None)
    if best_imn and best_bb:
        gap = best_imn["test_mean"] - best_bb["test_mean"]
        spread = max(best_imn["test_sd"], best_bb["test_sd"])
        lines += [
            "",
            f"Best interpretable (by fold 9): **{best_imn['config']}**, fold 10 {best_imn['test_mean']:.4f} "
            f"± {best_imn['test_sd']:.4f}. Best black box (by fold 9): **{best_bb['config']}**, fold 10 "
            f"{best_bb['test_mean']:.4f} ± {best_bb['test_sd']:.4f}. Difference {gap:+.4f} "
            + (
                f"({'within' if abs(gap) <= spread else 'outside'} one seed sd of {spread:.4f})."
                if min(best_imn["seeds"], best_bb["seeds"]) > 1
                else "(single seed: no spread to compare with)."
            ),
        ]
    return "\n".join(lines) + "\n"


def comparison_markdown(c: dict[str, Any]) -> str:
    """The fold-9-selected IMN against the fold-9-selected black box, paired over the same fold-10 records."""

    def line(what: str, d: dict[str, Any]) -> str:
        return (
            f"| {what} | {d['difference']:+.4f} | [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] | "
            f"{d['share_a_below']:.2f} |"
        )

    return (
        "\n".join(
            [
                "",
                f"Paired comparison on the same fold-10 records: **{c['imn']}** (IMN) minus **{c['blackbox']}** "
                f"(black box), each chosen on fold 9; {c['single_models']['n_bootstrap']} paired bootstrap resamples of "
                "the test records (90% interval). 'share IMN below' = share of resamples in which the IMN scores lower.",
                "",
                "| compared | fold-10 macro-AUROC difference | 90% interval | share IMN below |",
                "|---|---|---|---|",
                line(f"mean of single models ({len(c['a'])} seeds each)", c["single_models"]),
                line("seed ensembles (mean logits)", c["ensembles"]),
            ]
        )
        + "\n"
    )


def twin_pairs(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(IMN, black box) rows trained with the same recipe whose models are twins (``imn-X`` and ``blackbox-X``:
    the same encoder), e.g. ``imn-1d-aug-crop`` and ``blackbox-1d-aug-crop``."""

    def recipe_key(r: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in r["recipe"].items() if k != "model"}, sort_keys=True, default=str)

    pairs = []
    for imn in (r for r in rows if r["interpretable"] and r["model"].startswith("imn-")):
        twin = "blackbox-" + imn["model"].removeprefix("imn-")
        pairs += [
            (imn, bb)
            for bb in rows
            if not bb["interpretable"] and bb["model"] == twin and recipe_key(bb) == recipe_key(imn)
        ]
    return pairs


def twins_markdown(rows: list[dict[str, Any]]) -> str:
    """IMN minus its black-box twin under the same recipe: the cost of interpretability, recipe by recipe."""
    pairs = twin_pairs(rows)
    if not pairs:
        return ""
    lines = [
        "",
        "Matched twins (the same encoder and recipe; the IMN generates a linear model, the black box pools "
        "features): IMN minus black box, mean over seeds.",
        "",
        "| IMN | black box | fold-9 difference | fold-10 difference | fold-10 seed sd (IMN / black box) |",
        "|---|---|---|---|---|",
    ]
    for imn, bb in pairs:
        lines.append(
            f"| {imn['config']} | {bb['config']} | {imn['val_mean'] - bb['val_mean']:+.4f} | "
            f"{imn['test_mean'] - bb['test_mean']:+.4f} | {imn['test_sd']:.4f} / {bb['test_sd']:.4f} |"
        )
    diffs = [imn["test_mean"] - bb["test_mean"] for imn, bb in pairs]
    lines += [
        "",
        f"Mean fold-10 difference over the {len(pairs)} matched recipe(s): {np.mean(diffs):+.4f} "
        f"(range {min(diffs):+.4f} to {max(diffs):+.4f}).",
    ]
    return "\n".join(lines) + "\n"


def ensembles_markdown(ensembles: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Seed ensembles (average of the seeds' logits), sorted by fold 9."""
    if not ensembles:
        return ""
    kinds = {r["config"]: r["interpretable"] for r in rows}
    lines = [
        "",
        "Seed ensembles (average of the seed models' logits; for IMNs one exact linear model):",
        "",
        "| config | exact | members | fold-9 AUROC | fold-10 AUROC [90% CI] |",
        "|---|---|---|---|---|",
    ]
    for name, e in sorted(ensembles.items(), key=lambda kv: -kv[1]["val"]["macro_auroc"]):
        t = e["test"]
        lines.append(
            f"| {name} | {'yes' if kinds.get(name) else 'no'} | {len(e['members'])} | "
            f"{e['val']['macro_auroc']:.4f} | {t['macro_auroc']:.4f} [{t['ci_low']:.4f}-{t['ci_high']:.4f}] |"
        )
    return "\n".join(lines) + "\n"
