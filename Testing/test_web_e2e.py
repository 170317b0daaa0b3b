"""End to end in a real browser: ``axillary-predictor serve`` driven by Playwright and Debian's Chromium.

The server runs in a subprocess on a free loopback port. The browser loads the synthetic case,
segments the tumor with trame-slicer's Threshold and Islands effects (and undoes/redoes), builds 3 mm
regions, chooses ``demo-dce-aln``, sets the clinical inputs, predicts (the page shows the extraction's
progress as a percentage) and downloads the report. The
downloaded probability must equal ``axillary-predictor predict`` on the image and tumor segmentation
exported from the app, with the same settings. Screenshots of each step go to a temporary folder
(``$AP_E2E_ARTIFACTS`` when set), never into the repository.

Needs the [web] extra, Playwright's Python package and ``/usr/bin/chromium`` (``scripts/test.sh``
installs them); without them the test skips, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CLINICAL = {"ki67": "35", "us_aln": "positive"}
CASE_ID = "synthetic-dce-0"


def _require_browser_stack() -> None:
    """Skip without the web stack, except in CI, where a missing piece is a failure."""
    missing = []
    for module in ("playwright", "trame_slicer"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if not Path(CHROMIUM).is_file():
        missing.append(CHROMIUM)
    if missing:
        message = f"web end-to-end test needs {', '.join(missing)} (scripts/test.sh installs them)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: children write UTF-8 whatever the locale (reports and messages hold "—", "…", "×")
UTF8_ENV = {**os.environ, "PYTHONUTF8": "1", "MPLBACKEND": "Agg"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from AxillaryPredictorLib.cli.main import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, encoding="utf-8",
                          errors="replace", env=UTF8_ENV)


@pytest.fixture
def server(tmp_path):
    """(base URL, log path) of a running ``axillary-predictor serve``; stopped after the test."""
    _require_browser_stack()
    port = _free_port()
    log = tmp_path / "server.log"
    code = "import sys; from AxillaryPredictorLib.cli.main import main; sys.exit(main())"
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", str(port), "--work-dir",
                                    str(tmp_path / "server")], stdout=out, stderr=subprocess.STDOUT, env=UTF8_ENV)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    text = log.read_text(encoding="utf-8", errors="replace")
                    raise AssertionError(f"server did not start:\n{text[-3000:]}") from None
                time.sleep(0.5)
        yield url, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def artifacts(tmp_path):
    folder = Path(os.environ.get("AP_E2E_ARTIFACTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait_text(page, selector: str, pattern: str, timeout: float = 60_000) -> str:
    """The text of ``selector`` once it matches ``pattern`` (a regular expression)."""
    from playwright.sync_api import expect

    locator = page.locator(selector).first
    expect(locator).to_have_text(re.compile(pattern), timeout=timeout)
    return locator.inner_text()


def _tumor_voxels(page, previous: int | None = None) -> int:
    """The tumor voxel count the page shows (waiting for it to differ from ``previous``)."""
    pattern = r"Tumor: \d+ voxels" if previous is None else rf"Tumor: (?!{previous} )\d+ voxels"
    return int(re.search(r"\d+", _wait_text(page, ".ap-tumor-voxels", pattern)).group())


def _download(page, button: str, folder: Path) -> Path:
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=button).click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


#: records every text of the page's message and value of its progress bar while predicting
PROGRESS_RECORDER = """() => {
  window.apProgress = [];
  const record = () => {
    const message = document.querySelector('.ap-message');
    const bar = document.querySelector('.ap-progress');
    window.apProgress.push([message ? message.innerText : '', bar ? bar.getAttribute('aria-valuenow') : null]);
  };
  new MutationObserver(record).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                        attributes: true});
}"""


def _choose(page, field_class: str, option: str) -> None:
    page.locator(f".{field_class}").first.click()
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()


def test_web_app_workflow_matches_the_command_line(server, artifacts, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, log = server
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url)
            expect(page.get_by_text("1. Load")).to_be_visible(timeout=60_000)

            # an invalid upload: a clear message, and the page keeps working
            bad = tmp_path / "not-an-image.nrrd"
            bad.write_bytes(b"this is not an NRRD file\n")
            page.locator(".ap-upload-image input[type=file]").set_input_files(str(bad))
            error = _wait_text(page, ".ap-error", r"not-an-image")
            page.screenshot(path=artifacts / "web-0-invalid-upload.png")

            page.get_by_role("button", name="Load the synthetic case").click()
            _wait_text(page, ".ap-case", f"Case: {CASE_ID}")
            expect(page.locator(".ap-error")).to_have_count(0)
            page.screenshot(path=artifacts / "web-1-load.png")

            page.get_by_label("Threshold minimum").fill("400")
            page.get_by_label("Threshold maximum").fill("2000")
            page.get_by_role("button", name="Apply threshold").click()
            thresholded = _tumor_voxels(page, 0)
            page.get_by_role("button", name="Keep largest island").click()
            largest = _tumor_voxels(page, thresholded)
            page.get_by_role("button", name="Undo").click()
            assert _tumor_voxels(page, largest) == thresholded
            page.get_by_role("button", name="Redo").click()
            assert _tumor_voxels(page, thresholded) == largest
            assert 0 < largest < thresholded
            page.screenshot(path=artifacts / "web-2-segment.png")

            page.get_by_label("Margins (mm), e.g. 3,5,10").fill("3")
            page.get_by_role("button", name="Build regions").click()
            _wait_text(page, ".ap-regions", r"margin3mm")
            page.screenshot(path=artifacts / "web-3-regions.png")

            _choose(page, "ap-model", "demo-dce-aln")
            _wait_text(page, ".ap-model-card", r"Demonstration model")
            predict = page.get_by_role("button", name="Predict", exact=True)
            expect(predict).to_be_disabled()
            page.locator(".ap-clinical-ki67 input").fill(CLINICAL["ki67"])
            expect(predict).to_be_disabled()  # no silent default for the second input
            _choose(page, "ap-clinical-us_aln", CLINICAL["us_aln"])
            expect(predict).to_be_enabled(timeout=10_000)
            page.screenshot(path=artifacts / "web-4-model.png")

            page.evaluate(PROGRESS_RECORDER)
            predict.click()
            summary = _wait_text(page, ".ap-summary", r"predicted probability", timeout=300_000)
            progress = page.evaluate("window.apProgress")
            page.screenshot(path=artifacts / "web-5-predict.png", full_page=True)

            report_json = _download(page, "Prediction (JSON)", downloads)
            report_html = _download(page, "Report (HTML)", downloads)
            tumor = _download(page, "Tumor segmentation (NRRD)", downloads)
            image = _download(page, "Image (NRRD)", downloads)
            scene = _download(page, "Scene (MRML, zip)", downloads)
            page.screenshot(path=artifacts / "web-6-report.png")
        finally:
            browser.close()

    assert "not-an-image.nrrd" in error
    # progress while extracting: a percentage in the message and a determinate bar, never going back
    percents = [int(m.group(1)) for text, _ in progress if (m := re.search(r"Extracting features: (\d+)%", text))]
    assert len(percents) >= 2 and percents == sorted(percents) and 0 < percents[0] < 100, progress
    assert any(value and 0 < float(value) < 100 for _, value in progress), progress
    assert CASE_ID in summary
    web = json.loads(report_json.read_text(encoding="utf-8"))
    assert web["case_id"] == CASE_ID and web["model_id"] == "demo-dce-aln"
    assert web["region_settings"]["margins_mm"] == [3.0]
    assert CASE_ID in report_html.read_text(encoding="utf-8")
    assert scene.stat().st_size > 0 and tumor.stat().st_size > 0

    out = tmp_path / "cli"
    result = _cli("predict", "--model", "demo-dce-aln", "--image", str(image), "--mask", str(tumor),
                  "--clinical", f"ki67={CLINICAL['ki67']}", "--clinical", f"us_aln={CLINICAL['us_aln']}",
                  "--case-id", CASE_ID, "--out", str(out))
    assert result.returncode == 0, result.stderr
    cli = json.loads((out / "prediction.json").read_text(encoding="utf-8"))
    assert abs(cli["probability"] - web["probability"]) < 1e-9
    assert cli["region_voxels"] == web["region_voxels"]

    # the page loads nothing from outside the server
    outside = [u for u in requests if not u.startswith((url, "data:", "blob:", url.replace("http", "ws")))]
    assert not outside, outside
    assert "Traceback" not in log.read_text(encoding="utf-8", errors="replace")


def test_serve_warns_when_not_bound_to_loopback():
    from AxillaryPredictorLib.cli.serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


def _free_port_range(count: int) -> tuple[int, int]:
    """``count`` consecutive free loopback ports."""
    for _ in range(50):
        first = _free_port()
        ports = range(first, first + count)
        try:
            probes = []
            for port in ports:
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
        return first, first + count - 1
    raise AssertionError(f"no {count} consecutive free ports")


def _http(method: str, url: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read().decode("utf-8"))


def test_launcher_gives_each_browser_its_own_session(tmp_path, artifacts):
    """``serve --launcher-config`` + wslink's launcher: two browsers get two processes (ports, scenes)."""
    from playwright.sync_api import expect, sync_playwright

    _require_browser_stack()
    port, (first, last) = _free_port(), _free_port_range(3)
    folder = tmp_path / "launcher"
    result = _cli("serve", "--launcher-config", str(folder), "--port", str(port), "--session-ports",
                  f"{first}-{last}", "--session-timeout", "30")
    assert result.returncode == 0, result.stderr
    assert f"-m wslink.launcher {folder / 'launcher.json'}" in result.stdout
    log = tmp_path / "launcher.log"
    with open(log, "w", encoding="utf-8") as out:
        launcher = subprocess.Popen([sys.executable, "-m", "wslink.launcher", str(folder / "launcher.json")],
                                    stdout=out, stderr=subprocess.STDOUT,
                                    env={**UTF8_ENV, "WSLINK_LAUNCHER_DELETE": "1"})
    url = f"http://127.0.0.1:{port}/"
    sessions = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                assert launcher.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                pages = [browser.new_page(viewport={"width": 1400, "height": 900}) for _ in range(2)]
                for page in pages:
                    page.goto(url)
                    expect(page.get_by_text("1. Load")).to_be_visible(timeout=120_000)
                pages[0].get_by_role("button", name="Load the synthetic case").click()
                _wait_text(pages[0], ".ap-case", f"Case: {CASE_ID}")
                pages[0].screenshot(path=artifacts / "web-launcher-user-1.png")
                expect(pages[1].locator(".ap-case").first).to_have_text("Case: (none)")  # not page 0's scene
                pages[1].get_by_role("button", name="Load the synthetic case").click()
                _wait_text(pages[1], ".ap-case", f"Case: {CASE_ID}")
                expect(pages[1].locator(".ap-message").first).to_have_text(re.compile("Loaded"))
            finally:
                browser.close()
        mapping = (folder / "proxy-mapping.txt").read_text(encoding="utf-8").split("\n")
        sessions = dict(line.split(" ") for line in mapping if line.strip())
        assert len(sessions) == 2 and len(set(sessions.values())) == 2, sessions  # two processes, two ports
        assert {int(a.rsplit(":", 1)[1]) for a in sessions.values()} <= set(range(first, last + 1))
        assert {p.name for p in (folder / "sessions").iterdir()} <= set(sessions)
    finally:
        for session_id in sessions:
            with contextlib.suppress(OSError):  # the launcher stops the session's process
                _http("DELETE", f"{url}paraview/{session_id}")
        launcher.terminate()
        try:
            launcher.wait(timeout=20)
        except subprocess.TimeoutExpired:
            launcher.kill()
