"""Loopback load test of ``ecgimn app``: 1 / 4 / 16 / 64 concurrent clients, each uploading real records and asking
for an explanation of another class, while a probe sends simple requests.

Per level: requests/s, latency p50 / p95 / max, errors (anything but 200 and explicit 503 "busy"), 503s,
evictions (a client's own first record no longer held: must be 0), the probe's /api/info latency (a simple request
must not wait behind model work), and the server's RSS before / after. Writes ``docs/results/app-load.md`` and
``docs/results/app-load.png``. Bounded: each client does ``--rounds`` upload + explain pairs (a 64-client level with
2 rounds is 256 model-backed requests).

    nice -n 10 python benchmarks/app_load.py [--model default] [--levels 1,4,16,64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from app_common import ROOT, inputs, rss_mb, start_server, write_plot

import ecgimn


def run_level(url: str, n_clients: int, rounds: int, uploads: list) -> dict:  # type: ignore[type-arg]
    import httpx

    lat: list[float] = []
    codes: dict[int, int] = {}
    evicted = 0
    lock = threading.Lock()
    start_barrier = threading.Barrier(n_clients + 1)
    stop_probe = threading.Event()
    probe: list[float] = []

    def call(client: httpx.Client, method: str, path: str, **kw: object) -> httpx.Response | None:
        t = time.perf_counter()
        try:
            r = client.request(method, url + path, timeout=120, **kw)  # type: ignore[arg-type]
            code = r.status_code
        except httpx.HTTPError:
            r, code = None, -1
        with lock:
            lat.append(time.perf_counter() - t)
            codes[code] = codes.get(code, 0) + 1
        return r

    def client_loop(i: int) -> None:
        nonlocal evicted
        with httpx.Client() as client:
            start_barrier.wait()
            first = None
            for k in range(rounds):
                files = uploads[(i * rounds + k) % len(uploads)]
                r = call(client, "POST", "/api/upload", files=[("files", f) for f in files])
                if r is None or r.status_code != 200:
                    continue
                data = r.json()
                first = first or data["id"]
                other = next(p["class"] for p in data["probabilities"] if p["class"] != data["explained"])
                call(client, "GET", "/api/explain", params={"id": data["id"], "class_name": other})
            if first is not None:
                r = call(client, "GET", "/api/explain", params={"id": first})
                if r is not None and r.status_code == 404:
                    with lock:
                        evicted += 1

    def probe_loop() -> None:
        with httpx.Client() as client:
            while not stop_probe.is_set():
                t = time.perf_counter()
                client.get(url + "/api/info", timeout=60)
                probe.append(time.perf_counter() - t)
                time.sleep(0.05)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    prober = threading.Thread(target=probe_loop)
    start_barrier.wait()
    t0 = time.perf_counter()
    prober.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    stop_probe.set()
    prober.join()
    a = np.array(lat)
    p = np.array(probe or [np.nan])
    return {
        "clients": n_clients, "requests": len(lat), "wall_s": wall, "req_per_s": len(lat) / wall,
        "p50_s": float(np.percentile(a, 50)), "p95_s": float(np.percentile(a, 95)), "max_s": float(a.max()),
        "n_503": codes.get(503, 0), "errors": sum(v for k, v in codes.items() if k not in (200, 503)),
        "codes": codes, "evicted": evicted, "probe_p95_s": float(np.percentile(p, 95)), "probe_max_s": float(p.max()),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--levels", default="1,4,16,64")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = ap.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    uploads, what = inputs(max(levels) * args.rounds)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(args.model, Path(tmp))
        try:
            for n in levels:
                before = rss_mb(proc.pid)
                row = run_level(url, n, args.rounds, uploads)
                row.update(rss_before_mb=before, rss_after_mb=rss_mb(proc.pid))
                rows.append(row)
                print(f"{n:3d} clients: {row['requests']} requests in {row['wall_s']:.1f} s = {row['req_per_s']:.2f}/s; "
                      f"p50 {row['p50_s']:.2f} s p95 {row['p95_s']:.2f} s max {row['max_s']:.2f} s; "
                      f"503: {row['n_503']}, errors: {row['errors']}, evicted: {row['evicted']}; "
                      f"/api/info p95 {row['probe_p95_s'] * 1000:.0f} ms max {row['probe_max_s'] * 1000:.0f} ms; "
                      f"RSS {before:.0f} -> {row['rss_after_mb']:.0f} MB", flush=True)  # fmt: skip
            leftover = list(Path(tmp).iterdir())
        finally:
            proc.terminate()
            proc.wait(30)
    args.out.mkdir(parents=True, exist_ok=True)
    md = [
        "# App load test (loopback)",
        "",
        f"`nice -n 10 python benchmarks/app_load.py --levels {args.levels} --rounds {args.rounds}` "
        f"(ecgimn {ecgimn.__version__}, model `{args.model}`, {time.strftime('%Y-%m-%d', time.gmtime())}).",
        f"Each client (own session cookie) does {args.rounds} x (upload + explain another class), then re-reads its "
        f"first record; inputs: {what}. Server: uvicorn, 1 process, default limits (model lane 1 slot, reading 2, "
        "pictures 1; 32 waiting per lane, 20 s wait -> 503). Machine: 2 shared CPU cores, no GPU.",
        "",
        "| clients | requests | req/s | p50 s | p95 s | max s | 503 | errors | evicted | /api/info p95 ms | max ms "
        "| RSS before MB | RSS after MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        md.append(f"| {r['clients']} | {r['requests']} | {r['req_per_s']:.2f} | {r['p50_s']:.2f} | {r['p95_s']:.2f} | "
                  f"{r['max_s']:.2f} | {r['n_503']} | {r['errors']} | {r['evicted']} | {r['probe_p95_s'] * 1000:.0f} | "
                  f"{r['probe_max_s'] * 1000:.0f} | {r['rss_before_mb']:.0f} | {r['rss_after_mb']:.0f} |")  # fmt: skip
    md += [
        "",
        'errors = responses other than 200 and explicit 503 "busy, retry in N s"; evicted = clients whose own first '
        "record was gone at the end (another client's uploads must never drop it). "
        f"Temporary upload folders left after the run: {len(leftover)}.",
        "",
        "![latency and throughput](app-load.png)",
        "",
    ]
    (args.out / "app-load.md").write_text("\n".join(md), encoding="utf-8")

    def draw(fig) -> None:  # type: ignore[no-untyped-def]
        ax1, ax2 = fig.subplots(1, 2)
        c = [r["clients"] for r in rows]
        for key, label in (("p50_s", "p50"), ("p95_s", "p95"), ("max_s", "max")):
            ax1.plot(c, [r[key] for r in rows], marker="o", label=label)
        ax1.set(xscale="log", xlabel="concurrent clients", ylabel="latency (s)", title="request latency")
        ax1.set_xticks(c, [str(v) for v in c])
        ax1.legend()
        ax2.bar([str(v) for v in c], [r["req_per_s"] for r in rows])
        ax2.set(xlabel="concurrent clients", ylabel="requests / s", title="throughput")

    write_plot(args.out / "app-load.png", draw)
    print(f"wrote {args.out / 'app-load.md'} and app-load.png")


if __name__ == "__main__":
    main()
