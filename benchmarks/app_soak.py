"""Soak test of ``ecgimn app``: many uploads (default 2,000) from a few clients; the server's RSS must level off.

Every ``--every`` uploads the server's RSS is sampled; the criterion is RSS after all uploads within 10 % of RSS
after 500. Each client has its own session, so the held records stay at the per-session quota; the rest is what
the server keeps (or leaks) per request. Writes ``docs/results/app-soak.md`` and ``docs/results/app-soak.png``.

    nice -n 10 python benchmarks/app_soak.py [--uploads 2000] [--clients 4] [--model default]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from app_common import ROOT, inputs, rss_mb, start_server, write_plot

import ecgimn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--uploads", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = ap.parse_args()
    import httpx

    uploads, what = inputs(200)
    samples: list[tuple[int, float]] = []
    codes: dict[int, int] = {}
    done = 0
    lock = threading.Lock()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(args.model, Path(tmp))
        samples.append((0, rss_mb(proc.pid)))

        def worker(i: int) -> None:
            nonlocal done
            with httpx.Client() as client:
                while True:
                    with lock:
                        if done >= args.uploads:
                            return
                        done += 1
                        k = done
                    files = uploads[k % len(uploads)]
                    try:
                        code = client.post(url + "/api/upload", files=[("files", f) for f in files],
                                           timeout=120).status_code  # fmt: skip
                    except httpx.HTTPError:
                        code = -1
                    with lock:
                        codes[code] = codes.get(code, 0) + 1
                        n = sum(codes.values())
                        if n % args.every == 0:
                            samples.append((n, rss_mb(proc.pid)))
                            print(f"{n:5d} uploads: RSS {samples[-1][1]:.0f} MB ({time.perf_counter() - t0:.0f} s)",
                                  flush=True)  # fmt: skip

        try:
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            leftover = list(Path(tmp).iterdir())
        finally:
            proc.terminate()
            proc.wait(30)
    wall = time.perf_counter() - t0
    at = dict(samples)
    mark = min(500, args.uploads)
    r500, rend = at.get(mark, float("nan")), samples[-1][1]
    ratio = rend / r500
    verdict = "PASS" if abs(ratio - 1) <= 0.10 else "FAIL"
    print(f"RSS after {mark}: {r500:.0f} MB, after {samples[-1][0]}: {rend:.0f} MB, ratio {ratio:.3f} ({verdict}); "
          f"status codes {codes}; {wall:.0f} s")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    md = [
        "# App soak test (loopback)",
        "",
        f"`nice -n 10 python benchmarks/app_soak.py --uploads {args.uploads} --clients {args.clients}` "
        f"(ecgimn {ecgimn.__version__}, model `{args.model}`, {time.strftime('%Y-%m-%d', time.gmtime())}); "
        f"inputs: {what}; {wall:.0f} s on 2 shared CPU cores.",
        "",
        f"- server RSS at start: {samples[0][1]:.0f} MB",
        f"- after {mark} uploads: {r500:.0f} MB; after {samples[-1][0]}: {rend:.0f} MB; ratio {ratio:.3f} "
        f"(criterion: within 10 %: **{verdict}**)",
        f"- status codes: {codes}; temporary folders left: {len(leftover)}",
        "",
        "| uploads | RSS MB |",
        "|---:|---:|",
        *[f"| {n} | {v:.0f} |" for n, v in samples],
        "",
        "![RSS over uploads](app-soak.png)",
        "",
    ]
    (args.out / "app-soak.md").write_text("\n".join(md), encoding="utf-8")

    def draw(fig) -> None:  # type: ignore[no-untyped-def]
        ax = fig.subplots()
        ax.plot([n for n, _ in samples], [v for _, v in samples], marker=".")
        ax.axhspan(r500 * 0.9, r500 * 1.1, color="#cde", alpha=0.5, label=f"RSS after {mark} ± 10 %")
        ax.set(xlabel="uploads", ylabel="server RSS (MB)", title="ecgimn app: memory over uploads")
        ax.legend()

    write_plot(args.out / "app-soak.png", draw)
    print(f"wrote {args.out / 'app-soak.md'} and app-soak.png")


if __name__ == "__main__":
    main()
