"""Counterfactual lesions written into real records: known evidence at a known place (lead group x wave).

Each writer takes a (12, L) mV record and its :class:`ecgimn.explain.waves.Beats` and returns the altered copy;
every beat is altered the same way, only in the leads of the group and only inside the waves the lesion names
(:attr:`Lesion.waves`), so the altered cells are known exactly. Sizes are in mV (ST, Q) or as a fraction of the
T wave (inversion: 1 = mirrored about the line joining T onset and offset). The control changes nothing
clinical (a small baseline shift plus white noise in all leads).

* ``st_elevation`` / ``st_depression``, ``shape="horizontal"``: the ST segment (J to T onset) shifted by the
  size, then the shift tapers linearly to 0 across the T wave (an ST-T change, as in a current of injury).
  ``shape="sloped"``: the shift rises linearly from 0 at J to the size at T onset, then tapers across T.
* ``t_inversion``: ``x_T' = line + (1 - 2 * size) * (x_T - line)`` inside the T wave, ``line`` the straight
  line from T onset to T offset (0.5 flattens the T wave, 1 mirrors it).
* ``q_wave``: a negative triangular deflection of the size (mV) and 40 ms base starting at QRS onset.
* ``control``: + ``size`` mV baseline in all leads and white noise of sd ``size / 2`` mV (seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgimn.constants import LEADS
from ecgimn.errors import ConfigError
from ecgimn.explain.waves import Beats

LEAD_GROUPS: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"),
    "lateral": ("I", "aVL", "V5", "V6"),
    "anterior": ("V1", "V2", "V3", "V4"),
    "all": LEADS,
}
KINDS: tuple[str, ...] = ("st_elevation", "st_depression", "t_inversion", "q_wave", "control")


@dataclass(frozen=True)
class Lesion:
    """One lesion: kind, lead group, size and (ST only) shape; :attr:`waves` are the waves it alters."""

    kind: str
    group: str
    size: float
    shape: str = "horizontal"

    def __post_init__(self) -> None:
        for value, valid, message in (
            (self.kind, KINDS, f"unknown lesion kind {self.kind!r}; valid: {', '.join(KINDS)}"),
            (self.group, LEAD_GROUPS, f"unknown lead group {self.group!r}; valid: {', '.join(LEAD_GROUPS)}"),
            (
                self.shape,
                ("horizontal", "sloped"),
                f"unknown ST shape {self.shape!r}; use 'horizontal' or 'sloped'",
            ),
        ):
            if value not in valid:
                raise ConfigError(message)

    @property
    def name(self) -> str:
        shape = f"-{self.shape}" if self.kind.startswith("st_") else ""
        return f"{self.kind}{shape}/{self.group}"

    @property
    def leads(self) -> tuple[str, ...]:
        return LEAD_GROUPS[self.group]

    @property
    def waves(self) -> tuple[str, ...]:
        return {
            "st_elevation": ("ST", "T"),
            "st_depression": ("ST", "T"),
            "t_inversion": ("T",),
            "q_wave": ("QRS",),
            "control": (),
        }[self.kind]

    def apply(self, x_mv: np.ndarray, beats: Beats, seed: int = 0) -> np.ndarray:
        """The altered copy of ``x_mv`` (12, L)."""
        return write_lesion(x_mv, beats, self, seed)


def _ramp(n: int, a: float, b: float) -> np.ndarray:
    return np.linspace(a, b, n, endpoint=False) if n > 0 else np.zeros(0)


def _st_offset(beats: Beats, size: float, shape: str) -> np.ndarray:
    """(L,) offset of the ST change: inside ST (J .. T onset) and tapering to 0 across T (T onset .. T offset)."""
    off = np.zeros(beats.length)
    for b in beats.bounds:
        j, t_on, t_off = int(b[3]), int(b[4]), int(b[5])
        st = np.full(t_on - j, size) if shape == "horizontal" else _ramp(t_on - j, 0.0, size)
        seg = np.concatenate([st, _ramp(t_off - t_on, size, 0.0)])
        idx = np.arange(j, t_off)
        keep = (idx >= 0) & (idx < beats.length)
        off[idx[keep]] = seg[keep]
    return off


def write_lesion(x_mv: np.ndarray, beats: Beats, lesion: Lesion, seed: int = 0) -> np.ndarray:
    """``x_mv`` (12, L) with ``lesion`` written into every beat of its lead group (see the module doc)."""
    x = np.array(x_mv, dtype=np.float64, copy=True)
    rows = [LEADS.index(n) for n in lesion.leads]
    L = x.shape[1]
    if lesion.kind == "control":
        noise = np.random.default_rng(seed).normal(0.0, lesion.size / 2.0, x.shape)
        return x + lesion.size + noise
    if lesion.kind in ("st_elevation", "st_depression"):
        sign = 1.0 if lesion.kind == "st_elevation" else -1.0
        x[rows] += sign * _st_offset(beats, lesion.size, lesion.shape)[None]
        return x
    if lesion.kind == "t_inversion":
        for b in beats.bounds:
            t_on, t_off = int(b[4]), int(b[5])
            if t_on < 0 or t_off >= L or t_off - t_on < 2:
                continue
            for r in rows:
                line = np.linspace(x[r, t_on], x[r, t_off], t_off - t_on, endpoint=False)
                x[r, t_on:t_off] = line + (1.0 - 2.0 * lesion.size) * (x[r, t_on:t_off] - line)
        return x
    # q_wave: triangle of depth `size`, 40 ms base, from QRS onset (clipped to the QRS)
    n = max(2, int(round(0.04 * beats.fs)))
    tri = -lesion.size * (1.0 - np.abs(np.linspace(-1.0, 1.0, n + 2)[1:-1]))
    for b in beats.bounds:
        q_on, q_off = int(b[2]), int(b[3])
        idx = np.arange(q_on, min(q_on + n, q_off))
        keep = (idx >= 0) & (idx < L)
        x[np.ix_(rows, idx[keep])] += tri[: len(idx)][keep][None]
    return x


def altered_cells(lesion: Lesion, lead_names: tuple[str, ...] = LEADS) -> tuple[list[int], list[int]]:
    """(lead indices, wave indices) of the cells the lesion alters (the control alters none by design)."""
    from ecgimn.explain.waves import wave_index

    return [lead_names.index(n) for n in lesion.leads], [wave_index(w) for w in lesion.waves]
