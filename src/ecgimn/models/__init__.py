"""Models: a registry of named configurations (IMNs, their black-box twins, the xresnet1d benchmark CNNs).

>>> from ecgimn.models import create_model, list_models
>>> model = create_model("imn-1d", num_classes=5)
>>> out = model(x)  # ModelOutput(logits (B, K), weights (B, K, 12, L) | None, bias (B, K) | None)
"""

from ecgimn.models.base import (
    MODEL_CONFIGS,
    ModelOutput,
    ModelSpec,
    create_model,
    list_models,
    register_model,
)
from ecgimn.models.blackbox import BlackBoxCNN
from ecgimn.models.imn import IMN, BiasGenerator, Decoder, Encoder
from ecgimn.models.windowed import ensemble_forward, sliding_forward, window_starts
from ecgimn.models.xresnet1d import XResNet1d

__all__ = [
    "IMN",
    "MODEL_CONFIGS",
    "BiasGenerator",
    "BlackBoxCNN",
    "Decoder",
    "Encoder",
    "ModelOutput",
    "ModelSpec",
    "XResNet1d",
    "create_model",
    "ensemble_forward",
    "list_models",
    "register_model",
    "sliding_forward",
    "window_starts",
]
