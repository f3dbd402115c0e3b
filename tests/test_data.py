"""PTB-XL data layer: labels, tasks, splits, signals, cache, standardiser, CLI summary; synthetic + ../shared data."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from conftest import PTBXL_LEAD_NAMES, synthetic_signal, write_wfdb

from ecgimn.cli import main
from ecgimn.constants import LEADS, TASKS
from ecgimn.data import PTBXL, Standardizer, TaskData, default_cache_dir, load_task, task_statements
from ecgimn.data.cache import SignalCache
from ecgimn.errors import ConfigError, DataError


def load(root: Path, task: str = "superdiagnostic", fs: int = 100, **kwargs) -> TaskData:
    kwargs.setdefault("cache_dir", root.parent / "cache")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_task(root, task, fs, progress=False, **kwargs)


def ids_of(data) -> list[int]:
    return [int(i) for i in data.ecg_ids]


# ---------------------------------------------------------------- folder and metadata


def test_metadata_and_statements(synthetic_ptbxl: Path) -> None:
    ds = PTBXL(synthetic_ptbxl)
    assert ds.metadata.index.name == "ecg_id" and len(ds.metadata) == 20
    assert ds.metadata.loc[3, "scp_codes"] == {"NORM": 100.0, "IMI": 50.0}
    assert ds.statements.loc["IMI", "diagnostic_class"] == "MI"
    assert ds.record_name(12, 500) == "records500/00000/00012_hr"


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist.*ecgimn data download") as err:
        PTBXL(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)


@pytest.mark.parametrize("name", ["ptbxl_database.csv", "scp_statements.csv"])
def test_missing_csv(synthetic_ptbxl: Path, name: str) -> None:
    (synthetic_ptbxl / name).unlink()
    with pytest.raises(DataError, match=name):
        PTBXL(synthetic_ptbxl)


def test_nested_folder_hint(synthetic_ptbxl: Path) -> None:
    with pytest.raises(DataError, match=r"did you mean .*ptbxl\?"):
        PTBXL(synthetic_ptbxl.parent)


def test_metadata_without_required_column(synthetic_ptbxl: Path) -> None:
    csv = synthetic_ptbxl / "ptbxl_database.csv"
    pd.read_csv(csv).drop(columns="strat_fold").to_csv(csv, index=False)
    with pytest.raises(DataError, match="strat_fold"):
        PTBXL(synthetic_ptbxl).metadata  # noqa: B018


# ---------------------------------------------------------------- labels and tasks


def test_benchmark_tasks(synthetic_ptbxl: Path) -> None:
    ds = PTBXL(synthetic_ptbxl)
    sup = ds.labels("superdiagnostic")
    assert sup.classes == ["CD", "HYP", "MI", "NORM", "STTC"]
    assert 7 not in ids_of(sup) and 17 not in ids_of(sup)  # SR only: no diagnostic label, dropped
    row = sup.Y[ids_of(sup).index(3)]
    assert row.tolist() == [0, 0, 1, 1, 0]  # NORM and IMI(50) -> NORM + MI
    assert sup.positives() == {"CD": 4, "HYP": 2, "MI": 6, "NORM": 6, "STTC": 4}
    assert sup.split_counts() == {"train": 14, "val": 2, "test": 2}

    everything = ds.labels("all")  # every key counts, likelihood 0 included (SR: 0.0)
    assert len(everything.ecg_ids) == 20 and "SR" in everything.classes
    assert everything.classes == sorted(everything.classes)
    assert everything.absent_classes == ["INJIN", "SVARR"]
    assert ds.labels("diagnostic").absent_classes == ["INJIN"]
    assert ds.labels("subdiagnostic").classes == [
        "AMI",
        "CLBBB",
        "IMI",
        "IRBBB",
        "LVH",
        "NORM",
        "NST_",
        "STTC",
    ]
    assert ds.labels("form").classes == ["ABQRS", "LVOLT", "NDT", "NST_"]
    rhythm = ds.labels("rhythm")
    assert rhythm.classes == ["AFIB", "SR"] and rhythm.absent_classes == ["SVARR"]
    assert 6 not in ids_of(rhythm)  # CLBBB only: no rhythm statement


@pytest.mark.parametrize(
    ("task", "positives", "negatives"),
    [
        ("norm-vs-mi", {2, 3, 10}, {1, 8}),
        ("norm-vs-sttc", {4, 5}, {1, 8}),
        ("norm-vs-cd", {6, 9}, {1, 8}),
        ("norm-vs-hyp", {5}, {1, 8}),
    ],
)
def test_binary_tasks(synthetic_ptbxl: Path, task: str, positives: set[int], negatives: set[int]) -> None:
    labels = PTBXL(synthetic_ptbxl).labels(task)
    assert labels.classes == [task.split("-")[-1].upper()] and labels.Y.shape[1] == 1
    pattern = {int(i): (int(i) - 1) % 10 + 1 for i in labels.ecg_ids}
    got_pos = {pattern[int(i)] for i, y in zip(labels.ecg_ids, labels.Y[:, 0]) if y == 1}
    got_neg = {pattern[int(i)] for i, y in zip(labels.ecg_ids, labels.Y[:, 0]) if y == 0}
    assert got_pos == positives and got_neg == negatives  # NORM+MI (pattern 3) is a positive


def test_unknown_task_and_rate(synthetic_ptbxl: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown task 'mi'.*superdiagnostic.*norm-vs-hyp"):
        load_task(synthetic_ptbxl, "mi")
    with pytest.raises(ConfigError, match="unknown task"):
        PTBXL(synthetic_ptbxl).labels("MI")
    with pytest.raises(ConfigError, match="250 Hz"):
        load(synthetic_ptbxl, fs=250)


def test_task_statements_full_file(shared_ptbxl: Path) -> None:
    statements = PTBXL(shared_ptbxl).statements
    sizes = {task: len(task_statements(statements, task)) for task in TASKS}
    assert sizes["all"] == 71 and sizes["diagnostic"] == 44 and sizes["subdiagnostic"] == 23
    assert task_statements(statements, "superdiagnostic") == ["CD", "HYP", "MI", "NORM", "STTC"]
    assert sizes["form"] == 19 and sizes["rhythm"] == 12 and sizes["norm-vs-mi"] == 1


def test_task_without_records(make_ptbxl: Callable[..., Path], tmp_path: Path) -> None:
    root = make_ptbxl(tmp_path / "one", n_records=1, rates=(100,))  # NORM + SR only
    with pytest.raises(DataError, match="no record carries a label of task 'form'"):
        load(root, "form")
    with pytest.warns(UserWarning, match=r"absent from the data loaded \(MI\)"):
        data = load_task(root, "norm-vs-mi", cache_dir=tmp_path / "c", progress=False)
    assert data.Y.tolist() == [[0.0]] and data.classes == ["MI"] and data.absent_classes == ["MI"]


# ---------------------------------------------------------------- signals, splits


def test_load_task_signals(synthetic_ptbxl: Path) -> None:
    data = load(synthetic_ptbxl)
    assert data.X.shape == (18, 12, 1000) and data.X.dtype == np.float32 and data.Y.dtype == np.float32
    assert data.classes == ["CD", "HYP", "MI", "NORM", "STTC"] and data.fs == 100 and len(data) == 18
    for k in (0, 9):
        np.testing.assert_allclose(data.X[k], synthetic_signal(int(data.ecg_ids[k]), 100).T, atol=6e-4)
    assert data.folds.tolist() == [(int(i) - 1) % 10 + 1 for i in data.ecg_ids]
    hr = load(synthetic_ptbxl, fs=500)
    assert hr.X.shape == (18, 12, 5000) and hr.fs == 500
    np.testing.assert_allclose(hr.X[3], synthetic_signal(int(hr.ecg_ids[3]), 500).T, atol=6e-4)


def test_splits(synthetic_ptbxl: Path) -> None:
    data = load(synthetic_ptbxl, "all")
    train, val, test = data.split("train"), data.split("val"), data.split("test")
    assert set(train.folds) == set(range(1, 9)) and set(val.folds) == {9} and set(test.folds) == {10}
    assert len(train) + len(val) + len(test) == len(data) == 20
    assert ids_of(test) == [10, 20] and test.X.shape == (2, 12, 1000) and test.classes == data.classes
    assert ids_of(data.split([1, 2])) == [1, 2, 11, 12] and ids_of(data.split(9)) == [9, 19]
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        data.split("dev")
    with pytest.raises(ConfigError, match="1-10"):
        data.split([11])


def test_lead_mapping_and_units(synthetic_ptbxl: Path) -> None:
    """Header lead names are mapped case-insensitively to LEADS order; uV is converted to mV."""
    perm = [6, 0, 11, 3, 1, 2, 4, 5, 7, 8, 9, 10]
    names = [PTBXL_LEAD_NAMES[p].lower() for p in perm]
    sig = synthetic_signal(1, 100)
    write_wfdb(synthetic_ptbxl / "records100/00000/00001_lr", sig[:, perm], 100, names)
    write_wfdb(
        synthetic_ptbxl / "records100/00000/00002_lr", synthetic_signal(2, 100) * 1000, 100, units="uV"
    )
    ds = PTBXL(synthetic_ptbxl)
    np.testing.assert_allclose(ds.read_record(1), sig.T, atol=6e-4)
    np.testing.assert_allclose(ds.read_record(2), synthetic_signal(2, 100).T, atol=6e-4)
    rec = ds.read_recording(1)
    assert rec.lead_names == LEADS and rec.fs == 100 and rec.record_id == "1"


# ---------------------------------------------------------------- bad files


def test_record_absent_on_disk(synthetic_ptbxl: Path) -> None:
    (synthetic_ptbxl / "records100/00000/00005_lr.dat").unlink()
    (synthetic_ptbxl / "records100/00000/00015_lr.hea").unlink()
    pattern = r"2 of 18 records have no 100 Hz file under .*records100 \(first: records100/00000/00005_lr\).*only_present=True.*16 present"
    with pytest.raises(DataError, match=pattern):
        load(synthetic_ptbxl)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_task(
            synthetic_ptbxl,
            "superdiagnostic",
            only_present=True,
            cache_dir=synthetic_ptbxl.parent / "c",
            progress=False,
        )
    messages = [str(w.message) for w in caught]
    assert any("2 of 18 records have no 100 Hz file" in m and "using the 16 present" in m for m in messages)
    assert any("1 class(es) absent from the data loaded (HYP)" in m for m in messages)
    assert len(data) == 16 and 5 not in ids_of(data) and len(data.folds) == len(data.Y) == 16
    # the only HYP records (5, 15) are gone: the class is dropped and reported
    assert data.classes == ["CD", "MI", "NORM", "STTC"] and data.absent_classes == ["HYP"]
    assert load(synthetic_ptbxl, "norm-vs-mi").X.shape[0] == 10  # tasks not needing them load fine


def test_truncated_dat(synthetic_ptbxl: Path) -> None:
    dat = synthetic_ptbxl / "records100/00000/00004_lr.dat"
    dat.write_bytes(dat.read_bytes()[:5001])
    with pytest.raises(DataError, match=r"00004_lr\.dat: truncated \(5,001 bytes, expected 24,000\)"):
        load(synthetic_ptbxl)


def test_wrong_lead_count(synthetic_ptbxl: Path) -> None:
    write_wfdb(
        synthetic_ptbxl / "records100/00000/00003_lr",
        synthetic_signal(3, 100)[:, :11],
        100,
        PTBXL_LEAD_NAMES[:11],
    )
    with pytest.raises(DataError, match=r"00003_lr\.hea: header lists 11 signals, expected the 12 leads"):
        load(synthetic_ptbxl)


def test_wrong_lead_names(synthetic_ptbxl: Path) -> None:
    names = [*PTBXL_LEAD_NAMES[:11], "X"]
    write_wfdb(synthetic_ptbxl / "records100/00000/00003_lr", synthetic_signal(3, 100), 100, names)
    with pytest.raises(DataError, match=r"00003_lr\.hea: leads .*'X'.* are not the 12 standard leads"):
        PTBXL(synthetic_ptbxl).read_record(3)


def test_wrong_sampling_rate(synthetic_ptbxl: Path) -> None:
    write_wfdb(synthetic_ptbxl / "records500/00000/00006_hr", synthetic_signal(6, 250), 250)
    with pytest.raises(
        DataError, match=r"00006_hr\.hea: sampling rate 250 Hz in the header, expected 500 Hz"
    ):
        load(synthetic_ptbxl, fs=500)


def test_wrong_length(synthetic_ptbxl: Path) -> None:
    write_wfdb(synthetic_ptbxl / "records100/00000/00002_lr", synthetic_signal(2, 100)[:900], 100)
    with pytest.raises(DataError, match=r"00002_lr\.hea: 900 samples, expected 1000"):
        PTBXL(synthetic_ptbxl).read_record(2)


# ---------------------------------------------------------------- cache


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads: list[int] = []
    original = PTBXL.read_record

    def counting(self: PTBXL, ecg_id: int, fs: int = 100) -> np.ndarray:
        reads.append(ecg_id)
        return original(self, ecg_id, fs)

    monkeypatch.setattr(PTBXL, "read_record", counting)
    return reads


def test_cache_hit_and_invalidation(
    synthetic_ptbxl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_reads(monkeypatch)
    cache = tmp_path / "cache"
    first = load(synthetic_ptbxl, "norm-vs-mi", cache_dir=cache)
    assert len(reads) == 20  # the first load reads every record of the root, not only the task's
    again = load(synthetic_ptbxl, "norm-vs-mi", cache_dir=cache)
    other = load(synthetic_ptbxl, "all", cache_dir=cache)
    assert len(reads) == 20  # cache hits for every task
    np.testing.assert_array_equal(first.X, again.X)
    assert other.X.shape == (20, 12, 1000) and other.X.flags.writeable
    (directory,) = cache.iterdir()
    assert sorted(p.suffix for p in directory.iterdir()) == [".json", ".npy", ".npy"]  # no tmp files left

    csv = synthetic_ptbxl / "ptbxl_database.csv"  # the root changes: rebuilt
    df = pd.read_csv(csv)
    df.loc[df.ecg_id == 2, "scp_codes"] = str({"NORM": 100.0})
    df.to_csv(csv, index=False)
    os.utime(csv, ns=(1, 1))
    changed = load(synthetic_ptbxl, "norm-vs-mi", cache_dir=cache)
    assert len(reads) == 40 and len(changed) == len(first)
    assert len(list(directory.glob("*.npy"))) == 2  # stale files removed
    load(synthetic_ptbxl, "all", fs=500, cache_dir=cache)
    assert len(reads) == 60 and len(list(cache.iterdir())) == 2  # one cache per (root, fs)


def test_cache_default_dir_and_corrupt_cache(
    synthetic_ptbxl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECGIMN_CACHE", str(tmp_path / "envcache"))
    reads = _count_reads(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_task(synthetic_ptbxl, "rhythm", progress=False)
    (directory,) = (tmp_path / "envcache").iterdir()
    (directory / "meta.json").write_text("{not json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = load_task(synthetic_ptbxl, "rhythm", progress=False)
    assert len(reads) == 40 and len(data) == 14
    assert SignalCache(None, synthetic_ptbxl, 100).load() is not None


def test_cache_extends_when_files_appear(
    synthetic_ptbxl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden = synthetic_ptbxl / "records100/00000/00001_lr.dat"
    hidden.rename(hidden.with_suffix(".bak"))
    assert len(load(synthetic_ptbxl, "all", only_present=True)) == 19
    hidden.with_suffix(".bak").rename(hidden)
    reads = _count_reads(monkeypatch)
    assert len(load(synthetic_ptbxl, "all")) == 20 and len(reads) == 20


# ---------------------------------------------------------------- standardiser


def test_standardizer_modes() -> None:
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(30, 12, 200)) * np.arange(1, 13)[None, :, None] + 0.5).astype(np.float32)
    g = Standardizer("global").fit(X)
    np.testing.assert_allclose(float(g.mean), X.astype(np.float64).mean(), rtol=1e-6)
    np.testing.assert_allclose(float(g.std), X.astype(np.float64).std(), rtol=1e-6)
    Z = g.transform(X)
    assert Z.dtype == np.float32 and abs(Z.mean()) < 1e-4 and abs(Z.std() - 1) < 1e-4

    p = Standardizer("per_lead").fit(X, folds=[1, 2, 9])
    Z = p.transform(X)
    np.testing.assert_allclose(Z.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(Z.std(axis=(0, 2)), 1, atol=1e-4)
    mu, sigma = p.affine(X[0])  # (12, L) input works too
    assert mu.shape == sigma.shape == (12, 1)
    np.testing.assert_allclose(p.transform(X[0]), (X[0] - mu) / sigma, rtol=1e-6)

    r = Standardizer("per_record")
    mu, sigma = r.affine(X)
    assert mu.shape == (30, 12, 1)
    np.testing.assert_allclose(r.fit(X).transform(X).std(axis=-1), 1, atol=1e-4)


def test_standardizer_flat_lead_floor() -> None:
    X = np.zeros((2, 12, 100), dtype=np.float32)  # every lead flat
    X[:, 1] = 3.0
    for mode in ("per_lead", "per_record", "global"):
        s = Standardizer(mode).fit(X if mode != "global" else np.zeros_like(X))
        _, sigma = s.affine(X)
        assert np.all(sigma == np.float32(1e-3)) and np.isfinite(s.transform(X)).all()


def test_standardizer_refuses_test_fold(synthetic_ptbxl: Path) -> None:
    X = np.ones((3, 12, 50), dtype=np.float32)
    with pytest.raises(ConfigError, match="fold 10 is the test fold; nothing may be fitted on it"):
        Standardizer().fit(X, folds=[1, 5, 10])
    with pytest.raises(ConfigError, match="fold 10"):
        Standardizer("per_record").fit(X, folds=np.array([10, 10, 10]))
    data = load(synthetic_ptbxl)
    with pytest.raises(ConfigError, match="fold 10"):
        Standardizer("per_lead").fit(data)  # a TaskData carries its folds
    fitted = Standardizer("per_lead").fit(data.split("train"))
    assert fitted.fitted and fitted.mean is not None


def test_standardizer_round_trip() -> None:
    X = np.random.default_rng(1).normal(size=(5, 12, 60)).astype(np.float32)
    for mode in ("global", "per_lead", "per_record"):
        s = Standardizer(mode).fit(X)
        d = json.loads(json.dumps(s.to_dict()))
        back = Standardizer.from_dict(d)
        assert back.mode == mode
        np.testing.assert_array_equal(back.transform(X), s.transform(X))
    with pytest.raises(ConfigError, match="unknown standardisation mode"):
        Standardizer("minmax")
    with pytest.raises(ConfigError, match="not fitted"):
        Standardizer("global").transform(X)
    with pytest.raises(ConfigError, match="invalid standardiser state"):
        Standardizer.from_dict({"mode": "per_lead", "mean": [0.0], "std": [1.0]})


# ---------------------------------------------------------------- CLI


def test_cli_summary(synthetic_ptbxl: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (synthetic_ptbxl / "records500/00000/00020_hr.dat").unlink()
    assert main(["data", "summary", "--root", str(synthetic_ptbxl), "--fs", "500", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["records"] == 20 and s["records_on_disk"] == 19 and set(s["tasks"]) == set(TASKS)
    sup = s["tasks"]["superdiagnostic"]
    assert sup["records"] == 18 and sup["classes"] == 5 and sup["positives"]["MI"] == 6
    assert sup["splits"] == {"train": 14, "val": 2, "test": 2}
    assert s["tasks"]["all"]["absent_classes"] == ["INJIN", "SVARR"]
    assert main(["data", "summary", "--root", str(synthetic_ptbxl), "--task", "norm-vs-mi"]) == 0
    text = capsys.readouterr().out
    assert (
        "norm-vs-mi: 10 records, 1 class (train 8 / val 0 / test 2)" in text and "MI 6 vs NORM only 4" in text
    )


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "summary", "--root", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("error: PTB-XL folder")


# ---------------------------------------------------------------- real PTB-XL (../shared)


@pytest.fixture(scope="module")
def shared_cache() -> Path:
    """The session's signal cache (conftest points ``ECGIMN_CACHE`` at a temporary folder): each real (root, rate)
    is read from its WFDB files once per test run, by whichever test loads it first."""
    return default_cache_dir()


@pytest.mark.integration
def test_shared_superdiagnostic(shared_ptbxl: Path, shared_cache: Path) -> None:
    data = load_task(shared_ptbxl, "superdiagnostic", cache_dir=shared_cache, progress=False)
    assert data.X.shape == (1976, 12, 1000) and data.classes == ["CD", "HYP", "MI", "NORM", "STTC"]
    assert dict(zip(data.classes, data.Y.sum(0).astype(int).tolist())) == {
        "NORM": 1055,
        "STTC": 470,
        "CD": 412,
        "MI": 372,
        "HYP": 217,
    }
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [1490, 234, 252]
    assert data.absent_classes == []
    raw, info = wfdb.rdsamp(str(shared_ptbxl / "records100/00000/00001_lr"))
    assert [n.upper() for n in info["sig_name"]] == [lead.upper() for lead in LEADS]
    np.testing.assert_allclose(data.X[0], raw.T, atol=1e-6)  # ecg_id 1, canonical order, mV
    assert 0.01 < float(np.abs(data.X).mean()) < 1.0  # millivolts, not uV / V


@pytest.mark.integration
def test_shared_500hz_missing_files(shared_ptbxl: Path, shared_cache: Path) -> None:
    msg = r"1,488 of 1,976 records have no 500 Hz file under .*records500 \(first: records500/00000/00501_hr\).*488 present"
    with pytest.raises(DataError, match=msg):
        load_task(shared_ptbxl, "superdiagnostic", 500, cache_dir=shared_cache, progress=False)
    with pytest.warns(UserWarning, match="using the 488 present"):
        data = load_task(
            shared_ptbxl, "superdiagnostic", 500, only_present=True, cache_dir=shared_cache, progress=False
        )
    assert data.X.shape == (488, 12, 5000) and data.ecg_ids.max() <= 500 and data.fs == 500


@pytest.mark.integration
def test_shared_task_counts(shared_ptbxl: Path) -> None:
    ds = PTBXL(shared_ptbxl)
    expected = {
        "all": (1999, 69),
        "diagnostic": (1976, 43),
        "subdiagnostic": (1976, 23),
        "superdiagnostic": (1976, 5),
        "form": (695, 19),
        "rhythm": (1894, 11),
    }
    for task, (n, k) in expected.items():
        labels = ds.labels(task)
        assert (len(labels.ecg_ids), len(labels.classes)) == (n, k), task
    assert ds.labels("all").split_counts() == {"train": 1499, "val": 245, "test": 255}
    assert ds.labels("diagnostic").split_counts() == {"train": 1490, "val": 234, "test": 252}


@pytest.mark.integration
def test_full_metadata_matches_benchmark_y_test(shared_metadata: Path, benchmark_reference: Path) -> None:
    labels = PTBXL(shared_metadata).labels("all")
    classes = json.loads((benchmark_reference / "classes.json").read_text())
    y_test = np.load(benchmark_reference / "y_test.npy")
    assert len(labels.ecg_ids) == 21837 and labels.classes == classes
    test = labels.folds == 10
    assert y_test.shape == (2203, 71)
    np.testing.assert_array_equal(labels.Y[test], y_test)


@pytest.mark.integration
def test_full_metadata_subset_and_absent_records(shared_metadata: Path, tmp_path: Path) -> None:
    """Any subset of the metadata works (e.g. v1.0.3 minus duplicates); records listed but absent are reported."""
    root = tmp_path / "subset"
    root.mkdir()
    df = pd.read_csv(shared_metadata / "ptbxl_database.csv")
    df[~df.ecg_id.isin([137, 139, 140, 141, 142, 143, 145, 456, 458, 459, 461, 462])].to_csv(
        root / "ptbxl_database.csv", index=False
    )
    (root / "scp_statements.csv").write_bytes((shared_metadata / "scp_statements.csv").read_bytes())
    ds = PTBXL(root)
    assert len(ds.metadata) == 21825 and len(ds.labels("superdiagnostic").classes) == 5
    for only_present in (False, True):
        with pytest.raises(
            DataError, match=r"21,419 of 21,419 records have no 100 Hz file.*records100.*none of them"
        ):
            load_task(
                root, "superdiagnostic", only_present=only_present, cache_dir=tmp_path / "c", progress=False
            )
