"""Inference speed: the pre-engine path vs the inference engine, same records, same process.

For the bundled ``default`` (3 x imn-1d-dual, 2.5 s windows, stride 1.25 s: 21 member-window forwards per 10 s
record) and for ``imn-1d`` and ``imn-paper`` (random weights, one 10 s window, global standardisation: speed does
not depend on the weights), on N real PTB-XL records (100 Hz) read from ``--data``:

- ``old``: the package's path before the engine and the batched input check (``benchmarks/reference_inference.py``
  and ``benchmarks/reference_quality.py``, the references the tests check against): the input check record by
  record; every member on all windows, per-member and per-window read-outs, W placed window by window; the same
  baseline filter (when the checkpoint has one) and standardisation as today's ``Predictor``, then the same report
  arrays as ``Predictor.explain`` (weights_mv, attribution, bias_mv);
- ``new``: ``Predictor.explain`` / ``Predictor.predict_proba`` as shipped.

Calls: ``explain`` (with the input check, as users call it), ``explain check=False`` (the same without the input
check in both paths: the model's share) and ``predict_proba``; then the input check alone (record by record vs
over the batch, and whether every verdict is the same).

Reported per model and path: ECG/s and ms per ECG (best of ``--repeats`` round-robin rounds, so load from other
processes hits both paths alike), peak RSS above the process's baseline during the call (sampled every 2 ms), the
max abs difference of logits and W between the paths, and the speed ratio new / old.

    python benchmarks/bench_inference.py --data ../shared/ptbxl --n 64 --threads 2 [--onnx] [--batch-files 1999]
    python benchmarks/bench_inference.py --data ../shared/ptbxl --n 256 --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the reference path next to this script

from reference_inference import reference_sliding  # noqa: E402
from reference_quality import check_records  # noqa: E402

import ecgimn  # noqa: E402
from ecgimn.api import Predictor  # noqa: E402
from ecgimn.data.ptbxl import read_wfdb_record  # noqa: E402
from ecgimn.models import create_model  # noqa: E402


# ----------------------------------------------------------------------------------- reference (pre-engine) path
@torch.no_grad()
def old_explain(
    p: Predictor, x: np.ndarray, batch_size: int = 64, check: bool = True
) -> dict[str, np.ndarray]:
    """``Predictor.explain`` with the pre-engine path: the per-record input check (``reference_quality``), the
    same baseline filter and standardisation as today's call, the reference forward, then the same report arrays."""
    if check:
        check_records(x, 100)
    x, _ = p._prepare(*p._validate(x, 100))
    mu, sigma = p.standardizer.affine(x)
    x_std = ((x - mu) / sigma).astype(np.float32)
    logits, weights, biases = [], [], []
    p.model.eval()
    for s in range(0, len(x_std), batch_size):
        out = reference_sliding(
            p.model, torch.as_tensor(x_std[s : s + batch_size]).to(p.device), p.window, p.stride
        )
        logits.append(out.logits.cpu().numpy())
        weights.append(out.weights.cpu().numpy())
        biases.append(out.bias.cpu().numpy())
    z, w, b = np.concatenate(logits), np.concatenate(weights), np.concatenate(biases)
    mu_b, sigma_b = np.broadcast_to(mu, x.shape)[:, None], np.broadcast_to(sigma, x.shape)[:, None]
    _ = w / sigma_b, b - (w * mu_b / sigma_b).sum((-2, -1)), w * x_std[:, None], 1 / (1 + np.exp(-z))
    return {"logits": z, "weights": w}


@torch.no_grad()
def old_proba(p: Predictor, x: np.ndarray, batch_size: int = 64) -> dict[str, np.ndarray]:
    """``Predictor.predict_proba`` with the pre-engine path (per-record short input check, same preprocessing)."""
    check_records(x, 100, full=False)
    x, _ = p._prepare(*p._validate(x, 100))
    x_std = p.standardizer.transform(x).astype(np.float32)
    p.model.eval()
    z = np.concatenate(
        [
            reference_sliding(
                p.model, torch.as_tensor(x_std[s : s + batch_size]).to(p.device), p.window, p.stride
            )
            .logits.cpu()
            .numpy()
            for s in range(0, len(x_std), batch_size)
        ]
    )
    return {"proba": 1.0 / (1.0 + np.exp(-z))}


# ------------------------------------------------------------------------------------------------- measurement
#: the clock of every timing: wall time (``--clock wall``) or this process's CPU time over all its threads
#: (``--clock cpu``: hardly affected by other processes sharing the cores; with ``--threads 1`` it is the work done)
CLOCK: Callable[[], float] = time.perf_counter


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn: Callable[[], dict], device: torch.device) -> tuple[float, float, dict]:
    """(seconds, peak RSS above the start in MB, result) of one call."""
    base, peak, stop = _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = CLOCK()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = CLOCK() - t0
    stop.set()
    t.join()
    return dt, max(peak[0], _rss_mb()) - base, out


def random_predictor(name: str, standardizer: dict, device: str | None, precision: str) -> Predictor:
    torch.manual_seed(0)
    model = create_model(name, num_classes=5)
    ckpt = {
        "state_dict": model.state_dict(),
        "model_config": dict(model.config),
        "interpretable": True,
        "task": "superdiagnostic",
        "class_names": ["CD", "HYP", "MI", "NORM", "STTC"],
        "fs": 100,
        "standardizer": standardizer,
        "window_samples": 1000,
        "stride_samples": 1000,
    }
    return Predictor(ckpt, source=f"random {name}", device=device, precision=precision)


def onnx_line(p: Predictor, x: np.ndarray, args: argparse.Namespace) -> str:
    """The default exported to ONNX (``ecgimn export``) under onnxruntime vs ``explain(check=False)``, same records."""
    import tempfile

    import onnxruntime as ort

    from ecgimn.data.baseline import remove_baseline
    from ecgimn.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(p, Path(tmp) / "default.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = args.threads, 1
        sess = ort.InferenceSession(str(Path(tmp) / "default.onnx"), opts, providers=["CPUExecutionProvider"])
    xb = remove_baseline(x, 100, p.baseline).astype(np.float32)  # the graph leaves the baseline filter out
    times = {"onnx": math.inf, "engine": math.inf}
    for _ in range(args.repeats + 1):
        for which, fn in (
            ("onnx", lambda: sess.run(None, {"x": xb})),
            ("engine", lambda: p.explain(x, batch_size=args.batch_size, check=False)),
        ):
            t0 = CLOCK()
            fn()
            times[which] = min(times[which], CLOCK() - t0)
    out, e = sess.run(None, {"x": xb}), p.explain(x, batch_size=args.batch_size, check=False)
    return (
        f"onnxruntime {ort.__version__} (CPU provider, {args.threads} threads), the default exported by "
        f"`ecgimn export`: {len(x) / times['onnx']:.1f} ECG/s vs explain check=False {len(x) / times['engine']:.1f} "
        f"ECG/s ({times['engine'] / times['onnx']:.2f}x); max abs diff logits "
        f"{np.abs(out[0] - e.logits).max():.1e}, W {np.abs(out[2] - e.weights).max():.1e}"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/ptbxl", help="PTB-XL folder (records100/ is read)")
    ap.add_argument("--n", type=int, default=64, help="records (64-512)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds after a warm-up (best kept)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time with the wall clock (default) or this process's CPU time (robust to other load; use --threads 1)",
    )
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="the new path's precision")
    ap.add_argument("--models", nargs="+", default=["default", "imn-1d", "imn-paper"])
    ap.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    ap.add_argument(
        "--batch-files",
        type=int,
        default=0,
        help="also time `ecgimn predict` (ecgimn.batch.run_batch) on this many record files (e.g. 1999)",
    )
    ap.add_argument("--workers", type=int, default=2, help="reader processes for --batch-files")
    ap.add_argument(
        "--onnx",
        action="store_true",
        help="also time the default exported to ONNX under onnxruntime's CPU provider (needs the onnx extra)",
    )
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    heads = sorted(Path(args.data).glob("records100/*/*_lr.hea"))[: args.n]
    if not heads:
        raise SystemExit(f"error: no 100 Hz PTB-XL records under {args.data}/records100")
    x = np.stack([read_wfdb_record(h.with_suffix(""), 100) for h in heads])
    dev = torch.device(args.device)
    default = ecgimn.load("default", device=args.device, precision=args.precision)
    predictors = {
        m: default
        if m == "default"
        else random_predictor(m, default.standardizer.to_dict(), args.device, args.precision)
        for m in args.models
    }
    paths = {
        "explain": (
            old_explain,
            lambda p, x: {
                "logits": (e := p.explain(x, batch_size=args.batch_size)).logits,
                "weights": e.weights,
            },
        ),
        "explain check=False": (
            lambda p, x: old_explain(p, x, check=False),
            lambda p, x: {
                "logits": (e := p.explain(x, batch_size=args.batch_size, check=False)).logits,
                "weights": e.weights,
            },
        ),
        "predict_proba": (old_proba, lambda p, x: {"proba": p.predict_proba(x, batch_size=args.batch_size)}),
    }
    best: dict[tuple[str, str, str], list[float]] = {}
    diffs: dict[tuple[str, str], dict[str, float]] = {}
    for rnd in range(args.repeats + 1):  # round 0: warm-up (and the outputs compared)
        for m, p in predictors.items():
            for verb, (old_fn, new_fn) in paths.items():
                outs = {}
                for which, fn in (("old", old_fn), ("new", new_fn)):
                    dt, rss, outs[which] = timed(lambda fn=fn, p=p: fn(p, x), dev)
                    cur = best.setdefault((m, verb, which), [math.inf, 0.0])
                    if rnd:
                        cur[0] = min(cur[0], dt)
                    cur[1] = max(cur[1], rss)
                if rnd == 0:
                    diffs[m, verb] = {
                        k: float(np.abs(outs["old"][k] - outs["new"][k]).max())
                        for k in outs["old"]
                        if k in outs["new"]
                    }
    lines = [
        f"device={args.device} precision(new)={args.precision} threads={torch.get_num_threads()} "
        f"torch={torch.__version__} records={len(x)} (real PTB-XL, 100 Hz, 10 s) batch={args.batch_size} "
        f"rounds={args.repeats} (best kept) clock={args.clock}",
        "",
        "| model | call | old ECG/s | new ECG/s | speed-up | old ms/ECG | new ms/ECG | old peak RSS MB | "
        "new peak RSS MB | max abs diff logits (proba) | max abs diff W |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in predictors:
        for verb in paths:
            (to, ro), (tn, rn) = best[m, verb, "old"], best[m, verb, "new"]
            d = diffs[m, verb]
            w = f"{d['weights']:.1e}" if "weights" in d else "-"
            lines.append(
                f"| {m} | {verb} | {len(x) / to:.1f} | {len(x) / tn:.1f} | {to / tn:.2f}x | "
                f"{1e3 * to / len(x):.2f} | {1e3 * tn / len(x):.2f} | {ro:.0f} | {rn:.0f} | "
                f"{d.get('logits', d.get('proba')):.1e}{'' if 'logits' in d else ' (p)'} | {w} |"
            )
    # the input check alone: record by record (as before) vs over the whole batch, same records, same verdicts
    check_times: dict[str, float] = {}
    verdicts = {}
    for _ in range(args.repeats + 1):
        for which, fn in (
            ("per record", lambda: check_records(x, 100)),
            ("batched", lambda: default.check_inputs(x, 100)),
        ):
            t0 = CLOCK()
            verdicts[which] = [c.to_dict() for c in fn()]
            dt = CLOCK() - t0
            check_times[which] = min(check_times.get(which, math.inf), dt)
    old_ms, new_ms = (1e3 * check_times[k] / len(x) for k in ("per record", "batched"))
    lines += [
        "",
        f"input check (ecgimn.io.quality, {len(x)} records): per record {old_ms:.2f} ms/record, batched "
        f"{new_ms:.2f} ms/record ({old_ms / new_ms:.2f}x); same verdicts: "
        f"{verdicts['per record'] == verdicts['batched']}",
    ]
    if args.onnx and "default" in predictors:
        lines += ["", onnx_line(default, x, args)]
    if args.batch_files:
        import tempfile

        from ecgimn.batch import run_batch

        files = [str(h) for h in sorted(Path(args.data).glob("records100/*/*_lr.hea"))[: args.batch_files]]
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()  # wall time whatever --clock says: the readers are other processes
            counts = run_batch(
                default,
                files,
                Path(tmp) / "r.csv",
                workers=args.workers,
                batch_size=args.batch_size,
                progress=False,
            )
            dt = time.perf_counter() - t0
        lines += [
            "",
            f"ecgimn predict (run_batch, default model, {args.workers} reader processes): {len(files)} files, "
            f"{counts['ok']} ok, {counts['error']} failed, {dt:.1f} s, {len(files) / dt:.1f} files/s",
        ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as f:
            f.write(
                f"\n```\n$ python benchmarks/bench_inference.py {' '.join(argv or __import__('sys').argv[1:])}\n"
                f"```\n\n{text}\n"
            )


if __name__ == "__main__":
    main()
