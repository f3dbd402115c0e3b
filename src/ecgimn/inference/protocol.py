"""What the explanation route (report, what-if, CLI, app) needs of a model, as a type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from ecgimn.inference.predictor import Explanation


@runtime_checkable
class ExplainingPredictor(Protocol):
    """A model that explains a (12, L) mV record exactly: its name, where it was loaded from, its classes,
    :meth:`length_error` and :meth:`explain`. :class:`~ecgimn.inference.predictor.Predictor` is one; a caching proxy or a fixed linear
    model in a test is another."""

    @property
    def name(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def class_names(self) -> list[str]: ...

    def length_error(self, seconds: float, source: str = "") -> str | None:
        """The one-line message for a record of ``seconds`` too short for the model (``None``: long enough)."""
        ...

    def explain(self, x: np.ndarray, fs: float = 100) -> Explanation: ...
