"""xresnet1d: the PTB-XL benchmark's reference CNN (Strodthoff et al. 2021), in plain PyTorch.

Follows the fastai-v1 ``xresnet1d`` used by the PTB-XL benchmarking code: a 3-conv stem (32/32/64, kernel 5, first
stride 2) + max-pool, four residual stages of width 64 (x expansion; stride 2 from the second stage; the identity path
average-pools then 1x1-convs), and the concat-pooling head ``[max, avg] -> BN, dropout ps/2, Linear(->128), ReLU,
BN, dropout ps, Linear(->K)`` (``lin_ftrs_head=[128]``, ``ps_head=0.5``). Initialisation as their training applies
it: Kaiming-normal conv/linear weights, zero biases, BatchNorm weight 1 / bias 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ecgimn.constants import N_LEADS
from ecgimn.models.base import ModelOutput, check_input, register_model


class ConvBnRelu(nn.Sequential):
    """Conv1d (no bias, 'same' padding) + BatchNorm1d (+ ReLU)."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, act: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv1d(cin, cout, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False),
            nn.BatchNorm1d(cout),
        ]
        super().__init__(*layers, *([nn.ReLU(inplace=True)] if act else []))


class XResBlock(nn.Module):
    """Basic (expansion 1: k, k) or bottleneck (1x1, k strided, 1x1) block; identity path avg-pool + 1x1 conv."""

    def __init__(self, expansion: int, cin: int, width: int, stride: int = 1, kernel_size: int = 5) -> None:
        super().__init__()
        cout = width * expansion
        if expansion == 1:
            convs = [
                ConvBnRelu(cin, width, kernel_size, stride),
                ConvBnRelu(width, cout, kernel_size, act=False),
            ]
        else:
            convs = [
                ConvBnRelu(cin, width, 1),
                ConvBnRelu(width, width, kernel_size, stride),
                ConvBnRelu(width, cout, 1, act=False),
            ]
        self.convs = nn.Sequential(*convs)
        idpath: list[nn.Module] = [nn.AvgPool1d(2, ceil_mode=True)] if stride > 1 else []
        if cin != cout:
            idpath.append(ConvBnRelu(cin, cout, 1, act=False))
        self.idpath = nn.Sequential(*idpath)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convs(x) + self.idpath(x))


class ConcatPool1d(nn.Module):
    """Concatenation of adaptive max and average pooling over time: (B, C, L) -> (B, 2C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.amax(-1), x.mean(-1)], 1)


def make_head(
    in_features: int, num_classes: int, lin_ftrs: Sequence[int] = (128,), ps: float = 0.5
) -> nn.Sequential:
    """fastai ``create_head1d``: concat pool, then [BN, dropout, Linear, ReLU] per hidden layer, last dropout ``ps``."""
    sizes = [2 * in_features, *lin_ftrs, num_classes]
    drops = [ps / 2] * (len(sizes) - 2) + [ps]
    layers: list[nn.Module] = [ConcatPool1d()]
    for i, (ni, no, p) in enumerate(zip(sizes[:-1], sizes[1:], drops)):
        layers += [nn.BatchNorm1d(ni), *([nn.Dropout(p)] if p > 0 else []), nn.Linear(ni, no)]
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class XResNet1d(nn.Module):
    """xresnet1d (black box). ``gradcam_layer`` is the last residual stage."""

    interpretable = False

    def __init__(
        self,
        num_classes: int,
        num_leads: int = N_LEADS,
        *,
        expansion: int = 4,
        layers: Sequence[int] = (3, 4, 23, 3),
        kernel_size: int = 5,
        kernel_size_stem: int = 5,
        stem_channels: Sequence[int] = (32, 32, 64),
        widths: Sequence[int] = (64, 64, 64, 64),
        lin_ftrs_head: Sequence[int] = (128,),
        ps_head: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_classes, self.num_leads = num_classes, num_leads
        self.config: dict = {}
        sizes = [num_leads, *stem_channels]
        self.stem = nn.Sequential(
            *[
                ConvBnRelu(sizes[i], sizes[i + 1], kernel_size_stem, 2 if i == 0 else 1)
                for i in range(len(stem_channels))
            ],
            nn.MaxPool1d(3, stride=2, padding=1),
        )
        cin, stages = sizes[-1], []
        for i, (n, width) in enumerate(zip(layers, widths)):
            blocks = []
            for j in range(n):
                blocks.append(XResBlock(expansion, cin, width, 2 if (i > 0 and j == 0) else 1, kernel_size))
                cin = width * expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = make_head(cin, num_classes, lin_ftrs_head, ps_head)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @property
    def gradcam_layer(self) -> nn.Module:
        """The last residual stage (output (B, C, L / 32))."""
        return self.stages[-1]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """x: (B, leads, L) standardised -> ModelOutput(logits (B, K), None, None)."""
        check_input(x, self.num_leads)
        return ModelOutput(self.head(self.stages(self.stem(x))))


register_model(
    "xresnet1d101", XResNet1d, description="PTB-XL benchmark reference xresnet1d101", layers=(3, 4, 23, 3)
)
register_model(
    "xresnet1d50", XResNet1d, description="xresnet1d50 (bottleneck, [3, 4, 6, 3])", layers=(3, 4, 6, 3)
)
register_model(
    "xresnet1d18",
    XResNet1d,
    description="small xresnet1d18 (basic blocks, [2, 2, 2, 2])",
    expansion=1,
    layers=(2, 2, 2, 2),
)
