"""Remove parts of a (12, L) signal: the one replacement rule shared by the what-if and the faithfulness curves.

``interpolate``: within each lead, removed samples lie on the straight line between the nearest kept samples
before and after them (at the record's start or end the one existing neighbour is held flat); a lead with
nothing kept takes ``fill``. ``constant``: removed samples take ``fill``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Fill = Literal["constant", "interpolate"]


def fill_removed(
    x: np.ndarray, removed: np.ndarray, how: Fill = "interpolate", fill: float | np.ndarray = 0.0
) -> np.ndarray:
    """A copy of ``x`` (12, L) with the ``removed`` samples (a (12, L) bool mask) replaced (see the module doc).

    ``fill``: a scalar or an array broadcastable to ``x`` (the value for ``constant``, and for leads with no
    kept sample under ``interpolate``).
    """
    out = x.copy()
    fills = np.broadcast_to(np.asarray(fill, dtype=out.dtype), out.shape)
    if how == "constant":
        out[removed] = fills[removed]
        return out
    t = np.arange(x.shape[-1])
    for lead in range(x.shape[0]):
        r = removed[lead]
        if not r.any():
            continue
        if r.all():
            out[lead] = fills[lead]
        else:
            out[lead, r] = np.interp(t[r], t[~r], x[lead, ~r])
    return out
