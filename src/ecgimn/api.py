"""The public surface: ``model = ecgimn.load(...)``; ``out = model.explain(x, fs=100)``.

``x`` is a (12, L) or (N, 12, L) array in millivolts, leads in the order I, II, III, aVR, aVL, aVF, V1-V6.
The model sees standardised input ``x_std = (x - mu) / sigma``; its decision is exactly linear in it:
``logit = sum(W * x_std) + b``. The same decision written in millivolts is
``logit = sum(weights_mv * x) + bias_mv`` with ``weights_mv = W / sigma`` and ``bias_mv = b - sum(W * mu / sigma)``.

Before that, every record passes the input check (:mod:`ecgimn.io.quality`; implausible units are refused unless
``allow_implausible=True``) and, for checkpoints that record one, the baseline filter (:mod:`ecgimn.data.baseline`):
``x`` above is then the filtered signal (``Explanation.inputs``), for which the decomposition is exact.

The implementation lives in :mod:`ecgimn.inference.predictor`; this module is the stable import path.
"""

from ecgimn.inference.predictor import (
    PRETRAINED_DIR,
    Explanation,
    Predictor,
    WindowedExplanation,
    load,
    resolve_model_path,
)

__all__ = ["PRETRAINED_DIR", "Explanation", "Predictor", "WindowedExplanation", "load", "resolve_model_path"]
