"""PTB-XL on disk: metadata, WFDB signals (12, L) float32 mV in ``LEADS`` order, tasks, folds and cached loading.

Works unchanged on the full release (v1.0.1: 21,837 records, v1.0.3: 21,799) and on any subset of it: the
metadata decides which records exist, ``filename_lr`` / ``filename_hr`` where their 100 / 500 Hz files are.
Task definitions: :mod:`ecgimn.data.labels`. Splits: ``strat_fold`` 1-8 train, 9 val, 10 test.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from ecgimn.constants import LEADS, N_LEADS, RECORD_SECONDS, SAMPLING_RATES, SPLIT_FOLDS
from ecgimn.data.cache import SignalCache
from ecgimn.data.labels import TaskLabels, build_task_labels, check_task, parse_scp_codes
from ecgimn.errors import ConfigError, DataError
from ecgimn.io.recording import Recording
from ecgimn.io.wfdb16 import read_format16

DATABASE_CSV = "ptbxl_database.csv"
STATEMENTS_CSV = "scp_statements.csv"
FILENAME_COLUMN = {100: "filename_lr", 500: "filename_hr"}
REQUIRED_COLUMNS = ("scp_codes", "strat_fold", "filename_lr", "filename_hr")
STATEMENT_COLUMNS = ("diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass")
_UNIT_SCALE = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}
_LEAD_INDEX = {name.lower(): i for i, name in enumerate(LEADS)}
_GET_IT = "download it with `ecgimn data download --dest DIR` (or from https://physionet.org/content/ptb-xl/)"


def check_fs(fs: int) -> int:
    """Return ``fs`` as int if PTB-XL has it (100 or 500 Hz), else raise :class:`ConfigError`."""
    try:
        rate = int(fs)
    except (TypeError, ValueError):
        rate = -1
    if rate not in SAMPLING_RATES or rate != float(fs):
        raise ConfigError(f"PTB-XL has records at {' and '.join(map(str, SAMPLING_RATES))} Hz, not {fs} Hz")
    return rate


def read_wfdb_record(path: str | os.PathLike[str], fs: int) -> np.ndarray:
    """Read one PTB-XL WFDB record (path without extension) as (12, fs*10) float32 mV in ``LEADS`` order.

    Raises :class:`DataError` naming the file for a missing/truncated file or a header with the wrong number of
    leads, lead names, sampling rate, length or units.
    """
    path = Path(path)
    hea, dat = path.with_name(path.name + ".hea"), path.with_name(path.name + ".dat")
    redo = "re-download it (`ecgimn data download` verifies checksums)"
    if not hea.is_file() or not dat.is_file():
        raise DataError(f"{hea if not hea.is_file() else dat}: file not found; {redo}")
    fast = read_format16(path)  # PTB-XL's plain layout; anything else goes through wfdb
    try:
        signal, info = fast if fast is not None else wfdb.rdsamp(str(path), return_res=32)
    except Exception as exc:  # wfdb raises bare ValueError/IndexError/... on damaged files
        raise DataError(f"{_diagnose(path, hea, dat)}; {redo}") from exc
    n_expected = int(round(fs * RECORD_SECONDS))
    if info["n_sig"] != N_LEADS:
        raise DataError(f"{hea}: header lists {info['n_sig']} signals, expected the {N_LEADS} leads; {redo}")
    if float(info["fs"]) != float(fs):
        raise DataError(f"{hea}: sampling rate {info['fs']:g} Hz in the header, expected {fs} Hz; {redo}")
    if signal.shape != (n_expected, N_LEADS):
        raise DataError(f"{hea}: {signal.shape[0]} samples, expected {n_expected} (10 s at {fs} Hz); {redo}")
    order = [_LEAD_INDEX.get(str(name).strip().lower(), -1) for name in info["sig_name"]]
    if sorted(order) != list(range(N_LEADS)):
        raise DataError(f"{hea}: leads {info['sig_name']} are not the 12 standard leads {list(LEADS)}")
    scale = np.ones(N_LEADS, dtype=np.float32)
    for k, unit in enumerate(info["units"]):
        if str(unit).strip().lower() not in _UNIT_SCALE:
            raise DataError(
                f"{hea}: unit {unit!r} of lead {info['sig_name'][k]} is not a voltage (mV expected)"
            )
        scale[k] = _UNIT_SCALE[str(unit).strip().lower()]
    out = np.empty((N_LEADS, n_expected), dtype=np.float32)
    out[order] = (signal * scale).T
    if not np.isfinite(out).all():
        raise DataError(f"{dat}: {int((~np.isfinite(out)).sum())} missing (NaN) samples; {redo}")
    return out


def _diagnose(path: Path, hea: Path, dat: Path) -> str:
    """Say what is wrong with a record wfdb cannot read."""
    try:
        header = wfdb.rdheader(str(path))
    except Exception as exc:
        return f"{hea}: unreadable WFDB header ({exc})"
    fmts = set(header.fmt or [])
    if fmts == {"16"} and header.sig_len and header.n_sig:
        expected, size = header.sig_len * header.n_sig * 2, dat.stat().st_size
        if size < expected:
            return f"{dat}: truncated ({size:,} bytes, expected {expected:,})"
    return f"{dat}: cannot be read as WFDB format {'/'.join(sorted(fmts)) or '?'}"


@dataclass
class TaskData:
    """Signals and labels of one task.

    Attributes:
        X: (N, 12, L) float32 mV, leads in ``LEADS`` order.
        Y: (N, K) float32 multi-hot labels (K=1 for binary tasks).
        ecg_ids: (N,) int64 PTB-XL ecg_id.
        folds: (N,) int64 ``strat_fold`` (1-8 train, 9 val, 10 test).
        classes: K class names, the column order of ``Y``.
        task: task name; fs: sampling rate (Hz).
        absent_classes: classes the task defines that no loaded record carries.
    """

    X: np.ndarray
    Y: np.ndarray
    ecg_ids: np.ndarray
    folds: np.ndarray
    classes: list[str]
    task: str
    fs: int
    absent_classes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ecg_ids)

    def split(self, which: str | int | Sequence[int]) -> TaskData:
        """The records of split ``"train"`` / ``"val"`` / ``"test"`` or of the given fold(s)."""
        return self.subset(np.isin(self.folds, split_folds(which)))

    def subset(self, index: np.ndarray) -> TaskData:
        """The records selected by a boolean mask or an integer index array."""
        return replace(
            self, X=self.X[index], Y=self.Y[index], ecg_ids=self.ecg_ids[index], folds=self.folds[index]
        )


def split_folds(which: str | int | Sequence[int]) -> tuple[int, ...]:
    """Folds of a split name (``SPLIT_FOLDS``) or of fold number(s); :class:`ConfigError` if unknown."""
    if isinstance(which, str):
        if which not in SPLIT_FOLDS:
            raise ConfigError(
                f"unknown split {which!r}; use {', '.join(SPLIT_FOLDS)} or a list of folds 1-10"
            )
        return SPLIT_FOLDS[which]
    folds = (int(which),) if isinstance(which, (int, np.integer)) else tuple(int(f) for f in which)
    if not folds or any(not 1 <= f <= 10 for f in folds):
        raise ConfigError(f"folds must be numbers 1-10, got {list(folds)}")
    return folds


class PTBXL:
    """A PTB-XL folder (the release layout: ``ptbxl_database.csv``, ``scp_statements.csv``, ``records100/``...)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        if not self.root.exists():
            raise DataError(
                f"PTB-XL folder {self.root} does not exist; pass the folder holding {DATABASE_CSV} or {_GET_IT}"
            )
        if not self.root.is_dir():
            raise DataError(f"{self.root} is not a folder; pass the PTB-XL folder holding {DATABASE_CSV}")
        for name in (DATABASE_CSV, STATEMENTS_CSV):
            if not (self.root / name).is_file():
                nested = sorted(self.root.glob(f"*/{name}"))
                hint = f" (did you mean {nested[0].parent}?)" if nested else ""
                raise DataError(
                    f"{self.root / name} not found{hint}; pass the PTB-XL release folder or {_GET_IT}"
                )
        self.database_csv = self.root / DATABASE_CSV
        self.statements_csv = self.root / STATEMENTS_CSV

    def __repr__(self) -> str:
        return f"PTBXL({str(self.root)!r})"

    @cached_property
    def metadata(self) -> pd.DataFrame:
        """``ptbxl_database.csv`` indexed by ecg_id, ``scp_codes`` parsed into dicts."""
        df = _read_csv(self.database_csv, index_col="ecg_id")
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise DataError(
                f"{self.database_csv}: missing column(s) {', '.join(missing)}; is it the PTB-XL metadata?"
            )
        df.index = df.index.astype(np.int64)
        try:  # each distinct cell parsed once (21,837 rows hold 5,466), each row its own dict
            parsed = {v: parse_scp_codes(v) for v in df["scp_codes"].unique()}
            df["scp_codes"] = df["scp_codes"].map(lambda v: dict(parsed[v]))
        except DataError as exc:
            raise DataError(f"{self.database_csv}: {exc}") from exc
        df["strat_fold"] = df["strat_fold"].astype(np.int64)
        return df

    @cached_property
    def statements(self) -> pd.DataFrame:
        """``scp_statements.csv`` indexed by statement code."""
        df = _read_csv(self.statements_csv, index_col=0)
        missing = [c for c in STATEMENT_COLUMNS if c not in df.columns]
        if missing:
            raise DataError(
                f"{self.statements_csv}: missing column(s) {', '.join(missing)}; is it PTB-XL's file?"
            )
        return df

    def labels(self, task: str) -> TaskLabels:
        """Labels of ``task`` for every record of the metadata (no signal files needed)."""
        return build_task_labels(self.metadata, self.statements, check_task(task))

    def record_name(self, ecg_id: int, fs: int = 100) -> str:
        """Relative record path without extension, e.g. ``records100/00000/00001_lr``."""
        return str(self.metadata.at[int(ecg_id), FILENAME_COLUMN[check_fs(fs)]])

    def missing(self, ecg_ids: Sequence[int] | np.ndarray, fs: int = 100) -> np.ndarray:
        """The ecg_ids among ``ecg_ids`` whose ``.hea`` or ``.dat`` file at ``fs`` is not on disk."""
        names = self.metadata.loc[np.asarray(ecg_ids, dtype=np.int64), FILENAME_COLUMN[check_fs(fs)]].astype(
            str
        )
        listing: dict[str, set[str]] = {}
        absent = []
        for ecg_id, name in names.items():
            folder, _, stem = name.rpartition("/")
            if folder not in listing:
                try:
                    listing[folder] = set(os.listdir(self.root / folder))
                except OSError:
                    listing[folder] = set()
            files = listing[folder]
            if f"{stem}.hea" not in files or f"{stem}.dat" not in files:
                absent.append(ecg_id)
        return np.asarray(absent, dtype=np.int64)

    def read_record(self, ecg_id: int, fs: int = 100) -> np.ndarray:
        """Signal of one record, (12, fs*10) float32 mV in ``LEADS`` order."""
        return read_wfdb_record(self.root / self.record_name(ecg_id, fs), fs)

    def read_recording(self, ecg_id: int, fs: int = 100) -> Recording:
        """One record as a :class:`~ecgimn.io.recording.Recording`."""
        name = self.record_name(ecg_id, fs)
        return Recording(
            self.read_record(ecg_id, fs), fs, record_id=str(ecg_id), source=str(self.root / name)
        )

    def signals(
        self,
        ecg_ids: Sequence[int] | np.ndarray,
        fs: int = 100,
        *,
        only_present: bool = False,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Signals (N, 12, L) of the given records and the ecg_ids actually returned, through the cache.

        The first call for a (root, fs) reads every record present on disk into the cache; later calls load it.
        Records absent on disk raise :class:`DataError`, or are skipped with a warning if ``only_present``.
        """
        fs = check_fs(fs)
        ids = np.asarray(ecg_ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, N_LEADS, int(fs * RECORD_SECONDS)), dtype=np.float32), ids
        cache = SignalCache(cache_dir, self.root, fs)
        cached = cache.load()
        uncached = ids if cached is None else ids[~np.isin(ids, cached[1])]
        if len(uncached):
            absent = self.missing(uncached, fs)
            if len(absent):
                ids = self._handle_absent(ids, absent, fs, only_present)
            if cached is None or not np.isin(ids, cached[1]).all():
                every = self.metadata.index.to_numpy(np.int64)
                every = every[~np.isin(every, self.missing(every, fs))]
                desc = f"reading PTB-XL {fs} Hz (once; cached in {cache.directory})"
                cached = cache.build(
                    every,
                    lambda i: self.read_record(i, fs),
                    int(fs * RECORD_SECONDS),
                    progress=progress,
                    desc=desc,
                )
        X_all, cached_ids = cached
        rows = pd.Index(cached_ids).get_indexer(ids)
        if (rows < 0).any():  # pragma: no cover - the cache was built from these very records
            raise DataError(f"signal cache {cache.directory} lacks some records; delete it and load again")
        return np.asarray(X_all[rows]), ids

    def _handle_absent(self, ids: np.ndarray, absent: np.ndarray, fs: int, only_present: bool) -> np.ndarray:
        first = self.record_name(int(absent[0]), fs)
        where = self.root / first.split("/")[0]
        n_present = len(ids) - len(absent)
        msg = f"{len(absent):,} of {len(ids):,} records have no {fs} Hz file under {where} (first: {first})"
        if n_present == 0:
            raise DataError(f"{msg}: none of them is on disk; {_GET_IT}")
        if not only_present:
            raise DataError(
                f"{msg}; pass only_present=True / --only-present to use the {n_present:,} present, "
                f"or {_GET_IT}"
            )
        warnings.warn(f"{msg}; using the {n_present:,} present", UserWarning, stacklevel=3)
        return ids[~np.isin(ids, absent)]


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as CSV ({exc})") from exc


def load_task(
    root: str | os.PathLike[str],
    task: str,
    fs: int = 100,
    *,
    only_present: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> TaskData:
    """Load the signals and labels of ``task`` from the PTB-XL folder ``root`` at ``fs`` Hz (100 or 500).

    The first load of a (root, fs) reads every record (progress bar) into a cache under ``cache_dir`` (default
    ``$ECGIMN_CACHE`` or ``~/.cache/ecgimn``); later loads are fast. Classes are those present in the records
    loaded; statements of the task missing from them are listed in ``absent_classes`` with a warning.
    """
    check_task(task)
    fs = check_fs(fs)
    dataset = PTBXL(root)
    labels = dataset.labels(task)
    if not len(labels.ecg_ids):
        raise DataError(f"{dataset.database_csv}: no record carries a label of task {task!r}")
    X, ids = dataset.signals(
        labels.ecg_ids, fs, only_present=only_present, cache_dir=cache_dir, progress=progress
    )
    keep = np.isin(labels.ecg_ids, ids)
    Y, classes, absent = labels.Y[keep], list(labels.classes), list(labels.absent_classes)
    if not keep.all() and len(classes) > 1:
        # records dropped: keep the classes still present (benchmark rule)
        present = Y.any(axis=0)
        absent = sorted(set(absent) | {c for c, p in zip(classes, present) if not p})
        Y, classes = Y[:, present], [c for c, p in zip(classes, present) if p]
    if absent:
        warnings.warn(
            f"task {task!r}: {len(absent)} class(es) absent from the data loaded ({', '.join(absent)}); "
            f"using the {len(classes)} present",
            UserWarning,
            stacklevel=2,
        )
    return TaskData(
        X=X,
        Y=np.ascontiguousarray(Y),
        ecg_ids=ids,
        folds=labels.folds[keep],
        classes=classes,
        task=task,
        fs=fs,
        absent_classes=absent,
    )
