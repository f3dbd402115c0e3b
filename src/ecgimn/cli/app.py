"""``ecgimn app``: serve the interactive explanation page (local by default)."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from ecgimn.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "app",
        help="web page: load an ECG, see the model's evidence per lead and segment, run a what-if",
        description="Serve the ECG-IMN explanation page (FastAPI + a static page that works offline).",
    )
    p.add_argument(
        "--model", default="default", help="bundled model name or checkpoint path (default: default)"
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this computer only)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--data", default=None, metavar="DIR", help="PTB-XL folder: its fold-10 test records are listed"
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=20, help="largest upload accepted, in MB (default 20)"
    )
    p.set_defaults(func=run_app)


def is_loopback(host: str) -> bool:
    """True for addresses only this computer can reach (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int) -> str:
    """The warning printed when the app is bound to a non-loopback address."""
    bar = "!" * 78
    return (
        f"{bar}\nWARNING: serving on {host}:{port}, reachable from other computers.\n"
        "The app has NO authentication and NO encryption (plain HTTP): anyone who can reach this address can\n"
        "upload ECGs and see every recording loaded. Do not expose it with patient data; keep the default\n"
        f"--host 127.0.0.1 or put it behind an authenticating HTTPS proxy.\n{bar}"
    )


def run_app(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ecgimn.app.server import create_app
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the app needs the 'app' extra ({exc.name} is missing): pip install 'ecgimn[app]'"
        ) from None
    if not is_loopback(args.host):
        print(exposure_warning(args.host, args.port), file=sys.stderr)
    hosts = (args.host, "localhost", "127.0.0.1", "::1") if is_loopback(args.host) else None
    app = create_app(args.model, data_dir=args.data, max_upload_mb=args.max_upload_mb, allowed_hosts=hosts)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"ECG-IMN app: open http://{shown}:{args.port}/ in a browser (Ctrl+C to stop)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
