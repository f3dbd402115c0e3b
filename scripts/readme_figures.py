"""Regenerate the README's pictures in ``docs/images/`` from real PTB-XL records and the bundled default model.

    python scripts/readme_figures.py --data ../shared/ptbxl [--out docs/images] [--no-screenshot]

- ``example_explanation.png``: ``ecgimn explain <data>/records100/00000/00943_lr.hea --class MI`` (ASMI, fold 10);
- ``example_sttc.png``: ``ecgimn explain <data>/records100/01000/01456_lr.hea --class STTC`` (ISC_, fold 10);
- ``app_screenshot.png``: the browser test's page screenshot (``tests/test_app_browser.py::test_screenshot``, needs
  Chromium + Playwright; it reads ``../shared/ptbxl``) with the bundled default served (``ECGIMN_APP_MODEL``).

PTB-XL (Wagner et al., Sci Data 2020) is read from ``--data``; no record is copied into the repository. Existing
pictures are replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: picture name -> (record under the PTB-XL folder, class explained)
EXPLANATIONS = {
    "example_explanation.png": ("records100/00000/00943_lr", "MI"),
    "example_sttc.png": ("records100/01000/01456_lr", "STTC"),
}


def _explain(data: Path, record: str, cls: str, target: Path, model: str) -> None:
    """Run ``ecgimn explain`` on one record into a temporary folder and copy its ECG picture to ``target``."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "ecgimn", "explain", str(data / f"{record}.hea"), "--class", cls,
               "--model", model, "--out", tmp, "--no-heatmap"]  # fmt: skip
        subprocess.run(cmd, check=True)
        stem = Path(record).name
        shutil.copyfile(Path(tmp) / f"{stem}_{cls}_ecg.png", target)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="PTB-XL folder (records100/ is read)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--model", default="default")
    ap.add_argument("--no-screenshot", action="store_true", help="skip the app screenshot (needs Chromium)")
    ap.add_argument("--overwrite", action="store_true", help="replace pictures that exist")
    args = ap.parse_args(argv)

    missing = [r for r, _ in EXPLANATIONS.values() if not (args.data / f"{r}.hea").exists()]
    if missing:
        print(
            f"error: {args.data} lacks {', '.join(missing)}: give a PTB-XL folder with --data",
            file=sys.stderr,
        )
        return 2
    names = list(EXPLANATIONS) + ([] if args.no_screenshot else ["app_screenshot.png"])
    existing = [n for n in names if (args.out / n).exists()]
    if existing and not args.overwrite:
        print(
            f"error: {args.out} already holds {', '.join(existing)}: add --overwrite to replace them",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (record, cls) in EXPLANATIONS.items():
        _explain(args.data, record, cls, args.out / name, args.model)
        print(f"wrote {args.out / name}")
    if not args.no_screenshot:
        env = {
            **os.environ,
            "ECGIMN_SCREENSHOT": str((args.out / "app_screenshot.png").resolve()),
            "ECGIMN_APP_MODEL": args.model,
        }
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_app_browser.py") + "::test_screenshot",
        ]
        subprocess.run(cmd, check=True, env=env, cwd=ROOT)
        print(f"wrote {args.out / 'app_screenshot.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
