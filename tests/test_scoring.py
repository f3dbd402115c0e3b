"""Scoring as the PTB-XL benchmark does: reproduction of its published numbers, unit tests, CLI."""

from __future__ import annotations

import json
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ecgimn.cli import main
from ecgimn.errors import InputError
from ecgimn.evaluation import (
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

REF = Path(__file__).resolve().parents[2] / "shared" / "benchmark-reference"
needs_ref = pytest.mark.skipif(
    not (REF / "y_test.npy").is_file(), reason=f"benchmark reference outputs not found in {REF} (../shared)"
)
#: Fmax of xresnet1d101 (exp0, "all") in the benchmark's first release, where te_results.csv still listed it
#: (github.com/helme/ecg_ptbxl_benchmarking, commit 903cadc, output/exp0/models/fastai_xresnet1d101/results/);
#: same predictions (its macro_auc point is identical to the one in benchmark-reference).
PUBLISHED_FMAX = 0.7640877628838272


def _data(n: int = 400, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((n, k)) < 0.3).astype(int)
    s = np.clip(0.5 * y + rng.random((n, k)) * 0.7, 0, 1)
    return y, s


# ------------------------------------------------------------------------------------ benchmark reproduction
@pytest.fixture(scope="module")
def ref() -> dict:
    return {
        "y": np.load(REF / "y_test.npy", allow_pickle=False),
        "pred": np.load(REF / "xresnet1d101_y_test_pred.npy", allow_pickle=False),
        "naive": np.load(REF / "naive_y_test_pred.npy", allow_pickle=False),
        "ids": np.load(REF / "test_bootstrap_ids.npy", allow_pickle=False),
        "classes": json.loads((REF / "classes.json").read_text()),
        "csv": pd.read_csv(REF / "xresnet1d101_te_results.csv", index_col=0)["macro_auc"],
    }


@needs_ref
@pytest.mark.integration
def test_reproduces_published_xresnet1d101(ref: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing excluded, nothing to warn about
        r = score(ref["y"], ref["pred"], classes=ref["classes"], bootstrap_ids=ref["ids"])
    csv = ref["csv"]
    assert abs(r["macro_auroc"] - csv["point"]) < 1e-6
    assert abs(r["ci_low"] - csv["lower"]) < 1e-6
    assert abs(r["ci_high"] - csv["upper"]) < 1e-6
    assert abs(r["bootstrap_mean"] - csv["mean"]) < 1e-6
    assert (
        max(
            abs(r[k] - csv[c])
            for k, c in [("macro_auroc", "point"), ("ci_low", "lower"), ("ci_high", "upper")]
        )
        < 1e-12
    )
    assert abs(r["fmax"] - PUBLISHED_FMAX) < 1e-9
    assert (r["n_records"], r["n_classes"], r["n_bootstrap"], r["excluded_classes"]) == (2203, 71, 100, [])
    assert list(r["per_class_auroc"]) == ref["classes"]
    json.dumps(r)  # json-ready


@needs_ref
@pytest.mark.integration
def test_naive_baseline_and_parts(ref: dict) -> None:
    r = score(ref["y"], ref["naive"], bootstrap_ids=ref["ids"][:10])
    assert r["macro_auroc"] == pytest.approx(0.5) and r["ci_low"] == pytest.approx(0.5)
    part = bootstrap_interval(ref["y"], ref["pred"], ref["ids"][:10])
    full = score(ref["y"], ref["pred"], bootstrap_ids=ref["ids"][:10])
    assert part == {k: full[k] for k in part}
    assert macro_auroc(ref["y"], ref["pred"]) == full["macro_auroc"]


@needs_ref
@pytest.mark.integration
def test_cli_reproduces_published(ref: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [
        "score",
        "--labels",
        str(REF / "y_test.npy"),
        "--scores",
        str(REF / "xresnet1d101_y_test_pred.npy"),
    ]
    classes = ["--classes", str(REF / "classes.json")]
    # the CLI prints the API's result, which test_reproduces_published_xresnet1d101 checks against the published
    # one (all 100 resamples, to 1e-6); here the first 10 resamples: the published point and Fmax, that interval
    ids = tmp_path / "ids.npy"
    np.save(ids, ref["ids"][:10])
    expected = score(ref["y"], ref["pred"], classes=ref["classes"], bootstrap_ids=ref["ids"][:10])
    assert main([*args, "--bootstrap-ids", str(ids), *classes]) == 0
    out = capsys.readouterr().out
    interval = f"[90% CI {expected['ci_low']:.5f}-{expected['ci_high']:.5f}]"
    assert f"macro-AUROC  0.92544  {interval}" in out and "Fmax         0.76409" in out
    assert main([*args, "--bootstrap-ids", str(ids), *classes, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(expected))


# ------------------------------------------------------------------------------------------------ AUROC
def test_perfect_and_random_scores() -> None:
    y, _ = _data(500, 3)
    r = score(y, y.astype(float), n_bootstrap=20)
    assert r["macro_auroc"] == 1.0 and r["ci_low"] == 1.0 and r["ci_high"] == 1.0 and r["fmax"] == 1.0
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (4000, 5))
    r = score(y, rng.random((4000, 5)), n_bootstrap=20)
    assert abs(r["macro_auroc"] - 0.5) < 0.03
    assert r["ci_low"] <= r["bootstrap_mean"] <= r["ci_high"]


def test_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (300, 4))
    s = rng.integers(0, 4, (300, 4)) / 3  # heavy ties
    assert macro_auroc(y, s) == pytest.approx(roc_auc_score(y, s, average="macro"), abs=1e-12)
    # the identity "resample" gives the point estimate through the bootstrap path (rank-based AUROC)
    iv = bootstrap_interval(y, s, np.arange(300)[None])
    assert iv["ci_low"] == pytest.approx(roc_auc_score(y, s, average="macro"), abs=1e-12)
    pc = per_class_auroc(y, s, classes=list("abcd"))
    assert pc == pytest.approx(dict(zip("abcd", roc_auc_score(y, s, average=None))))


def test_excluded_class_warning() -> None:
    y, s = _data(200, 3)
    y[:, 1] = 0
    with pytest.warns(ExcludedClassWarning, match="MI"):
        r = score(y, s, classes=["NORM", "MI", "CD"], n_bootstrap=5)
    assert r["excluded_classes"] == ["MI"] and r["per_class_auroc"]["MI"] is None
    assert r["macro_auroc"] == pytest.approx(roc_auc_score(y[:, [0, 2]], s[:, [0, 2]], average="macro"))
    y[:, 2] = 1  # all positive: no negative
    with pytest.warns(ExcludedClassWarning, match="MI, CD"):
        assert macro_auroc(y, s, classes=["NORM", "MI", "CD"]) == pytest.approx(
            roc_auc_score(y[:, 0], s[:, 0])
        )


def test_excluded_class_in_bootstrap_resample() -> None:
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    s = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.3]])
    ids = np.array([[0, 1, 2, 3], [1, 3, 1, 3]])  # second resample lacks a positive of class "a"
    with pytest.warns(ExcludedClassWarning, match=r"a \(1x\)"):
        r = score(y, s, classes=["a", "b"], bootstrap_ids=ids)
    assert r["excluded_classes"] == [] and r["n_bootstrap"] == 2


def test_binary_shapes() -> None:
    y, s = _data(300, 1)
    flat = score(y[:, 0], s[:, 0], n_bootstrap=10)
    assert flat == score(y, s, n_bootstrap=10) == score(y[:, 0], s, n_bootstrap=10)
    assert flat["n_classes"] == 1 and flat["macro_auroc"] == pytest.approx(roc_auc_score(y[:, 0], s[:, 0]))


# ---------------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_ids_contain_every_class_and_are_seeded() -> None:
    y, _ = _data(60, 4)
    y[:, 3] = 0
    y[0, 3] = 1  # a single positive: many draws are rejected
    ids = bootstrap_ids(y, n=30, seed=3)
    assert ids.shape == (30, 60) and ids.min() >= 0 and ids.max() < 60
    assert all(y[i].sum(0).min() > 0 and (1 - y[i]).sum(0).min() > 0 for i in ids)
    assert np.array_equal(ids, bootstrap_ids(y, n=30, seed=3))
    assert not np.array_equal(ids, bootstrap_ids(y, n=30, seed=4))
    r = score(y, y.astype(float), n_bootstrap=30, seed=3)
    assert r["n_bootstrap"] == 30


def test_bootstrap_too_rare_classes() -> None:
    y = np.zeros((200, 12), int)
    y[np.arange(12), np.arange(12)] = 1  # 12 classes with one positive each: ~0.4% of draws qualify
    with pytest.raises(InputError, match="too small"):
        bootstrap_ids(y, n=5, seed=0, max_draws=50)


def test_no_bootstrap() -> None:
    y, s = _data(100, 2)
    r = score(y, s, n_bootstrap=0)
    assert r["ci_low"] is None and r["ci_high"] is None and r["n_bootstrap"] == 0
    json.dumps(r)


# --------------------------------------------------------------------------------------------------- Fmax
def test_fmax_hand_computed() -> None:
    # thresholds in (0.3, 0.4]: precision (1/2 + 1)/2 = 3/4, recall 1 -> F = 6/7; in (0.7, 0.8]: P 1, R 3/4 -> 6/7;
    # in (0.8, 0.9] the second record predicts nothing and is left out of the precision average.
    y = np.array([[1, 0, 0], [0, 1, 1]])
    s = np.array([[0.9, 0.7, 0.1], [0.3, 0.8, 0.4]])
    assert fmax(y, s) == pytest.approx(6 / 7)


def test_fmax_precision_over_records_that_predict() -> None:
    # for t in (0.2, 0.9] only record 0 predicts (correctly): P = 1 (not 1/2), R = 1/2 -> F = 2/3 (best);
    # at t = 0 everything is predicted: P = 1/3, R = 1 -> F = 1/2.
    y = np.array([[1, 0, 0], [0, 1, 0]])
    s = np.array([[0.9, 0.1, 0.1], [0.2, 0.0, 0.0]])
    assert fmax(y, s) == pytest.approx(2 / 3)


def test_fmax_needs_probabilities() -> None:
    y, s = _data(100, 2)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        fmax(y, s * 5 - 2)
    with pytest.warns(ScoringWarning, match="Fmax not computed"):
        r = score(y, s * 5 - 2, n_bootstrap=0)
    assert r["fmax"] is None and r["macro_auroc"] == pytest.approx(macro_auroc(y, s))


# ------------------------------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    ("labels", "scores", "kwargs", "match"),
    [
        (np.zeros((10, 3)), np.zeros((10, 2)), {}, r"\(10, 3\).*\(10, 2\)"),
        (np.zeros((10, 3)), np.zeros((9, 3)), {}, r"\(10, 3\).*\(9, 3\)"),
        (np.zeros((10, 3)), np.zeros(10), {}, r"\(10, 3\).*\(10,\)"),
        (np.full((4, 2), 2), np.zeros((4, 2)), {}, "0/1.*8 entries.*2"),
        (np.array([[0.0, np.nan], [1, 0]]), np.zeros((2, 2)), {}, "0/1"),
        (np.array([["a"]]), np.zeros((1, 1)), {}, "0/1"),
        (np.zeros((0, 2)), np.zeros((0, 2)), {}, "empty"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), {}, "shape"),
        (np.eye(3), np.eye(3), {"classes": ["a", "b"]}, "2 class names.*3"),
        (np.eye(3), np.eye(3), {"classes": ["a", "b", "a"]}, "duplicate.*a"),
        (np.eye(3), np.eye(3), {"bootstrap_ids": np.array([[0, 1, 3]])}, r"\[0, 3\).*1 do not"),
        (np.eye(3), np.eye(3), {"bootstrap_ids": np.array([[-1, 1, 2]])}, r"\[0, 3\)"),
        (np.eye(3), np.eye(3), {"bootstrap_ids": np.array([[0.0, 1, 2]])}, "integer"),
        (np.eye(3), np.eye(3), {"bootstrap_ids": np.array([0, 1, 2])}, "shape"),
        (np.eye(3), np.eye(3), {"n_bootstrap": -1}, "non-negative"),
        (np.zeros((3, 2)), np.eye(3)[:, :2], {}, "no class has both"),
        (np.eye(3), np.array([["x"] * 3] * 3), {}, "real numbers"),
    ],
)
def test_bad_inputs(labels: np.ndarray, scores: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        score(labels, scores, **kwargs)


def test_non_finite_scores_say_how_many_and_where() -> None:
    y = np.eye(4)
    s = np.eye(4)
    s[1, 2], s[3, 0], s[3, 1] = np.nan, np.inf, -np.inf
    with pytest.raises(InputError, match=r"3 non-finite.*2 record\(s\).*record 1 / MI \(nan\)") as exc:
        score(y, s, classes=["NORM", "STTC", "MI", "CD"])
    assert "record 3 / NORM (inf)" in str(exc.value)


# ------------------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    y, s = _data(150, 3)
    y[:, 2] = 0
    paths = {"y": tmp_path / "y.npy", "s": tmp_path / "s.npy", "c": tmp_path / "classes.json"}
    np.save(paths["y"], y)
    np.save(paths["s"], s)
    paths["c"].write_text(json.dumps(["NORM", "MI", "CD"]))
    return paths


def test_cli_table_json_and_warnings(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["score", "--labels", str(files["y"]), "--scores", str(files["s"]), "--classes", str(files["c"])]
    assert main([*base, "--n-bootstrap", "10", "--seed", "1"]) == 0
    cap = capsys.readouterr()
    assert (
        "macro-AUROC" in cap.out
        and "[90% CI" in cap.out
        and "Fmax" in cap.out
        and "per-class AUROC" in cap.out
    )
    assert "excluded     CD" in cap.out and cap.out.rstrip().endswith("CD     n/a      0")
    assert cap.err.startswith("warning:") and "CD" in cap.err
    assert main([*base, "--n-bootstrap", "10", "--seed", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (
        r["excluded_classes"] == ["CD"]
        and r["n_bootstrap"] == 10
        and set(r["per_class_auroc"]) == {"NORM", "MI", "CD"}
    )


def test_cli_errors(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["score", "--labels", str(files["y"])]
    pickled = tmp_path / "pickled.npy"
    np.load(files["s"]).dump(pickled)  # how the benchmark saved its arrays
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    bad_ids = tmp_path / "ids.npy"
    np.save(bad_ids, np.full((2, 150), 150))
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((150, 2)))
    cases = [
        ([*base, "--scores", str(pickled)], "pickled"),
        ([*base, "--scores", str(objects)], "pickled"),
        ([*base, "--scores", str(tmp_path / "missing.npy")], "not found"),
        ([*base, "--scores", str(files["c"])], "not a .npy file"),
        ([*base, "--scores", str(wrong)], r"\(150, 3\).*\(150, 2\)"),
        ([*base, "--scores", str(files["s"]), "--bootstrap-ids", str(bad_ids)], r"\[0, 150\)"),
        ([*base, "--scores", str(files["s"]), "--classes", str(files["y"])], "not valid JSON"),
    ]
    for argv, match in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err
        assert re.search(match, err), (match, err)
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes(files["s"].read_bytes()[:200])
    assert main([*base, "--scores", str(truncated)]) == 2
    assert "not a readable .npy" in capsys.readouterr().err
    np.savez(tmp_path / "one.npz", scores=np.load(files["s"]))
    assert main([*base, "--scores", str(tmp_path / "one.npz"), "--n-bootstrap", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_bootstrap"] == 0
    (tmp_path / "two.json").write_text(json.dumps(["a", "b"]))
    assert main([*base, "--scores", str(files["s"]), "--classes", str(tmp_path / "two.json")]) == 2
    assert "2 class names" in capsys.readouterr().err
    assert pickle.loads(pickled.read_bytes()).shape == (150, 3)  # the file really is a pickle


def test_paired_bootstrap_difference() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((300, 3)) < 0.3).astype(int)
    good = [y + 0.8 * rng.standard_normal(y.shape) for _ in range(3)]
    noise = [rng.standard_normal(y.shape) for _ in range(2)]
    d = paired_bootstrap_difference(y, good, noise, n=200)
    expected = np.mean([macro_auroc(y, s) for s in good]) - np.mean([macro_auroc(y, s) for s in noise])
    assert d["difference"] == pytest.approx(expected, abs=1e-12)
    assert 0 < d["ci_low"] < d["difference"] < d["ci_high"] and d["share_a_below"] == 0.0
    same = paired_bootstrap_difference(
        y, good[:1], good[:1], n=50
    )  # paired: identical runs differ by exactly 0
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0.0
    flipped = paired_bootstrap_difference(y, noise, good, n=200)
    assert flipped["difference"] == pytest.approx(-d["difference"]) and flipped["share_a_below"] == 1.0
    with pytest.raises(InputError, match="at least one"):
        paired_bootstrap_difference(y, [], good)
    with pytest.raises(InputError, match="shape"):
        paired_bootstrap_difference(y, good, [noise[0][:10]])


def test_tie_ranks_are_scipys_rankdata() -> None:
    """The bootstrap's own ranking equals scipy.stats.rankdata(axis=0) exactly: ties, -0.0, one row, no rows."""
    from scipy.stats import rankdata

    from ecgimn.evaluation.scoring import _tie_ranks

    rng = np.random.default_rng(3)
    cases = [rng.integers(0, 4, (40, 5)).astype(np.float64), rng.random((33, 3)).astype(np.float32)]
    cases += [np.array([[0.0, -0.0, 0.5], [-0.0, 0.0, 0.5]]), rng.random((1, 4)), np.zeros((0, 2))]
    for s in cases:
        ours, ref = _tie_ranks(s), rankdata(s, axis=0)
        assert ours.dtype == ref.dtype and np.array_equal(ours, ref)
