"""``ecgimn app``: serve the interactive explanation page (local by default)."""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from ecgimn.cli.common import add_command, add_model_arguments
from ecgimn.errors import ConfigError

TOKEN_ENV = "ECGIMN_APP_TOKEN"


def _parsed(text: str, cast: Callable[[str], float], ok: Callable[[float], bool], what: str) -> Any:
    """``cast(text)`` when it parses and ``ok`` accepts it, else an argparse error saying what was expected."""
    try:
        value = cast(text)
    except ValueError:
        value = math.nan
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _positive_mb(text: str) -> float:
    return float(
        _parsed(
            text, float, lambda v: math.isfinite(v) and 0 < v <= 4096, "a number of MB between 0 and 4096"
        )
    )


def _port(text: str) -> int:
    return int(_parsed(text, int, lambda v: 1 <= v <= 65535, "a TCP port between 1 and 65535"))


def _seconds(text: str) -> float:
    return float(_parsed(text, float, lambda v: math.isfinite(v) and v > 0, "a positive number of seconds"))


HELP = "web page: load an ECG, see the model's evidence per lead and segment, run a what-if"
DESCRIPTION = "Serve the ECG-IMN explanation page (FastAPI + a static page that works offline)."


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "app", run_app, help=HELP, description=DESCRIPTION)
    add_model_arguments(p, device=False)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this computer only)"
    )
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    p.add_argument(
        "--data", default=None, metavar="DIR", help="PTB-XL folder: its fold-10 test records are listed"
    )
    p.add_argument(
        "--max-upload-mb", type=_positive_mb, default=20, help="largest upload accepted, in MB (default 20)"
    )
    p.add_argument(
        "--max-seconds", type=_seconds, default=None, metavar="S",
        help="longest recording accepted, in seconds (default 300)",
    )  # fmt: skip
    p.add_argument(
        "--allowed-hosts", default=None, metavar="NAME,...",
        help="host names the browser may use to reach the app (Host header), comma-separated; default: loopback "
        "names for a loopback --host, else this computer's names and addresses",
    )  # fmt: skip
    p.add_argument(
        "--token", default=None,
        help=f"access token every request must carry (default: ${TOKEN_ENV}); required for a non-loopback --host",
    )  # fmt: skip
    p.add_argument(
        "--no-token", action="store_true",
        help="serve a non-loopback --host without a token (only behind a proxy that authenticates users)",
    )  # fmt: skip


def is_loopback(host: str) -> bool:
    """True for addresses only this computer can reach (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int, token: bool = False) -> str:
    """The warning printed when the app is bound to a non-loopback address."""
    bar = "!" * 78
    auth = "an access token but NO encryption" if token else "NO authentication and NO encryption"
    return (
        f"{bar}\nWARNING: serving on {host}:{port}, reachable from other computers.\n"
        f"The app has {auth} (plain HTTP): anyone who can reach this address and\n"
        "read the traffic can upload ECGs and see results. Do not expose it with patient data without TLS: put it\n"
        f"behind an HTTPS reverse proxy (see the README, 'Serving the app to a department').\n{bar}"
    )


def default_hosts(host: str) -> tuple[str, ...]:
    """Host names accepted by default: loopback names; for other binds also this computer's names/addresses."""
    names = {host.strip("[]"), "localhost", "127.0.0.1", "::1"}
    if not is_loopback(host):
        hostname = socket.gethostname()
        names |= {hostname, socket.getfqdn()}
        try:
            names |= set(socket.gethostbyname_ex(hostname)[2])
        except OSError:
            pass
    return tuple(sorted(n for n in names if n and n not in ("0.0.0.0", "::")))


def run_app(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ecgimn.app.server import create_app, log_config
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"the app needs the 'app' extra ({exc.name} is missing): pip install 'ecgimn[app]'"
        ) from None
    from ecgimn.io.budget import DEFAULT_BUDGET

    token = args.token or os.environ.get(TOKEN_ENV) or None
    loopback = is_loopback(args.host)
    if not loopback and token is None and not args.no_token:
        raise ConfigError(
            f"--host {args.host} is reachable from other computers: give an access token (--token or ${TOKEN_ENV}, "
            "e.g. `openssl rand -hex 16`), or --no-token when a reverse proxy authenticates users"
        )
    if token is not None and len(token) < 16:
        raise ConfigError("the access token must be at least 16 characters (e.g. `openssl rand -hex 16`)")
    if args.allowed_hosts:
        hosts = tuple(h.strip() for h in args.allowed_hosts.split(",") if h.strip())
        if not hosts:
            raise ConfigError("--allowed-hosts: give at least one host name")
    else:
        hosts = default_hosts(args.host)
    if not loopback:
        print(exposure_warning(args.host, args.port, token=token is not None), file=sys.stderr)
    budget = DEFAULT_BUDGET.with_max_seconds(args.max_seconds)
    app = create_app(args.model, data_dir=args.data, max_upload_mb=args.max_upload_mb, allowed_hosts=hosts,
                     token=token, budget=budget)  # fmt: skip
    shown = f"[{args.host}]" if ":" in args.host else args.host
    link = f"http://{shown}:{args.port}/" + ("?token=<the token>" if token else "")
    print(f"ECG-IMN app: open {link} in a browser (Ctrl+C to stop); accepted Host names: {', '.join(hosts)}",
          file=sys.stderr)  # fmt: skip
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", log_config=log_config())
    return 0
