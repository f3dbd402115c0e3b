"""Evidence summaries of exact attributions: sums, windows, top-k, decision maps, reports."""

import json

import numpy as np
import pytest

from ecgimn.constants import LEADS
from ecgimn.errors import ConfigError, InputError
from ecgimn.explain import (
    explain_class,
    explain_record,
    segment_evidence,
    select_classes,
    to_report,
    top_segments,
    window_bounds,
)

RNG = np.random.default_rng(0)


def _linear_model(k: int = 3, n: int = 1000):
    w = RNG.standard_normal((k, 12, n))
    x = RNG.standard_normal((12, n))
    b = RNG.standard_normal(k)
    return w, x, b, (w * x).sum(axis=(1, 2)) + b


@pytest.mark.parametrize("n", [1000, 1003, 37, 50])
def test_lead_shares_and_partition_sum_to_logit(n):
    w, x, b, z = _linear_model(n=n)
    ev = explain_class(w[1] * x, b[1], z[1], fs=100, class_name="MI", probability=0.7)
    assert ev.lead_shares.shape == (12,)
    assert np.isclose(ev.lead_shares.sum() + ev.bias, ev.logit, rtol=1e-9, atol=1e-9)
    assert abs(ev.residual) < 1e-9
    part = np.zeros(12)
    for s in ev.partition:
        part[s.lead_index] += s.evidence
    np.testing.assert_allclose(part, ev.lead_shares, rtol=1e-10, atol=1e-10)
    # the partition tiles [0, n) exactly once per lead
    lead0 = [s for s in ev.partition if s.lead_index == 0]
    assert lead0[0].start == 0 and lead0[-1].end == n
    assert all(a.end == c.start for a, c in zip(lead0, lead0[1:]))


@pytest.mark.parametrize("n", [1000, 1003, 1010, 49, 50, 51])
def test_sliding_windows_drop_no_samples(n):
    starts, ends = window_bounds(n, 50, 25)
    covered = np.zeros(n, bool)
    for s, e in zip(starts, ends):
        assert 0 <= s < e <= n
        covered[s:e] = True
    assert covered.all() and ends[-1] == n
    assert (ends - starts).max() == min(50, n)
    assert np.all(np.diff(starts) > 0)


def test_partition_last_window_is_shorter():
    starts, ends = window_bounds(1003, 50, 50)
    assert ends[-1] == 1003 and ends[-1] - starts[-1] == 3
    segs = segment_evidence(RNG.standard_normal((12, 1003)), 100, 0.5, 0.5)
    assert segs.evidence.shape == (12, 21)


def test_sliding_sums_match_direct_sums():
    a = RNG.standard_normal((12, 1003))
    segs = segment_evidence(a, 100, window_s=0.5, stride_s=0.25)
    for j in (0, 5, len(segs.starts) - 1):
        np.testing.assert_allclose(segs.evidence[:, j], a[:, segs.starts[j] : segs.ends[j]].sum(1))
    assert segs.ends[-1] == 1003


def test_top_k_order_sign_and_nms():
    a = RNG.standard_normal((12, 1000)) * 0.1
    a[7, 300:350] += 2.0  # strongest positive: V2 3.0-3.5 s
    a[3, 600:650] -= 3.0  # strongest negative: aVR 6.0-6.5 s
    ev = explain_class(a, 0.0, None, 100, "X", top_k=4)
    pos, neg = ev.top_positive, ev.top_negative
    assert [s.rank for s in pos] == [1, 2, 3, 4]
    assert all(p.evidence >= q.evidence for p, q in zip(pos, pos[1:]))
    assert all(p.evidence <= q.evidence for p, q in zip(neg, neg[1:]))
    assert all(s.evidence > 0 for s in pos) and all(s.evidence < 0 for s in neg)
    assert (pos[0].lead, pos[0].start_s, pos[0].end_s) == ("V2", 3.0, 3.5)
    assert (neg[0].lead, neg[0].start_s) == ("aVR", 6.0)
    for top in (pos, neg, *ev.top_positive_by_lead.values(), *ev.top_negative_by_lead.values()):
        for i, s in enumerate(top):  # NMS: no two chosen windows of a lead overlap
            assert not any(s.lead == t.lead and s.start < t.end and t.start < s.end for t in top[i + 1 :])
    assert set(ev.top_positive_by_lead) == set(LEADS)
    assert all(len(v) <= 4 for v in ev.top_positive_by_lead.values())


def test_top_segments_only_of_their_sign():
    segs = segment_evidence(np.abs(RNG.standard_normal((12, 300))), 100)
    assert top_segments(segs, 3, "negative") == []
    assert len(top_segments(segs, 3, "positive", lead=2)) == 3


def test_inconsistent_logit_and_bad_input_are_refused():
    w, x, b, z = _linear_model()
    with pytest.raises(InputError, match="logit"):
        explain_class(w[0] * x, b[0], z[0] + 5.0, 100, "A")
    with pytest.raises(InputError):
        explain_class(np.ones((2, 12, 10)), 0.0, None, 100, "A")
    with pytest.raises(InputError):
        explain_class(np.full((12, 10), np.nan), 0.0, None, 100, "A")


def test_select_classes_defaults_to_predictions_never_labels():
    names = ["NORM", "MI", "STTC"]
    assert select_classes([0.2, 0.9, 0.6], names) == [1, 2]
    assert select_classes([0.2, 0.4, 0.1], names) == [1]
    assert select_classes([0.2, 0.9, 0.6], names, "NORM") == [0]
    assert select_classes([0.2, 0.9, 0.6], names, [2, "MI"]) == [2, 1]
    with pytest.raises(ConfigError, match="available"):
        select_classes([0.2, 0.9, 0.6], names, "AFIB")


def test_explain_record_explains_each_class_by_its_own_logit():
    w, x, b, z = _linear_model(k=2)
    p_sig = 1 / (1 + np.exp(-z))
    evs = explain_record(w * x, b, z, p_sig, ["NORM", "MI"], 100, classes=["MI", "NORM"])
    assert [e.class_name for e in evs] == ["MI", "NORM"]
    assert np.isclose(evs[0].logit, z[1]) and np.isclose(evs[0].probability, p_sig[1])
    for k, ev in zip((1, 0), evs):
        assert np.isclose(ev.bias, b[k]) and np.isclose(ev.lead_shares.sum() + ev.bias, z[k])


def test_to_report_is_json_ready():
    w, x, b, z = _linear_model(n=1003)
    ev = explain_class(w[0] * x, b[0], z[0], 100, "NORM", 0.4, top_k=2)
    rep = json.loads(json.dumps(to_report(ev)))
    assert rep["class"] == "NORM" and list(rep["lead_shares"]) == list(LEADS)
    assert np.isclose(rep["sum_lead_shares"] + rep["bias"], rep["logit"])
    assert np.isclose(rep["total_positive"] + rep["total_negative"], rep["sum_lead_shares"])
    assert rep["duration_s"] == 10.03 and rep["partition"][-1]["end_s"] == 10.03
    seg = rep["top_positive"][0]
    assert set(seg) >= {"lead", "start_s", "end_s", "evidence", "rank"} and seg["lead"] in LEADS
    assert len(ev.segments_table()) == len(ev.segments)


def test_segment_dict_is_every_field_as_a_plain_scalar() -> None:
    from dataclasses import asdict

    from ecgimn.explain.evidence import Segment

    seg = Segment("V1", 6, 50, 100, 0.5, 1.0, np.float32(-0.25), 2)
    d = seg.to_dict()
    assert d == {**asdict(seg), "evidence": -0.25} and list(d) == list(asdict(seg))
    assert type(d["evidence"]) is float and json.loads(json.dumps(d)) == d
