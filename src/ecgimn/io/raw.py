"""Channels as a reader found them in a file, before lead mapping, rate and unit harmonisation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Raw:
    """Channels as found in a file, before any mapping or conversion."""

    channels: list[np.ndarray]
    names: list[str] | None = None
    fs: list[float | None] = field(default_factory=list)  # per channel; empty = unknown
    units: list[str | None] = field(default_factory=list)  # per channel; empty = unknown
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # acquisition facts (no patient data)
    gain_missing: list[bool] = field(default_factory=list)  # per channel: no ADC gain in the header
