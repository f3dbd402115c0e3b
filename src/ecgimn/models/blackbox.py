"""Black-box twins of the IMNs: the same encoder, global average pooling and a Linear head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ecgimn.constants import N_LEADS
from ecgimn.models.base import ModelOutput, check_input, register_model
from ecgimn.models.imn import _ONE_D, Encoder, input_views


class BlackBoxCNN(nn.Module):
    """Encoder (as in :class:`~ecgimn.models.imn.IMN`) + global average pooling + Linear.

    ``dual_view``: the encoder reads the input z-scored per lead and as given, like the IMN option of that name.

    Attributes:
        gradcam_layer: the last encoder conv block; its output (B, C, [leads,] time) is the map Grad-CAM uses.
    """

    interpretable = False

    def __init__(
        self,
        num_classes: int,
        num_leads: int = N_LEADS,
        *,
        encoder: str = "2d",
        encoder_channels: Sequence[int] = (16, 32, 64),
        downsample: Sequence[int] = (1, 2, 2),
        kernel_size: int = 15,
        lead_kernel_size: int = 3,
        residual: bool = False,
        dropout: float = 0.2,
        dual_view: bool = False,
    ) -> None:
        super().__init__()
        self.num_classes, self.num_leads = num_classes, num_leads
        self.config: dict = {}
        self.dual_view = bool(dual_view)
        self.encoder = Encoder(
            encoder,
            num_leads,
            encoder_channels,
            kernel_size,
            lead_kernel_size,
            downsample,
            residual,
            dropout,
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


_ENC_KEYS = (
    "encoder",
    "encoder_channels",
    "downsample",
    "kernel_size",
    "lead_kernel_size",
    "residual",
    "dropout",
)

register_model(
    "blackbox-paper", BlackBoxCNN, description="imn-paper's 2-D encoder + GAP + Linear (paper black box)"
)
register_model(
    "blackbox-1d",
    BlackBoxCNN,
    description="imn-1d's encoder + GAP + Linear",
    **{k: v for k, v in _ONE_D.items() if k in _ENC_KEYS},
)
register_model(
    "blackbox-1d-dual",
    BlackBoxCNN,
    description="blackbox-1d reading each window z-scored and in its own units; twin of imn-1d-dual",
    **{**{k: v for k, v in _ONE_D.items() if k in _ENC_KEYS}, "dual_view": True},
)
register_model(
    "blackbox-1d-wide",
    BlackBoxCNN,
    description="blackbox-1d with 1.5x the channels (96/192/192)",
    **{**{k: v for k, v in _ONE_D.items() if k in _ENC_KEYS}, "encoder_channels": (96, 192, 192)},
)
