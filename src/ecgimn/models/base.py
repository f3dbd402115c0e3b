"""Model output type and the registry of named model configurations (timm-style).

A registry entry is a name -> (constructor, default kwargs). :func:`create_model` builds the model and attaches
``model.config``: a json-serialisable dict ``{"name", "num_classes", "num_leads", **kwargs}`` (every constructor
argument, registered defaults and overrides resolved) such that ``create_model(**model.config)`` rebuilds it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from ecgimn.constants import N_LEADS
from ecgimn.errors import ConfigError, InputError


class ModelOutput(NamedTuple):
    """What every model returns.

    Attributes:
        logits: (B, K) class scores.
        weights: (B, K, leads, L) the per-ECG linear model W(x) of an interpretable model (None for black boxes).
        bias: (B, K) the per-ECG bias b(x) (None for black boxes). For IMNs ``logits == (weights * x).sum((-2, -1)) + bias``.
    """

    logits: torch.Tensor
    weights: torch.Tensor | None = None
    bias: torch.Tensor | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A registered configuration: a constructor and the keyword arguments that define the named variant."""

    constructor: Callable[..., nn.Module]
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    interpretable: bool = False


#: name -> ModelSpec; filled by the model modules at import time.
MODEL_CONFIGS: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    constructor: Callable[..., nn.Module],
    *,
    description: str = "",
    interpretable: bool = False,
    **kwargs: Any,
) -> None:
    """Register ``name`` as ``constructor(num_classes=..., num_leads=..., **kwargs)``."""
    if name in MODEL_CONFIGS:
        raise ValueError(f"model name {name!r} is already registered")
    MODEL_CONFIGS[name] = ModelSpec(constructor, dict(kwargs), description, interpretable)


def list_models(interpretable: bool | None = None) -> list[str]:
    """Registered model names (sorted), optionally only the interpretable (IMN) or black-box ones."""
    return sorted(
        n for n, s in MODEL_CONFIGS.items() if interpretable is None or s.interpretable == interpretable
    )


def _jsonable(value: Any) -> Any:
    """Tuples -> lists recursively, so that a config equals its json round trip."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _constructor_defaults(constructor: Callable[..., nn.Module]) -> dict[str, Any]:
    params = inspect.signature(constructor).parameters
    return {
        k: p.default
        for k, p in params.items()
        if p.default is not inspect.Parameter.empty and k not in ("num_classes", "num_leads")
    }


def create_model(name: str, num_classes: int, num_leads: int = N_LEADS, **overrides: Any) -> nn.Module:
    """Build the registered model ``name`` with ``num_classes`` outputs; ``overrides`` replace its kwargs.

    Raises:
        ConfigError: unknown name, unknown option, invalid value or a config that is not json-serialisable.
    """
    spec = MODEL_CONFIGS.get(name)
    if spec is None:
        raise ConfigError(f"unknown model {name!r}; valid names: {', '.join(list_models())}")
    if int(num_classes) < 1 or int(num_leads) < 1:
        raise ConfigError(
            f"model {name!r}: num_classes and num_leads must be >= 1 (got {num_classes}, {num_leads})"
        )
    defaults = _constructor_defaults(spec.constructor)
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ConfigError(
            f"model {name!r}: unknown option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(defaults))}"
        )
    kwargs = _jsonable({**defaults, **spec.kwargs, **overrides})
    config = {"name": name, "num_classes": int(num_classes), "num_leads": int(num_leads), **kwargs}
    try:
        json.dumps(config)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: options must be json-serialisable ({exc})") from None
    try:
        model = spec.constructor(num_classes=int(num_classes), num_leads=int(num_leads), **kwargs)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"model {name!r}: invalid options ({exc})") from None
    model.config = config
    return model


def check_input(x: torch.Tensor, num_leads: int) -> None:
    """Raise :class:`InputError` unless ``x`` is a float (B, num_leads, L) tensor."""
    if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[1] != num_leads or x.shape[-1] < 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"model input: expected a (batch, {num_leads}, length) tensor, got {shape}")
