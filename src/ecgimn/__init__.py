"""ecg-imn: intrinsically interpretable 12-lead ECG classification (Interpretable Mesomorphic Networks)."""

__version__ = "0.1.0"


def load(name_or_path: str = "default", device: str | None = None, precision: str = "fp32"):
    """Load a trained model (a checkpoint path or a bundled model name) as a :class:`ecgimn.api.Predictor`."""
    from ecgimn.api import load as _load

    return _load(name_or_path, device=device, precision=precision)


__all__ = ["__version__", "load"]
