"""PTB-XL data layer: metadata, benchmark label sets, folds, cached signal loading, standardisation, download."""

from ecgimn.data.cache import default_cache_dir
from ecgimn.data.labels import TaskLabels, build_task_labels, task_statements
from ecgimn.data.ptbxl import PTBXL, TaskData, load_task, read_wfdb_record, split_folds
from ecgimn.data.standardize import Standardizer

__all__ = [
    "PTBXL",
    "Standardizer",
    "TaskData",
    "TaskLabels",
    "build_task_labels",
    "default_cache_dir",
    "load_task",
    "read_wfdb_record",
    "split_folds",
    "task_statements",
]
