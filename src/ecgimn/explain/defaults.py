"""The evidence options every front end starts from (report, CLI, app, API): one place for their defaults.

Evidence is summed over windows of ``WINDOW_S`` seconds moved by ``STRIDE_S`` seconds, and the ``TOP_K``
strongest windows for and against a class are listed (non-overlapping within a lead).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: evidence window length, seconds
WINDOW_S: float = 0.5
#: step between evidence windows, seconds
STRIDE_S: float = 0.25
#: strongest windows listed for and against a class
TOP_K: int = 3


@dataclass(frozen=True)
class EvidenceOptions:
    """How evidence is aggregated: window and stride in seconds, windows listed per direction."""

    window_s: float = WINDOW_S
    stride_s: float = STRIDE_S
    top_k: int = TOP_K

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = EvidenceOptions()
