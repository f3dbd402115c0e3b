"""Input plausibility checks (ecgimn.io.quality): every detector on synthetic signals, integration on real records."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DIR

from ecgimn.constants import LEADS
from ecgimn.data.baseline import check_method, remove_baseline
from ecgimn.errors import ConfigError, InputError
from ecgimn.io import from_array, read_ecg
from ecgimn.io import quality as q

FS = 100
PTBXL = SHARED_DIR / "ptbxl"
needs_ptbxl = pytest.mark.skipif(
    not (PTBXL / "ptbxl_database.csv").is_file(), reason="shared PTB-XL subset absent"
)


def dipole_ecg(fs: float = FS, seconds: float = 10.0, hr: float = 70.0, seed: int = 0) -> np.ndarray:
    """A 12-lead ECG from a moving heart vector (limb leads obey Einthoven's law), in mV."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    beats = np.arange(0.4, seconds - 0.5, 60.0 / hr)

    def wave(centre: float, width: float) -> np.ndarray:
        return sum(np.exp(-0.5 * ((t - b - centre) / width) ** 2) for b in beats)

    p, qrs, s, tw = wave(-0.16, 0.025), wave(0.0, 0.012), wave(0.035, 0.012), wave(0.28, 0.05)
    angle = np.deg2rad(60)
    frontal = [(0.15, angle), (1.4, angle), (-0.35, angle + 0.4), (0.35, np.deg2rad(45))]
    hx = sum(a * np.cos(ang) * w for (a, ang), w in zip(frontal, (p, qrs, s, tw)))
    hy = sum(a * np.sin(ang) * w for (a, ang), w in zip(frontal, (p, qrs, s, tw)))
    lead_i, lead_ii = hx, 0.5 * hx + 0.866 * hy
    limb = [
        lead_i,
        lead_ii,
        lead_ii - lead_i,
        -(lead_i + lead_ii) / 2,
        lead_i - lead_ii / 2,
        lead_ii - lead_i / 2,
    ]
    r_amp = np.array([0.3, 0.6, 1.0, 1.4, 1.5, 1.2])
    s_amp = np.array([1.2, 1.6, 1.2, 0.8, 0.4, 0.2])
    t_amp = np.array([-0.1, 0.3, 0.5, 0.5, 0.4, 0.3])
    prec = [r * qrs - sa * s + ta * tw + 0.05 * p for r, sa, ta in zip(r_amp, s_amp, t_amp)]
    x = np.stack(limb + prec)
    return x + rng.normal(0, 0.005, x.shape)


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    return dipole_ecg()


def codes(check: q.InputCheck) -> set[str]:
    return {f.code for f in check.findings}


def test_clean_synthetic_is_ok(ecg: np.ndarray) -> None:
    check = q.assess(ecg, FS)
    assert check.status == "ok", check.to_dict()
    assert set(check.lead_quality) == set(LEADS) and min(check.lead_quality.values()) > 0.9
    d = check.to_dict()
    assert d["status"] == "ok" and d["findings"] == [] and json.dumps(d)


@pytest.mark.parametrize(("factor", "code"), [(1000.0, "units_uv"), (1e-3, "units_v")])
def test_units_refused_and_overridable(ecg: np.ndarray, factor: float, code: str) -> None:
    check = q.assess(ecg * factor, FS)
    assert check.status == "refused" and code in codes(check)
    assert "--units" in check.findings[0].message and "--allow-implausible" in check.error_message()
    over = q.assess(ecg * factor, FS, allow_implausible=True)
    assert over.status == "warning" and over.overridden and code in codes(over)


def test_adc_counts_and_missing_gain_hint(ecg: np.ndarray) -> None:
    counts = np.round(ecg * 1000)
    assert "adc_counts" in codes(q.assess(counts, FS))
    hinted = q.assess(ecg * 5, FS, hints={"adc_gain_missing": ["I", "II"]})
    assert hinted.status == "refused" and "adc_no_gain" in codes(hinted)
    large = q.assess(ecg * 5, FS)  # counts / 200 from a gain-1000 device, no hint: only the amplitude tells
    assert large.status == "warning" and "amplitude_large" in codes(large)


@pytest.mark.parametrize("value", [1e30, 3e38, 1e300])
def test_float_limit_never_overridable(ecg: np.ndarray, value: float) -> None:
    x = ecg.copy()
    x[3, 10] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning on the way
        check = q.assess(x, FS, allow_implausible=True)
    assert check.status == "refused" and codes(check) == {"float_limit"}
    assert "aVR" in check.findings[0].leads and "--allow-implausible" not in check.error_message()


def test_reader_refuses_float_limit_with_one_line(tmp_path: Path, ecg: np.ndarray) -> None:
    x = ecg.copy()
    x[7, 3] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="magnitude up to 1e\\+300 in V2"):
            from_array(x, FS, units="mV")


def test_flat_saturated_noise_wander(ecg: np.ndarray) -> None:
    x = ecg.copy()
    x[8] = 0.0  # V3 flat
    x[1] = np.minimum(x[1], 0.6 * x[1].max())  # II clipped
    x[10] += np.random.default_rng(1).normal(0, 0.5, x.shape[1])  # V5 muscle noise
    t = np.arange(x.shape[1]) / FS
    x[2] += 2.5 * np.sin(2 * np.pi * 0.2 * t)  # III wander
    check = q.assess(x, FS)
    by_code = {f.code: f.leads for f in check.findings}
    assert by_code["flat_lead"] == ["V3"] and by_code["saturated_lead"] == ["II"]
    assert "V5" in by_code["noisy_lead"] and by_code["baseline_wander"] == ["III"]
    assert check.status == "warning" and check.lead_quality["V3"] == 0.0 and check.lead_quality["V5"] < 0.5
    assert check.lead_quality["I"] > 0.9


def test_mains_interference_at_500_hz() -> None:
    x = dipole_ecg(fs=500)
    t = np.arange(x.shape[1]) / 500
    x[4] += 0.5 * np.sin(2 * np.pi * 50 * t)
    check = q.assess(x, 500)
    noisy = [f for f in check.findings if f.code == "noisy_lead"]
    assert noisy and noisy[0].leads == ["aVL"] and "mains" in noisy[0].message


def test_swap_limb_leads_matches_electrode_swap() -> None:
    rng = np.random.default_rng(0)
    ra, la, ll = rng.normal(size=(3, 50))

    def leads(ra: np.ndarray, la: np.ndarray, ll: np.ndarray) -> np.ndarray:
        return np.stack(
            [la - ra, ll - ra, ll - la, ra - (la + ll) / 2, la - (ra + ll) / 2, ll - (ra + la) / 2]
        )

    x = leads(ra, la, ll)
    np.testing.assert_allclose(q.swap_limb_leads(x, "la_ra"), leads(la, ra, ll), atol=1e-12)
    np.testing.assert_allclose(q.swap_limb_leads(x, "la_ll"), leads(ra, ll, la), atol=1e-12)
    np.testing.assert_allclose(q.swap_limb_leads(x, "ra_ll"), leads(ll, la, ra), atol=1e-12)


def test_inverted_precordial_on_synthetic(ecg: np.ndarray) -> None:
    x = ecg.copy()
    x[7] *= -1
    check = q.assess(x, FS)
    inv = [f for f in check.findings if f.code == "inverted_precordial"]
    assert inv and inv[0].leads == ["V2"] and check.status == "warning"


def test_la_ra_reversal_on_synthetic(ecg: np.ndarray) -> None:
    check = q.assess(q.swap_limb_leads(ecg, "la_ra"), FS)
    assert "lead_reversal_la_ra" in codes(check)
    assert "possible LA/RA reversal" in check.summary() and check.summary().startswith("WARNING")


def test_summary_and_finalize() -> None:
    assert q.finalize([]).summary() == "OK"
    f = q.Finding("units_uv", "refused", "m", ["I"])
    assert q.finalize([f]).status == "refused"
    assert q.finalize([f], allow_implausible=True).summary().startswith("WARNING (overridden)")


def test_assess_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError):
        q.assess(np.zeros((3, 100)), FS)


# ---------------------------------------------------------------------------------------------- baseline filter


@pytest.mark.parametrize("method", ["highpass", "median"])
def test_baseline_removal_makes_offset_and_wander_irrelevant(ecg: np.ndarray, method: str) -> None:
    t = np.arange(ecg.shape[1]) / FS
    clean = remove_baseline(ecg, FS, method)
    np.testing.assert_allclose(remove_baseline(ecg + 5.0, FS, method), clean, atol=1e-4)
    drift = remove_baseline(ecg + 2.0 * np.sin(2 * np.pi * 0.1 * t), FS, method)
    assert np.abs(drift - clean)[:, 100:-100].max() < (0.15 if method == "highpass" else 0.3)
    assert remove_baseline(ecg, FS, None) is ecg
    assert check_method("none") is None
    with pytest.raises(ConfigError):
        check_method("lowpass")


def test_checkpoint_sidecar_and_predictor_filter(tmp_path: Path) -> None:
    from ecgimn.api import PRETRAINED_DIR, load

    sidecar = json.loads((PRETRAINED_DIR / "default.preprocess.json").read_text())
    assert sidecar == {"baseline": "highpass"}
    predictor = load("default", device="cpu")
    assert predictor.baseline == "highpass"
    x = dipole_ecg()
    p = predictor.predict_proba(x, fs=FS)
    np.testing.assert_allclose(predictor.predict_proba(x + 5.0, fs=FS), p, atol=1e-4)
    ex = predictor.explain(x, fs=FS)
    assert ex.input_check is not None and ex.input_check[0].status in ("ok", "warning")
    # exact for the filtered signal the model saw
    total = ex.attribution[0].sum((-2, -1)) + ex.bias[0]
    np.testing.assert_allclose(total, ex.logits[0], rtol=1e-4, atol=1e-4)
    assert np.abs(np.median(ex.inputs[0], axis=-1)).max() < 0.2
    with pytest.raises(InputError, match="input refused"):
        predictor.explain(x * 1000, fs=FS)
    with pytest.raises(InputError, match="input refused"):
        predictor.predict_proba(x / 1000, fs=FS)
    assert predictor.explain(x * 1000, fs=FS, allow_implausible=True).input_check[0].overridden
    x[0, 5] = 1e300
    with pytest.raises(InputError, match="magnitude"):
        predictor.predict_proba(x, fs=FS, allow_implausible=True)


# ---------------------------------------------------------------------------------------------------- real data


@needs_ptbxl
def test_real_records_clean_and_faulted() -> None:
    clean_status = []
    for ecg_id in range(1, 21):
        rec = read_ecg(PTBXL / "records100" / "00000" / f"{ecg_id:05d}_lr")
        check = q.assess_recording(rec)
        clean_status.append(check.status)
        assert not codes(check) & {"units_uv", "units_v", "adc_counts", "lead_reversal_la_ra"}, (
            ecg_id,
            codes(check),
        )
    assert clean_status.count("ok") >= 15
    rec = read_ecg(PTBXL / "records100" / "00000" / "00001_lr")
    swapped = q.assess(q.swap_limb_leads(rec.signal, "la_ra"), rec.fs)
    assert "lead_reversal_la_ra" in codes(swapped)
    assert q.assess(rec.signal * 1000, rec.fs).status == "refused"


@needs_ptbxl
def test_wfdb_header_without_gain_is_refused(tmp_path: Path) -> None:
    src = PTBXL / "records100" / "00000" / "00001_lr"
    (tmp_path / "r.dat").write_bytes(src.with_suffix(".dat").read_bytes())
    lines = src.with_suffix(".hea").read_text().splitlines()
    body = [
        " ".join([ln.split()[0].replace("00001_lr", "r"), ln.split()[1], "0", *ln.split()[3:]])
        for ln in lines[1:13]
    ]
    (tmp_path / "r.hea").write_text("\n".join(["r" + lines[0][len("00001_lr") :], *body]) + "\n")
    rec = read_ecg(tmp_path / "r")
    assert rec.hints["adc_gain_missing"] == list(LEADS)
    check = q.assess_recording(rec)
    assert check.status == "refused" and codes(check) == {"adc_no_gain"}
    assert q.assess_recording(read_ecg(src)).status != "refused"


# ----------------------------------------------------------------------------------- batched == record by record

REFERENCE = Path(__file__).resolve().parents[1] / "benchmarks" / "reference_quality.py"


@pytest.fixture(scope="module")
def reference() -> object:
    """The per-record input check before it ran over batches (``benchmarks/reference_quality.py``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_quality", REFERENCE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def problem_cases(fs: float) -> dict[str, np.ndarray]:
    """One record per kind of problem the check looks for (and a clean one), all of one length, in mV."""
    x = dipole_ecg(fs=fs)
    t = np.arange(x.shape[1]) / fs
    rng = np.random.default_rng(3)
    cases = {"clean": x, "clean_other_seed": dipole_ecg(fs=fs, seed=5, hr=95)}
    cases["flat_V3"] = x.copy()
    cases["flat_V3"][8] = 0.0
    cases["flat_limb"] = x.copy()
    cases["flat_limb"][0] = 0.0
    cases["all_flat"] = np.zeros_like(x)
    cases["units_uV"] = x * 1000
    cases["units_V"] = x / 1000
    cases["adc_counts"] = np.round(x * 1000)
    cases["amplitude_large"] = x * 4
    for swap in ("la_ra", "la_ll", "ra_ll"):
        cases[f"swap_{swap}"] = q.swap_limb_leads(x, swap)
    cases["inverted_V2"] = x.copy()
    cases["inverted_V2"][7] *= -1
    cases["wander"] = x + 3.0 * np.sin(2 * np.pi * 0.2 * t)
    cases["muscle_noise"] = x + rng.normal(0, 0.5, x.shape) * (np.arange(12) % 3 == 0)[:, None]
    cases["mains"] = x + 0.5 * np.sin(2 * np.pi * 50 * t) * (np.arange(12) == 4)[:, None]
    cases["clipped_II"] = x.copy()
    cases["clipped_II"][1] = np.minimum(x[1], 0.6 * x[1].max())
    cases["nan_gap"] = x.copy()
    cases["nan_gap"][3, 100:140] = np.nan
    cases["nan_lead"] = x.copy()
    cases["nan_lead"][9] = np.nan
    cases["inf"] = x.copy()
    cases["inf"][2, 50] = np.inf
    cases["float_limit"] = x.copy()
    cases["float_limit"][7, 3] = 1e300
    cases["no_beats"] = rng.normal(0, 0.3, x.shape)
    return cases


def same_check(a: q.InputCheck, b: q.InputCheck) -> bool:
    """Identical verdicts: status, findings (codes, messages, leads) and lead quality to the last bit."""
    return a.to_dict() == b.to_dict() and a.lead_quality == b.lead_quality


@pytest.mark.parametrize("fs", [100, 500])
def test_assess_batch_equals_record_by_record_on_problem_cases(reference: object, fs: float) -> None:
    cases = problem_cases(fs)
    x = np.stack(list(cases.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the reference's nanpercentile on an all-NaN lead
        batched = q.assess_batch(x, fs)
        expected = [reference.assess(r, fs) for r in x]
    for name, a, b in zip(cases, batched, expected):
        assert same_check(a, b), (name, a.to_dict(), b.to_dict())
    seen = {f.code for c in batched for f in c.findings}
    wanted = {"flat_lead", "units_uv", "units_v", "adc_counts", "amplitude_large", "inverted_precordial"}
    wanted |= {"lead_reversal_la_ra", "baseline_wander", "noisy_lead", "saturated_lead", "float_limit"}
    assert wanted <= seen, wanted - seen  # every detector fired somewhere: the comparison covers them
    # assess (one record) is the batch of one; allow_implausible and full=False agree as well
    assert same_check(q.assess(x[5], fs), expected[5])
    over = q.assess_batch(x, fs, allow_implausible=True)
    assert [c.status for c in over] == [reference.assess(r, fs, allow_implausible=True).status for r in x]
    short = q.assess_batch(x[:12], fs, full=False)
    assert [sorted(f.code for f in c.findings) for c in short] == [
        sorted(f.code for f in c.findings if f.severity == "refused" or f.code == "amplitude_large")
        for c in expected[:12]
    ]


@needs_ptbxl
def test_assess_batch_equals_record_by_record_on_real_records(reference: object) -> None:
    from ecgimn.data.ptbxl import read_wfdb_record

    heads = sorted((PTBXL / "records100").glob("*/*_lr.hea"))[:48]
    x = np.stack([read_wfdb_record(h.with_suffix(""), 100) for h in heads])
    x[1] = q.swap_limb_leads(x[1], "la_ra")
    x[2, 8] = 0.0
    x[3] *= 1000
    batched = q.assess_batch(x, 100)
    expected = [reference.assess(r, 100) for r in x]
    for h, a, b in zip(heads, batched, expected):
        assert same_check(a, b), (h.name, a.to_dict(), b.to_dict())
    assert batched[3].status == "refused" and "flat_lead" in codes(batched[2])


def test_assess_batch_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match="assess_batch expects"):
        q.assess_batch(np.zeros((12, 100)), FS)


def test_assess_batch_on_records_shorter_than_a_beat(reference: object) -> None:
    rng = np.random.default_rng(0)
    for n in (2, 13, 74, 75):
        x = rng.normal(0, 0.5, (3, 12, n))
        assert all(same_check(a, reference.assess(r, FS)) for a, r in zip(q.assess_batch(x, FS), x)), n
    assert [c.status for c in q.assess_batch(np.ones((2, 12, 1)), FS)] == ["warning", "warning"]  # no crash
