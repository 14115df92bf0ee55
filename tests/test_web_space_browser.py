"""The style-space page in a real headless browser (Playwright driving the system's Chromium)
against a real server process with a tiny style VAE: upload a photo, choose A and B, move the
slider, see the preview change to a decodable image and the command line, render the whole path.
"""

from __future__ import annotations

import io
import json
import os
import shutil

import httpx
import numpy as np
import pytest
from PIL import Image

from web_server import Server

pytest.importorskip("fastapi")
playwright = pytest.importorskip("playwright.sync_api")

from test_web_space import train_tiny_style_vae  # noqa: E402

CHROMIUM = os.environ.get("PAINTERLY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (run scripts/install-browser)")

def photo_png(width=96, height=72) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


PREVIEW_READY = """([old]) => {
  const img = document.getElementById("preview");
  return !img.hidden && img.src && img.src !== old && img.complete && img.naturalWidth > 0
    && document.getElementById("preview-note").textContent === "";
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = train_tiny_style_vae(tmp_path_factory)
    flags = ("--style-vae", str(model), "--space-iterations", "2", "--space-points", "5")
    with Server(tmp_path_factory.mktemp("space_studio"), extra_args=flags) as running:
        yield running


def fetch_image(url: str) -> Image.Image:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def test_photo_styles_slider_preview_command_and_whole_path(server, tmp_path):
    photo = tmp_path / "holiday.png"
    photo.write_bytes(photo_png())
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server.url)                                  # the studio links to the page
            page.click('header a[href="/space"]')
            page.wait_for_selector("body[data-ready=true]")
            info = httpx.get(f"{server.url}/api/space").json()
            assert page.locator("#ends option").count() == len(info["styles"]) + len(info["paintings"])
            assert "held out" in page.locator('#ends option[value="red_stripes"]').get_attribute("label")

            page.set_input_files("#photo", str(photo))
            page.wait_for_function("document.getElementById('photo-name').textContent.includes('holiday.png')")
            page.select_option("#size", "128")
            for field, name in (("#style-a", "starry_night"), ("#style-b", "great_wave")):
                page.fill(field, name)
                page.dispatch_event(field, "change")
            page.wait_for_function(PREVIEW_READY, arg=[""], timeout=60_000)
            first = page.get_attribute("#preview", "src")
            assert page.inner_text("#label-a") == "starry_night" and page.inner_text("#label-b") == "great_wave"

            page.fill("#t", "0.8")                                 # move the slider
            assert page.inner_text("#t-value") == "0.80"
            page.wait_for_function(PREVIEW_READY, arg=[first], timeout=60_000)
            second = page.get_attribute("#preview", "src")
            image = fetch_image(server.url + second)
            assert image.size == (128, 96) and image.mode == "RGB" and np.asarray(image).std() > 1

            path_command = page.inner_text("#command-path")
            assert path_command.startswith("painterly style-path holiday.png starry_night great_wave --steps 8")
            assert "-o holiday_path/" in path_command
            point_command = page.inner_text("#command-point")
            assert point_command.startswith("painterly stylize holiday.png --style vae:starry_night..great_wave@0.8")
            assert point_command.endswith("-o holiday_vae.png")

            page.fill("#t", "0.5")                                 # back: nearest rendered point at once
            assert page.get_attribute("#preview", "src") in (first, second)

            page.click("#render-path")
            page.wait_for_function("document.getElementById('path-count').textContent.startsWith('5 / 5')",
                                   timeout=60_000)
            assert page.locator("#strip img").count() == 6         # 0.5 and 0.8 and the path's 0, 0.25, 0.75, 1
            page.wait_for_function(PREVIEW_READY, arg=[second])    # t = 0.5 is exact now
            page.click('#strip button[title="t = 0.25"]')
            assert page.inner_text("#t-value") == "0.25"
            assert page.inner_text("#preview-note") == ""

            # a bad style name is refused on the page, with no request sent
            page.fill("#style-b", "great_wav")
            page.dispatch_event("#style-b", "change")
            assert "not a style of this space" in page.inner_text("#message")
            assert page.locator("#render-path").is_disabled()
            assert errors == []
        finally:
            browser.close()


def test_page_without_a_style_vae_says_so(server):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            reason = "no style VAE is installed: train one with `painterly train style-vae`"
            answer = {"installed": False, "reason": reason, "paintings": [], "styles": [], "method": None}
            page.route("**/api/space", lambda route: route.fulfill(status=200, content_type="application/json",
                                                                   body=json.dumps(answer)))
            page.goto(f"{server.url}/space")
            page.wait_for_selector("body[data-ready=true]")
            assert page.locator("#not-installed").is_visible()
            assert reason in page.inner_text("#not-installed")
            assert page.locator("#photo").is_disabled() and page.locator("#t").is_disabled()
        finally:
            browser.close()
