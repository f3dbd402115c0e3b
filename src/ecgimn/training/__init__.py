"""Training, checkpoints and batched inference (one loop for every model)."""

from ecgimn.inference.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from ecgimn.inference.predict import decomposition, exactness_error, predict, resolve_device
from ecgimn.training.config import TrainConfig

__all__ = [
    "TrainConfig",
    "train",
    "load_checkpoint",
    "save_checkpoint",
    "model_from_checkpoint",
    "predict",
    "exactness_error",
    "decomposition",
    "resolve_device",
]


def train(config: TrainConfig, **kwargs):
    """Train a model (see :func:`ecgimn.training.loop.train`)."""
    from ecgimn.training.loop import train as _train

    return _train(config, **kwargs)
