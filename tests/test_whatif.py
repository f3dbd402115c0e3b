"""The what-if (:mod:`ecgimn.explain.whatif`): remove the strongest evidence from the input and re-run the model;
and the one remove-and-interpolate rule it shares with the faithfulness curves."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_random_checkpoint

from ecgimn.api import Explanation, Predictor
from ecgimn.errors import ConfigError, InputError
from ecgimn.explain import Segment, fill_removed, remove_leads, remove_segments, what_if
from ecgimn.io.recording import Recording


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    from ecgimn.api import load

    return load(write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt"))


def _signal(seconds: float = 10, fs: int = 100) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (0.8 * np.sin(2 * np.pi * 1.1 * t)[None] * np.linspace(-1, 1, 12)[:, None]).astype(np.float32)


def test_remove_segments_interpolates_within_the_lead() -> None:
    x = np.tile(np.arange(100, dtype=np.float32) ** 1.5, (12, 1))
    before = x.copy()
    seg = Segment("V2", 7, 20, 40, 0.2, 0.4, 1.0)
    out = remove_segments(x, [seg], fs=100)
    line = np.interp(np.arange(20, 40), [19, 40], [x[7, 19], x[7, 40]])
    np.testing.assert_allclose(out[7, 20:40], line, rtol=1e-6)
    np.testing.assert_array_equal(np.delete(out, 7, axis=0), np.delete(x, 7, axis=0))  # other leads untouched
    np.testing.assert_array_equal(out[7, :20], x[7, :20])
    np.testing.assert_array_equal(out[7, 40:], x[7, 40:])
    np.testing.assert_array_equal(x, before)  # the input is not modified


def test_remove_segments_edges_overlaps_zero_mode_and_mappings() -> None:
    x = np.random.default_rng(0).standard_normal((12, 100)).astype(np.float32)
    start = remove_segments(x, [{"lead": "I", "start_s": 0.0, "end_s": 0.1}], fs=100)
    np.testing.assert_array_equal(start[0, :10], np.full(10, x[0, 10]))  # held flat at the record's start
    end = remove_segments(x, [{"lead_index": 1, "start_s": 0.9, "end_s": 1.0}], fs=100)
    np.testing.assert_array_equal(end[1, 90:], np.full(10, x[1, 89]))
    whole = remove_segments(x, [{"lead": "aVR", "start_s": 0, "end_s": 1.0}], fs=100)
    assert not whole[3].any()
    # overlapping windows of one lead are merged: the line joins the kept neighbours of the union
    both = remove_segments(x, [{"lead": 4, "start_s": 0.2, "end_s": 0.5}, {"lead": 4, "start_s": 0.4, "end_s": 0.6}],
                           fs=100)  # fmt: skip
    np.testing.assert_allclose(both[4, 20:60], np.interp(np.arange(20, 60), [19, 60], [x[4, 19], x[4, 60]]),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    zero = remove_segments(x, [{"lead": "V6", "start_s": 0.3, "end_s": 0.5}], fs=100, mode="zero")
    assert not zero[11, 30:50].any() and zero[11, 29] == x[11, 29] and zero[11, 50] == x[11, 50]
    # times in seconds map to samples at the given rate (500 Hz: 0.2-0.4 s = samples 100-200)
    hi = remove_segments(np.ones((12, 500), np.float32), [{"lead": 0, "start_s": 0.2, "end_s": 0.4}], fs=500,
                         mode="zero")  # fmt: skip
    assert np.flatnonzero(hi[0] == 0).tolist() == list(range(100, 200))
    with pytest.raises(ConfigError):
        remove_segments(x, [], fs=100, mode="noise")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        remove_segments(x, [{"lead": "X9", "start_s": 0, "end_s": 1}], fs=100)
    with pytest.raises(InputError):
        remove_segments(x[:5], [], fs=100)


def test_remove_leads_sets_zero_mv() -> None:
    x = np.ones((12, 50), np.float32)
    out = remove_leads(x, ["V1", 0])
    assert not out[6].any() and not out[0].any() and out[[1, 2, 3, 4, 5, 7, 8, 9, 10, 11]].all()
    assert x.all()


class LinearPredictor:
    """A fixed linear model on raw mV (no standardisation): logit_k = sum(W_k * x) + b_k, exact by design."""

    name = "linear"
    source = "linear"
    class_names = ["A", "B"]

    def __init__(self) -> None:
        rng = np.random.default_rng(1)
        self.w = rng.standard_normal((2, 12, 200)).astype(np.float64) * 0.05
        self.b = np.array([0.1, -0.2])
        self.calls = 0

    def length_error(self, seconds: float, source: str = "") -> str | None:
        return None if seconds >= 2.0 else f"{source}: record is {seconds:.2f} s long; this model needs 2 s"

    def explain(self, x: np.ndarray, fs: float = 100) -> Explanation:
        self.calls += 1
        x = np.asarray(x, dtype=np.float64)[None]
        att = self.w[None] * x[:, None]
        logits = att.sum((-2, -1)) + self.b
        return Explanation(
            class_names=self.class_names, probabilities=1 / (1 + np.exp(-logits)), logits=logits,
            weights=self.w[None], bias=self.b[None], attribution=att, inputs=x.astype(np.float32),
            inputs_std=x.astype(np.float32), weights_mv=self.w[None], bias_mv=self.b[None], fs=float(fs),
        )  # fmt: skip


def test_what_if_reruns_the_model_on_the_modified_input() -> None:
    pred = LinearPredictor()
    x = np.random.default_rng(2).standard_normal((12, 200)).astype(np.float32)
    rec = Recording(x, 100.0, record_id="r")
    res = what_if(pred, rec, "A", k=3, what="segments", mode="zero", window_s=0.2, stride_s=0.1)
    assert pred.calls == 2  # once to explain, once on the modified input
    assert len(res.removed) == 3 and all(r["evidence"] > 0 for r in res.removed)
    # a fixed linear model: zeroing removes exactly the removed segments' evidence from the logit
    assert res.logit_new == pytest.approx(res.logit_old - res.removed_evidence, abs=1e-4)
    assert res.probability_new < res.probability_old
    assert res.probability_old == pytest.approx(pred.explain(x).probabilities[0, 0])
    expected = remove_segments(x, res.removed, 100.0, "zero")
    np.testing.assert_array_equal(res.modified_mv, expected)
    assert res.probability_new == pytest.approx(float(pred.explain(expected).probabilities[0, 0]))

    leads = what_if(pred, rec, "a", k=2, what="leads")
    shares = (pred.w[0] * x).sum(1)
    assert [r["lead_index"] for r in leads.removed] == list(np.argsort(-shares)[:2])
    assert leads.mode == "zero" and not leads.modified_mv[leads.removed[0]["lead_index"]].any()
    assert leads.logit_new == pytest.approx(leads.logit_old - leads.removed_evidence, abs=1e-4)
    assert json.dumps(leads.to_dict())

    with pytest.raises(ConfigError):
        what_if(pred, rec, "A", k=2, what="leads", mode="interpolate")
    with pytest.raises(ConfigError):
        what_if(pred, rec, "Z", k=2)
    with pytest.raises(ConfigError):
        what_if(pred, rec, "A", k=0)


def test_what_if_with_fewer_positive_parts_than_k() -> None:
    pred = LinearPredictor()
    pred.w = -np.abs(pred.w)  # all evidence negative for a positive signal
    rec = Recording(np.ones((12, 200), np.float32), 100.0)
    res = what_if(pred, rec, "A", k=3, what="leads")
    assert res.removed == [] and res.probability_new == res.probability_old and res.notes


def test_what_if_with_the_network(predictor: Predictor) -> None:
    rec = Recording(_signal(), 100.0)
    res = what_if(predictor, rec, "MI", k=2, what="segments")
    assert 0 < len(res.removed) <= 2 and res.mode == "interpolate"
    new = predictor.explain(res.modified_mv, fs=100)
    assert res.probability_new == pytest.approx(float(new.probabilities[0, 2]), abs=1e-6)
    assert res.probability_old == pytest.approx(
        float(predictor.explain(rec.signal).probabilities[0, 2]), abs=1e-6
    )


def test_fill_removed_interpolates_holds_edges_and_fills_empty_leads() -> None:
    x = np.random.default_rng(3).standard_normal((12, 50)).astype(np.float32)
    removed = np.zeros(x.shape, dtype=bool)
    removed[0, 10:20] = True  # inside: the line through samples 9 and 20
    removed[1, :5] = True  # at the start: held at sample 5
    removed[2, 45:] = True  # at the end: held at sample 44
    removed[3] = True  # nothing kept: the fill value
    out = fill_removed(x, removed, "interpolate", fill=7.0)
    np.testing.assert_allclose(
        out[0, 10:20], np.interp(np.arange(10, 20), [9, 20], [x[0, 9], x[0, 20]]), rtol=1e-6
    )
    assert (out[1, :5] == x[1, 5]).all() and (out[2, 45:] == x[2, 44]).all() and (out[3] == 7.0).all()
    np.testing.assert_array_equal(out[~removed], x[~removed])
    const = fill_removed(x, removed, "constant", fill=np.full(x.shape, -1.0, np.float32))
    assert (const[removed] == -1.0).all() and (const[~removed] == x[~removed]).all()
    assert not np.shares_memory(out, x)


def test_the_report_asks_the_predictor_for_its_length_message() -> None:
    """explain_recording refuses a record the predictor calls too short, with the predictor's own message."""
    from ecgimn.explain.report import explain_recording
    from ecgimn.inference.protocol import ExplainingPredictor

    pred = LinearPredictor()
    assert isinstance(pred, ExplainingPredictor)
    short = Recording(np.zeros((12, 150), np.float32) + 0.1, 100.0, record_id="r", source="short.npy")
    with pytest.raises(InputError, match=r"short.npy: record is 1.50 s long; this model needs 2 s"):
        explain_recording(pred, short)
    assert pred.calls == 0  # refused before the model runs
