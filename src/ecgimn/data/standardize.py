"""Signal standardisation fitted on training folds only: ``X_std = (X - mu) / sigma``.

Modes:
- ``global``: one mean / std over every training value (the benchmark of Strodthoff et al. 2021).
- ``per_lead``: one mean / std per lead over the training records.
- ``per_record``: each record's own per-lead z-score (nothing fitted).

``sigma`` is floored at ``eps`` (1e-3 mV by default) so flat leads do not blow up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecgimn.constants import N_LEADS, TEST_FOLD
from ecgimn.errors import ConfigError

MODES: tuple[str, ...] = ("global", "per_lead", "per_record")
DEFAULT_EPS = 1e-3
_CHUNK = 512  # records per chunk when fitting (bounds the float64 temporaries)


class Standardizer:
    """Fit on training data, then map (12, L) or (N, 12, L) mV signals to standardised units."""

    def __init__(self, mode: str = "global", eps: float = DEFAULT_EPS) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown standardisation mode {mode!r}; valid modes: {', '.join(MODES)}")
        self.mode = mode
        self.eps = float(eps)
        self.mean: np.ndarray | None = None  # () for global, (12,) for per_lead
        self.std: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Standardizer(mode={self.mode!r}, fitted={self.fitted})"

    @property
    def fitted(self) -> bool:
        return self.mode == "per_record" or self.mean is not None

    def fit(self, X: Any, folds: Sequence[int] | np.ndarray | None = None) -> Standardizer:
        """Fit on ``X`` (N, 12, L) or a ``TaskData`` (its ``folds`` are checked).

        ``folds`` are the folds ``X`` comes from (one per record, or the list used); fold 10 is refused.
        """
        if hasattr(X, "folds") and hasattr(X, "X"):
            folds = X.folds if folds is None else folds
            X = X.X
        if folds is not None and np.any(np.asarray(folds) == TEST_FOLD):
            raise ConfigError(f"fold {TEST_FOLD} is the test fold; nothing may be fitted on it")
        if self.mode == "per_record":
            return self
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1] != N_LEADS or X.shape[0] == 0:
            raise ConfigError(f"Standardizer.fit expects a non-empty (N, 12, L) array, got shape {X.shape}")
        count = X.shape[0] * X.shape[2]
        total = sum(X[i : i + _CHUNK].sum(axis=(0, 2), dtype=np.float64) for i in range(0, len(X), _CHUNK))
        lead_mean = total / count
        mean = lead_mean if self.mode == "per_lead" else np.float64(lead_mean.mean())
        centre = mean[None, :, None] if self.mode == "per_lead" else mean
        sq = sum(
            np.square(X[i : i + _CHUNK].astype(np.float64) - centre).sum(axis=(0, 2))
            for i in range(0, len(X), _CHUNK)
        )
        var = sq / count if self.mode == "per_lead" else sq.sum() / (count * N_LEADS)
        self.mean, self.std = np.asarray(mean), np.sqrt(var)
        return self

    def affine(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, sigma)`` float32, broadcastable to ``X`` ((12, L) or (N, 12, L)), with sigma >= eps."""
        if self.mode == "per_record":
            X = np.asarray(X, dtype=np.float32)
            mu = X.mean(axis=-1, keepdims=True, dtype=np.float64)
            sigma = X.std(axis=-1, keepdims=True, dtype=np.float64)
        elif self.mean is None or self.std is None:
            raise ConfigError(
                f"Standardizer(mode={self.mode!r}) is not fitted; call fit() or from_dict() first"
            )
        elif self.mode == "per_lead":
            mu, sigma = self.mean[:, None], self.std[:, None]
        else:
            mu, sigma = self.mean, self.std
        return np.asarray(mu, dtype=np.float32), np.maximum(sigma, self.eps).astype(np.float32)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised float32 copy of ``X``."""
        X = np.asarray(X, dtype=np.float32)
        mu, sigma = self.affine(X)
        return ((X - mu) / sigma).astype(np.float32, copy=False)

    def fit_transform(self, X: Any, folds: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """``fit`` then ``transform``."""
        self.fit(X, folds)
        return self.transform(X.X if hasattr(X, "X") else X)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (plain floats / lists)."""

        def plain(a: np.ndarray | None) -> float | list[float] | None:
            return None if a is None else (float(a) if a.ndim == 0 else [float(v) for v in a])

        return {"mode": self.mode, "eps": self.eps, "mean": plain(self.mean), "std": plain(self.std)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Standardizer:
        """Rebuild from :meth:`to_dict` output."""
        try:
            out = cls(d["mode"], eps=float(d.get("eps", DEFAULT_EPS)))
            if out.mode != "per_record":
                out.mean = np.asarray(d["mean"], dtype=np.float64)
                out.std = np.asarray(d["std"], dtype=np.float64)
                expected = () if out.mode == "global" else (N_LEADS,)
                if out.mean.shape != expected or out.std.shape != expected:
                    raise ValueError(f"mean/std must have shape {expected}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid standardiser state {d!r}: {exc}") from exc
        return out
