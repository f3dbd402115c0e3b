"""Label sets of the PTB-XL tasks, built exactly as the benchmark of Strodthoff et al. (2021) builds them.

Benchmark tasks (their ``utils.compute_label_aggregations`` + ``select_data`` with ``min_samples=0``): every key of a
record's ``scp_codes`` counts, whatever its likelihood (0 included).

- ``all``: every statement (71 in ``scp_statements.csv``).
- ``diagnostic``: statements with ``diagnostic == 1`` (44).
- ``subdiagnostic``: their ``diagnostic_subclass`` (23).
- ``superdiagnostic``: their ``diagnostic_class`` (5: CD HYP MI NORM STTC).
- ``form`` / ``rhythm``: statements with ``form == 1`` / ``rhythm == 1``.

Records without any label of the task are dropped from it. Classes are sorted (``MultiLabelBinarizer`` order) and are
the classes present in the metadata loaded (so a subset may have fewer); statements the task defines but the data lacks
are reported in ``absent_classes``.

Binary tasks ``norm-vs-mi``, ``norm-vs-sttc``, ``norm-vs-cd``, ``norm-vs-hyp`` (K=1, class name ``MI`` etc.), on the
diagnostic superclasses above: positives (y=1) are the records carrying the named superclass (whatever else they carry,
NORM included); negatives (y=0) are the records whose only superclass is NORM; every other record is dropped.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ecgimn.constants import BINARY_TASKS, SPLIT_FOLDS, TASKS
from ecgimn.errors import ConfigError, DataError

#: superclass named by each binary task
BINARY_POSITIVE: dict[str, str] = {task: task.split("-")[-1].upper() for task in BINARY_TASKS}


@dataclass
class TaskLabels:
    """Labels of one task (metadata only, no signals).

    Attributes:
        task: task name.
        ecg_ids: (N,) int64 ecg_id of the records kept, in metadata order.
        Y: (N, K) float32 multi-hot labels.
        folds: (N,) int64 ``strat_fold``.
        classes: K class names (column order of ``Y``).
        absent_classes: statements of the task that no loaded record carries.
    """

    task: str
    ecg_ids: np.ndarray
    Y: np.ndarray
    folds: np.ndarray
    classes: list[str]
    absent_classes: list[str] = field(default_factory=list)

    def split_counts(self) -> dict[str, int]:
        """Records per split (train / val / test)."""
        return {name: int(np.isin(self.folds, folds).sum()) for name, folds in SPLIT_FOLDS.items()}

    def positives(self) -> dict[str, int]:
        """Positive records per class."""
        return {c: int(n) for c, n in zip(self.classes, self.Y.sum(axis=0))}


def check_task(task: str) -> str:
    """Return ``task`` if known, else raise :class:`ConfigError` listing the valid tasks."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")
    return task


def parse_scp_codes(value: object) -> dict[str, float]:
    """Parse one ``scp_codes`` cell (a Python dict literal) with ``ast.literal_eval``."""
    if isinstance(value, dict):
        return value
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError) as exc:
        raise DataError(f"cannot parse scp_codes value {value!r}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise DataError(f"scp_codes value {value!r} is not a dict")
    return parsed


def _flag(statements: pd.DataFrame, column: str) -> pd.DataFrame:
    return statements[statements[column] == 1.0]


def task_statements(statements: pd.DataFrame, task: str) -> list[str]:
    """Every class the task defines according to ``scp_statements.csv`` (sorted)."""
    check_task(task)
    if task in BINARY_TASKS:
        return [BINARY_POSITIVE[task]]
    if task == "all":
        names = statements.index
    elif task == "diagnostic":
        names = _flag(statements, "diagnostic").index
    elif task == "subdiagnostic":
        names = _flag(statements, "diagnostic").diagnostic_subclass.dropna()
    elif task == "superdiagnostic":
        names = _flag(statements, "diagnostic").diagnostic_class.dropna()
    else:  # form, rhythm
        names = _flag(statements, task).index
    return sorted({str(n) for n in names})


def _aggregator(statements: pd.DataFrame, task: str) -> Callable[[dict[str, float]], list[str]]:
    """Map one record's ``scp_codes`` dict to its label list for a benchmark task."""
    if task == "all":
        return lambda codes: sorted(set(codes))
    if task in ("diagnostic", "form", "rhythm"):
        keep = set(_flag(statements, task).index)
        return lambda codes: sorted(set(codes) & keep)
    column = "diagnostic_subclass" if task == "subdiagnostic" else "diagnostic_class"
    diag = _flag(statements, "diagnostic")[column].dropna()
    mapping = {str(k): str(v) for k, v in diag.items()}
    return lambda codes: sorted({mapping[k] for k in codes if k in mapping})


def label_lists(metadata: pd.DataFrame, statements: pd.DataFrame, task: str) -> pd.Series:
    """Per-record label lists of a benchmark task (or the superclass lists of a binary task), indexed by ecg_id."""
    check_task(task)
    base = "superdiagnostic" if task in BINARY_TASKS else task
    return metadata["scp_codes"].map(_aggregator(statements, base))


def build_task_labels(metadata: pd.DataFrame, statements: pd.DataFrame, task: str) -> TaskLabels:
    """Build the labels of ``task`` from parsed metadata (index ecg_id, ``scp_codes`` dicts) and statements."""
    lists = label_lists(metadata, statements, task)
    if task in BINARY_TASKS:
        positive = BINARY_POSITIVE[task]
        is_pos = lists.map(lambda s: positive in s)
        is_neg = lists.map(lambda s: s == ["NORM"])
        keep = (is_pos | is_neg).to_numpy(bool)
        classes = [positive]
        Y = is_pos.to_numpy(bool)[keep, None].astype(np.float32)
    else:
        keep = lists.map(len).to_numpy() > 0
        classes = sorted({c for labels in lists[keep] for c in labels})
        column = {c: j for j, c in enumerate(classes)}
        Y = np.zeros((int(keep.sum()), len(classes)), dtype=np.float32)
        for i, labels in enumerate(lists[keep]):
            Y[i, [column[c] for c in labels]] = 1.0
    kept = metadata[keep]
    absent = sorted(set(task_statements(statements, task)) - set(classes))
    if task in BINARY_TASKS and not Y.any():
        absent = classes[:]
    return TaskLabels(
        task=task,
        ecg_ids=kept.index.to_numpy(np.int64),
        Y=Y,
        folds=kept["strat_fold"].to_numpy(np.int64),
        classes=classes,
        absent_classes=absent,
    )
