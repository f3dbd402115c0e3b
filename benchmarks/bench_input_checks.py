"""Detection and false-alarm rates of the input check (:mod:`ecgimn.io.quality`) on PTB-XL with injected faults.

Every record of the folder (100 Hz) is checked clean and with each fault injected (every record gets every fault:
the injection rate is 100 % per fault, so a detection rate is the share of faulted records flagged). A fault
counts as detected when the check reports one of its expected finding codes; false alarms are clean records with
that code, and clean records with any non-ok status. The lead-reversal classifiers were fitted on folds 1-8 and
their thresholds chosen on fold 9 (``fit_input_checks.py``): their rates are reported on fold 10 only.
``adc no gain (WFDB)`` writes each record as a WFDB file whose header has gain 0 and reads it back through
``read_ecg``. Last, the mean absolute change of the bundled default's probabilities under a 5 mV DC offset and a
2 mV baseline wander (fold 10; its baseline filter on).

    PYTHONPATH=src python benchmarks/bench_input_checks.py --data ../shared/ptbxl --out docs/results/input-checks.md
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ecgimn.data.ptbxl import PTBXL
from ecgimn.io import quality

FS = 100
RNG = np.random.default_rng(0)


def _wander(x: np.ndarray, amp: float = 2.0) -> np.ndarray:
    t = np.arange(x.shape[-1]) / FS
    f = RNG.uniform(0.15, 0.5, size=(x.shape[0], 1))
    ph = RNG.uniform(0, 2 * np.pi, size=(x.shape[0], 1))
    return x + amp * np.sin(2 * np.pi * f * t + ph)


def _invert(x: np.ndarray, lead: int) -> np.ndarray:
    y = x.copy()
    y[lead] *= -1
    return y


def _clip(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    hi = np.percentile(y[1], 99) * 0.6
    y[1] = np.minimum(y[1], hi)
    return y


def _flat(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    y[8] = 0.0
    return y


#: name -> (injection, expected finding codes, reversal fault: report on fold 10 only)
FAULTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], set[str], bool]] = {
    "x1000 (µV read as mV)": (lambda x: x * 1000, {"units_uv"}, False),
    "/1000 (V read as mV)": (lambda x: x / 1000, {"units_v"}, False),
    "ADC counts as integers (gain 1000)": (lambda x: np.round(x * 1000), {"adc_counts"}, False),
    "ADC counts / default gain 200, no hint": (
        lambda x: np.round(x * 1000) / 200,
        {"amplitude_large"},
        False,
    ),
    "1e30 in one sample": (
        lambda x: np.where(np.arange(x.size).reshape(x.shape) == 5, 1e30, x),
        {"float_limit"},
        False,
    ),
    "LA/RA reversal": (lambda x: quality.swap_limb_leads(x, "la_ra"), {"lead_reversal_la_ra"}, True),
    "RA/LL reversal": (lambda x: quality.swap_limb_leads(x, "ra_ll"), {"lead_reversal_ra_ll"}, True),
    "LA/LL reversal": (lambda x: quality.swap_limb_leads(x, "la_ll"), {"lead_reversal_la_ll"}, True),
    "V2 inverted": (lambda x: _invert(x, 7), {"inverted_precordial"}, True),
    "5 mV DC offset": (lambda x: x + 5.0, set(), False),
    "2 mV baseline wander": (_wander, {"baseline_wander", "noisy_lead"}, False),
    "white noise 0.1 mV": (lambda x: x + RNG.normal(0, 0.1, x.shape), {"noisy_lead"}, False),
    "white noise 0.3 mV": (lambda x: x + RNG.normal(0, 0.3, x.shape), {"noisy_lead"}, False),
    "lead II clipped at 60 % of its peak": (_clip, {"saturated_lead"}, False),
    "V3 flat": (_flat, {"flat_lead"}, False),
}


def codes(check: quality.InputCheck) -> set[str]:
    return {f.code for f in check.findings}


def adc_no_gain_rates(X: np.ndarray, ids: np.ndarray) -> float:
    """Share of records written as WFDB with gain 0 in the header that ``read_ecg`` + the check refuse."""
    import wfdb

    from ecgimn.constants import LEADS
    from ecgimn.io import read_ecg

    hits = 0
    with tempfile.TemporaryDirectory() as tmp:
        for x, i in zip(X, ids):
            name = f"r{i}"
            wfdb.wrsamp(
                name,
                fs=FS,
                units=["mV"] * 12,
                sig_name=list(LEADS),
                d_signal=np.round(x.T * 1000).astype(np.int16),
                fmt=["16"] * 12,
                adc_gain=[1000.0] * 12,
                baseline=[0] * 12,
                write_dir=tmp,
            )
            hea = Path(tmp) / f"{name}.hea"
            lines = hea.read_text().splitlines()
            out = [lines[0]] + [
                " ".join([ln.split()[0], ln.split()[1], "0", *ln.split()[3:]]) for ln in lines[1:13]
            ]
            hea.write_text("\n".join(out) + "\n")
            check = quality.assess_recording(read_ecg(Path(tmp) / name))
            hits += check.status == "refused" and "adc_no_gain" in codes(check)
    return hits / len(X)


def prob_change(X: np.ndarray) -> dict[str, float]:
    import ecgimn

    predictor = ecgimn.load("default", device="cpu")
    p = predictor.predict_proba(X, fs=FS)
    off = predictor.predict_proba(X + 5.0, fs=FS)
    wan = predictor.predict_proba(np.stack([_wander(x) for x in X]), fs=FS)
    return {
        "offset": float(np.abs(off - p).mean()),
        "wander": float(np.abs(wan - p).mean()),
        "filter": str(predictor.baseline),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int, default=None, help="first N records only (quick runs)")
    ap.add_argument("--out", default=None, help="write a Markdown table here")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = PTBXL(args.data)
    ids_all = ds.metadata.index.to_numpy()[: args.limit]
    X, ids = ds.signals(ids_all, FS, only_present=True, progress=False)
    folds = ds.metadata.loc[ids, "strat_fold"].to_numpy()
    test = folds == 10
    clean = [quality.assess(x.astype(np.float64), FS) for x in X]
    clean_codes = [codes(c) for c in clean]
    rows = []
    for name, (inject, expected, reversal) in FAULTS.items():
        sel = test if reversal else np.ones(len(X), bool)
        found = [codes(quality.assess(inject(x.astype(np.float64)), FS)) for x in X[sel]]
        det = np.mean([bool(f & expected) for f in found]) if expected else float("nan")
        non_ok = np.mean([bool(f) for f in found])
        fa = (
            np.mean([bool(c & expected) for c, s in zip(clean_codes, sel) if s]) if expected else float("nan")
        )
        rows.append((name, int(sel.sum()), ", ".join(sorted(expected)) or "(none expected)", det, fa, non_ok))
        print(
            f"{name:40s} n={sel.sum():5d} detected {det:.3f}  false alarms {fa:.3f}  any finding {non_ok:.3f}",
            flush=True,
        )
    nogain = adc_no_gain_rates(X, ids)
    print(f"ADC no gain (WFDB header, via read_ecg): refused {nogain:.3f}")
    any_clean = np.mean([c.status != "ok" for c in clean])
    refused_clean = np.mean([c.status == "refused" for c in clean])
    units_fa = np.mean(
        [bool(c & {"units_uv", "units_v", "adc_counts", "adc_no_gain", "float_limit"}) for c in clean_codes]
    )
    print(
        f"clean: refused {refused_clean:.4f}, units false alarms {units_fa:.4f}, any non-ok {any_clean:.3f}"
    )
    dp = prob_change(X[test])
    print(
        f"default ({dp['filter']} filter), fold 10: mean |dp| offset {dp['offset']:.4f}, wander {dp['wander']:.4f}"
    )
    seconds = time.perf_counter() - t0
    if args.out:
        counts: dict[str, int] = {}
        for c in clean_codes:
            for code in c:
                counts[code] = counts.get(code, 0) + 1
        lines = [
            "# Input checks: detection and false alarms on PTB-XL with injected faults",
            "",
            f"Records: {len(X)} PTB-XL records at 100 Hz ({args.data}; Wagner et al., Sci Data 2020). Command: "
            "`PYTHONPATH=src python benchmarks/bench_input_checks.py --data ../shared/ptbxl --out "
            f"docs/results/input-checks.md` ({seconds:.0f} s). Every record receives every fault; lead-reversal "
            "and inverted-lead rows are on fold 10 only (classifiers fitted on folds 1-8, thresholds on fold 9 "
            "by `benchmarks/fit_input_checks.py`).",
            "",
            "| fault | records | finding(s) counted | detected | false alarms (clean, same records) | any finding |",
            "|---|---|---|---|---|---|",
            *[f"| {n} | {k} | {e} | {d:.3f} | {f:.3f} | {a:.3f} |" for n, k, e, d, f, a in rows],
            f"| ADC counts, WFDB header with gain 0 (read_ecg) | {len(X)} | adc_no_gain (refused) | {nogain:.3f} | "
            f"{np.mean(['adc_no_gain' in c for c in clean_codes]):.3f} | |",
            "",
            f"Clean records: refused {refused_clean:.4f}; flagged with a units / ADC / float-limit finding "
            f"{units_fa:.4f}; any warning {any_clean:.3f} (by code: "
            + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            + ").",
            "",
            f"Bundled default ({dp['filter']} baseline filter), fold 10 ({int(test.sum())} records): mean absolute "
            f"change of the class probabilities under a 5 mV DC offset **{dp['offset']:.4f}**, under a 2 mV "
            f"baseline wander (0.15-0.5 Hz sinusoid per lead) **{dp['wander']:.4f}** (target <= 0.05).",
            "",
            "Notes: a 5 mV offset is not a finding (the baseline filter removes it exactly); 'ADC counts / default "
            "gain 200, no hint' is the same fault as the WFDB row but given as a bare array, where only its "
            "amplitude (5x) can tell; LA/LL reversal has no classifier (fold-9 detection below 50 % at 1 % false "
            "alarms, so it was left out) and mains interference cannot occur at 100 Hz (tested on synthetic "
            "500 Hz signals in tests/test_quality.py). The amplitude thresholds (20 mV, 0.05 mV: physiological range; 3 mV "
            "for amplitude_large: above the 99.5th percentile, 2.56 mV, of the clean median peak-to-peak) were set "
            "by looking at all records' clean distribution, so their false-alarm rates are in-sample; the "
            "baseline filter's choice is in [baseline-filter.md](baseline-filter.md).",
        ]
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"written {args.out}")


if __name__ == "__main__":
    main()
