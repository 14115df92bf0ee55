"""``painterly styles-map``: projection, swatches, the self-contained HTML page (also in a real
browser), the static plot, and one-line errors.

The style space here is a tiny random style VAE saved as a real ``style-vae`` model file, with
the paintings' codes on a circle so the map's layout is known.
"""

from __future__ import annotations

import contextlib
import html.parser
import io
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import array_to_tensor, make_painting, make_photo
from helpers import assert_one_error, run_cli
from painterly.cli import main
from painterly.errors import PainterlyError
from painterly.io.model_file import save_model_file
from painterly.styles import StyleStats
from painterly.stylespace.map import (build_style_map, normalise_points, project_codes, style_map_html,
                                      write_style_map_html)
from painterly.stylespace.space import load_style_space
from painterly.stylespace.swatches import mean_colour, render_swatch
from painterly.stylespace.vae import StyleVAE, StyleVAEConfig
from painterly.stylespace.vectors import image_vector, vector_to_stats

CHROMIUM = os.environ.get("PAINTERLY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
NAMES = ["amber_stripes", "blue_nocturne", "charcoal_sketch", "dutch_still_life", "emerald_waves", "fauve_road"]
HELD_OUT = "charcoal_sketch"
WHEAT_FIELD = Path(__file__).resolve().parent.parent / "src" / "painterly" / "data" / "models" / "wheat_field.safetensors"
LATENT = 4


def circle(count: int, start: float = 0.0) -> np.ndarray:
    """``count`` latent codes evenly on a circle in the first two latent dimensions."""
    angles = start + 2 * math.pi * np.arange(count) / count
    codes = np.zeros((count, LATENT))
    codes[:, 0], codes[:, 1] = 2 * np.cos(angles), 2 * np.sin(angles)
    return codes


def save_tiny_space(path: Path, codes: np.ndarray | None = None) -> Path:
    torch.manual_seed(0)
    config = StyleVAEConfig(latent=LATENT, hidden=(16,))
    vae = StyleVAE(config)
    vae.set_normalisation(1.5 + 0.4 * torch.randn(12, config.input_size))
    codes = circle(len(NAMES)) if codes is None else codes
    state = {**vae.state_dict(), "codes": torch.tensor(codes, dtype=torch.float32)}
    meta = {"architecture": {"vae": config.to_dict(), "code_size": 512},
            "paintings": [{"name": n, "held_out": n == HELD_OUT} for n in NAMES]}
    return save_model_file(path, "style-vae", state, meta, dtype=torch.float32)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_space(tmp_path_factory.mktemp("model") / "style_vae.safetensors")


def user_folder(root: Path) -> Path:
    """Two good images (one with a space in its name), a corrupt one and a text file."""
    folder = root / "mine"
    folder.mkdir()
    Image.fromarray(make_photo(40, 56)).save(folder / "holiday.png")
    Image.fromarray(make_painting(48, 48)).save(folder / "my stripes.jpg", quality=90)
    (folder / "broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "notes.txt").write_text("not an image\n")
    return folder


class Page(html.parser.HTMLParser):
    """The map items (div.item) of a page, each with its images, and the inline scripts."""

    def __init__(self):
        super().__init__()
        self.items: list[dict] = []
        self.scripts: list[dict] = []
        self.external: list[str] = []
        self._in_item = 0
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(attrs[key])
        if tag == "div" and "item" in attrs.get("class", "").split():
            self.items.append({**attrs, "images": []})
            self._in_item = 1
        elif tag == "div" and self._in_item:
            self._in_item += 1
        elif tag == "img" and self._in_item:
            self.items[-1]["images"].append(attrs["src"])
        elif tag == "script":
            self._script = {**attrs, "text": ""}

    def handle_endtag(self, tag):
        if tag == "div" and self._in_item:
            self._in_item -= 1
        if tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"] += data


def parse_page(text: str) -> tuple[Page, dict]:
    page = Page()
    page.feed(text)
    page.close()
    data = json.loads(next(s["text"] for s in page.scripts if s.get("id") == "data"))
    return page, data


# --------------------------------------------------------------------------- projection


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_is_2d_and_deterministic_per_seed(method):
    codes = np.random.default_rng(0).normal(size=(12, LATENT))
    first, again = project_codes(codes, method, seed=3), project_codes(codes, method, seed=3)
    assert first.shape == (12, 2) and np.isfinite(first).all()
    np.testing.assert_allclose(first, again)
    points = normalise_points(first)
    assert points.min() >= -1 - 1e-9 and points.max() <= 1 + 1e-9
    assert np.isclose(np.abs(points).max(), 1.0)
    if method == "pca":                      # the variance of the data lies in its first two directions
        flat = np.zeros((12, LATENT))
        flat[:, :2] = codes[:, :2]
        spread = project_codes(flat, "pca")
        dist = lambda p: np.linalg.norm(p[:, None] - p[None], axis=-1)  # noqa: E731
        np.testing.assert_allclose(dist(spread), dist(codes[:, :2]), atol=1e-8)


def test_projection_of_too_few_codes_is_an_error():
    with pytest.raises(PainterlyError, match="too few"):
        project_codes(np.zeros((3, LATENT)) + np.arange(3)[:, None], "tsne")


# --------------------------------------------------------------------------- swatches


def test_swatch_is_a_deterministic_texture_of_the_size_asked():
    stats = vector_to_stats(torch.full((1920,), 1.2))
    stats = StyleStats(means=stats[0], stds=stats[1])
    image = render_swatch(stats, size=32, iterations=2, coarse_iterations=2, seed=1)
    assert image.shape == (1, 3, 32, 32) and 0 <= float(image.min()) and float(image.max()) <= 1
    torch.testing.assert_close(image, render_swatch(stats, size=32, iterations=2, coarse_iterations=2, seed=1))


def test_mean_colour_recovers_a_flat_colour():
    from painterly.features import VGG19Features

    rng = np.random.default_rng(0)
    array = (np.array([200, 90, 40]) + rng.normal(0, 6, (64, 64, 3))).clip(0, 255).astype(np.uint8)
    means, stds = vector_to_stats(image_vector(VGG19Features(), array_to_tensor(array)))
    rgb = mean_colour(StyleStats(means=means, stds=stds))
    assert np.abs(np.array(rgb) - array.reshape(-1, 3).mean(0)).max() < 25, rgb


# --------------------------------------------------------------------------- the map, as a library


def test_build_map_swatches_flat_colours_and_skipped_files(model, tmp_path):
    space = load_style_space(model)
    codes = iter(circle(2, start=0.3))
    space.encode_image = lambda image: torch.tensor(next(codes), dtype=torch.float32)  # no VGG pass: fast
    swatches = tmp_path / "swatches"
    swatches.mkdir()
    Image.new("RGB", (72, 72), (10, 120, 200)).save(swatches / "blue_nocturne.jpg", quality=85)
    with pytest.warns(UserWarning, match="skipped .*broken.jpg"):
        style_map = build_style_map(space, user_folder(tmp_path), "pca", swatches=swatches)
    assert [i.name for i in style_map.items] == NAMES + ["holiday.png", "my stripes.jpg"]
    assert style_map.points.shape == (8, 2)
    by_name = {i.name: i for i in style_map.items}
    assert by_name["blue_nocturne"].swatch and by_name["blue_nocturne"].mime == "image/jpeg"
    assert not by_name["amber_stripes"].swatch and by_name["amber_stripes"].mime == "image/png"
    assert by_name[HELD_OUT].held_out and not by_name["amber_stripes"].held_out
    assert by_name["my stripes.jpg"].kind == "user"
    assert by_name["my stripes.jpg"].argument == f"'{tmp_path / 'mine' / 'my stripes.jpg'}'"
    assert by_name["amber_stripes"].argument == "amber_stripes"
    thumb = Image.open(io.BytesIO(by_name["holiday.png"].thumbnail))
    assert max(thumb.size) <= 96 and thumb.size[0] > thumb.size[1]      # the user's own image, downscaled
    assert style_map.skipped == [(str(tmp_path / "mine" / "broken.jpg"), "not a readable image")]
    page, data = parse_page(style_map_html(style_map, title="<b>mine</b>"))
    assert "&lt;b&gt;mine&lt;/b&gt;" in style_map_html(style_map, title="<b>mine</b>")
    assert [d["name"] for d in data["items"]] == [i.name for i in style_map.items]
    assert page.items[1]["images"][0].startswith("data:image/jpeg;base64,")


def test_map_of_no_images_is_an_error(model, tmp_path):
    space = load_style_space(model)
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"nope")
    with pytest.warns(UserWarning), pytest.raises(PainterlyError, match="none of its 1 image"):
        build_style_map(space, folder)
    with pytest.raises(PainterlyError, match="unknown projection"):
        build_style_map(space, None, "mds")


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def cli_map(model, tmp_path_factory):
    """One real run of the command: user images encoded with VGG, HTML + PNG + JSON summary.

    (capsys is function-scoped: the output is captured by hand.)
    """
    root = tmp_path_factory.mktemp("cli")
    folder = user_folder(root)
    out, png = root / "map.html", root / "map.png"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["styles-map", "-o", str(out), "--styles", str(folder), "--model", str(model), "--png", str(png),
                     "--json", "--quiet"])
    return {"code": code, "out": out, "png": png, "folder": folder, "stdout": stdout.getvalue(),
            "stderr": stderr.getvalue()}


def test_command_writes_a_self_contained_page(cli_map):
    assert cli_map["code"] == 0, cli_map["stderr"]
    assert f"warning: skipped {cli_map['folder'] / 'broken.jpg'}: not a readable image" in cli_map["stderr"]
    assert "notes.txt" not in cli_map["stderr"]
    summary = json.loads(cli_map["stdout"])
    assert summary["paintings"] == len(NAMES) and summary["held_out"] == 1 and summary["user_images"] == 2
    assert summary["method"] == "pca" and summary["latent"] == LATENT and len(summary["skipped"]) == 1
    text = cli_map["out"].read_text()
    page, data = parse_page(text)
    assert page.external == [] and not any("src" in s for s in page.scripts)       # nothing to fetch
    names = NAMES + ["holiday.png", "my stripes.jpg"]
    assert [i["data-name"] for i in page.items] == names
    assert all(len(i["images"]) == 1 and i["images"][0].startswith("data:image/") for i in page.items)
    for name in names:
        assert name in text
    assert [d["name"] for d in data["items"]] == names
    assert all(-1.0001 <= d["x"] <= 1.0001 and -1.0001 <= d["y"] <= 1.0001 for d in data["items"])
    kinds = {d["name"]: (d["kind"], d["held_out"]) for d in data["items"]}
    assert kinds[HELD_OUT] == ("painting", True) and kinds["holiday.png"] == ("user", False)
    image = Image.open(cli_map["png"])
    assert image.format == "PNG" and image.size[0] > 400


def test_command_refuses_to_overwrite(cli_map, model, capsys):
    before = cli_map["out"].read_bytes()
    code, _, err = run_cli(capsys, "styles-map", "-o", cli_map["out"], "--model", model)
    assert_one_error(code, err, "exists (nothing is overwritten")
    assert cli_map["out"].read_bytes() == before
    code, _, err = run_cli(capsys, "styles-map", "-o", cli_map["out"].with_name("new.html"), "--model", model,
                       "--png", cli_map["png"])
    assert_one_error(code, err, "exists")
    assert not cli_map["out"].with_name("new.html").exists()


@pytest.mark.parametrize("case", ["method", "kind", "empty", "unreadable", "suffix", "umap", "missing"])
def test_command_errors_are_one_line(case, model, tmp_path, capsys, monkeypatch):
    out = tmp_path / "map.html"
    args = ["styles-map", "-o", out, "--model", model, "--quiet"]
    expected = {"method": "invalid choice: 'mds'", "kind": "is a 'fast' model, expected 'style-vae'",
                "empty": "no images in it", "unreadable": "none of its 1 image(s) could be read",
                "suffix": "ending in .html", "umap": "umap-learn", "missing": "not a folder"}[case]
    if case == "method":
        args += ["--method", "mds"]
    elif case == "kind":
        args[args.index(model)] = WHEAT_FIELD
    elif case in ("empty", "unreadable"):
        folder = tmp_path / "styles"
        folder.mkdir()
        (folder / "readme.txt").write_text("no images here\n")
        if case == "unreadable":
            (folder / "broken.png").write_bytes(b"nope")
        args += ["--styles", folder]
    elif case == "suffix":
        args[2] = out = tmp_path / "map.png"
    elif case == "umap":
        monkeypatch.setitem(sys.modules, "umap", None)      # as if umap-learn were not installed
        args += ["--method", "umap"]
    elif case == "missing":
        args += ["--styles", tmp_path / "nowhere"]
    code, _, err = run_cli(capsys, *args)
    if case == "unreadable":
        warning, _, err = err.partition("\n")
        assert warning.startswith("warning: skipped")
    assert_one_error(code, err, expected)
    assert not out.exists()


# --------------------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser_map(model, tmp_path_factory) -> tuple[Path, object]:
    """A map with a known layout: six paintings and two user images evenly on one circle."""
    root = tmp_path_factory.mktemp("browser")
    space = load_style_space(model)
    space.codes = torch.tensor(circle(8)[[0, 1, 2, 4, 5, 6]], dtype=torch.float32)
    codes = iter(circle(8)[[3, 7]])
    space.encode_image = lambda image: torch.tensor(next(codes), dtype=torch.float32)
    with pytest.warns(UserWarning):
        style_map = build_style_map(space, user_folder(root), "pca")
    return write_style_map_html(style_map, root / "map.html"), style_map


@pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (run scripts/install-browser)")
def test_map_in_a_real_browser(browser_map):
    playwright = pytest.importorskip("playwright.sync_api")
    path, style_map = browser_map
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            errors, requests = [], []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(path.resolve().as_uri())
            page.wait_for_selector("body[data-ready=true]")

            # every item is drawn: its thumbnail decoded, its box inside the map
            items = page.locator("#map .item")
            assert items.count() == len(style_map.items) == 8
            page.wait_for_function("Array.from(document.querySelectorAll('#map .item img'))"
                                   ".every(img => img.complete && img.naturalWidth > 0)")
            area = page.locator("#map").bounding_box()
            boxes = [items.nth(i).bounding_box() for i in range(8)]
            for box in boxes:
                assert box["width"] > 20 and box["height"] > 20
                assert area["x"] <= box["x"] and box["x"] + box["width"] <= area["x"] + area["width"]
                assert area["y"] <= box["y"] and box["y"] + box["height"] <= area["y"] + area["height"]

            def item(name):
                return page.locator(f'#map .item[data-name="{name}"]')

            def centre(name):
                box = item(name).bounding_box()
                return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

            # hover shows the name, and whether it is held out or the user's image
            tip = page.locator("#tip")
            item(HELD_OUT).hover()
            assert tip.is_visible() and HELD_OUT in tip.inner_text() and "held out" in tip.inner_text()
            item("amber_stripes").hover()
            assert "amber_stripes" in tip.inner_text() and "held out" not in tip.inner_text()
            item("holiday.png").hover()
            assert "your image" in tip.inner_text()

            # the search box highlights the matching name and dims the others
            page.fill("#search", "emerald")
            assert "match" in item("emerald_waves").get_attribute("class")
            assert "dim" in item("amber_stripes").get_attribute("class")
            assert page.locator("#map .item.match").count() == 1
            assert page.locator("#found").inner_text() == "1 found"
            page.fill("#search", "")
            assert page.locator("#map .item.match, #map .item.dim").count() == 0

            # zoom (button, then wheel) spreads the items apart
            def spread():
                (ax, ay), (bx, by) = centre("amber_stripes"), centre("dutch_still_life")
                return math.hypot(ax - bx, ay - by)

            before = spread()
            assert page.locator("#map").get_attribute("data-zoom") == "1.0000"
            page.click("#zoom-in")
            assert page.locator("#map").get_attribute("data-zoom") == "1.2500"
            assert spread() == pytest.approx(1.25 * before, rel=0.02)
            page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
            page.mouse.wheel(0, -200)
            page.wait_for_function("parseFloat(document.getElementById('map').dataset.zoom) > 1.3")
            assert spread() > 1.3 * before
            page.click("#reset")
            assert spread() == pytest.approx(before, rel=0.02)

            # drag pans everything by the same offset (and a drag is not a click)
            x0, y0 = centre("blue_nocturne")
            page.mouse.move(*centre("fauve_road"))
            page.mouse.down()
            page.mouse.move(centre("fauve_road")[0] + 60, centre("fauve_road")[1] + 40, steps=5)
            page.mouse.up()
            x1, y1 = centre("blue_nocturne")
            assert (x1 - x0, y1 - y0) == (pytest.approx(60, abs=2), pytest.approx(40, abs=2))
            assert page.locator("#map .item.sel").count() == 0
            page.click("#reset")

            # two clicks show the style-path command between them
            item("blue_nocturne").click()
            assert page.locator("#command").inner_text() == ""
            item("my stripes.jpg").click()
            command = page.locator("#command").inner_text()
            user_path = str(path.parent / "mine" / "my stripes.jpg")
            assert command == f"painterly style-path photo.jpg blue_nocturne '{user_path}'"
            assert item("blue_nocturne").get_attribute("data-tag") == "A"
            assert page.locator("#lines line").count() == 1           # PCA: the straight path, drawn
            item(HELD_OUT).click()                                     # a third click starts a new pair
            assert page.locator("#command").inner_text() == ""
            item("fauve_road").click()
            assert page.locator("#command").inner_text() == f"painterly style-path photo.jpg {HELD_OUT} fauve_road"

            assert errors == []
            assert all(url.startswith(("file:", "data:")) for url in requests), requests
        finally:
            browser.close()
