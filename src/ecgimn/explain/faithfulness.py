"""Faithfulness of explanations, measured by re-running the whole network on perturbed inputs.

Implemented here (Quantus was not used: its metrics assume image-shaped inputs and a plain logit model, while
these models need the window policy and a per-record baseline; the definitions below are short):

* **Deletion / insertion curves** (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation
  of Black-box Models", BMVC). Each lead is cut into cells of ``cell_seconds`` (default 0.25 s), giving
  12 x n cells. Cells are ranked by the explanation's summed *positive* relevance (ties broken at random with a
  fixed seed). Deletion removes the most relevant cells first, ``step_fraction`` (default 5%) of all cells per
  step, replacing them with the baseline; insertion starts from the all-baseline record and puts the most
  relevant cells back first. At every step the full model (sliding windows included) recomputes the class
  probability ``sigmoid(logit_k)``. The score is the area under probability vs. fraction of cells (x in [0, 1],
  trapezoid rule): a faithful explanation gives a *low* deletion AUC and a *high* insertion AUC.
  Baselines: ``"constant"`` replaces removed samples by ``fill`` (pass the standardised value of 0 mV,
  :func:`zero_mv_fill`, for a flat 0 mV line; the default 0.0 is the standardised mean); ``"interpolate"``
  draws a straight line across each removed run of samples within its lead (from the last kept sample before to
  the first kept sample after; a lead with nothing kept falls back to ``fill``), the rule the what-if shares
  (:func:`ecgimn.explain.perturb.fill_removed`).
  Nothing is zeroed inside the model: for an IMN, zeroing W would be tautological, so the input is perturbed and
  W(x) is regenerated like any black box's activations.
* **Model-randomisation sanity check** (Adebayo et al. 2018, "Sanity Checks for Saliency Maps", NeurIPS):
  re-initialise the weights (all at once, or cascading from the output side), recompute the explanation and
  report the Spearman rank correlation of ``|attribution|`` with the original map. An explanation that depends
  on what the model learned should decorrelate (low rho).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from ecgimn.errors import ConfigError, InputError
from ecgimn.explain.perturb import fill_removed
from ecgimn.inference.predict import forward_windows
from ecgimn.models.windowed import window_bounds

Baseline = Literal["constant", "interpolate"]


def zero_mv_fill(standardizer: object, x_mv: np.ndarray) -> np.ndarray:
    """The standardised value of 0 mV, ``-mu / sigma``, broadcastable to ``x_mv`` ((12, L) or (N, 12, L))."""
    mu, sigma = standardizer.affine(np.asarray(x_mv, dtype=np.float32))  # type: ignore[attr-defined]
    return np.broadcast_to(-mu / sigma, np.shape(x_mv)).astype(np.float32)


def cell_bounds(length: int, fs: float, cell_seconds: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Start/end (exclusive) samples of consecutive cells of ``cell_seconds`` (the last one may be shorter)."""
    n = max(1, int(round(cell_seconds * fs)))
    return window_bounds(length, n, n)


def rank_cells(attribution: np.ndarray, starts: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat cell indices (lead * n_cells_per_lead + j), most positive relevance first (random tie-break)."""
    a = np.clip(np.asarray(attribution, dtype=np.float64), 0.0, None)
    score = np.add.reduceat(a, starts, axis=-1).ravel()
    perm = np.random.default_rng(seed).permutation(score.size)
    return perm[np.argsort(-score[perm], kind="stable")]


@dataclass
class PerturbationCurves:
    """Deletion and insertion curves of N records: probabilities (N, S+1) at ``fractions`` (S+1,) of cells."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> np.ndarray:
        """(N,) area under the deletion curve (lower = more faithful)."""
        return np.trapezoid(self.deletion, self.fractions, axis=-1)

    @property
    def insertion_auc(self) -> np.ndarray:
        """(N,) area under the insertion curve (higher = more faithful)."""
        return np.trapezoid(self.insertion, self.fractions, axis=-1)


def _targets(target: int | Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    t = np.asarray(target, dtype=np.int64).reshape(-1)
    t = np.repeat(t, n) if t.size == 1 else t
    if t.size != n:
        raise InputError(f"target: expected one class index or {n}, got {t.size}")
    return t


@torch.no_grad()
def _probabilities(
    model: nn.Module, xs: np.ndarray, k: int, window: int | None, stride: int | None, batch: int
) -> np.ndarray:
    probs = []
    dev = next(model.parameters()).device
    for s in range(0, len(xs), batch):
        xb = torch.as_tensor(xs[s : s + batch], device=dev)
        out = (
            model(xb)
            if window is None or xb.shape[-1] <= window
            else forward_windows(model, xb, window, stride or window)
        )
        probs.append(torch.sigmoid(out.logits[:, k]).float().cpu().numpy())
    return np.concatenate(probs)


def perturbation_curves(
    model: nn.Module,
    x_std: np.ndarray,
    attribution: np.ndarray,
    target: int | Sequence[int] | np.ndarray,
    *,
    fs: float,
    window: int | None = None,
    stride: int | None = None,
    cell_seconds: float = 0.25,
    step_fraction: float = 0.05,
    baseline: Baseline = "constant",
    fill: float | np.ndarray = 0.0,
    seed: int = 0,
    batch_size: int = 64,
) -> PerturbationCurves:
    """Deletion and insertion curves (see the module doc) of ``attribution`` (N, 12, L) for class ``target``.

    ``x_std`` (N, 12, L) is the standardised input; ``fill`` a scalar or an array broadcastable to it (the
    replacement value in standardised units, e.g. :func:`zero_mv_fill`). Steps: ``ceil(1 / step_fraction)``.
    """
    if baseline not in ("constant", "interpolate"):
        raise ConfigError(f"baseline must be 'constant' or 'interpolate', got {baseline!r}")
    if not 0 < step_fraction <= 1:
        raise ConfigError(f"step_fraction must be in (0, 1], got {step_fraction}")
    x = np.asarray(x_std, dtype=np.float32)
    a = np.asarray(attribution, dtype=np.float32)
    if x.ndim == 2:
        x, a = x[None], a[None]
    if x.shape != a.shape or x.ndim != 3:
        raise InputError(f"x_std {x.shape} and attribution {a.shape} must both be (N, 12, L)")
    fills = np.broadcast_to(np.asarray(fill, dtype=np.float32), x.shape)
    targets = _targets(target, len(x))
    model.eval()
    L = x.shape[-1]
    starts, ends = cell_bounds(L, fs, cell_seconds)
    n_cells = x.shape[1] * len(starts)
    n_steps = int(np.ceil(1.0 / step_fraction - 1e-9))
    ks = np.minimum(n_cells, np.round(np.arange(n_steps + 1) * step_fraction * n_cells).astype(int))
    ks[-1] = n_cells
    deletion, insertion = [], []
    sample_cell = np.repeat(np.arange(len(starts)), ends - starts)  # (L,) cell of each sample
    for i in range(len(x)):
        rank = np.empty(n_cells, dtype=np.int64)
        rank[rank_cells(a[i], starts, seed)] = np.arange(n_cells)
        rank_map = rank.reshape(x.shape[1], len(starts))[:, sample_cell]  # (12, L) rank of each sample's cell
        batch = [fill_removed(x[i], rank_map < k, baseline, fills[i]) for k in ks]  # deletion
        batch += [fill_removed(x[i], rank_map >= k, baseline, fills[i]) for k in ks]  # insertion
        p = _probabilities(model, np.stack(batch), int(targets[i]), window, stride, batch_size)
        deletion.append(p[: len(ks)])
        insertion.append(p[len(ks) :])
    return PerturbationCurves(ks / n_cells, np.stack(deletion), np.stack(insertion))


def _reinit_order(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own parameters directly, output side first (reverse registration order)."""
    mods = [(n, m) for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]
    return mods[::-1]


def _reinit(module: nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()  # conv / linear: default init; batch norm: identity and running stats reset
    else:
        for p in module.parameters(recurse=False):
            nn.init.normal_(p, std=0.02)


def randomized_models(
    model: nn.Module, mode: Literal["full", "cascading"] = "full", seed: int = 0
) -> Iterator[tuple[str, nn.Module]]:
    """Yield ``(stage, randomised copy)``; ``model`` is left untouched.

    ``"full"``: one copy with every parameterised module re-initialised (stage ``"all"``). ``"cascading"``: copies
    with modules re-initialised cumulatively from the output side (stage = name of the last module reset).
    """
    if mode not in ("full", "cascading"):
        raise ConfigError(f"randomisation mode must be 'full' or 'cascading', got {mode!r}")
    rand = copy.deepcopy(model).eval()
    stages: list[tuple[str, nn.Module]] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, module in _reinit_order(rand):
            _reinit(module)
            if mode == "cascading":
                stages.append((name or "<root>", copy.deepcopy(rand)))
    yield from stages if mode == "cascading" else [("all", rand)]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rho of ``|a|`` and ``|b|`` (flattened); NaN when either is constant."""
    from scipy.stats import spearmanr

    x, y = np.abs(np.asarray(a, dtype=np.float64)).ravel(), np.abs(np.asarray(b, dtype=np.float64)).ravel()
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def randomization_check(
    model: nn.Module,
    explain: Callable[[nn.Module], np.ndarray],
    *,
    mode: Literal["full", "cascading"] = "full",
    seed: int = 0,
    original: np.ndarray | None = None,
) -> list[dict[str, float | str]]:
    """Spearman rho of ``|explain(randomised model)|`` with ``|explain(model)|``, per record and stage.

    ``explain(model) -> (N, 12, L)`` computes the explanation of fixed inputs and classes with a given model
    (e.g. ``lambda m: attribute(m, x, k, "integrated_gradients", window=w, stride=s)``). Returns one dict per
    stage: ``{"stage", "rho_mean", "rho": [per record]}``; NaN when a map is constant (e.g. all-zero Grad-CAM).
    """
    ref = explain(model) if original is None else np.asarray(original)
    out: list[dict] = []
    for stage, rand in randomized_models(model, mode, seed):
        new = explain(rand)
        rhos = [rank_correlation(r, n) for r, n in zip(ref, new)]
        finite = [r for r in rhos if np.isfinite(r)]
        out.append(
            {"stage": stage, "rho_mean": float(np.mean(finite)) if finite else float("nan"), "rho": rhos}
        )
    return out
