"""The app under hostile input and many users: cost budget, file names, sessions, work lanes (503), cut-off and
stalled uploads, input-check display rules, access token, audit lines, provenance, ``ecgimn app`` options, and
a hostile-input corpus (each case: expected status, no traceback, temp folder empty, bounded time and memory)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import resource
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_random_checkpoint, zip_bytes

from ecgimn.api import Predictor
from ecgimn.constants import LEADS
from ecgimn.errors import InputError

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from ecgimn.app.server import RECORDS_PER_SESSION, Limits, create_app  # noqa: E402
from ecgimn.cli import build_parser, main  # noqa: E402

#: bounds of one hostile case (a refusal must be cheap): seconds and peak traced Python/NumPy heap
CASE_SECONDS = 10.0
CASE_PEAK_MB = 200.0
#: growth of the test process's peak RSS over the whole corpus
CORPUS_RSS_GROWTH_MB = 400.0


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def predictor(ckpt: Path) -> Predictor:
    from ecgimn.api import load

    return load(ckpt)


@pytest.fixture()
def temp_root(tmp_path: Path) -> Path:
    root = tmp_path / "app-temp"
    root.mkdir()
    return root


def _signal(seconds: float = 10, fs: int = 100) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (0.8 * np.sin(2 * np.pi * 1.1 * t)[None] * np.linspace(-1, 1, 12)[:, None]).astype(np.float32)


def _csv(x: np.ndarray | None = None) -> bytes:
    x = _signal() if x is None else x
    lines = [",".join(LEADS)] + [",".join(f"{v:.4f}" for v in row) for row in x.T]
    return ("\n".join(lines) + "\n").encode()


def _npy(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()


def _upload(client: TestClient, name: str, data: bytes, **fields: str) -> Any:
    return client.post("/api/upload", files=[("files", (name, data))], data=fields)


def _raw_upload(client: TestClient, files: list[tuple[str, bytes]], fields: dict[str, str]) -> Any:
    """A multipart body written byte by byte (HTTP clients escape control characters in file names)."""
    b = b"raWb0undary"
    parts = [b"--" + b + f'\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]  # fmt: skip
    for name, data in files:
        head = b'\r\nContent-Disposition: form-data; name="files"; filename="' + name.encode() + b'"\r\n\r\n'
        parts.append(b"--" + b + head + data + b"\r\n")
    body = b"".join(parts) + b"--" + b + b"--\r\n"
    return client.post("/api/upload", content=body,
                       headers={"content-type": "multipart/form-data; boundary=" + b.decode()})  # fmt: skip


def _error(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert "Traceback" not in body["error"] and "\n" not in body["error"]
    return body["error"]


# ------------------------------------------------------------------------------------------ cost budget


@pytest.mark.parametrize("fs", ["0.2", "1e9", "1e308", "1e-300", "0.00001", "nan", "inf", "-100", "0"])
def test_implausible_rates_are_400_not_500(predictor: Predictor, temp_root: Path, fs: str) -> None:
    """fs=1e9 / 1e308 / 1e-300 / 0.00001 gave HTTP 500 (resample_poly, ZeroDivisionError); fs=0.2 took 135 s."""
    c = TestClient(create_app(predictor, temp_root=temp_root))
    t = time.perf_counter()
    r = _upload(c, "tiny.npy", _npy(_signal()), fs=fs)
    assert r.status_code == 400 and "fs" in _error(r)
    r = _upload(c, "tiny.csv", _csv(), fs=fs)
    assert r.status_code == 400 and "fs" in _error(r)
    assert time.perf_counter() - t < 5
    assert list(temp_root.iterdir()) == []


def test_npz_bomb_and_one_line_csv_are_refused_fast(
    predictor: Predictor, temp_root: Path, npz_bomb: bytes
) -> None:
    c = TestClient(create_app(predictor, temp_root=temp_root))
    t = time.perf_counter()
    r = _upload(c, "bomb.npz", npz_bomb, fs="100")
    assert r.status_code == 400 and "bomb.npz" in _error(r)
    r = _upload(c, "wide.csv", b"1," * 500_000 + b"1\n", fs="100")
    assert r.status_code == 400 and "one line" in _error(r)
    assert time.perf_counter() - t < 5


# ------------------------------------------------------------------------------------------ file names


def test_mathtext_file_name_draws_its_figures(predictor: Predictor, temp_root: Path) -> None:
    """A file named x$^{$.csv made /api/figure return 500 (matplotlib read the name as mathtext)."""
    c = TestClient(create_app(predictor, temp_root=temp_root))
    r = _upload(c, "x$^{$.csv", _csv(), fs="100")
    assert r.status_code == 200, r.text
    urls = r.json()["urls"]
    for key in ("png", "heatmap", "pdf"):
        fig = c.get(urls[key])
        assert fig.status_code == 200, fig.text
    assert fig.content.startswith(b"%PDF")


@pytest.mark.parametrize("name", ["a\x00b.csv", "evil\u202ecod.csv", "x\u2066y.csv", "bell\x07.csv"])
def test_control_and_bidi_names_are_refused_not_echoed(
    predictor: Predictor, temp_root: Path, name: str
) -> None:
    c = TestClient(create_app(predictor, temp_root=temp_root))
    r = _raw_upload(c, [(name, _csv())], {"fs": "100"})
    assert r.status_code == 400 and "rename the file" in _error(r)
    assert name not in r.text and not any(ch in r.text for ch in "\x00\u202e\u2066\x07")


# ------------------------------------------------------------------------------------------ sessions and lanes


def test_sessions_hold_their_own_records(predictor: Predictor, temp_root: Path) -> None:
    """One shared 16-slot store: 64 uploaders evicted each other's records (84 of 128 follow-ups got 404)."""
    per_session = (
        3  # the store's logic with a smaller quota than RECORDS_PER_SESSION: fewer uploads to fill it
    )
    assert per_session < RECORDS_PER_SESSION
    app = create_app(predictor, temp_root=temp_root, limits=Limits(records_per_session=per_session))
    alice, bob = TestClient(app), TestClient(app)
    first = _upload(alice, "a.npy", _npy(_signal()), fs="100")
    assert first.status_code == 200 and "ecgimn_session" in first.cookies
    rid = first.json()["id"]
    for i in range(2 * per_session + 4):  # another client loads many more records than one session holds
        assert _upload(bob, f"b{i}.npy", _npy(_signal() * (1 + i / 100)), fs="100").status_code == 200
    assert alice.get("/api/explain", params={"id": rid}).status_code == 200  # not evicted by bob
    r = bob.get("/api/explain", params={"id": rid})  # nor readable by him
    assert r.status_code == 404 and "load it again" in _error(r)
    # a session's quota drops its own oldest records
    ids = [_upload(alice, f"a{i}.npy", _npy(_signal()), fs="100").json()["id"] for i in range(per_session)]
    assert alice.get("/api/explain", params={"id": rid}).status_code == 404
    assert all(alice.get("/api/explain", params={"id": i}).status_code == 200 for i in ids)
    assert app.state.service.sessions.stats() == {"sessions": 2, "records": 2 * per_session}


def test_full_server_answers_503_with_retry_after_and_never_evicts(
    predictor: Predictor, temp_root: Path
) -> None:
    app = create_app(predictor, temp_root=temp_root, limits=Limits(max_sessions=2))
    a, b, c = TestClient(app), TestClient(app), TestClient(app)
    rid = _upload(a, "a.npy", _npy(_signal()), fs="100").json()["id"]
    assert _upload(b, "b.npy", _npy(_signal()), fs="100").status_code == 200
    r = _upload(c, "c.npy", _npy(_signal()), fs="100")
    assert r.status_code == 503 and "retry in" in _error(r) and int(r.headers["retry-after"]) >= 1
    assert a.get("/api/explain", params={"id": rid}).status_code == 200


def test_busy_model_lane_gives_503_while_pictures_and_simple_requests_go_on(
    predictor: Predictor, temp_root: Path
) -> None:
    """One global lock serialised everything: a slow job delayed every other request."""
    app = create_app(predictor, temp_root=temp_root, limits=Limits(wait_s=0.3, max_waiting=1))
    svc = app.state.service
    c = TestClient(app)
    data = _upload(c, "a.npy", _npy(_signal()), fs="100").json()
    hold, release = threading.Event(), threading.Event()

    def occupy() -> None:
        with svc.model_lane.slot():
            hold.set()
            release.wait(30)

    worker = threading.Thread(target=occupy)
    worker.start()
    try:
        assert hold.wait(10)
        t = time.perf_counter()
        r = _upload(c, "b.npy", _npy(_signal() * 0.9), fs="100")  # needs the model: waits 0.3 s, then 503
        assert r.status_code == 503 and "model" in _error(r) and "retry-after" in r.headers
        assert time.perf_counter() - t < 5
        assert c.get("/api/info").status_code == 200  # a simple request is not delayed
        fig = c.get(data["urls"]["png"])  # pictures are drawn off the model lane
        assert fig.status_code == 200 and fig.content.startswith(b"\x89PNG")
        assert c.get(data["urls"]["report"]).status_code == 200
    finally:
        release.set()
        worker.join()
    assert _upload(c, "b.npy", _npy(_signal() * 0.9), fs="100").status_code == 200


# ------------------------------------------------------------------------------------------ cut-off and stalled uploads


def _scope(boundary: bytes) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/upload", "raw_path": b"/api/upload", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"multipart/form-data; boundary=" + boundary), (b"host", b"test")],
        "client": ("127.0.0.1", 1), "server": ("test", 80),
    }  # fmt: skip


def _drive(app: Any, chunks: list[bytes], stall_after: bool) -> tuple[int, dict]:
    sent: list[dict] = []
    queue = list(chunks)

    async def receive() -> dict:
        if queue:
            body = queue.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(queue) or stall_after}
        await asyncio.sleep(3600)  # the client keeps the connection open and sends nothing
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(_scope(b"B0undary"), receive, send), timeout=20))
    import json

    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_body_without_closing_boundary_is_refused(predictor: Predictor, temp_root: Path) -> None:
    """Half a CSV without its closing boundary came back 200 as a 5.02 s record."""
    app = create_app(predictor, temp_root=temp_root)
    head = b'--B0undary\r\nContent-Disposition: form-data; name="fs"\r\n\r\n100\r\n'
    head += b'--B0undary\r\nContent-Disposition: form-data; name="files"; filename="half.csv"\r\n\r\n'
    status, body = _drive(app, [head, _csv()[: len(_csv()) // 2]], stall_after=False)
    assert status == 400 and "closing boundary" in body["error"]
    assert list(temp_root.iterdir()) == []


def test_stalled_upload_times_out_and_its_temp_files_go(predictor: Predictor, temp_root: Path) -> None:
    app = create_app(predictor, temp_root=temp_root, limits=Limits(upload_idle_s=0.5))
    head = b'--B0undary\r\nContent-Disposition: form-data; name="files"; filename="slow.csv"\r\n\r\n'
    t = time.perf_counter()
    status, body = _drive(app, [head, _csv()[:1000]], stall_after=True)
    assert status == 408 and "stalled" in body["error"]
    assert time.perf_counter() - t < 5
    assert list(temp_root.iterdir()) == []


# ------------------------------------------------------------------------------------------ input check beside the decision


def _with_input_check(monkeypatch: pytest.MonkeyPatch, status: str) -> None:
    from ecgimn.explain import report as report_module

    original = report_module.RecordExplanation.report

    def report(self: Any) -> dict[str, Any]:
        out = original(self)
        out["input_check"] = {
            "status": status,
            "findings": []
            if status == "ok"
            else [
                {
                    "code": "units",
                    "severity": status,
                    "message": "amplitudes look like volts, not mV",
                    "leads": ["II"],
                }
            ],
        }
        return out

    monkeypatch.setattr(report_module.RecordExplanation, "report", report)


def test_refused_input_shows_no_prediction(
    predictor: Predictor, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_input_check(monkeypatch, "refused")
    c = TestClient(create_app(predictor, temp_root=temp_root))
    data = _upload(c, "a.npy", _npy(_signal()), fs="100").json()
    assert data["refused"] and data["input_check"]["status"] == "refused"
    assert data["probabilities"] == [] and data["evidence"] is None and "png" not in data["urls"]
    r = c.get("/api/figure", params={"id": data["id"]})
    assert r.status_code == 409 and "plausibility" in _error(r)
    assert c.get(data["urls"]["report"]).json()["input_check"]["status"] == "refused"


def test_warning_is_carried_beside_the_predictions(
    predictor: Predictor, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_input_check(monkeypatch, "warning")
    c = TestClient(create_app(predictor, temp_root=temp_root))
    data = _upload(c, "a.npy", _npy(_signal()), fs="100").json()
    assert not data["refused"] and data["probabilities"]
    assert data["input_check"]["findings"][0]["message"] == "amplitudes look like volts, not mV"


# ------------------------------------------------------------------------------------------ deployment


def test_access_token(predictor: Predictor, temp_root: Path) -> None:
    token = "s3cret-token-0123456789"
    app = create_app(predictor, temp_root=temp_root, token=token)
    c = TestClient(app)
    r = c.get("/api/info")
    assert r.status_code == 401 and "token" in _error(r)
    assert c.get("/").status_code == 401
    assert c.get("/?token=wrong-token-0123456789").status_code == 401
    r = c.get(f"/?token={token}", follow_redirects=False)
    assert (
        r.status_code == 303
        and r.headers["location"] == "/"
        and "httponly" in r.headers["set-cookie"].lower()
    )
    assert c.get("/api/info").status_code == 200  # the cookie now carries it
    other = TestClient(app)
    assert other.get("/api/info", headers={"authorization": f"Bearer {token}"}).status_code == 200
    with pytest.raises(InputError):
        create_app(predictor, token="short")


def test_audit_lines_and_provenance(
    predictor: Predictor, ckpt: Path, temp_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    c = TestClient(create_app(predictor, temp_root=temp_root))
    payload = _npy(_signal())
    digest = hashlib.sha256(payload).hexdigest()
    model = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    with caplog.at_level(logging.INFO, logger="ecgimn.audit"):
        data = _upload(c, "a.npy", payload, fs="100").json()
        report = c.get(data["urls"]["report"]).json()
    lines = [r.getMessage() for r in caplog.records if r.name == "ecgimn.audit"]
    assert len(lines) == 2
    assert all(f"input_sha256={digest}" in line and f"model_sha256={model}" in line for line in lines)
    assert "request=POST /api/upload status=200" in lines[0] and "client=testclient" in lines[0]
    assert lines[0].startswith("time=20")
    prov = report["provenance"]
    assert prov["input_sha256"] == digest and prov["model_sha256"] == model and prov["ecgimn_version"]
    assert prov["time"].endswith("Z") and data["provenance"]["input_sha256"] == digest


def test_log_lines_are_timestamped() -> None:
    import logging.config

    from ecgimn.app.server import log_config

    cfg = log_config()
    logging.config.dictConfig(cfg)
    formatter = logging.getLogger("ecgimn.audit").handlers[0].formatter
    line = formatter.format(logging.LogRecord("ecgimn.audit", logging.INFO, "x", 1, "hello", None, None))
    assert line[:4].isdigit() and "T" in line[:20] and line.endswith("hello")
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "loggers": {n: {"handlers": [], "propagate": True} for n in cfg["loggers"]},
        }
    )


@pytest.mark.parametrize("args, expected", [
    (["--max-upload-mb", "nan"], "--max-upload-mb"), (["--max-upload-mb", "inf"], "--max-upload-mb"),
    (["--max-upload-mb", "-1"], "--max-upload-mb"), (["--port", "99999"], "--port"), (["--port", "0"], "--port"),
    (["--max-seconds", "nan"], "--max-seconds"),
])  # fmt: skip
def test_cli_app_bad_options_give_error_lines(
    args: list[str], expected: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["app", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "error:" in err and expected in err and "Traceback" not in err


def test_cli_app_needs_a_token_off_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, ckpt: Path
) -> None:
    import uvicorn

    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(app=app, **kw))
    monkeypatch.delenv("ECGIMN_APP_TOKEN", raising=False)
    assert main(["app", "--model", str(ckpt), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--token" in err and not ran
    assert (
        main(
            ["app", "--model", str(ckpt), "--host", "0.0.0.0", "--no-token", "--allowed-hosts", "ecg.example"]
        )
        == 0
    )
    assert "log_config" in ran and "WARNING" in capsys.readouterr().err
    c = TestClient(ran["app"], base_url="http://ecg.example")
    assert c.get("/api/info").status_code == 200
    assert TestClient(ran["app"], base_url="http://other.example").get("/api/info").status_code == 400
    monkeypatch.setenv("ECGIMN_APP_TOKEN", "t" * 20)
    assert main(["app", "--model", str(ckpt), "--host", "0.0.0.0"]) == 0
    assert TestClient(ran["app"], base_url="http://localhost").get("/api/info").status_code == 401


def test_create_app_refuses_non_finite_upload_limits(predictor: Predictor) -> None:
    for bad in (float("nan"), float("inf"), 0, -1):
        with pytest.raises(InputError, match="max_upload_mb"):
            create_app(predictor, max_upload_mb=bad)


# ------------------------------------------------------------------------------------------ hostile corpus


def _corpus(npz_bomb: bytes) -> list[tuple[str, list[tuple[str, bytes]], dict[str, str], int]]:
    """(case, files, fields, expected status)."""
    x = _signal()
    huge_header = io.BytesIO()
    np.lib.format.write_array_header_1_0(huge_header, {"descr": "<f8", "fortran_order": False,
                                                       "shape": (12, 100_000_000)})  # fmt: skip
    fs_npz = io.BytesIO()
    np.savez(fs_npz, signal=x, fs=np.array(1e9))
    obj = io.BytesIO()
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return [
        ("valid csv", [("ok.csv", _csv())], {"fs": "100"}, 200),
        ("valid npy", [("ok.npy", _npy(x))], {"fs": "100"}, 200),
        ("fs 0.2", [("t.npy", _npy(x))], {"fs": "0.2"}, 400),
        ("fs 1e9", [("t.npy", _npy(x))], {"fs": "1e9"}, 400),
        ("fs 1e308", [("t.csv", _csv())], {"fs": "1e308"}, 400),
        ("fs 1e-300", [("t.csv", _csv())], {"fs": "1e-300"}, 400),
        ("fs 1e-5", [("t.csv", _csv())], {"fs": "0.00001"}, 400),
        ("fs in npz 1e9", [("f.npz", fs_npz.getvalue())], {}, 400),
        ("npz bomb", [("bomb.npz", npz_bomb)], {"fs": "100"}, 400),
        ("npy huge header", [("h.npy", huge_header.getvalue() + b"\0" * 100)], {"fs": "500"}, 400),
        ("one-line csv", [("w.csv", b"1," * 500_000 + b"1\n")], {"fs": "100"}, 400),
        ("long duration csv", [("long.csv", _csv(np.tile(x, 31)))], {"fs": "100"}, 400),
        ("pickled npy", [("o.npy", obj.getvalue())], {"fs": "100"}, 400),
        ("zip bomb", [("z.zip", zip_bytes({"big.csv": b"0" * 30_000_000}))], {}, 413),
        ("nested zip", [("z.zip", zip_bytes({"a.zip": b"PK"}))], {}, 400),
        ("exe", [("a.exe", b"MZ")], {}, 415),
        ("NUL name", [("a\x00.csv", _csv())], {"fs": "100"}, 400),
        ("bidi name", [("a\u202evsc.csv", _csv())], {"fs": "100"}, 400),
        ("mathtext name", [("x$^{$.csv", _csv())], {"fs": "100"}, 200),
        ("binary garbage", [("g.txt", bytes(range(256)) * 40)], {}, 400),
        ("empty csv", [("e.csv", b"")], {"fs": "100"}, 400),
        ("nan csv", [("n.csv", _csv(np.full_like(x, np.nan)))], {"fs": "100"}, 400),
        ("huge values", [("v.npy", _npy(np.full_like(x, 1e38)))], {"fs": "100"}, 400),
        ("too many fields", [("a.csv", _csv())], {f"f{i}": "1" for i in range(12)}, 400),
        ("lead names mismatch", [("a.csv", _csv())], {"fs": "100", "lead_names": "I,II"}, 400),
        ("units bogus", [("a.csv", _csv())], {"fs": "100", "units": "furlongs"}, 400),
    ]


def test_hostile_corpus(
    predictor: Predictor, temp_root: Path, caplog: pytest.LogCaptureFixture, npz_bomb: bytes
) -> None:
    """Every case gets its expected status with a one-line message, no traceback anywhere, an empty temp folder,
    at most CASE_SECONDS and CASE_PEAK_MB of traced heap; the whole corpus runs well under a minute."""
    c = TestClient(create_app(predictor, max_upload_mb=20, temp_root=temp_root))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    failures = []
    for case, files, fields, expected in _corpus(npz_bomb):
        caplog.clear()
        tracemalloc.start()
        t = time.perf_counter()
        with caplog.at_level(logging.WARNING):
            r = _raw_upload(c, files, fields)
        seconds = time.perf_counter() - t
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        body = r.json()
        ok = (
            r.status_code == expected
            and (expected == 200 or (set(body) == {"error"} and "\n" not in body["error"]))
            and "Traceback" not in r.text and "Traceback" not in caplog.text
            and list(temp_root.iterdir()) == []
            and seconds < CASE_SECONDS and peak_mb < CASE_PEAK_MB
        )  # fmt: skip
        if not ok:
            failures.append(
                f"{case}: {r.status_code} (want {expected}) {seconds:.1f} s {peak_mb:.0f} MB {r.text[:200]}"
            )
    assert not failures, failures
    assert time.perf_counter() - start < 60
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0 < CORPUS_RSS_GROWTH_MB
