"""The per-record report (:mod:`ecgimn.explain.report`): a computed explanation reused, pictures and the model
window listed by the report itself, and the evidence defaults in one place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from test_whatif import LinearPredictor

from ecgimn.explain import DEFAULTS, explain_class
from ecgimn.explain.report import explain_recording
from ecgimn.io.recording import Recording


def _recording() -> Recording:
    x = np.random.default_rng(4).standard_normal((12, 200)).astype(np.float32)
    return Recording(x, 100.0, record_id="r")


def test_a_computed_explanation_is_reused_not_recomputed() -> None:
    pred, rec = LinearPredictor(), _recording()
    fresh = explain_recording(pred, rec, classes=["A"])
    assert pred.calls == 1
    reused = explain_recording(
        pred, rec, classes=["A"], window_s=1.0, stride_s=0.5, explanation=fresh.explanation
    )
    assert pred.calls == 1  # not run again
    assert reused.explanation is fresh.explanation
    assert reused.evidence[0].window_s == 1.0 and reused.evidence[0].logit == fresh.evidence[0].logit


def test_report_lists_figures_and_model_window() -> None:
    pred, rec = LinearPredictor(), _recording()
    plain = explain_recording(pred, rec, classes=["A"], model_source="linear.pt").report()
    assert "figures" not in plain and "window_s" not in plain["model"]  # the predictor has no window
    assert plain["model"]["source"] == "linear.pt"
    pred.window, pred.stride, pred.fs = 200, 100, 100  # type: ignore[attr-defined]
    rep = explain_recording(pred, rec, classes=["A"]).report(figures=[Path("out/r_A_ecg.png")])
    assert rep["figures"] == ["r_A_ecg.png"]
    assert rep["model"]["window_s"] == 2.0 and rep["model"]["stride_s"] == 1.0


def test_evidence_defaults_are_the_functions_defaults() -> None:
    att = np.random.default_rng(5).standard_normal((12, 300))
    ev = explain_class(att, 0.0, None, 100.0, "A")
    assert (ev.window_s, ev.stride_s) == (DEFAULTS.window_s, DEFAULTS.stride_s)
    assert len(ev.top_positive) == DEFAULTS.top_k
    default = explain_recording(LinearPredictor(), _recording(), classes=["A"]).evidence[0]
    assert (default.window_s, default.stride_s, len(default.top_positive)) == (0.5, 0.25, 3)
