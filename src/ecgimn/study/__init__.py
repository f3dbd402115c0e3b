"""The design study: configurations x seeds, fold 9 selects, fold 10 reports.

:mod:`~ecgimn.study.presets` (named configurations, as data), :mod:`~ecgimn.study.runner` (train, score, resume),
:mod:`~ecgimn.study.evaluate` (one checkpoint on one split), :mod:`~ecgimn.study.estimate` (expected time) and
:mod:`~ecgimn.study.tables` (Markdown).
"""

from ecgimn.study.presets import STUDY_PRESETS, expand_study_paths, load_configs

__all__ = ["STUDY_PRESETS", "expand_study_paths", "load_configs"]
