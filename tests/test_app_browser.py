"""End-to-end: the app served by uvicorn, driven in headless Chromium (Playwright) with real PTB-XL files.

Environment (optional): ``ECGIMN_APP_MODEL`` serves that model instead of the small random-init test checkpoint;
``ECGIMN_SCREENSHOT=docs/images/app_screenshot.png`` also writes the page screenshot there (else to tmp).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import write_random_checkpoint

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
CLASSES = ["CD", "HYP", "MI", "NORM", "STTC"]
RECORD = "records100/00000/00008_lr"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(shared_ptbxl: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    uvicorn = pytest.importorskip("uvicorn")
    from ecgimn.app.server import create_app

    model = os.environ.get("ECGIMN_APP_MODEL") or write_random_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    )
    app = create_app(  # as `ecgimn app` serves it: loopback Host names only
        model,
        data_dir=shared_ptbxl,
        temp_root=tmp_path_factory.mktemp("app-temp"),
        allowed_hosts=("127.0.0.1",),
    )
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (python) is not installed")
    if not CHROMIUM:
        pytest.skip("Chromium not found (/usr/bin/chromium or `chromium` on PATH)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        pg = context.new_page()
        pg.set_default_timeout(60_000)  # generous: the CI machine may be busy
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        # the page runs under its Content-Security-Policy (no inline script/style, no external resource)
        pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        pg.goto(server + "/")
        pg.wait_for_function("() => document.getElementById('model-info').textContent.includes('model ')")
        yield pg
        assert not errors, f"JavaScript / CSP errors in the page: {errors}"
        browser.close()


def _wait_figure(pg: Any) -> None:
    pg.wait_for_function(
        "() => { const i = document.getElementById('figure');"
        " return i.complete && i.naturalWidth > 0 && !document.getElementById('figure-wrap')"
        ".classList.contains('loading'); }"
    )


def _predictions(pg: Any) -> dict[str, float]:
    rows = pg.locator("#pred-table tbody tr")
    out = {}
    for i in range(rows.count()):
        out[rows.nth(i).locator("td.cls").inner_text().strip()] = float(
            rows.nth(i).locator(".num").inner_text()
        )
    return out


def _upload(pg: Any, files: list[Path], fs: str = "") -> None:
    if pg.locator("#error").is_visible():
        pg.click("#error-close")
    pg.fill("#fs", fs)
    old = pg.evaluate("document.getElementById('result').dataset.rid || ''")
    pg.set_input_files("#files", [str(f) for f in files])
    pg.click("#upload-btn")
    pg.wait_for_function(
        "([old]) => !document.getElementById('error').hidden || "
        "(document.getElementById('result').dataset.rid || '') !== old",
        arg=[old],
    )


def _no_error(pg: Any) -> None:
    assert pg.locator("#error").is_hidden(), pg.locator("#error-text").inner_text()


def test_wfdb_upload_predictions_picture_and_what_if(page: Any, shared_ptbxl: Path) -> None:
    stem = shared_ptbxl / RECORD
    _upload(page, [stem.with_suffix(".hea"), stem.with_suffix(".dat")])
    _no_error(page)
    assert "00008_lr.hea" in page.inner_text("#record-title")
    probs = _predictions(page)
    assert len(probs) >= 2 and all(0 <= p <= 1 for p in probs.values())
    _wait_figure(page)
    explained = page.input_value("#opt-class")
    assert explained in probs and explained in page.inner_text("#fig-title")
    assert page.locator("#lead-table tbody tr").count() == 12

    # explain another class by clicking its row; change the layout
    other = next(c for c in probs if c != explained)
    page.locator("#pred-table tbody tr", has_text=other).click()
    page.wait_for_function(
        "([c]) => document.getElementById('fig-title').textContent.includes(c)", arg=[other]
    )
    page.select_option("#opt-layout", "12x1")
    page.wait_for_function("() => document.getElementById('opt-layout').value === '12x1'")
    _wait_figure(page)
    _no_error(page)

    # what-if: remove the top-3 segments, the model runs again
    page.click("#whatif-btn")
    page.wait_for_selector("#whatif-result", state="visible")
    old_text, new_text = page.inner_text("#wi-old"), page.inner_text("#wi-new")
    assert f"p({other})" in old_text and f"p({other})" in new_text
    assert float(old_text.split("=")[1]) == pytest.approx(probs[other], abs=1e-3)
    assert 0 <= float(new_text.split("=")[1]) <= 1
    assert "Removed" in page.inner_text("#wi-summary")

    with page.expect_download() as download:
        page.click("#dl-json")
    assert download.value.suggested_filename.endswith("_report.json")


def test_csv_upload_and_ptbxl_list(page: Any, shared_ptbxl: Path, tmp_path: Path) -> None:
    from ecgimn.constants import LEADS
    from ecgimn.io import read_ecg

    rec = read_ecg(shared_ptbxl / f"{RECORD}.hea")
    csv = tmp_path / "record8.csv"
    np.savetxt(csv, rec.signal.T, delimiter=",", header=",".join(LEADS), comments="", fmt="%.4f")
    _upload(page, [csv], fs="100")
    _no_error(page)
    assert "record8.csv" in page.inner_text("#record-title")
    assert len(_predictions(page)) >= 2
    _wait_figure(page)

    # a PTB-XL fold-10 record chosen from the list
    page.fill("#ptbxl-filter", "")
    first = page.locator("#ptbxl-select option").first.get_attribute("value")
    page.select_option("#ptbxl-select", first)
    page.click("#ptbxl-btn")
    page.wait_for_function(
        "([i]) => document.getElementById('record-title').textContent.includes(i)", arg=[first]
    )
    _wait_figure(page)
    _no_error(page)


def test_bad_uploads_show_messages(page: Any, shared_ptbxl: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"\x00\x17 this is \xff not an ECG \x01")
    _upload(page, [garbage])
    page.wait_for_selector("#error", state="visible")
    assert "garbage.txt" in page.inner_text("#error-text")

    page.click("#error-close")
    five = tmp_path / "five_leads.csv"
    x = np.random.default_rng(0).standard_normal((1000, 5)) * 0.2
    np.savetxt(five, x, delimiter=",", header="I,II,V1,V2,V3", comments="", fmt="%.4f")
    _upload(page, [five], fs="100")
    page.wait_for_selector("#error", state="visible")
    text = page.inner_text("#error-text")
    assert "five_leads.csv" in text and "missing" in text.lower()
    assert "Traceback" not in text

    stem = shared_ptbxl / RECORD
    _upload(page, [stem.with_suffix(".hea")])  # header without its .dat
    page.wait_for_selector("#error", state="visible")
    assert ".dat" in page.inner_text("#error-text")


def test_screenshot(page: Any, shared_ptbxl: Path, tmp_path: Path) -> None:
    """A real record, explained, with a what-if: the picture of the page for the docs."""
    stem = shared_ptbxl / RECORD
    _upload(page, [stem.with_suffix(".hea"), stem.with_suffix(".dat")])
    _no_error(page)
    _wait_figure(page)
    page.click("#whatif-btn")
    page.wait_for_selector("#whatif-result", state="visible")
    out = Path(os.environ.get("ECGIMN_SCREENSHOT") or tmp_path / "app_screenshot.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 50_000


# ------------------------------------------------------------------------------------------ page behaviour


def _load_record(pg: Any, shared_ptbxl: Path) -> None:
    stem = shared_ptbxl / RECORD
    _upload(pg, [stem.with_suffix(".hea"), stem.with_suffix(".dat")])
    _no_error(pg)
    _wait_figure(pg)


def test_update_works_with_the_default_options(page: Any, shared_ptbxl: Path) -> None:
    """step=0.05 with min 0.02 / 0.01 made the default 0.5 / 0.25 invalid: Update sent nothing."""
    _load_record(page, shared_ptbxl)
    for window, stride in (("0.5", "0.25"), ("1", "0.5")):
        page.fill("#opt-window", window)
        page.fill("#opt-stride", stride)
        assert page.evaluate("document.getElementById('opts-form').checkValidity()")
        with page.expect_response(lambda r: "/api/explain" in r.url) as response:
            page.click("#opts-btn")
        assert response.value.status == 200
        page.wait_for_function(
            "([w]) => document.getElementById('seg-hint').textContent.includes(`Strongest ${w} s`)",
            arg=[window],
        )
        _no_error(page)


def test_errors_are_in_view_close_with_escape_and_clear_the_old_result(page: Any, shared_ptbxl: Path,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    _load_record(page, shared_ptbxl)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x17 not an ECG \xff")
    page.set_input_files("#files", [str(garbage)])
    page.evaluate("document.getElementById('upload-btn').click()")
    page.wait_for_selector("#error", state="visible")
    box = page.locator("#error").bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 1000  # inside the viewport
    assert page.evaluate("document.activeElement.id") == "error"
    # the previous record's result is not left on screen as if it were the new one
    assert page.locator("#result").is_hidden() and page.locator("#empty-failed").is_visible()
    page.keyboard.press("Escape")
    assert page.locator("#error").is_hidden()


def test_download_failure_is_reported(page: Any, shared_ptbxl: Path) -> None:
    _load_record(page, shared_ptbxl)
    page.evaluate("document.getElementById('dl-pdf').href = '/api/figure?id=' + 'f'.repeat(32) + '&fmt=pdf'")
    page.click("#dl-pdf")
    page.wait_for_selector("#error", state="visible")
    text = page.inner_text("#error-text")
    assert "download of the PDF failed" in text and "load it again" in text
    page.keyboard.press("Escape")


def test_prediction_rows_by_keyboard_and_focus_after_actions(page: Any, shared_ptbxl: Path) -> None:
    _load_record(page, shared_ptbxl)
    assert page.evaluate("document.activeElement.id") == "record-title"  # focus moved to the new result
    buttons = page.locator("#pred-table button.cls-btn")
    assert buttons.count() == len(CLASSES)
    target = next(c for c in CLASSES if c != page.input_value("#opt-class"))
    page.locator(f"#pred-table button[data-cls='{target}']").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([c]) => document.getElementById('fig-title').textContent.includes(c)", arg=[target]
    )
    page.wait_for_function("() => document.activeElement && document.activeElement.tagName === 'BUTTON'")
    assert page.evaluate("document.activeElement.dataset.cls") == target  # not dropped to <body>
    page.click("#whatif-btn")
    page.wait_for_selector("#whatif-result", state="visible")
    page.wait_for_function("() => document.activeElement.id === 'whatif-result'")


def test_phone_width_has_no_sideways_scroll(page: Any, shared_ptbxl: Path) -> None:
    _load_record(page, shared_ptbxl)
    page.set_viewport_size({"width": 375, "height": 800})
    try:
        page.wait_for_timeout(300)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"page is {width} px wide at a 375 px viewport"
    finally:
        page.set_viewport_size({"width": 1440, "height": 1000})


def test_ptbxl_reference_label_beside_the_prediction(page: Any) -> None:
    page.fill("#ptbxl-filter", "")
    option = page.locator("#ptbxl-select option").first
    ecg_id = option.get_attribute("value")
    page.select_option("#ptbxl-select", ecg_id)
    page.click("#ptbxl-btn")
    page.wait_for_function(
        "([i]) => document.getElementById('record-title').textContent.includes(i)", arg=[ecg_id]
    )
    ref = page.locator("#pred-card #reference")
    assert ref.is_visible() and "PTB-XL reference label" in ref.inner_text()
    listed = option.inner_text().split("·")[1].strip()
    assert listed == "no label" or listed.split(",")[0].strip() in ref.inner_text()


def test_wrong_units_warning_beside_the_predictions(page: Any, shared_ptbxl: Path, tmp_path: Path) -> None:
    """units=V on a mV record: shown with confident predictions and the warning hidden in a collapsed section."""
    try:
        import ecgimn.io.quality  # noqa: F401
    except ImportError:
        pytest.skip("ecgimn.io.quality (the input plausibility check) is not installed in this checkout")
    from ecgimn.constants import LEADS
    from ecgimn.io import read_ecg

    rec = read_ecg(shared_ptbxl / f"{RECORD}.hea")
    csv = tmp_path / "volts.csv"
    np.savetxt(csv, rec.signal.T, delimiter=",", header=",".join(LEADS), comments="", fmt="%.4f")
    page.select_option("#units", "V")
    try:
        _upload(page, [csv], fs="100")
    finally:
        page.select_option("#units", "")
    if page.locator("#error").is_visible():  # refused outright: a message, and no prediction on screen
        text = page.inner_text("#error-text")
        assert "volts.csv" in text or "unit" in text.lower() or "amplitude" in text.lower(), text
        assert page.locator("#result").is_hidden() and page.locator("#empty-failed").is_visible()
        page.keyboard.press("Escape")
        return
    check = page.locator("#pred-card #input-check")
    assert check.is_visible()
    status = check.get_attribute("class")
    assert "warning" in status or "refused" in status
    assert "Input check" in check.inner_text()
    if "refused" in status:
        assert page.locator("#pred-table").is_hidden() and page.locator("#refused-text").is_visible()
    else:  # the warning sits in the same card as the probabilities, above them
        box, table = check.bounding_box(), page.locator("#pred-table").bounding_box()
        assert box is not None and table is not None and box["y"] < table["y"]
