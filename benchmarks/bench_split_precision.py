"""Can the default model's convolutions run faster on this CPU and still give W and logits within 1e-5?

Three measurements, printed as one report:

1. what torch offers on CPU for reduced-precision products with a float32 result: ``torch.mm(bf16, bf16,
   out_dtype=float32)``, ``torch._int_mm`` (int8 -> int32), and oneDNN's float32 math mode
   (``torch.backends.mkldnn.fp32_precision = "bf16"``), whose effect is measured on a matmul and on the default
   model's largest convolution (max abs error against float64, time against float32);
2. the time of that convolution in float32 and in native bf16 (bf16 in and out, what autocast runs);
3. the accuracy a split-precision convolution would reach, emulated in float32: every fused convolution of the
   inference engine computed as ``x_hi * w_hi + x_hi * w_lo + x_lo * w_hi`` (bf16x3; and bf16x4 with
   ``x_lo * w_lo``), where ``hi = bf16(v)`` and ``lo = bf16(v - hi)``; products of bf16 values are exact in
   float32, so this is what an AMX bf16 convolution accumulating in float32 would return (up to the order of
   the sums). Max abs difference of logits and W against the float32 engine on real records.

    python benchmarks/bench_split_precision.py --data ../shared/ptbxl --n 64 --threads 2
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import ecgimn
from ecgimn.data.ptbxl import read_wfdb_record
from ecgimn.inference import engine as engine_module

#: the default model's costliest convolution: one member's batch of 64 records x 7 windows = 448 windows
CONV_SHAPE = ((448, 128, 1, 64), (128, 128, 1, 7))


def best_ms(fn: Callable[[], object], repeats: int = 5) -> float:
    fn()
    out = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return 1e3 * out


def probe(fn: Callable[[], object]) -> str:
    try:
        fn()
        return "available"
    except (RuntimeError, NotImplementedError, TypeError) as e:
        return f"not available ({str(e).splitlines()[0][:90]})"


def math_mode_effect(repeats: int) -> list[str]:
    """Error and time of a conv and a matmul in float32, with oneDNN's bf16 math mode, and of a native bf16 conv."""
    torch.manual_seed(0)
    xs, ws = CONV_SHAPE
    x = torch.randn(xs).contiguous(memory_format=torch.channels_last)
    w = (0.05 * torch.randn(ws)).contiguous(memory_format=torch.channels_last)
    conv_ref = F.conv2d(x.double(), w.double(), padding=(0, 3))
    a, b = (
        torch.randn(4096, 896),
        torch.randn(896, 128),
    )  # the same conv as im2col: (N*T, k*Cin) @ (k*Cin, Cout)
    mm_ref = a.double() @ b.double()
    lines = []
    saved = torch.backends.mkldnn.fp32_precision
    try:
        for mode in ("none", "bf16"):
            torch.backends.mkldnn.fp32_precision = mode
            conv = F.conv2d(x, w, padding=(0, 3))
            lines.append(
                f"| fp32_precision={mode} | conv {list(xs)} x {list(ws)} | "
                f"{(conv.double() - conv_ref).abs().max().item():.1e} | "
                f"{best_ms(lambda: F.conv2d(x, w, padding=(0, 3)), repeats):.1f} |"
            )
            lines.append(
                f"| fp32_precision={mode} | matmul {list(a.shape)} x {list(b.shape)} | "
                f"{((a @ b).double() - mm_ref).abs().max().item():.1e} | {best_ms(lambda: a @ b, repeats):.1f} |"
            )
        # bf16x3 as one convolution in the bf16 math mode: inputs [x_hi | x_hi | x_lo], weights [w_hi | w_lo | w_hi]
        torch.backends.mkldnn.fp32_precision = "bf16"
        wh, wl = _split(w)
        w3 = torch.cat([wh, wl, wh], 1).contiguous(memory_format=torch.channels_last)

        def split3() -> torch.Tensor:
            hi = x.bfloat16().float()
            return F.conv2d(torch.cat([hi, hi, x - hi], 1), w3, padding=(0, 3))

        lines.append(
            f"| fp32_precision=bf16, bf16x3 split (incl. the split) | conv {list(xs)} x {list(ws)} | "
            f"{(split3().double() - conv_ref).abs().max().item():.1e} | {best_ms(split3, repeats):.1f} |"
        )
    finally:
        torch.backends.mkldnn.fp32_precision = saved
    xb, wb = x.bfloat16(), w.bfloat16()
    conv = F.conv2d(xb, wb, padding=(0, 3))
    lines.append(
        f"| native bf16 (bf16 output) | conv {list(xs)} x {list(ws)} | "
        f"{(conv.double() - conv_ref).abs().max().item():.1e} | "
        f"{best_ms(lambda: F.conv2d(xb, wb, padding=(0, 3)), repeats):.1f} |"
    )
    return lines


def _split(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    hi = t.bfloat16().float()
    return hi, (t - hi).bfloat16().float()


def _split_conv_forward(terms: int) -> Callable:
    """A ``_FusedConv.forward`` computing its convolution from bf16 pieces (exact products, float32 sums)."""

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        c = self.conv
        (xh, xl), (wh, wl) = _split(x), _split(c.weight)
        pairs = [(xh, wh), (xh, wl), (xl, wh)] + ([(xl, wl)] if terms == 4 else [])
        y = sum(F.conv2d(p, q, None, c.stride, c.padding, c.dilation, c.groups) for p, q in pairs)
        if c.bias is not None:
            y = y + c.bias.view(1, -1, 1, 1)
        if other is not None:
            y = y + other
        return F.gelu(y) if self.gelu else y

    return forward


def split_precision_accuracy(x: np.ndarray) -> list[str]:
    p = ecgimn.load("default")
    ref = p.explain(x, check=False)
    original = engine_module._FusedConv.forward
    lines = []
    try:
        for terms in (3, 4):
            engine_module._FusedConv.forward = _split_conv_forward(terms)
            p._engine = None  # rebuilt with the patched convolutions
            e = p.explain(x, check=False)
            lines.append(
                f"| bf16x{terms} | {np.abs(e.logits - ref.logits).max():.2e} | "
                f"{np.abs(e.weights - ref.weights).max():.2e} |"
            )
    finally:
        engine_module._FusedConv.forward = original
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/ptbxl", help="PTB-XL folder (records100/ is read)")
    ap.add_argument(
        "--n", type=int, default=64, help="records for the accuracy of the emulated split convolution"
    )
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls (best kept)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    heads = sorted(Path(args.data).glob("records100/*/*_lr.hea"))[: args.n]
    if not heads:
        raise SystemExit(f"error: no 100 Hz PTB-XL records under {args.data}/records100")
    x = np.stack([read_wfdb_record(h.with_suffix(""), 100) for h in heads])
    bf = torch.ones(8, 8, dtype=torch.bfloat16)
    i8 = torch.ones(32, 32, dtype=torch.int8)
    print(f"torch={torch.__version__} threads={torch.get_num_threads()} records={len(x)}")
    print(
        f"torch.mm(bf16, bf16, out_dtype=float32) on CPU: {probe(lambda: torch.mm(bf, bf, out_dtype=torch.float32))}"
    )
    print(f"torch._int_mm(int8, int8) -> int32 on CPU: {probe(lambda: torch._int_mm(i8, i8))}")
    print()
    print("| math mode | op | max abs error vs float64 | best ms |")
    print("|---|---|---|---|")
    print("\n".join(math_mode_effect(args.repeats)))
    print()
    print("| emulated split precision (every engine convolution) | max abs diff logits | max abs diff W |")
    print("|---|---|---|")
    print("\n".join(split_precision_accuracy(x)))


if __name__ == "__main__":
    main()
