"""The studio in a real headless browser (Playwright driving Debian's Chromium), against a real
``painterly serve`` process: open the page, drop a photo, pick a style, wait for the result,
download it and decode it; then the restart guarantee with a server killed mid-job.

Chromium comes from the system (``scripts/install-browser``, run by the README's test
command); Playwright never downloads a browser.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from helpers import wait_for_job
from web_server import Server

pytest.importorskip("fastapi")
playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("PAINTERLY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def photo_png(width=96, height=72) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


DROP_FILE = """
([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/png" }));
  const zone = document.getElementById("dropzone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("studio")) as running:
        yield running


@pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (run scripts/install-browser)")
def test_drop_photo_choose_style_download_result(server, tmp_path):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(accept_downloads=True)
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url)
            page.wait_for_selector("body[data-ready=true]")
            # the gallery shows every built-in style with a thumbnail that loaded
            styles = httpx.get(f"{server.url}/api/styles").json()
            assert page.locator(".style").count() == len(styles)
            thumb = page.locator('.style[data-name="wheat_field"] img')
            thumb.scroll_into_view_if_needed()
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
            # unavailable methods are disabled in the menu, available ones not
            for method, info in httpx.get(f"{server.url}/api/methods").json().items():
                assert page.locator(f'#method option[value="{method}"]').is_disabled() == (not info["available"])

            page.evaluate(DROP_FILE, ["holiday.png", base64.b64encode(photo_png()).decode()])
            assert page.locator("#chosen img").count() == 1
            assert page.locator("#go").is_disabled()          # no style chosen yet
            page.click('.style[data-name="wheat_field"]')
            page.select_option("#size", "256")
            page.click("#go")

            result = page.locator(".result img")
            result.wait_for(timeout=60_000)
            page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=result.element_handle())
            assert "done" in page.locator(".result .meta").inner_text()

            with page.expect_download() as info:
                page.click(".result a.download")
            download = info.value
            assert download.suggested_filename == "holiday_wheat_field.png"
            path = tmp_path / download.suggested_filename
            download.save_as(path)
            image = Image.open(path)
            image.load()
            assert image.size == (256, 192) and image.mode == "RGB"
            assert np.asarray(image).std() > 5  # a picture, not a blank

            with page.expect_download() as info:
                page.click("#download-all")
            assert info.value.suggested_filename == "painterly-results.zip"

            # a bad file dropped on the page: the API's reason is shown, nothing breaks
            page.evaluate(DROP_FILE, ["notes.png", base64.b64encode(b"not an image").decode()])
            page.click("#go")
            page.wait_for_function("document.getElementById('message').textContent.includes('not a readable image')")
            # reload: the page remembers its jobs and shows the result again
            page.reload()
            page.wait_for_selector("body[data-ready=true]")
            page.locator(".result img").wait_for(timeout=10_000)
            assert errors == []
        finally:
            browser.close()


def test_restart_keeps_results_and_fails_interrupted_jobs(tmp_path):
    data = tmp_path / "studio"
    server = Server(data).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            files = {"content": ("p.png", photo_png(), "image/png")}
            done = client.post("/api/jobs", files=files, data={"style": "wheat_field", "size": "64"}).json()
            assert wait_for_job(client, done["id"])["status"] == "done"
            before = client.get(f"/api/jobs/{done['id']}/result").content
            slow = client.post("/api/jobs", files=files, data={"style": "starry_night", "method": "optimize",
                                                                "size": "256", "iterations": "1000"}).json()
            wait_for_job(client, slow["id"], statuses=("running",))
            time.sleep(0.5)
        server.kill()
        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get(f"/api/jobs/{done['id']}/result").content == before
            interrupted = client.get(f"/api/jobs/{slow['id']}").json()
            assert interrupted["status"] == "failed" and "interrupted" in interrupted["error"]
            assert client.get(f"/api/jobs/{slow['id']}/result").status_code == 404
            assert client.get("/api/health").json()["jobs"]["running"] == 0
    finally:
        server.stop()
