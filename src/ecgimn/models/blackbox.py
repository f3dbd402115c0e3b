"""Black-box twins of the IMNs: the same encoder, global average pooling and a Linear head."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ecgimn.constants import N_LEADS
from ecgimn.errors import ConfigError
from ecgimn.models.base import ModelOutput, check_input, register_model
from ecgimn.models.imn import _ONE_D, ENCODER_OPTIONS, IMN, Encoder, input_views


def _encoder_parameters() -> list[inspect.Parameter]:
    """The IMN's encoder options with their defaults, as keyword-only parameters (the black box takes the same)."""
    params = inspect.signature(IMN).parameters
    return [params[k].replace(kind=inspect.Parameter.KEYWORD_ONLY) for k in ENCODER_OPTIONS]


class BlackBoxCNN(nn.Module):
    """Encoder (as in :class:`~ecgimn.models.imn.IMN`) + global average pooling + Linear.

    ``encoder_options``: the IMN's encoder options (``encoder``, ``encoder_channels``, ``downsample``,
    ``kernel_size``, ``lead_kernel_size``, ``residual``, ``dropout``), with the IMN's defaults; the signature
    lists them, so the registry sees the same options as for the IMN.
    ``dual_view``: the encoder reads the input z-scored per lead and as given, like the IMN option of that name.

    Attributes:
        gradcam_layer: the last encoder conv block; its output (B, C, [leads,] time) is the map Grad-CAM uses.
    """

    interpretable = False

    def __init__(
        self, num_classes: int, num_leads: int = N_LEADS, *, dual_view: bool = False, **encoder_options: Any
    ) -> None:
        super().__init__()
        unknown = sorted(set(encoder_options) - set(ENCODER_OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)}; the encoder takes {', '.join(ENCODER_OPTIONS)}"
            )
        o = {p.name: encoder_options.get(p.name, p.default) for p in _encoder_parameters()}
        self.num_classes, self.num_leads = num_classes, num_leads
        self.config: dict = {}
        self.dual_view = bool(dual_view)
        self.encoder = Encoder(
            o["encoder"],
            num_leads,
            o["encoder_channels"],
            o["kernel_size"],
            o["lead_kernel_size"],
            o["downsample"],
            o["residual"],
            o["dropout"],
            2 if dual_view else 1,
        )
        self.head = nn.Linear(self.encoder.out_channels, num_classes)

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last encoder conv block (conv + BN + GELU, pre-pool); a property so it is not in the state_dict twice."""
        return self.encoder.blocks[-1].conv

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """x: (B, leads, L) standardised -> ModelOutput(logits (B, K), None, None)."""
        check_input(x, self.num_leads)
        latent, _ = self.encoder(input_views(x, self.dual_view)[0])
        return ModelOutput(self.head(latent.flatten(2).mean(-1)))


# the registry reads a constructor's options from its signature: num_classes, num_leads, the encoder's, dual_view
_own = inspect.signature(BlackBoxCNN.__init__)
BlackBoxCNN.__signature__ = _own.replace(  # type: ignore[attr-defined]
    parameters=[
        _own.parameters["num_classes"],
        _own.parameters["num_leads"],
        *_encoder_parameters(),
        _own.parameters["dual_view"],
    ]
)
_ONE_D_ENCODER = {k: v for k, v in _ONE_D.items() if k in ENCODER_OPTIONS}

register_model(
    "blackbox-paper", BlackBoxCNN, description="imn-paper's 2-D encoder + GAP + Linear (paper black box)"
)
register_model(
    "blackbox-1d",
    BlackBoxCNN,
    description="imn-1d's encoder + GAP + Linear",
    **_ONE_D_ENCODER,
)
register_model(
    "blackbox-1d-dual",
    BlackBoxCNN,
    description="blackbox-1d reading each window z-scored and in its own units; twin of imn-1d-dual",
    **{**_ONE_D_ENCODER, "dual_view": True},
)
register_model(
    "blackbox-1d-wide",
    BlackBoxCNN,
    description="blackbox-1d with 1.5x the channels (96/192/192)",
    **{**_ONE_D_ENCODER, "encoder_channels": (96, 192, 192)},
)
