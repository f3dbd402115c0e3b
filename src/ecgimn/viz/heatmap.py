"""Compact leads x time heatmap of the signed evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from ecgimn.constants import LEADS
from ecgimn.errors import InputError
from ecgimn.viz.ecg_plot import EVIDENCE_CMAP, symmetric_norm


def plot_evidence_heatmap(
    attribution: np.ndarray,
    fs: float,
    *,
    lead_names: Sequence[str] | None = None,
    title: str | None = None,
    evidence_label: str = "evidence (logit units)",
    vmax: float | None = None,
    cmap: str = EVIDENCE_CMAP,
    show_shares: bool = True,
    ax: Any = None,
    figsize: tuple[float, float] = (8.0, 3.4),
) -> Figure:
    """Leads (rows) x time (s) heatmap of the (n_leads, L) attribution, colour scale symmetric around 0.

    ``vmax`` defaults to the 99.5th percentile of ``|attribution|`` (the colour bar is extended when values go
    beyond it). ``show_shares`` writes each lead's summed evidence on the right. Pass ``ax`` to draw into an
    existing axes (its figure is returned).
    """
    att = np.asarray(attribution, dtype=np.float64)
    if att.ndim != 2:
        raise InputError(f"attribution must be (n_leads, L), got shape {att.shape}")
    if fs <= 0:
        raise InputError(f"sampling rate must be positive, got {fs}")
    names = (
        list(lead_names)
        if lead_names is not None
        else (list(LEADS) if att.shape[0] == len(LEADS) else [f"lead{i + 1}" for i in range(att.shape[0])])
    )
    if len(names) != att.shape[0]:
        raise InputError(f"got {len(names)} lead names for {att.shape[0]} leads")
    if ax is None:
        fig = Figure(figsize=figsize, dpi=100, layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    norm = symmetric_norm(att, vmax)
    n_leads, n = att.shape
    im = ax.imshow(
        att,
        cmap=colormaps[cmap],
        norm=norm,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5 / fs, (n - 0.5) / fs, n_leads - 0.5, -0.5),
    )
    ax.set_yticks(np.arange(n_leads), names, fontsize=8)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    for y in np.arange(n_leads - 1) + 0.5:
        ax.axhline(y, color="white", lw=0.4)
    if show_shares:
        right = ax.secondary_yaxis("right")
        right.set_yticks(
            np.arange(n_leads), [f"{v:+.2f}".replace("-", "\u2212") for v in att.sum(axis=1)], fontsize=7
        )
        right.tick_params(length=0)
        right.set_ylabel("lead share", fontsize=7)
    extend = "both" if np.nanmax(np.abs(att)) > norm.vmax * 1.0001 else "neither"
    cb = fig.colorbar(im, ax=ax, extend=extend, pad=0.02, fraction=0.04)
    cb.set_label(evidence_label, fontsize=8)
    cb.ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return fig
