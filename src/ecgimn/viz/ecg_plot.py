"""Clinical-style 12-lead ECG printout with the model's signed evidence overlaid.

Paper geometry is physical: 25 mm/s, 10 mm/mV, 1 mm minor and 5 mm major grid; the figure size is set in inches
from millimetres and every axes is placed in millimetres, so the grid squares are truly square on screen or paper
(at 100 % zoom). Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state; safe in servers).

Colours: the evidence map is ``PuOr`` (ColorBrewer purple-orange; purple = evidence *for* the class, orange =
*against*). It is a diverging map that stays distinguishable under the common colour-vision deficiencies
(ColorBrewer marks it colour-blind safe, unlike red-green maps), and neither end is red, so it does not merge with
the red ECG grid the way ``RdBu``/``coolwarm`` would. The overlay's opacity grows with ``|evidence|``: zero
evidence is fully transparent, so the grid and trace stay readable where the model does not look.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ecgimn.constants import LEADS
from ecgimn.errors import ConfigError, InputError
from ecgimn.io.recording import as_signal

MM_PER_INCH = 25.4
PAPER_SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0
GRID_MINOR = "#f6cfcf"
GRID_MAJOR = "#e59a9a"
TRACE_COLOUR = "#101010"
EVIDENCE_CMAP = "PuOr"
#: Opacity of the strongest evidence in the overlay (0 evidence is transparent).
OVERLAY_ALPHA = 0.7
#: Standard 3x4 arrangement (lead indices into LEADS), one tuple per row: I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6.
LAYOUT_3X4: tuple[tuple[int, ...], ...] = ((0, 3, 6, 9), (1, 4, 7, 10), (2, 5, 8, 11))
RHYTHM_LEAD = 1  # lead II

MINUS = "\u2212"
_PAD_S = 0.4  # left of t=0 for the calibration pulse (10 mm; multiple of the 5 mm grid)
Layout = Literal["12x1", "3x4"]


def evidence_cmap(name: str = EVIDENCE_CMAP, alpha: float = OVERLAY_ALPHA, gamma: float = 0.8) -> Colormap:
    """Diverging colour map whose opacity rises with distance from the centre (transparent at 0)."""
    from matplotlib import colormaps

    base = colormaps[name]
    pos = np.linspace(-1.0, 1.0, 256)
    rgba = base(0.5 + 0.42 * pos)  # skip the near-black ends so the dark trace stays readable on top
    rgba[:, 3] = alpha * np.abs(pos) ** gamma
    return ListedColormap(rgba, name=f"{name}_overlay").with_extremes(bad=(0, 0, 0, 0))


def sign_colours(name: str = EVIDENCE_CMAP) -> tuple[Any, Any]:
    """(positive, negative) solid colours matching the evidence map's two ends."""
    from matplotlib import colormaps

    base = colormaps[name]
    return base(0.92), base(0.08)


def symmetric_norm(values: np.ndarray, vmax: float | None = None, percentile: float = 99.5) -> Normalize:
    """Norm symmetric around 0: ``[-vmax, vmax]``; ``vmax`` defaults to the ``percentile`` of ``|values|``."""
    if vmax is None:
        v = np.abs(np.asarray(values, dtype=np.float64))
        v = v[np.isfinite(v) & (v > 0)]
        vmax = float(np.percentile(v, percentile)) if v.size else 1.0
    vmax = float(vmax) if vmax and vmax > 0 else 1.0
    return Normalize(-vmax, vmax, clip=False)


def _check_inputs(signal_mv: np.ndarray, attribution: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    sig = as_signal(signal_mv, dtype=np.float64)
    att = np.asarray(attribution, dtype=np.float64)
    if att.shape != sig.shape:
        raise InputError(f"attribution shape {att.shape} differs from the signal shape {sig.shape}")
    if fs <= 0:
        raise InputError(f"sampling rate must be positive, got {fs}")
    return sig, att


def _panels(layout: str, n: int) -> list[tuple[int, int, int, int]]:
    """(lead, first sample, end sample, row) for each trace piece; rows counted from the top."""
    if layout == "12x1":
        return [(lead, 0, n, lead) for lead in range(len(LEADS))]
    if layout == "3x4":
        cuts = [round(c * n / 4) for c in range(5)]
        out = [
            (lead, cuts[c], cuts[c + 1], r) for r, row in enumerate(LAYOUT_3X4) for c, lead in enumerate(row)
        ]
        return out + [(RHYTHM_LEAD, 0, n, len(LAYOUT_3X4))]
    raise ConfigError(f"unknown layout {layout!r}; use '12x1' or '3x4'")


def _segment_fields(seg: Any) -> tuple[int, float, float, float, int]:
    """(lead index, start_s, end_s, evidence, rank) of a Segment-like object or mapping."""
    get = seg.get if isinstance(seg, Mapping) else lambda k, d=None: getattr(seg, k, d)
    lead = get("lead_index", None)
    if lead is None:
        lead = get("lead")
        lead = LEADS.index(lead) if isinstance(lead, str) else int(lead)
    return (
        int(lead),
        float(get("start_s")),
        float(get("end_s")),
        float(get("evidence", 0.0)),
        int(get("rank", 0) or 0),
    )


def _ranks(segments: Sequence[Any]) -> list[str]:
    """Rank labels '+1', '+2', ..., '\u22121', ...: the segment's own rank, else its order within its sign."""
    out, count = [], {True: 0, False: 0}
    for seg in segments:
        _, _, _, ev, rank = _segment_fields(seg)
        count[ev >= 0] += 1
        out.append(f"{'+' if ev >= 0 else MINUS}{rank or count[ev >= 0]}")
    return out


def _fmt(v: float, digits: int = 3) -> str:
    """Signed number with a typographic minus."""
    return f"{v:+.{digits}f}".replace("-", MINUS)


def _fmt_g(v: float) -> str:
    """Signed number, 2 significant digits, typographic minus."""
    return f"{v:+.2g}".replace("-", MINUS)


def _smooth(att: np.ndarray, n: int) -> np.ndarray:
    if n <= 1:
        return att
    k = np.ones(n) / n
    return np.stack([np.convolve(a, k, mode="same") for a in att])


def _mm_axes(fig: Figure, size_mm: tuple[float, float], x: float, y: float, w: float, h: float, **kw: Any):
    """Add axes at (x, y) mm from the bottom-left with size (w, h) mm."""
    fw, fh = size_mm
    return fig.add_axes((x / fw, y / fh, w / fw, h / fh), **kw)


def _draw_grid(ax: Any, t_end: float, y_top: float) -> None:
    """1 mm / 5 mm paper grid from -_PAD_S to t_end seconds and 0 to y_top mV."""
    nx = int(round((t_end + _PAD_S) / 0.04)) + 1
    ny = int(round(y_top / 0.1)) + 1
    xs = -_PAD_S + 0.04 * np.arange(nx)
    ys = 0.1 * np.arange(ny)
    for major, colour, lw in ((False, GRID_MINOR, 0.35), (True, GRID_MAJOR, 0.7)):
        xi = [x for i, x in enumerate(xs) if (i % 5 == 0) == major]
        yi = [y for i, y in enumerate(ys) if (i % 5 == 0) == major]
        segs = [((x, 0.0), (x, y_top)) for x in xi] + [((-_PAD_S, y), (t_end, y)) for y in yi]
        ax.add_collection(LineCollection(segs, colors=colour, linewidths=lw, zorder=0 + major * 0.5))


def plot_ecg_evidence(
    signal_mv: np.ndarray,
    fs: float,
    attribution: np.ndarray,
    *,
    layout: Layout = "12x1",
    lead_shares: np.ndarray | None = None,
    top_segments: Sequence[Any] | None = None,
    title: str | None = None,
    evidence_label: str = "evidence (logit units)",
    bias: float | None = None,
    logit: float | None = None,
    vmax: float | None = None,
    smooth_s: float = 0.0,
    row_mv: float | None = None,
    cmap: str = EVIDENCE_CMAP,
    waves: Any = None,
) -> Figure:
    """A 12-lead ECG on standard paper (25 mm/s, 10 mm/mV) with the signed evidence as a colour overlay.

    Args:
        signal_mv: (12, L) in millivolts, leads in ``LEADS`` order.
        fs: sampling rate in Hz.
        attribution: (12, L) signed evidence per sample (positive = for the class).
        layout: ``"12x1"`` (12 full-length rows) or ``"3x4"`` (four 2.5 s columns I/aVR/V1/V4, II/aVL/V2/V5,
            III/aVF/V3/V6, each showing its own time window, plus a full-length lead II rhythm strip).
        lead_shares: (12,) per-lead sums for the bar panel (default: attribution summed over time).
        top_segments: segments to box (``Segment`` objects or mappings with lead/lead_index, start_s, end_s,
            evidence, optional rank); positives are labelled ``+rank``, negatives ``-rank``.
        title: figure title (record id, predicted classes and probabilities).
        evidence_label: colour-bar / bar-panel label.
        bias, logit: shown in the caption as ``sum(lead shares) + bias = logit``.
        vmax: colour scale limit (default: 99.5th percentile of ``|attribution|``; beyond it colours saturate).
        smooth_s: moving-average width for the *display* of the overlay only (0 = exact per-sample).
        row_mv: height of one row in mV (default: from the signal amplitude, a multiple of 0.5 mV).
        cmap: diverging matplotlib colour map name.
        waves: an :class:`ecgimn.explain.waves.WaveDecomposition` of the same record and class: adds a strip
            under every trace with each wave of each beat as one block coloured by its summed evidence (an ST
            segment reads as one block), a lead x wave table beside the ECG, and (3x4) says when the strongest
            wave-level evidence lies outside the time shown for its lead.

    Traces are drawn around their median (baseline offset removed); amplitudes are unchanged.
    """
    sig, att = _check_inputs(signal_mv, attribution, fs)
    n = sig.shape[1]
    t_end = n / fs
    panels = _panels(layout, n)
    shares = att.sum(axis=1) if lead_shares is None else np.asarray(lead_shares, dtype=np.float64)
    shown = _smooth(att, int(round(smooth_s * fs)))
    norm = symmetric_norm(shown, vmax)
    over_cmap = evidence_cmap(cmap)
    colours = sign_colours(cmap)
    pieces, rows = _rows(sig, panels, layout, row_mv)

    # figure layout in mm
    grid_w = (t_end + _PAD_S) * PAPER_SPEED_MM_S
    grid_h = rows.y_top * GAIN_MM_MV
    left, gap, bar_w, right = 6.0, 14.0, 42.0, 6.0
    table_w = 78.0 if waves is not None else 0.0
    right += table_w + (12.0 if waves is not None else 0.0)
    bottom, top = (26.0 if waves is None else 36.0), (14.0 if title else 6.0)
    size = (left + grid_w + gap + bar_w + right, bottom + grid_h + top)
    fig = Figure(figsize=(size[0] / MM_PER_INCH, size[1] / MM_PER_INCH), dpi=100)
    ax = _mm_axes(fig, size, left, bottom, grid_w, grid_h, label="ecg")
    ax.set_xlim(-_PAD_S, t_end)
    ax.set_ylim(0.0, rows.y_top)
    ax.set_axis_off()
    _draw_grid(ax, t_end, rows.y_top)
    _draw_traces(ax, panels, pieces, shown, fs, rows, over_cmap, norm)
    if waves is not None:
        _draw_wave_strips(ax, att, waves.beats.labels, panels, rows.bottom, rows.height, fs, cmap)
    _draw_boxes(ax, top_segments or (), panels, fs, rows, colours)
    bx = _mm_axes(fig, size, left + grid_w + gap, bottom, bar_w, grid_h, label="lead_shares")
    _draw_share_bars(bx, layout, shares, rows, colours, evidence_label)
    cax = _mm_axes(fig, size, left + 2.0, bottom - 13.0, 70.0, 3.0, label="colorbar")
    _draw_colour_bar(fig, cax, norm, over_cmap, shown, evidence_label, colours)

    cap = _caption(shares, bias, logit, fs, smooth_s, top_segments, panels)
    if waves is not None:
        _draw_wave_table(fig, size, left + grid_w + gap + bar_w + 12.0, bottom, table_w, grid_h, waves, cmap)
        cap += "\nstrip under each trace: each wave of each beat as one block (its summed evidence)"
        cap += "; table: evidence per lead x wave, cells + bias = logit"
        hidden = _strongest_hidden(att, waves.beats.labels, panels, fs)
        if hidden:
            cap += "\n" + hidden
    fig.text(
        (left + 80.0) / size[0],
        (bottom - 8.0) / size[1],
        cap,
        fontsize=7.5,
        va="top",
        ha="left",
        linespacing=1.6,
    )
    if title:
        fig.text(
            left / size[0], 1 - 4.0 / size[1], title, fontsize=11, fontweight="bold", va="top", ha="left"
        )
    return fig


Panels = Sequence[tuple[int, int, int, int]]


@dataclass(frozen=True)
class _Rows:
    """Vertical layout of the ECG grid in mV: row height, top, each row's bottom and trace baseline."""

    height: float
    y_top: float
    bottom: list[float]
    baseline: list[float]


def _rows(
    sig: np.ndarray, panels: Panels, layout: str, row_mv: float | None
) -> tuple[list[np.ndarray], _Rows]:
    """Each panel's piece centred on its median, and rows sized to the largest excursion (0.5 mV steps)."""
    n_rows = max(p[3] for p in panels) + 1
    pieces = [sig[lead, i0:i1] - np.nanmedian(sig[lead, i0:i1]) for lead, i0, i1, _ in panels]
    above = np.zeros(n_rows)
    below = np.zeros(n_rows)
    for (_, _, _, r), y in zip(panels, pieces):
        if np.isfinite(y).any():
            above[r] = max(above[r], float(np.nanmax(y)))
            below[r] = max(below[r], float(-np.nanmin(y)))
    if row_mv is None:
        lo, hi = (1.5, 2.5) if layout == "12x1" else (2.0, 3.5)  # larger waves may reach into the next row
        row_mv = float(np.clip(np.ceil((np.max(above + below) + 0.3) / 0.5) * 0.5, lo, hi))
    y_top = n_rows * row_mv
    row_bottom = [y_top - (r + 1) * row_mv for r in range(n_rows)]
    baseline = []
    for r in range(n_rows):
        span = above[r] + below[r]
        frac = (below[r] + (row_mv - span) / 2) / row_mv if span < row_mv else below[r] / max(span, 1e-9)
        baseline.append(row_bottom[r] + row_mv * float(np.clip(frac, 0.3, 0.7)))
    return pieces, _Rows(row_mv, y_top, row_bottom, baseline)


def _draw_traces(
    ax: Any,
    panels: Panels,
    pieces: list[np.ndarray],
    shown: np.ndarray,
    fs: float,
    rows: _Rows,
    over_cmap: Any,
    norm: Any,
) -> None:
    """Each panel's evidence overlay, trace and lead name; lead change markers and the calibration pulses."""
    row_mv, row_bottom, baseline = rows.height, rows.bottom, rows.baseline
    for (lead, i0, i1, r), y in zip(panels, pieces):
        t = np.arange(i0, i1) / fs
        ax.imshow(
            shown[lead, i0:i1][None, :],
            extent=(t[0] - 0.5 / fs, t[-1] + 0.5 / fs, row_bottom[r], row_bottom[r] + row_mv),
            cmap=over_cmap, norm=norm, aspect="auto", interpolation="nearest", origin="lower", zorder=1,
        )  # fmt: skip
        ax.plot(t, baseline[r] + y, color=TRACE_COLOUR, lw=0.75, zorder=3, solid_joinstyle="round")
        ax.text(
            t[0] + 0.06, row_bottom[r] + row_mv - 0.12, LEADS[lead], fontsize=8, fontweight="bold", va="top",
            ha="left", zorder=5, color=TRACE_COLOUR,
            bbox={"boxstyle": "square,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )  # fmt: skip
        if i0 > 0:  # lead change marker, as on printouts
            ax.plot(
                [t[0], t[0]], [baseline[r] - 0.25, baseline[r] + 0.25], color=TRACE_COLOUR, lw=0.9, zorder=3
            )
    for b in baseline:  # 1 mV, 0.2 s calibration pulse at the start of each row
        ax.plot([-0.36, -0.3, -0.3, -0.1, -0.1, -0.04], [b, b, b + 1, b + 1, b, b], color=TRACE_COLOUR, lw=0.9,
                zorder=3)  # fmt: skip


def _draw_boxes(
    ax: Any, top_segments: Sequence[Any], panels: Panels, fs: float, rows: _Rows, colours: tuple[Any, Any]
) -> None:
    """A box around each top segment wherever its lead is shown, labelled with its signed rank."""
    pos_col, neg_col = colours
    row_mv = rows.height
    for seg, label in zip(top_segments, _ranks(top_segments)):
        lead, s0, s1, ev, _ = _segment_fields(seg)
        colour = pos_col if ev >= 0 else neg_col
        for p_lead, i0, i1, r in panels:
            x0, x1 = max(s0, i0 / fs), min(s1, i1 / fs)
            if p_lead != lead or x1 <= x0:
                continue
            y0 = rows.bottom[r] + 0.06
            ax.add_patch(Rectangle((x0, y0), x1 - x0, row_mv - 0.12, fill=False, ec=colour, lw=1.4, zorder=4))
            ax.text(
                x1, y0 + row_mv - 0.12, label, fontsize=7, fontweight="bold", color="white", ha="right", va="top",
                zorder=6, bbox={"boxstyle": "square,pad=0.15", "fc": colour, "ec": "none"},
            )  # fmt: skip


def _draw_share_bars(
    bx: Any, layout: str, shares: np.ndarray, rows: _Rows, colours: tuple[Any, Any], evidence_label: str
) -> None:
    """Per-lead share bars (12x1: aligned with the rows)."""
    pos_col, neg_col = colours
    if layout == "12x1":
        ys = np.array([rows.bottom[i] + rows.height / 2 for i in range(len(LEADS))])
        bx.set_ylim(0.0, rows.y_top)
        height = 0.55 * rows.height
    else:
        ys = np.arange(len(LEADS))[::-1].astype(float)
        bx.set_ylim(-0.7, len(LEADS) - 0.3)
        height = 0.65
    bx.barh(ys, shares, height=height, color=[pos_col if s >= 0 else neg_col for s in shares])
    lim = float(np.max(np.abs(shares))) * 1.25 or 1.0
    bx.set_xlim(-lim, lim)
    bx.axvline(0, color="0.3", lw=0.7)
    bx.set_yticks(ys, list(LEADS), fontsize=8)
    bx.tick_params(axis="x", labelsize=7)
    bx.set_title("lead share", fontsize=8, loc="left")
    bx.set_xlabel(evidence_label, fontsize=7)
    for side in ("top", "right"):
        bx.spines[side].set_visible(False)
    bx.grid(axis="x", color="0.88", lw=0.5)
    bx.set_axisbelow(True)


def _draw_colour_bar(
    fig: Figure,
    cax: Any,
    norm: Any,
    over_cmap: Any,
    shown: np.ndarray,
    evidence_label: str,
    colours: tuple[Any, Any],
) -> None:
    """The colour bar under the grid, with "against" / "for" at its ends."""
    pos_col, neg_col = colours
    extend = "both" if np.nanmax(np.abs(shown)) > norm.vmax * 1.0001 else "neither"
    cb = fig.colorbar(
        ScalarMappable(norm=norm, cmap=over_cmap), cax=cax, orientation="horizontal", extend=extend
    )
    cb.set_ticks([-norm.vmax, 0.0, norm.vmax], labels=[_fmt_g(-norm.vmax), "0", _fmt_g(norm.vmax)])
    cb.set_label(f"{evidence_label}, per sample", fontsize=7, loc="left")
    cb.ax.tick_params(labelsize=7)
    for x, text, colour, ha in (
        (0.0, "\u25c0 against", neg_col, "left"),
        (1.0, "for \u25b6", pos_col, "right"),
    ):
        cax.text(x, 1.6, text, transform=cax.transAxes, fontsize=7, color=colour, ha=ha, va="bottom",
                 fontweight="bold")  # fmt: skip


def _caption(
    shares: np.ndarray,
    bias: float | None,
    logit: float | None,
    fs: float,
    smooth_s: float,
    top_segments: Sequence[Any] | None,
    panels: Panels,
) -> str:
    """The caption under the grid: the logit sum, paper scale, and the strongest windows listed."""
    total = float(shares.sum())
    if bias is not None:
        z = total + float(bias) if logit is None else float(logit)
        cap = f"\u03a3 lead shares {_fmt(total)}  + bias {_fmt(float(bias))}  = logit {_fmt(z)}"
    else:
        cap = f"\u03a3 lead shares {_fmt(total)}" + (
            "" if logit is None else f"  (logit {_fmt(float(logit))})"
        )
    cap += f"      25 mm/s, 10 mm/mV, calibration 1 mV      fs = {fs:g} Hz"
    if smooth_s > 0:
        cap += f"      overlay smoothed over {smooth_s:g} s (display only)"
    if top_segments:
        cap += _segments_caption(top_segments, panels, fs)
    return cap


def _segments_caption(top_segments: Sequence[Any], panels: Panels, fs: float) -> str:
    """ "strongest windows for / against" lines; ``*`` marks a window outside the time its lead is shown."""
    items = []
    for f, rank in zip(map(_segment_fields, top_segments), _ranks(top_segments)):
        hidden = not any(p[0] == f[0] and p[1] / fs < f[2] and f[1] < p[2] / fs for p in panels)
        items.append(
            f"{rank} {LEADS[f[0]]} {f[1]:.2f}\u2013{f[2]:.2f} s ({_fmt(f[3], 2)}){'*' if hidden else ''}"
        )
    cap = ""
    for sign, name in (("+", "for"), (MINUS, "against")):
        chosen = [i for i in items if i.startswith(sign)]
        if chosen:
            cap += f"\nstrongest windows {name}: " + "    ".join(chosen)
    if any(i.endswith("*") for i in items):
        cap += "\n* outside the time window this layout shows for that lead (see the 12x1 layout)"
    return cap


def _runs(labels: np.ndarray, i0: int, i1: int) -> list[tuple[int, int, int]]:
    """Contiguous runs ``(start, end, label)`` of ``labels[i0:i1]`` (absolute sample indices)."""
    lab = np.asarray(labels[i0:i1])
    if not len(lab):
        return []
    cut = np.flatnonzero(np.diff(lab)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(lab)]])
    return [(i0 + int(a), i0 + int(b), int(lab[a])) for a, b in zip(starts, ends)]


def _draw_wave_strips(
    ax: Any,
    att: np.ndarray,
    labels: np.ndarray,
    panels: Sequence[tuple[int, int, int, int]],
    row_bottom: Sequence[float],
    row_mv: float,
    fs: float,
    cmap: str,
) -> None:
    """A strip under each trace: every wave run coloured by its summed evidence (one block per wave)."""
    blocks = np.zeros_like(att, dtype=np.float64)
    for a, b, _ in _runs(labels, 0, att.shape[1]):
        blocks[:, a:b] = att[:, a:b].sum(axis=1, keepdims=True)
    shown = np.concatenate([blocks[lead, i0:i1] for lead, i0, i1, _ in panels])
    if not shown.size:
        return
    norm = symmetric_norm(shown, percentile=99.0)
    colours = evidence_cmap(cmap, alpha=0.95, gamma=0.6)
    h = 0.16 * row_mv
    seps = []
    for lead, i0, i1, r in panels:
        y0 = row_bottom[r] + 0.02
        ax.imshow(
            blocks[lead, i0:i1][None, :],
            extent=((i0 - 0.5) / fs, (i1 - 0.5) / fs, y0, y0 + h),
            cmap=colours,
            norm=norm,
            aspect="auto",
            interpolation="nearest",
            origin="lower",
            zorder=2,
        )
        seps += [[((a - 0.5) / fs, y0), ((a - 0.5) / fs, y0 + h)] for a, _, _ in _runs(labels, i0, i1)[1:]]
    ax.add_collection(LineCollection(seps, colors="0.6", linewidths=0.2, zorder=2))  # thin block separators


def _strongest_hidden(
    att: np.ndarray, labels: np.ndarray, panels: Sequence[tuple[int, int, int, int]], fs: float
) -> str:
    """A caption line when the strongest single wave run (any lead) lies outside the time its lead shows."""
    from ecgimn.constants import WAVES

    best = None
    for lead in range(att.shape[0]):
        for a, b, w in _runs(labels, 0, att.shape[1]):
            v = float(att[lead, a:b].sum())
            if best is None or abs(v) > abs(best[3]):
                best = (lead, a, b, v, w)
    if best is None:
        return ""
    lead, a, b, v, w = best
    if any(p[0] == lead and p[1] < b and a < p[2] for p in panels):
        return ""
    shown = [(p[1] / fs, p[2] / fs) for p in panels if p[0] == lead]
    where = ", ".join(f"{s0:.1f}\u2013{s1:.1f} s" for s0, s1 in shown)
    return (
        f"strongest wave-level evidence: {WAVES[w]} in {LEADS[lead]} at {a / fs:.2f}\u2013{b / fs:.2f} s "
        f"({_fmt(v, 2)}), outside the {where} shown for {LEADS[lead]} (see the 12x1 layout)"
    )


def _draw_wave_table(
    fig: Figure, size: tuple[float, float], x: float, y: float, w: float, h: float, waves: Any, cmap: str
) -> None:
    """The lead x wave table (evidence per cell, numbers printed) as a coloured grid."""
    from matplotlib import colormaps

    from ecgimn.constants import WAVES

    t = np.asarray(waves.table, dtype=np.float64)
    keep = [i for i, name in enumerate(WAVES) if name != "unassigned" or np.any(t[:, i] != 0)]
    t = t[:, keep]
    tx = _mm_axes(fig, size, x, y, w, h, label="wave_table")
    norm = symmetric_norm(t, percentile=100.0)
    tx.imshow(t, cmap=colormaps[cmap], norm=Normalize(-norm.vmax * 1.6, norm.vmax * 1.6), aspect="auto")
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            tx.text(j, i, f"{t[i, j]:+.2f}".replace("-", MINUS), ha="center", va="center", fontsize=6)
    names = [WAVES[i] if WAVES[i] != "unassigned" else "n/a" for i in keep]
    tx.set_xticks(range(len(keep)), names, fontsize=7)
    tx.xaxis.tick_top()
    tx.set_yticks(range(t.shape[0]), list(waves.lead_names), fontsize=7)
    ref = f" vs {waves.reference}" if waves.reference else ""
    tx.set_xlabel(f"lead x wave{ref}; bias {_fmt(waves.bias, 2)}, logit {_fmt(waves.logit, 2)}", fontsize=7)
    tx.tick_params(length=0)


def plot_class_evidence(signal_mv: np.ndarray, ev: Any, *, title: str | None = None, **kwargs: Any) -> Figure:
    """:func:`plot_ecg_evidence` for an :class:`ecgimn.explain.ClassEvidence` (boxes its top +/- segments);
    pass ``waves=`` (its :class:`ecgimn.explain.waves.WaveDecomposition`) for the wave strips and table."""
    label = kwargs.pop("evidence_label", f"evidence for {ev.class_name} (logit units)")
    return plot_ecg_evidence(
        signal_mv,
        ev.fs,
        ev.attribution,
        lead_shares=ev.lead_shares,
        top_segments=list(ev.top_positive) + list(ev.top_negative),
        title=title,
        evidence_label=label,
        bias=ev.bias,
        logit=ev.logit,
        **kwargs,
    )


def paper_scale(fig: Figure) -> tuple[float, float]:
    """(mm per second, mm per mV) of the ECG grid as laid out on the figure (25 and 10 by construction)."""
    ax = next(a for a in fig.axes if a.get_label() == "ecg")
    w_in, h_in = fig.get_size_inches()
    pos = ax.get_position()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    return (pos.width * w_in * MM_PER_INCH / (x1 - x0), pos.height * h_in * MM_PER_INCH / (y1 - y0))


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150, close: bool = True) -> Path:
    """Save as PNG, SVG or PDF (chosen by the suffix), creating parent folders; close the figure."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise ConfigError(f"{path}: unsupported figure format {fmt!r}; use .png, .svg or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"Software": None} if fmt == "png" else {"Date": None} if fmt == "svg" else {"CreationDate": None}
    fig.savefig(path, format=fmt, dpi=dpi, metadata=meta, facecolor="white")
    if close and "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path
