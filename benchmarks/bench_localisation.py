"""Is the evidence where the pathology is? Counterfactual lesions, wave-level randomisation, real-record checks.

On real PTB-XL records (Wagner et al., Sci Data 2020) of fold 10 (reporting only; nothing here is selected or
tuned on it; ``--fold 9`` runs the same on the validation fold, to select designs):

1. **Delineation check**: the beats of every fold-10 record (:func:`ecgimn.explain.waves.delineate_beats`):
   how often NeuroKit2's ``dwt`` fails or leaves a boundary to the fixed-interval fallback, and how well the
   multi-lead R detector agrees with NeuroKit's own lead-II R peaks (within 50 ms).
2. **Counterfactual lesions** (:mod:`ecgimn.explain.lesions`) written into every beat of the NORM-only fold-10
   records: ST elevation / depression (horizontal and sloped) in inferior, lateral and anterior leads, T-wave
   inversion, pathological Q waves, each at three sizes, and a clinically neutral control. For an IMN the change
   of the logit splits exactly: ``dlogit = sum(table' - table) + (b' - b)`` with both tables on the original
   record's wave labels. Reported per lesion (means over records): dp, dlogit, the share of the mean dlogit
   inside the altered cells (lesion leads x lesion waves), in other cells, and in the bias, and whether dlogit
   grows with size. The class scored is the lesion's target (ST elevation, Q waves -> MI; ST depression, T
   inversion -> STTC).
3. **Black-box twin**: the same lesions (middle size) on ``--bb-records`` records, explained post hoc with
   Integrated Gradients (complete: the map sums to ``f(x) - f(0)``, so its change sums to dlogit up to the
   integral's error); share of the change of the map inside the altered cells.
4. **Wave-level model randomisation** (Adebayo et al. 2018): Spearman rho of |lead x wave table| between the
   trained model and a fully re-initialised copy, beside the same rho of per-sample |W * x|; and the QRS share of
   the re-initialised model's |W * x| (how much of a per-sample picture is amplitude alone).
5. **Real records**: for STTC-positive fold-10 records, the ST+T share of the evidence referenced to the mean
   NORM beat of training folds 1-8 (``W_mv * (x - r)``, exact with the referenced bias); for MI records with one
   territory (inferior: IMI; anterior/septal: ASMI, AMI), how often the lead with the most MI evidence lies in
   the territory, against two model-free baselines (largest amplitude; largest deviation from the NORM beat).

    python benchmarks/bench_localisation.py --data ../shared/ptbxl --model default \\
        --blackbox runs/twin/blackbox-1d-dual-aug-global-crop/seed0/best.pt --out docs/results/localisation.md
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

import ecgimn
from ecgimn.constants import LEADS
from ecgimn.data import PTBXL, load_task
from ecgimn.explain.faithfulness import randomized_models, rank_correlation
from ecgimn.explain.lesions import Lesion, altered_cells
from ecgimn.explain.posthoc import attribute
from ecgimn.explain.waves import (
    WAVES,
    Beats,
    beat_average,
    delineate_beats,
    detect_r_peaks,
    reference_record,
    wave_table,
)

TARGET = {
    "st_elevation": "MI",
    "st_depression": "STTC",
    "t_inversion": "STTC",
    "q_wave": "MI",
    "control": "STTC",
}
SIZES = {
    "st_elevation": (0.05, 0.1, 0.2),
    "st_depression": (0.05, 0.1, 0.2),
    "t_inversion": (0.5, 0.75, 1.0),
    "q_wave": (0.1, 0.2, 0.4),
}
GROUPS = ("inferior", "lateral", "anterior")
TERRITORY = {"inferior": ("IMI",), "anterior": ("ASMI", "AMI")}


def lesion_set() -> list[Lesion]:
    out = []
    for kind, sizes in SIZES.items():
        shapes = ("horizontal", "sloped") if kind.startswith("st_") else ("horizontal",)
        for shape in shapes:
            for group in GROUPS:
                out += [Lesion(kind, group, s, shape) for s in sizes]
    return out + [Lesion("control", "all", 0.02), Lesion("control", "all", 0.04)]


def _abs_share(d_tab: np.ndarray, li: list[int], wi: list[int]) -> float:
    """Share of the change's absolute mass (sum |d cell|) that lies in the altered cells (NaN if none)."""
    total = float(np.abs(d_tab).sum())
    inside = float(np.abs(d_tab[np.ix_(li, wi)]).sum()) if li and wi else 0.0
    return inside / total if total > 0 else float("nan")


def _mean(v: list[float] | np.ndarray) -> float:
    a = np.asarray(v, dtype=np.float64)
    return float(np.mean(a)) if a.size else float("nan")


# ------------------------------------------------------------------------------------------------ 1. delineation
def delineation_check(X: np.ndarray, fs: int) -> dict[str, Any]:
    import neurokit2 as nk
    from scipy.signal import resample_poly

    failed, shares, per_bound, n_beats, agree_ours, agree_nk = 0, [], [], [], [], []
    for x in X:
        b = delineate_beats(x, fs)
        n_beats.append(b.n_beats)
        if "failed" in b.method:
            failed += 1
        if b.n_beats:
            shares.append(b.delineated_share)
            per_bound.append(b.from_delineator.mean(0))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = resample_poly(x[1].astype(np.float64), 5, 1)
                _, pk = nk.ecg_peaks(nk.ecg_clean(s, sampling_rate=500), sampling_rate=500)
            r_nk = np.asarray(pk["ECG_R_Peaks"], dtype=np.float64) / 5.0
        except Exception:  # noqa: BLE001 - counted as no agreement
            r_nk = np.zeros(0)
        tol = 0.05 * fs
        if b.n_beats and len(r_nk):
            agree_ours.append(float(np.mean([np.min(np.abs(r_nk - r)) <= tol for r in b.r])))
            agree_nk.append(float(np.mean([np.min(np.abs(b.r - r)) <= tol for r in r_nk])))
    return {
        "records": int(len(X)),
        "neurokit_failed_records": failed,
        "records_without_beats": int(np.sum(np.asarray(n_beats) == 0)),
        "beats_per_record_mean": _mean(n_beats),
        "delineated_share_mean": _mean(shares),
        "delineated_share_per_boundary": dict(
            zip(
                ("P_on", "P_off", "QRS_on", "QRS_off", "T_on", "T_off"),
                np.round(np.mean(per_bound, axis=0), 3).tolist(),
            )
        ),
        "r_agreement_ours_in_nk": _mean(agree_ours),
        "r_agreement_nk_in_ours": _mean(agree_nk),
        "records_r_disagree": int(np.sum(np.asarray(agree_ours) < 0.9) + np.sum(np.asarray(agree_nk) < 0.9)),
    }


# ------------------------------------------------------------------------------------------------ 2. IMN lesions
def imn_lesions(
    pred: Any, X: np.ndarray, beats: list[Beats], lesions: list[Lesion], fs: int
) -> dict[str, Any]:
    classes = pred.class_names
    rows: dict[str, dict[str, list]] = {}
    for x, b in zip(X, beats):
        batch = np.stack([x] + [les.apply(x, b, seed=i) for i, les in enumerate(lesions)]).astype(np.float32)
        ex = pred.explain(batch, fs=fs)
        tab = wave_table(ex.attribution, b.labels)  # (1 + n, K, 12, 7)
        for i, les in enumerate(lesions, start=1):
            k = classes.index(TARGET[les.kind])
            d_tab = tab[i, k] - tab[0, k]
            d_b = float(ex.bias[i, k] - ex.bias[0, k])
            d_logit = float(ex.logits[i, k] - ex.logits[0, k])
            li, wi = altered_cells(les)
            r = rows.setdefault(
                f"{les.name}@{les.size:g}",
                {k_: [] for k_ in ("dp", "dlogit", "cells", "bias", "resid", "other_leads_same_wave", "abs")},
            )
            r["dp"].append(float(ex.probabilities[i, k] - ex.probabilities[0, k]))
            r["dlogit"].append(d_logit)
            r["cells"].append(float(d_tab[np.ix_(li, wi)].sum()) if li and wi else 0.0)
            r["bias"].append(d_b)
            r["resid"].append(d_logit - float(d_tab.sum()) - d_b)
            r["abs"].append(_abs_share(d_tab, li, wi))
            other = [j for j in range(len(LEADS)) if j not in li]
            r["other_leads_same_wave"].append(float(d_tab[np.ix_(other, wi)].sum()) if wi else 0.0)
    out = {}
    for key, r in rows.items():
        dl = _mean(r["dlogit"])
        out[key] = {
            "dp": _mean(r["dp"]),
            "dlogit": dl,
            "cells_share": _mean(r["cells"]) / dl if dl else None,
            "bias_share": _mean(r["bias"]) / dl if dl else None,
            "other_leads_same_wave_share": _mean(r["other_leads_same_wave"]) / dl if dl else None,
            "abs_cells_share": _mean(r["abs"]),
            "max_abs_residual": float(np.max(np.abs(r["resid"]))),
            "n": len(r["dlogit"]),
        }
    return out


# ------------------------------------------------------------------------------------------------ 3. black box
def blackbox_lesions(
    bb: Any, X: np.ndarray, beats: list[Beats], lesions: list[Lesion], fs: int, n_steps: int
) -> dict[str, Any]:
    classes = bb.class_names
    rows: dict[str, dict[str, list]] = {}
    base: dict[tuple[int, int], np.ndarray] = {}
    for n, (x, b) in enumerate(zip(X, beats)):
        xs = [x] + [les.apply(x, b, seed=i) for i, les in enumerate(lesions)]
        xs_std = bb.standardizer.transform(np.stack(xs).astype(np.float32)).astype(np.float32)
        probs = bb.predict_proba(np.stack(xs).astype(np.float32), fs=fs)
        pc = np.clip(probs.astype(np.float64), 1e-12, 1 - 1e-12)
        logits = np.log(pc) - np.log1p(-pc)
        targets = [classes.index(TARGET[les.kind]) for les in lesions]
        for k in set(targets):
            base[(n, k)] = wave_table(
                attribute(
                    bb.model,
                    xs_std[:1],
                    k,
                    "integrated_gradients",
                    window=bb.window,
                    stride=bb.stride,
                    n_steps=n_steps,
                )[0],
                b.labels,
            )
        maps = attribute(
            bb.model,
            xs_std[1:],
            np.asarray(targets),
            "integrated_gradients",
            window=bb.window,
            stride=bb.stride,
            n_steps=n_steps,
        )
        for i, les in enumerate(lesions):
            k = targets[i]
            d_tab = wave_table(maps[i], b.labels) - base[(n, k)]
            li, wi = altered_cells(les)
            r = rows.setdefault(
                f"{les.name}@{les.size:g}", {k_: [] for k_ in ("dp", "dlogit", "dmap", "cells", "abs")}
            )
            r["dp"].append(float(probs[i + 1, k] - probs[0, k]))
            r["dlogit"].append(float(logits[i + 1, k] - logits[0, k]))
            r["dmap"].append(float(d_tab.sum()))
            r["cells"].append(float(d_tab[np.ix_(li, wi)].sum()) if li and wi else 0.0)
            r["abs"].append(_abs_share(d_tab, li, wi))
    return {
        key: {
            "dp": _mean(r["dp"]),
            "dlogit": _mean(r["dlogit"]),
            "dmap": _mean(r["dmap"]),
            "abs_cells_share": _mean(r["abs"]),
            "cells_share": _mean(r["cells"]) / _mean(r["dmap"]) if _mean(r["dmap"]) else None,
            "n": len(r["dp"]),
        }
        for key, r in rows.items()
    }


# ------------------------------------------------------------------------------------------------ 4. randomisation
def _signed_rho(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(np.ravel(a), np.ravel(b)).statistic)


def randomisation(pred: Any, X: np.ndarray, beats: list[Beats], fs: int) -> dict[str, Any]:
    ex = pred.explain(X.astype(np.float32), fs=fs)
    ks = np.argmax(ex.probabilities, axis=1)
    trained = ex.attribution[np.arange(len(X)), ks]
    ((_, rand),) = list(randomized_models(pred.model, "full", seed=0))
    rnd = attribute(rand, ex.inputs_std, ks, "imn", window=pred.window, stride=pred.stride)
    rho_sample, rho_wave, qrs_trained, qrs_rand, s_sample, s_wave = [], [], [], [], [], []
    qrs = WAVES.index("QRS")
    for t, r, b in zip(trained, rnd, beats):
        rho_sample.append(rank_correlation(t, r))
        tt, tr = wave_table(t, b.labels), wave_table(r, b.labels)
        rho_wave.append(rank_correlation(tt, tr))
        s_sample.append(_signed_rho(t, r))
        s_wave.append(_signed_rho(tt, tr))
        qrs_trained.append(float(np.abs(t)[:, b.labels == qrs].sum() / np.abs(t).sum()))
        qrs_rand.append(float(np.abs(r)[:, b.labels == qrs].sum() / np.abs(r).sum()))
    qrs_time = _mean([float((b.labels == qrs).mean()) for b in beats])
    return {
        "records": len(X),
        "rho_per_sample": _mean(rho_sample),
        "rho_lead_x_wave": _mean(rho_wave),
        "signed_rho_per_sample": _mean(s_sample),
        "signed_rho_lead_x_wave": _mean(s_wave),
        "qrs_share_abs_trained": _mean(qrs_trained),
        "qrs_share_abs_random": _mean(qrs_rand),
        "qrs_share_of_time": qrs_time,
    }


# ------------------------------------------------------------------------------------------------ 5. real records
def norm_mean_beat(X: np.ndarray, fs: int) -> np.ndarray:
    beats = []
    for x in X:
        r = detect_r_peaks(x, fs)
        b = Beats(
            float(fs),
            x.shape[1],
            r,
            np.zeros((len(r), 6), np.int64),
            np.zeros((len(r), 6), bool),
            np.zeros(x.shape[1], np.int8),
            np.zeros(x.shape[1], np.int64),
            "R only",
        )
        mb = beat_average(x, b)
        if np.isfinite(mb).all():
            beats.append(mb)
    return np.mean(beats, axis=0)


def real_records(
    pred: Any,
    X: np.ndarray,
    Y: np.ndarray,
    scp: list[dict],
    classes: list[str],
    mean_beat: np.ndarray,
    fs: int,
) -> dict[str, Any]:
    sttc, mi = classes.index("STTC"), classes.index("MI")
    st_t = [WAVES.index("ST"), WAVES.index("T")]
    num, den, num_raw, den_raw, n_sttc = 0.0, 0.0, 0.0, 0.0, 0
    hits = {"model": 0, "model_referenced": 0, "amplitude": 0, "deviation": 0}
    n_mi = 0
    for x, y, codes in zip(X, Y, scp):
        want_mi = bool(y[mi]) and sum(any(c in codes for c in v) for v in TERRITORY.values()) == 1
        if not (y[sttc] or want_mi):
            continue
        ex = pred.explain(x[None].astype(np.float32), fs=fs)
        beats = ex.beats(0)
        ref = reference_record(mean_beat, beats)
        if y[sttc]:
            d = ex.waves(sttc, reference=ref, reference_name="mean NORM beat")
            num += float(d.table[:, st_t].sum())
            den += float(d.table.sum())
            d0 = ex.waves(sttc)
            num_raw += float(d0.table[:, st_t].sum())
            den_raw += float(d0.table.sum())
            n_sttc += 1
        if want_mi:
            terr = next(t for t, v in TERRITORY.items() if any(c in codes for c in v))
            leads = {"inferior": ("II", "III", "aVF"), "anterior": ("V1", "V2", "V3", "V4")}[terr]
            n_mi += 1
            top = {
                "model": LEADS[int(np.argmax(ex.waves(mi).table.sum(1)))],
                "model_referenced": LEADS[int(np.argmax(ex.waves(mi, reference=ref).table.sum(1)))],
                "amplitude": LEADS[int(np.argmax(np.abs(x).sum(1)))],
                "deviation": LEADS[int(np.argmax(np.abs(x - ref).sum(1)))],
            }
            for key, lead in top.items():
                hits[key] += lead in leads
    return {
        "sttc_records": n_sttc,
        "sttc_st_t_share_norm_referenced": num / den if den else None,
        "sttc_st_t_share_unreferenced": num_raw / den_raw if den_raw else None,
        "mi_records_one_territory": n_mi,
        "mi_top_lead_in_territory": {k: v / n_mi if n_mi else None for k, v in hits.items()},
    }


# ------------------------------------------------------------------------------------------------ report
def summarise(imn: dict[str, Any], lesions: list[Lesion]) -> dict[str, Any]:
    real = [les for les in lesions if les.kind != "control"]
    cells = [imn[f"{les.name}@{les.size:g}"]["cells_share"] for les in real]
    bias = [imn[f"{les.name}@{les.size:g}"]["bias_share"] for les in real]
    mono = {}
    for les in real:
        mono.setdefault(les.name, []).append(imn[f"{les.name}@{les.size:g}"]["dlogit"])
    grows = {k: bool(np.all(np.diff(v) > 0)) for k, v in mono.items()}
    ctrl = [imn[f"{les.name}@{les.size:g}"]["dp"] for les in lesions if les.kind == "control"]
    abs_mass = [imn[f"{les.name}@{les.size:g}"]["abs_cells_share"] for les in real]
    return {
        "cells_share_mean": _mean([c for c in cells if c is not None]),
        "abs_cells_share_mean": _mean(abs_mass),
        "cells_share_median": float(np.median([c for c in cells if c is not None])),
        "bias_share_median": float(np.median([b for b in bias if b is not None])),
        "bias_share_mean": _mean([b for b in bias if b is not None]),
        "dlogit_grows_with_size": f"{sum(grows.values())} of {len(grows)}",
        "grows": grows,
        "control_max_abs_dp": float(np.max(np.abs(ctrl))),
    }


def f(v: Any, d: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{d}f}"


def write_markdown(path: Path, res: dict[str, Any], command: str) -> None:
    s, d = res["summary"], res["delineation"]
    lines = [
        "# Localisation: is the evidence where the pathology is?",
        "",
        f"Generated by `benchmarks/bench_localisation.py` ({res['elapsed_s']:.0f} s); every number below is "
        "measured by that command on PTB-XL (Wagner et al., Sci Data 2020), fold "
        f"{res.get('fold', 10)} of the shared subset"
        + (" (reporting only; nothing selected on it)" if res.get("fold", 10) == 10 else " (selection fold)")
        + ". Raw numbers: the JSON beside this file.",
        "",
        "```",
        command,
        "```",
        "",
        f"Model: `{res['model']}`; black-box twin: `{res['blackbox_checkpoint']}`, trained with the recipe of the "
        "default's members (`ecgimn study --data ../shared/ptbxl --task superdiagnostic --configs "
        "blackbox-1d-dual-aug-global-crop --seeds 0 --out runs/twin --set epochs=20 num_threads=1`; one seed).",
        "",
        "## Summary (shipped model)",
        "",
        "| criterion (issue bar) | measured |",
        "|---|---|",
        f"| share of dlogit inside the altered cells, mean over lesion types and sizes (>= 0.80) | "
        f"{f(s['cells_share_mean'])} (median {f(s.get('cells_share_median'))}) |",
        f"| bias share of dlogit, mean (<= 0.10) | {f(s['bias_share_mean'])} (median {f(s.get('bias_share_median'))}) |",
        f"| absolute mass of the change inside the altered cells, mean (no bar; 0-1) | "
        f"{f(s['abs_cells_share_mean'])} |",
        f"| dlogit grows with size, per lesion type | {s['dlogit_grows_with_size']} |",
        f"| neutral control: max abs dp (< 0.02) | {f(s['control_max_abs_dp'], 3)} |",
        f"| STTC: ST+T share of the NORM-referenced evidence (>= 0.8) | "
        f"{f(res['real']['sttc_st_t_share_norm_referenced'])} ({res['real']['sttc_records']} records; "
        f"unreferenced {f(res['real']['sttc_st_t_share_unreferenced'])}) |",
        "| MI: lead with most evidence in the infarct territory (model / referenced / amplitude / deviation "
        f"baselines; {res['real']['mi_records_one_territory']} records) | "
        + " / ".join(f(v) for v in res["real"]["mi_top_lead_in_territory"].values())
        + " |",
        f"| wave-level randomisation rho (below per-sample rho) | {f(res['randomisation']['rho_lead_x_wave'])} "
        f"(per sample {f(res['randomisation']['rho_per_sample'])}) |",
        "",
        "## Counterfactual lesions, ECG-IMN (exact split)",
        "",
        f"{res['n_norm']} NORM-only fold-{res.get('fold', 10)} records; lesion written into every beat. Class scored: ST elevation and "
        "Q waves -> MI, ST depression and T inversion -> STTC (control: STTC). Shares are of the mean dlogit: "
        "cells = altered leads x altered waves, bias = b' - b, same wave in other leads; the rest is other "
        "waves in any lead; abs. mass = mean over records of sum |d cell| in the altered cells / sum |d cell| "
        "(0-1, robust when dlogit is small). Max |residual| of the exact split over all rows: "
        f"{max(v['max_abs_residual'] for v in res['imn'].values()):.1e}.",
        "",
        "| lesion | size | dp | dlogit | cells | bias | same wave, other leads | abs. mass in cells |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, v in res["imn"].items():
        name, size = key.split("@")
        lines.append(
            f"| {name} | {size} | {f(v['dp'], 3)} | {f(v['dlogit'])} | {f(v['cells_share'])} | "
            f"{f(v['bias_share'])} | {f(v['other_leads_same_wave_share'])} | {f(v['abs_cells_share'])} |"
        )
    if res["blackbox"]:
        lines += [
            "",
            "## Black-box twin, Integrated Gradients",
            "",
            f"{res['n_bb']} of the same records, middle size only, IG with {res['ig_steps']} steps (baseline: "
            "the zero standardised record). cells = share of the change of the IG map inside the altered "
            "cells; dmap = the change of the map's sum (equals dlogit up to the integral's error).",
            "",
            "| lesion | size | dp | dlogit | dmap | cells (IG) | cells (IMN, same records) "
            "| abs. mass in cells: IG / IMN |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key, v in res["blackbox"].items():
            name, size = key.split("@")
            sub = res["imn_bb_subset"].get(key, {})
            lines.append(
                f"| {name} | {size} | {f(v['dp'], 3)} | {f(v['dlogit'])} | {f(v['dmap'])} | "
                f"{f(v['cells_share'])} | {f(sub.get('cells_share'))} | "
                f"{f(v['abs_cells_share'])} / {f(sub.get('abs_cells_share'))} |"
            )
    r = res["randomisation"]
    lines += [
        "",
        "## Wave-level model randomisation",
        "",
        f"{r['records']} fold-{res.get('fold', 10)} records, class = the top predicted class; all weights "
        "re-initialised (seed 0).",
        "",
        "| map | Spearman rho of absolute values | Spearman rho, signed |",
        "|---|---|---|",
        f"| per-sample W * x (12 x L) | {f(r['rho_per_sample'])} | {f(r['signed_rho_per_sample'])} |",
        f"| lead x wave table (12 x 7) | {f(r['rho_lead_x_wave'])} | {f(r['signed_rho_lead_x_wave'])} |",
        "",
        f"QRS share of |W * x|: trained {f(r['qrs_share_abs_trained'])}, re-initialised "
        f"{f(r['qrs_share_abs_random'])}; the QRS covers {f(r['qrs_share_of_time'])} of the time.",
        "",
    ]
    if d:
        lines += [
            "## Delineation check",
            "",
            f"{d['records']} fold-{res.get('fold', 10)} records. NeuroKit2 `ecg_delineate(method='dwt')` on "
            "lead II at 500 Hz, given the multi-lead R peaks: raised on "
            f"{d['neurokit_failed_records']} records, no beats found on {d['records_without_beats']}; "
            f"{d['beats_per_record_mean']:.1f} beats per record; share of boundaries NeuroKit supplied "
            f"(plausible, else the fixed-interval fallback): {f(d['delineated_share_mean'])}, per boundary "
            + ", ".join(f"{k} {v:.2f}" for k, v in d["delineated_share_per_boundary"].items())
            + f". R peaks: {f(d['r_agreement_ours_in_nk'])} of the multi-lead R peaks have a NeuroKit lead-II "
            f"R peak within 50 ms, {f(d['r_agreement_nk_in_ours'])} the other way round.",
            "",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="PTB-XL folder (required unless --from-json)")
    p.add_argument("--model", default="default")
    p.add_argument("--blackbox", default=None, help="black-box twin checkpoint (omit to skip section 3)")
    p.add_argument("--out", default="docs/results/localisation.md")
    p.add_argument("--n-records", type=int, default=0, help="NORM records for the lesions (0 = all)")
    p.add_argument("--bb-records", type=int, default=20)
    p.add_argument("--ig-steps", type=int, default=16)
    p.add_argument("--rand-records", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fold", type=int, default=10, choices=(9, 10), help="9 to select designs, 10 to report")
    p.add_argument("--skip-delineation-check", action="store_true")
    p.add_argument(
        "--from-json", default=None, help="only rewrite the markdown from a results JSON of this script"
    )
    args = p.parse_args(argv)
    if args.from_json:
        res = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        write_markdown(Path(args.out), res, res.get("command", ""))
        return 0
    if not args.data:
        p.error("--data is required")
    torch.set_num_threads(args.threads)
    t0 = time.time()
    data = load_task(args.data, "superdiagnostic", progress=False)
    fs = data.fs
    meta = PTBXL(args.data).metadata
    pred = ecgimn.load(args.model, device="cpu")
    if pred.class_names != data.classes:
        raise SystemExit(f"error: model classes {pred.class_names} differ from the data's {data.classes}")
    test = np.flatnonzero(data.folds == args.fold)
    norm = data.classes.index("NORM")
    norm_only = test[(data.Y[test, norm] == 1) & (data.Y[test].sum(1) == 1)]
    if args.n_records:
        norm_only = norm_only[: args.n_records]
    lesions = lesion_set()
    print(f"[localisation] delineation check on {len(test)} fold-{args.fold} records", file=sys.stderr)
    delin = {} if args.skip_delineation_check else delineation_check(data.X[test], fs)
    beats = [delineate_beats(x, fs) for x in data.X[norm_only]]
    print(f"[localisation] {len(lesions)} lesions x {len(norm_only)} NORM records (IMN)", file=sys.stderr)
    imn = imn_lesions(pred, data.X[norm_only], beats, lesions, fs)
    res: dict[str, Any] = {
        "fold": args.fold,
        "model": args.model,
        "blackbox_checkpoint": args.blackbox,
        "n_norm": int(len(norm_only)),
        "delineation": delin,
        "imn": imn,
        "summary": summarise(imn, lesions),
    }
    mid = [
        les
        for les in lesions
        if les.kind == "control"
        and les.size == 0.02
        or les.kind != "control"
        and les.size == SIZES[les.kind][1]
    ]
    nb = min(args.bb_records, len(norm_only))
    res["imn_bb_subset"] = imn_lesions(pred, data.X[norm_only[:nb]], beats[:nb], mid, fs)
    if args.blackbox:
        print(f"[localisation] black-box twin, IG, {len(mid)} lesions x {nb} records", file=sys.stderr)
        bb = ecgimn.load(args.blackbox, device="cpu")
        res["blackbox"] = blackbox_lesions(bb, data.X[norm_only[:nb]], beats[:nb], mid, fs, args.ig_steps)
    else:
        res["blackbox"] = {}
    res["n_bb"], res["ig_steps"] = nb, args.ig_steps
    rr = test[: args.rand_records]
    print(f"[localisation] randomisation on {len(rr)} records", file=sys.stderr)
    res["randomisation"] = randomisation(pred, data.X[rr], [delineate_beats(x, fs) for x in data.X[rr]], fs)
    train_norm = np.flatnonzero((data.folds <= 8) & (data.Y[:, norm] == 1) & (data.Y.sum(1) == 1))
    mean_beat = norm_mean_beat(data.X[train_norm], fs)
    print(f"[localisation] real fold-{args.fold} records (STTC, MI territory)", file=sys.stderr)
    scp = [meta.at[int(i), "scp_codes"] for i in data.ecg_ids[test]]
    res["real"] = real_records(copy.copy(pred), data.X[test], data.Y[test], scp, data.classes, mean_beat, fs)
    res["elapsed_s"] = time.time() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    command = "python benchmarks/bench_localisation.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    res["command"] = command
    out.with_suffix(".json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    write_markdown(out, res, command)
    print(json.dumps(res["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
