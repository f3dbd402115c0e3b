"""Evaluation of any model's outputs exactly as the PTB-XL benchmark (Strodthoff et al. 2021) scores them."""

from ecgimn.evaluation.scoring import (
    CI_LEVEL,
    ExcludedClassWarning,
    ScoringWarning,
    bootstrap_ids,
    bootstrap_interval,
    fmax,
    macro_auroc,
    paired_bootstrap_difference,
    per_class_auroc,
    score,
)

__all__ = [
    "CI_LEVEL",
    "ExcludedClassWarning",
    "ScoringWarning",
    "bootstrap_ids",
    "bootstrap_interval",
    "fmax",
    "macro_auroc",
    "paired_bootstrap_difference",
    "per_class_auroc",
    "score",
]
