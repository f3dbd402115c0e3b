"""``ecgimn export``: a trained model as ONNX (logits, probabilities, W, b and the standardised input)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ecgimn.cli.common import add_command, add_model_arguments
from ecgimn.errors import ConfigError

HELP = "export a model to ONNX with its standardisation and windows (outputs logits, W and b)"
DESCRIPTION = (
    "Export a bundled model or checkpoint to ONNX. Input: x (batch, 12, length) in mV at the "
    "model's rate; outputs: logits, probabilities and, for ECG-IMNs, weights W, bias b and x_std with "
    "logits == sum(W * x_std) + b. Batch is dynamic; the length is fixed at export (--length)."
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "export", run_export, help=HELP, description=DESCRIPTION)
    add_model_arguments(p, device=False)
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format (onnx)")
    p.add_argument("--out", required=True, type=Path, help="output file (.onnx)")
    p.add_argument(
        "--length",
        type=int,
        default=None,
        help="record length in samples at the model's rate (default: 10 s)",
    )
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")


def run_export(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.overwrite:
        raise ConfigError(
            f"{args.out} already exists; pass --overwrite to replace it, or choose another --out"
        )
    import ecgimn
    from ecgimn.export import export_onnx

    predictor = ecgimn.load(args.model, device="cpu")
    info = export_onnx(predictor, args.out, length=args.length, opset=args.opset)
    print(
        f"wrote {info['path']}: input x (batch, 12, {info['length']}) mV at {predictor.fs} Hz; "
        f"outputs {', '.join(info['outputs'])}"
    )
    if info["baseline"]:
        print(
            f"note: apply the model's baseline filter first: "
            f"ecgimn.data.baseline.remove_baseline(x, {predictor.fs}, {info['baseline']!r})"
        )
    return 0
