"""Counterfactual lesion writers: each alters only its lead group inside its waves, by the stated size."""

from __future__ import annotations

import numpy as np
import pytest
from test_waves import FS, R_TIMES, gaussian_beats

from ecgimn.constants import LEADS
from ecgimn.errors import ConfigError
from ecgimn.explain.lesions import LEAD_GROUPS, Lesion, altered_cells
from ecgimn.explain.waves import WAVES, delineate_beats


@pytest.fixture(scope="module")
def record() -> tuple[np.ndarray, object]:
    x = gaussian_beats(R_TIMES)
    return x, delineate_beats(x, FS, method="fixed")


def _changed_cells(x: np.ndarray, y: np.ndarray, labels: np.ndarray) -> set[tuple[str, str]]:
    diff = np.abs(y - x) > 1e-12
    return {(LEADS[i], WAVES[int(w)]) for i in range(12) for w in np.unique(labels[diff[i]])}


@pytest.mark.parametrize(
    "lesion",
    [
        Lesion("st_elevation", "inferior", 0.1),
        Lesion("st_elevation", "anterior", 0.1, "sloped"),
        Lesion("st_depression", "lateral", 0.1),
        Lesion("st_depression", "inferior", 0.2, "sloped"),
        Lesion("t_inversion", "anterior", 1.0),
        Lesion("q_wave", "inferior", 0.2),
    ],
    ids=lambda les: f"{les.name}@{les.size}",
)
def test_lesion_alters_only_its_cells(record: tuple[np.ndarray, object], lesion: Lesion) -> None:
    x, beats = record
    y = lesion.apply(x, beats)
    changed = _changed_cells(x, y, beats.labels)
    allowed = {(lead, w) for lead in lesion.leads for w in lesion.waves}
    assert changed and changed <= allowed
    assert {lead for lead, _ in changed} == set(lesion.leads)  # every lead of the group is altered
    li, wi = altered_cells(lesion)
    assert [LEADS[i] for i in li] == list(lesion.leads) and [WAVES[i] for i in wi] == list(lesion.waves)


def test_st_shift_has_the_stated_size_and_sign(record: tuple[np.ndarray, object]) -> None:
    x, beats = record
    st = beats.mask("ST")
    ii = LEADS.index("II")
    up = Lesion("st_elevation", "inferior", 0.15).apply(x, beats)
    down = Lesion("st_depression", "inferior", 0.15).apply(x, beats)
    assert np.allclose((up - x)[ii, st], 0.15)
    assert np.allclose((down - x)[ii, st], -0.15)
    sloped = Lesion("st_elevation", "inferior", 0.15, "sloped").apply(x, beats)
    d = (sloped - x)[ii, st]
    assert d.min() == pytest.approx(0.0) and 0 < d.max() <= 0.15


def test_t_inversion_mirrors_the_t_wave(record: tuple[np.ndarray, object]) -> None:
    x, beats = record
    v3 = LEADS.index("V3")
    y = Lesion("t_inversion", "anterior", 1.0).apply(x, beats)
    b = beats.bounds[4]
    t_on, t_off = int(b[4]), int(b[5])
    peak = t_on + int(np.argmax(x[v3, t_on:t_off]))
    line = np.linspace(x[v3, t_on], x[v3, t_off], t_off - t_on, endpoint=False)[peak - t_on]
    assert y[v3, peak] - line == pytest.approx(-(x[v3, peak] - line))
    flat = Lesion("t_inversion", "anterior", 0.5).apply(x, beats)
    assert (
        np.abs(
            flat[v3, t_on:t_off] - np.linspace(x[v3, t_on], x[v3, t_off], t_off - t_on, endpoint=False)
        ).max()
        < 1e-12
    )


def test_q_wave_is_a_negative_deflection_at_qrs_onset(record: tuple[np.ndarray, object]) -> None:
    x, beats = record
    y = Lesion("q_wave", "inferior", 0.3).apply(x, beats)
    iii = LEADS.index("III")
    q_on = int(beats.bounds[2, 2])
    d = (y - x)[iii, q_on : q_on + 4]
    assert (d < 0).all() and -0.3 <= d.min() < -0.15


def test_control_is_small_everywhere_and_seeded(record: tuple[np.ndarray, object]) -> None:
    x, beats = record
    c = Lesion("control", "all", 0.02)
    y1, y2 = c.apply(x, beats, seed=1), c.apply(x, beats, seed=1)
    assert np.array_equal(y1, y2)
    assert abs(float((y1 - x).mean()) - 0.02) < 0.002 and c.waves == ()
    assert set(LEAD_GROUPS["all"]) == set(LEADS)


def test_bad_lesions_are_refused() -> None:
    with pytest.raises(ConfigError, match="lesion kind"):
        Lesion("st_tilt", "inferior", 0.1)
    with pytest.raises(ConfigError, match="lead group"):
        Lesion("q_wave", "posterior", 0.1)
    with pytest.raises(ConfigError, match="shape"):
        Lesion("st_elevation", "inferior", 0.1, "coved")
