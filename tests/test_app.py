"""The explanation web app: endpoints and its safety rules (size, types, paths, pickle,
error messages, temporary files)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_random_checkpoint, zip_bytes

from ecgimn.api import Explanation, Predictor
from ecgimn.constants import LEADS

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from ecgimn.app.server import GENERIC_ERROR, create_app  # noqa: E402
from ecgimn.cli import build_parser  # noqa: E402
from ecgimn.cli.app import exposure_warning, is_loopback  # noqa: E402

CLASSES = ["CD", "HYP", "MI", "NORM", "STTC"]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    from ecgimn.api import load

    return load(write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt"))


@pytest.fixture(scope="module")
def temp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app-temp")


@pytest.fixture(scope="module")
def client(predictor: Predictor, _synthetic_ptbxl_template: Path, temp_root: Path) -> TestClient:
    app = create_app(predictor, data_dir=_synthetic_ptbxl_template, max_upload_mb=2, temp_root=temp_root)
    return TestClient(app)


@pytest.fixture(scope="module")
def record_files(_synthetic_ptbxl_template: Path) -> dict[str, bytes]:
    """The .hea and .dat of synthetic PTB-XL record 8 (100 Hz) as bytes."""
    stem = _synthetic_ptbxl_template / "records100" / "00000" / "00008_lr"
    return {p.name: p.read_bytes() for p in (stem.with_suffix(".hea"), stem.with_suffix(".dat"))}


def _csv_bytes(signal: np.ndarray, names: list[str] | tuple[str, ...] = LEADS) -> bytes:
    lines = [",".join(names)] + [",".join(f"{v:.4f}" for v in row) for row in signal.T]
    return ("\n".join(lines) + "\n").encode()


def _signal(seconds: float = 10, fs: int = 100) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (0.8 * np.sin(2 * np.pi * 1.1 * t)[None] * np.linspace(-1, 1, 12)[:, None]).astype(np.float32)


def _upload(client: TestClient, files: list[tuple[str, bytes]], **fields: str) -> Any:
    return client.post("/api/upload", files=[("files", (n, b)) for n, b in files], data=fields)


def _error(response: Any) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert "Traceback" not in body["error"]
    return body["error"]


# ------------------------------------------------------------------------------------------ endpoints


def test_page_and_static_files_work_offline(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "content-security-policy" in page.headers and page.headers["x-content-type-options"] == "nosniff"
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in text and "https://" not in text  # no CDN, no external resource
    info = client.get("/api/info").json()
    assert info["model"]["classes"] == CLASSES and info["max_upload_mb"] == 2
    assert "/" not in info["model"]["source"]  # no server paths


def test_upload_wfdb_pair_and_zip(client: TestClient, record_files: dict[str, bytes]) -> None:
    r = _upload(client, list(record_files.items()))
    assert r.status_code == 200, r.text
    data = r.json()
    probs = {p["class"]: p["probability"] for p in data["probabilities"]}
    assert list(probs) == CLASSES and all(0 < p < 1 for p in probs.values())
    assert data["explained"] == max(probs, key=probs.get)
    assert data["record"]["record_id"] == "00008_lr" and not data["record"]["synthetic"]
    ev = data["evidence"]
    assert ev["sum_lead_shares"] + ev["bias"] == pytest.approx(ev["logit"], abs=1e-3)
    assert set(ev["lead_shares"]) == set(LEADS) and len(ev["top_positive"]) <= 3

    members = {f"folder/{name}": content for name, content in record_files.items()}
    z = _upload(client, [("record.zip", zip_bytes({**members, "__MACOSX/._00008_lr.hea": b"junk"}))])
    assert z.status_code == 200, z.text
    assert z.json()["probabilities"] == data["probabilities"]


def test_upload_vendor_files(client: TestClient, tmp_path: Path) -> None:
    from ecg_writers import write_dicom, write_muse

    x = _signal()
    eight = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    muse = write_muse(tmp_path / "cart.xml", x[[LEADS.index(n) for n in eight]], eight, 100)
    r = _upload(client, [("cart.xml", muse.read_bytes())])
    assert r.status_code == 200, r.text
    assert any("derived exactly from I and II" in n for n in r.json()["record"]["notes"])
    dcm = write_dicom(tmp_path / "ecg.dcm", x, list(LEADS), 100)
    r = _upload(client, [("ecg.dcm", dcm.read_bytes())])
    assert r.status_code == 200, r.text
    r = _upload(client, [("other.xml", b"<?xml version='1.0'?><svg/>")])
    assert r.status_code == 400 and "root element <svg>" in _error(r)


def test_upload_csv_npy_npz_with_fields(client: TestClient) -> None:
    x = _signal()
    r = _upload(client, [("my ecg.csv", _csv_bytes(x))], fs="100", units="mV")
    assert r.status_code == 200, r.text
    assert r.json()["record"]["record_id"] == "my ecg"
    buf = io.BytesIO()
    np.save(buf, x)
    assert _upload(client, [("sig.npy", buf.getvalue())], fs="100").status_code == 200
    buf = io.BytesIO()
    np.savez(buf, signal=x, fs=np.array(100.0))
    r = _upload(client, [("sig.npz", buf.getvalue())], fs="100")
    assert r.status_code == 200, r.text
    # a 500 Hz upload is resampled to the model's 100 Hz (noted)
    r = _upload(client, [("fast.csv", _csv_bytes(_signal(fs=500)))], fs="500")
    assert r.status_code == 200 and any("resampled" in n for n in r.json()["record"]["notes"])


def test_explain_options_figures_report_and_whatif(
    client: TestClient, record_files: dict[str, bytes]
) -> None:
    rid = _upload(client, list(record_files.items())).json()["id"]
    r = client.get("/api/explain", params={"id": rid, "class_name": "MI", "window_s": 1.0, "stride_s": 0.5,
                                           "top_k": 2, "layout": "12x1"})  # fmt: skip
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["explained"] == "MI" and data["options"]["layout"] == "12x1"
    segs = data["evidence"]["top_positive"]
    assert len(segs) <= 2 and all(s["end_s"] - s["start_s"] == pytest.approx(1.0) for s in segs)
    png = client.get(data["urls"]["png"])
    assert (
        png.status_code == 200
        and png.content.startswith(b"\x89PNG")
        and png.headers["content-type"] == "image/png"
    )
    heat = client.get(data["urls"]["heatmap"])
    assert heat.content.startswith(b"\x89PNG") and heat.content != png.content
    pdf = client.get(data["urls"]["pdf"])
    assert pdf.content.startswith(b"%PDF") and "attachment" in pdf.headers["content-disposition"]
    assert "00008_lr_MI.pdf" in pdf.headers["content-disposition"]
    report = client.get(data["urls"]["report"])
    assert "attachment" in report.headers["content-disposition"]
    rep = report.json()
    assert rep["explanations"][0]["class"] == "MI" and rep["explanations"][0]["window_s"] == 1.0
    assert rep["probabilities"]["MI"] == pytest.approx(data["evidence"]["probability"])
    assert "/" not in rep["model"]["source"]
    assert rep["model"]["window_s"] == pytest.approx(10.0) and rep["model"]["stride_s"] == pytest.approx(5.0)

    w = client.post("/api/whatif", json={"id": rid, "class_name": "MI", "k": 2, "what": "segments",
                                         "mode": "zero", "window_s": 1.0, "stride_s": 0.5})  # fmt: skip
    assert w.status_code == 200, w.text
    res = w.json()
    assert res["probability_old"] == pytest.approx(data["evidence"]["probability"])
    assert 0 < res["probability_new"] < 1 and len(res["removed"]) <= 2
    assert [s["start_s"] for s in res["removed"]] == [s["start_s"] for s in segs]
    leads = client.post("/api/whatif", json={"id": rid, "class_name": "MI", "k": 12, "what": "leads"}).json()
    assert leads["mode"] == "zero" and len(leads["removed"]) <= 12

    bad = client.get("/api/explain", params={"id": rid, "class_name": "XYZ"})
    assert bad.status_code == 400 and "CD, HYP, MI, NORM, STTC" in _error(bad)
    bad = client.get("/api/explain", params={"id": rid, "top_k": 0})
    assert bad.status_code == 422 and "top_k" in _error(bad)
    bad = client.get("/api/figure", params={"id": rid, "fmt": "svg"})
    assert bad.status_code == 422 and "fmt" in _error(bad)
    bad = client.post("/api/whatif", json={"id": rid, "class_name": "MI", "what": "everything"})
    assert bad.status_code == 422 and "what" in _error(bad)


def test_ptbxl_records_are_fold_10_and_chosen_by_id(client: TestClient) -> None:
    listing = client.get("/api/ptbxl/records").json()
    rows = listing["records"]
    assert [r["ecg_id"] for r in rows] == [10, 20]  # the synthetic folder's fold-10 records
    assert rows[0]["labels"] == ["MI"] and rows[0]["sex"] == "M" and rows[0]["age"] == "50"
    r = client.post("/api/ptbxl/load", json={"ecg_id": 10})
    assert r.status_code == 200, r.text
    assert r.json()["record"]["kind"] == "ptbxl" and "/" not in r.json()["record"]["source"].split("(")[0]
    assert client.post("/api/ptbxl/load", json={"ecg_id": 1}).status_code == 404  # fold 1: not listed
    assert "fold-10" in _error(client.post("/api/ptbxl/load", json={"ecg_id": 99999}))
    bad = client.post("/api/ptbxl/load", json={"ecg_id": "../../etc/passwd"})
    assert bad.status_code == 422 and _error(bad)


def test_demo_is_labelled_synthetic(client: TestClient) -> None:
    pytest.importorskip("neurokit2")
    data = client.post("/api/demo").json()
    assert data["record"]["synthetic"] and "SYNTHETIC" in data["record"]["label"]
    assert any("SYNTHETIC" in n for n in data["record"]["notes"])


def test_without_ptbxl_folder(predictor: Predictor, temp_root: Path) -> None:
    c = TestClient(create_app(predictor, temp_root=temp_root))
    assert c.get("/api/info").json()["ptbxl"] is None
    r = c.get("/api/ptbxl/records")
    assert r.status_code == 404 and "--data" in _error(r)


# ------------------------------------------------------------------------------------------ safety


def test_upload_size_limit(client: TestClient, predictor: Predictor, temp_root: Path) -> None:
    big = b"0," * (1_200_000)  # 2.4 MB > the 2 MB limit
    r = _upload(client, [("big.csv", big)])
    assert r.status_code == 413 and "at most 2 MB" in _error(r)
    # the same without a Content-Length header (chunked): cut off while reading
    small = TestClient(create_app(predictor, max_upload_mb=0.05, temp_root=temp_root))
    boundary = "XyZ"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n").encode()  # fmt: skip

    def chunks() -> Any:
        yield head
        for _ in range(100):
            yield b"1," * 5000

    r = small.post(
        "/api/upload", content=chunks(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert r.status_code == 413 and "at most 0.05 MB" in _error(r)


def test_upload_limit_is_enforced_while_reading(predictor: Predictor, temp_root: Path) -> None:
    """Driven at the ASGI level: the app must stop pulling body chunks once the limit is passed."""
    app = create_app(predictor, max_upload_mb=0.1, temp_root=temp_root)
    boundary = b"B0undary"
    head = b'--B0undary\r\nContent-Disposition: form-data; name="files"; filename="x.csv"\r\n\r\n'
    chunk = b"0.1," * 8192  # 32 KiB
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        pulled += 1
        body = head if pulled == 1 else chunk
        return {"type": "http.request", "body": body, "more_body": pulled < 1000}  # ~32 MB offered

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/upload", "raw_path": b"/api/upload", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"multipart/form-data; boundary=" + boundary), (b"host", b"test")],
        "client": ("127.0.0.1", 1), "server": ("test", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert pulled <= 6  # 0.1 MB = 3.2 chunks: stopped right after the limit, not after 1000 chunks
    assert "upload too large" in json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["error"]

    # a declared Content-Length over the limit is refused before reading any of the body
    pulled = 0
    sent.clear()
    scope["headers"] = [*scope["headers"], (b"content-length", b"99999999")]
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and pulled == 0


def test_the_model_runs_once_per_stored_recording(
    predictor: Predictor, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, ...]] = []
    original = predictor.explain

    def counting(x: np.ndarray, fs: float = 100, **kw: Any) -> Explanation:
        calls.append(np.shape(x))
        return original(x, fs=fs, **kw)

    monkeypatch.setattr(predictor, "explain", counting)
    c = TestClient(create_app(predictor, temp_root=temp_root))
    data = _upload(c, [("a.csv", _csv_bytes(_signal()))], fs="100").json()
    assert len(calls) == 1
    for cls in ("MI", "NORM"):
        r = c.get("/api/explain", params={"id": data["id"], "class_name": cls, "window_s": 1.0, "top_k": 5})
        assert r.status_code == 200, r.text
    assert c.get(data["urls"]["report"]).status_code == 200
    assert len(calls) == 1  # the evidence options only re-aggregate the stored model output
    res = c.post("/api/whatif", json={"id": data["id"], "class_name": "MI", "k": 1}).json()
    assert len(calls) == 1 + bool(res["removed"])  # the what-if runs the model on the modified input only


@pytest.mark.parametrize("name", ["ecg.exe", "ecg.pkl", "ecg.pickle", "ecg", "ecg.json", "ecg.csv.exe"])
def test_only_ecg_extensions_are_accepted(client: TestClient, name: str) -> None:
    r = _upload(client, [(name, b"1,2,3\n")])
    assert r.status_code == 415
    msg = _error(r)
    assert "unsupported file type" in msg and ".csv" in msg


def test_zip_contents_are_checked(client: TestClient, record_files: dict[str, bytes]) -> None:
    r = _upload(client, [("a.zip", zip_bytes({"evil.exe": b"MZ"}))])
    assert r.status_code == 415
    r = _upload(client, [("a.zip", zip_bytes({**record_files, "other.csv": b"1,2"}))])
    assert r.status_code == 400 and "one recording" in _error(r)
    bomb = zip_bytes({"big.csv": b"0" * 3_000_000})  # tiny compressed, 3 MB unpacked > 2 MB
    assert len(bomb) < 100_000
    r = _upload(client, [("bomb.zip", bomb)])
    assert r.status_code == 413
    r = _upload(client, [("bad.zip", b"PK not really a zip")])
    assert r.status_code == 400 and "not a readable .zip" in _error(r)


def test_pickled_npy_is_refused(client: TestClient) -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    r = _upload(client, [("obj.npy", buf.getvalue())], fs="100")
    assert r.status_code == 400 and "pickled" in _error(r)
    r = _upload(client, [("raw.npy", pickle.dumps({"signal": [1, 2, 3]}))], fs="100")
    assert r.status_code == 400 and _error(r)


def test_bad_files_give_messages(client: TestClient, record_files: dict[str, bytes], temp_root: Path) -> None:
    r = _upload(client, [("notes.txt", b"\x00\xff garbage \x13\x37 not an ECG")])
    assert r.status_code == 400 and "notes.txt" in _error(r)
    r = _upload(
        client, [("five.csv", _csv_bytes(_signal()[:5], names=["I", "II", "V1", "V2", "V3"]))], fs="100"
    )
    assert r.status_code == 400 and "missing" in _error(r).lower()
    r = _upload(
        client, [("nolead.csv", _csv_bytes(_signal()[:5], names=["a", "b", "c", "d", "e"]))], fs="100"
    )
    assert r.status_code == 400 and _error(r)
    r = _upload(client, [("short.csv", _csv_bytes(_signal(seconds=3)))], fs="100")
    assert r.status_code == 400 and "at least 10.00 s" in _error(r)
    r = _upload(client, [("nofs.csv", _csv_bytes(_signal()))])
    assert r.status_code == 400 and "sampling rate" in _error(r)
    r = _upload(client, [("x.csv", _csv_bytes(_signal()))], fs="fast")
    assert r.status_code == 400 and "fs" in _error(r)
    hea = next(n for n in record_files if n.endswith(".hea"))
    r = _upload(client, [(hea, record_files[hea])])
    assert r.status_code == 400 and ".dat" in _error(r)
    r = _upload(client, [("a.csv", b"1"), ("b.csv", b"2")])
    assert r.status_code == 400 and "one recording" in _error(r)
    r = client.post("/api/upload", data={"fs": "100"})
    assert r.status_code == 400 and "file" in _error(r)
    for response in (r,):
        assert str(temp_root) not in response.text


def test_wfdb_header_cannot_point_at_server_files(client: TestClient, record_files: dict[str, bytes],
                                                  tmp_path: Path) -> None:  # fmt: skip
    secret = tmp_path / "secret.dat"
    secret.write_bytes(record_files["00008_lr.dat"])  # a readable record elsewhere on the server
    dat = record_files["00008_lr.dat"]
    for target in (str(secret), "../secret.dat"):  # wfdb's header syntax refuses these already; still a 400
        hea = record_files["00008_lr.hea"].decode().replace("00008_lr.dat", target)
        r = _upload(client, [("00008_lr.hea", hea.encode()), ("00008_lr.dat", dat)])
        assert r.status_code == 400 and "00008_lr.hea" in _error(r)
    hea = record_files["00008_lr.hea"].decode().replace("00008_lr.dat", "other.dat")  # a file not uploaded
    r = _upload(client, [("00008_lr.hea", hea.encode()), ("00008_lr.dat", dat)])
    assert r.status_code == 400 and "'other.dat' was not uploaded" in _error(r)
    # file names with folders are reduced to their base name; nothing is written outside the request folder
    r = _upload(client, [("../../00008_lr.hea", record_files["00008_lr.hea"]),
                         ("..\\00008_lr.dat", record_files["00008_lr.dat"])])  # fmt: skip
    assert r.status_code == 200, r.text
    r = _upload(client, [("bad name.hea", record_files["00008_lr.hea"]), ("00008_lr.dat", b"")])
    assert r.status_code == 400 and "letters, digits" in _error(r)


def test_unknown_or_path_like_ids(client: TestClient) -> None:
    for rid in ("0" * 32, "../../etc/passwd", "/etc/passwd", ""):
        r = client.get("/api/explain", params={"id": rid})
        assert r.status_code in (404, 422) and _error(r)
    r = client.get("/api/figure", params={"id": "f" * 32})
    assert r.status_code == 404 and "load it again" in _error(r)
    assert client.get("/api/nothing").status_code == 404
    assert client.get("/static/../server.py").status_code == 404


def test_unexpected_errors_are_generic_and_logged(
    predictor: Predictor, temp_root: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(predictor, temp_root=temp_root)
    c = TestClient(app)

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail /srv/data")

    monkeypatch.setattr(app.state.service, "load_demo", boom)
    with caplog.at_level(logging.ERROR, logger="ecgimn.app"):
        r = c.post("/api/demo")
    assert r.status_code == 500
    assert _error(r) == GENERIC_ERROR and "secret" not in r.text
    assert "secret internal detail" in caplog.text and "Traceback" in caplog.text


def test_temporary_files_are_removed(
    client: TestClient, temp_root: Path, record_files: dict[str, bytes]
) -> None:
    """Runs after the upload tests of this module (successes and failures): the temp root must be empty."""
    assert _upload(client, list(record_files.items())).status_code == 200
    assert _upload(client, [("bad.txt", b"\x00\x01")]).status_code == 400
    assert _upload(client, [("big.csv", b"1" * 3_000_000)]).status_code == 413
    assert list(temp_root.iterdir()) == []


def test_host_and_origin_checks(predictor: Predictor, temp_root: Path) -> None:
    app = create_app(predictor, temp_root=temp_root, allowed_hosts=("127.0.0.1", "localhost"))
    local = TestClient(app, base_url="http://127.0.0.1:8000")
    assert local.get("/api/info").status_code == 200
    assert TestClient(app, base_url="http://localhost:8000").get("/api/info").status_code == 200
    rebound = TestClient(app, base_url="http://attacker.example:8000")  # DNS rebinding: foreign Host header
    r = rebound.get("/api/info")
    assert r.status_code == 400 and "Host" in _error(r)
    r = local.post("/api/demo", headers={"origin": "http://evil.example"})  # cross-site post
    assert r.status_code == 403 and "cross-site" in _error(r)
    r = local.post("/api/whatif", headers={"origin": "http://127.0.0.1:8000"}, json={"id": "x"})
    assert r.status_code == 422  # same origin passes the guard (then fails validation)


# ------------------------------------------------------------------------------------------ command line


def test_cli_app_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    args = build_parser().parse_args(["app"])
    assert (args.host, args.port, args.model, args.data, args.max_upload_mb) == (
        "127.0.0.1",
        8000,
        "default",
        None,
        20,
    )
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    assert "NO authentication" in exposure_warning("0.0.0.0", 8000)

    import uvicorn

    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.update(app=app, **kw))
    ckpt = write_random_checkpoint(tmp_path / "m.pt")
    args = build_parser().parse_args(["app", "--model", str(ckpt), "--host", "0.0.0.0", "--port", "8123",
                                      "--token", "t" * 32])  # fmt: skip
    assert args.func(args) == 0
    assert ran["host"] == "0.0.0.0" and ran["port"] == 8123
    err = capsys.readouterr().err
    assert "WARNING" in err and "NO encryption" in err
    args = build_parser().parse_args(["app", "--model", str(ckpt)])
    args.func(args)
    assert "WARNING" not in capsys.readouterr().err
