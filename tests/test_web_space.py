"""The studio's style-space API, in process, with a tiny style VAE trained here (CLI, ~10 s).

The model is trained once per test session (``tiny_style_vae``, also used by
``test_web_space_browser.py``) on three small synthetic "paintings": two named after built-in
styles' source files (so ``starry_night`` and ``great_wave`` are usable ends) and one held out.
"""

from __future__ import annotations

import io
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import noise_png_bytes, wait_for_job
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from painterly.errors import PainterlyError  # noqa: E402
from painterly.web.app import create_app  # noqa: E402
from painterly.web.config import ServeConfig  # noqa: E402
from painterly.web.space import coarse_to_fine, path_points, round_t  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PAINTINGS = ("van_gogh_starry_night", "hokusai_great_wave", "red_stripes")   # the last one is held out


def synthetic_painting(index: int, width: int = 128, height: int = 32) -> Image.Image:
    """Wide and low: a painting's code is measured at 512 px on its longer side, the costly part."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(index)
    rgb = np.stack([np.sin(x / (2 + 3 * index)) * 110 + 128, np.cos((x + y) / (3 + index)) * 90 + 128,
                    rng.integers(0, 256, (height, width)) * (index / 3)], axis=-1)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8))


def train_tiny_style_vae(tmp_path_factory) -> Path:
    """A style VAE trained by ``painterly train style-vae`` on tiny images, once per session."""
    from painterly.cli import main

    folder = tmp_path_factory.getbasetemp() / "tiny_style_vae"
    model = folder / "style_vae.safetensors"
    if model.is_file():
        return model
    paintings = folder / "paintings"
    paintings.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(PAINTINGS):
        synthetic_painting(i).save(paintings / f"{name}.png")
    code = main(["train", "style-vae", "--styles", str(paintings), "-o", str(model), "--iterations", "20",
                 "--batch-size", "16", "--sizes", "128", "--windows", "4", "--latent", "4", "--hidden", "32",
                 "--quiet", "--no-tensorboard", "--holdout-styles", "red_stripes"])
    assert code == 0 and model.is_file()
    return model


@pytest.fixture(scope="module")
def style_vae(tmp_path_factory) -> Path:
    return train_tiny_style_vae(tmp_path_factory)


@pytest.fixture(scope="module")
def client(style_vae, tmp_path_factory):
    config = ServeConfig(data_dir=tmp_path_factory.mktemp("space_studio"), style_vae=str(style_vae),
                         space_size=40, space_max_size=64, space_iterations=2, space_prefetch_points=5)
    with TestClient(create_app(config)) as c:
        yield c


@pytest.fixture(scope="module")
def upload(client) -> str:
    response = client.post("/api/uploads", files={"photo": ("holiday.png", noise_png_bytes(60, 40), "image/png")})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert (stored["width"], stored["height"], stored["filename"]) == (60, 40, "holiday")
    return stored["id"]


def decoded(client, url) -> Image.Image:
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def render(client, upload, **fields):
    return client.post("/api/space/render", json={"upload": upload, "a": "starry_night", "b": "red_stripes",
                                                  "t": 0.5, **fields})


# ------------------------------------------------------------------ listing

def test_space_lists_paintings_styles_and_method(client):
    from painterly.stylespace.render import resolve_method

    info = client.get("/api/space").json()
    assert info["installed"] is True and info["reason"] is None
    assert info["method"] == resolve_method("auto") and info["method"] in ("adain", "optimize")
    assert info["model"] == "style_vae.safetensors" and info["latent"] == 4
    assert {p["name"]: p["held_out"] for p in info["paintings"]} == {
        "van_gogh_starry_night": False, "hokusai_great_wave": False, "red_stripes": True}
    styles = {s["name"]: s for s in info["styles"]}
    assert set(styles) == {"starry_night", "great_wave"}          # built-ins whose painting is in the space
    assert styles["starry_night"]["painting"] == "van_gogh_starry_night" and styles["starry_night"]["title"]
    assert info["defaults"] == {"size": 40, "max_size": 64, "iterations": 2, "points": 5, "t_step": 0.05}
    spec = client.get("/openapi.json").json()
    for path in ("/api/space", "/api/space/render", "/api/space/prefetch", "/api/space/path", "/api/uploads"):
        assert path in spec["paths"]


def test_page_is_served_and_linked_from_the_studio(client):
    page = client.get("/space")
    assert page.status_code == 200 and "style space" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    for name in ("space.js", "space.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert 'href="/space"' in client.get("/").text


def test_no_style_vae_installed(tmp_path):
    config = ServeConfig(data_dir=tmp_path / "studio", style_vae=str(tmp_path / "missing.safetensors"))
    with TestClient(create_app(config)) as c:
        info = c.get("/api/space").json()
        assert info["installed"] is False and info["paintings"] == [] and info["styles"] == []
        assert "missing.safetensors" in info["reason"] and "painterly train style-vae" in info["reason"]
        stored = c.post("/api/uploads", files={"photo": ("p.png", noise_png_bytes(60, 40), "image/png")}).json()
        response = render(c, stored["id"])
        assert response.status_code == 409 and "train style-vae" in response.json()["detail"]


# ------------------------------------------------------------------ renders

def test_render_a_point_then_the_cache_answers(client, upload):
    response = render(client, upload, t=0.33)
    assert response.status_code == 200, response.text
    point = response.json()
    assert point["t"] == 0.35 and point["status"] in ("queued", "running") and point["cached"] is False
    assert point["size"] == 40 and point["a"] == "starry_night" and point["b"] == "red_stripes"
    job = wait_for_job(client, point["id"])
    assert job["status"] == "done", job
    assert job["kind"] == "space" and job["style"] == "vae:starry_night..red_stripes@0.35"
    image = decoded(client, job["image"])
    assert image.size == (40, 27) and image.mode == "RGB" and np.asarray(image).std() > 1
    assert decoded(client, job["result"]).size == (40, 27)       # the job's own result URL too

    started = time.monotonic()
    again = render(client, upload, t=0.36).json()                # rounds to the same point: no new job
    assert time.monotonic() - started < 2
    assert again["status"] == "done" and again["cached"] is True and again["id"] is None
    assert again["result"] == job["image"]
    assert client.get("/api/health").json()["jobs"]["queued"] == 0
    other = render(client, upload, t=0.35, size=32).json()      # another size is another point
    assert other["cached"] is False
    assert wait_for_job(client, other["id"])["status"] == "done"


def test_prefetch_renders_the_path_coarse_to_fine_and_interactive_renders_jump_the_queue(client, upload):
    body = {"upload": upload, "a": "great_wave", "b": "hokusai_great_wave", "points": 5}
    response = client.post("/api/space/prefetch", json=body)
    assert response.status_code == 200, response.text
    queued = response.json()
    assert [p["t"] for p in queued["points"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert queued["total"] == 5 and queued["queued"] + queued["done"] == 5
    now = render(client, upload, a="great_wave", b="hokusai_great_wave", t=0.6).json()
    ids = {p["t"]: p["id"] for p in queued["points"]}
    again = client.post("/api/space/prefetch", json=body).json()     # asking twice queues nothing new
    assert all(p["id"] in (None, ids[p["t"]]) for p in again["points"])

    deadline = time.monotonic() + 60
    while True:
        status = client.get("/api/space/path", params=body).json()
        if status["done"] == status["total"] or time.monotonic() > deadline:
            break
        assert all(p["status"] in ("queued", "running", "done") for p in status["points"])
        time.sleep(0.1)
    assert status["done"] == 5 and all(decoded(client, p["result"]).size == (40, 27) for p in status["points"])
    assert wait_for_job(client, now["id"])["status"] == "done"
    store = client.app.state.store
    interactive = store.get(now["id"])
    jobs = {t: store.get(job_id) for t, job_id in ids.items()}
    assert all(j.status == "done" for j in jobs.values())
    # the slider's point runs before every prefetched point that had not started when it was asked for
    assert all(j.started < interactive.created or j.started > interactive.started for j in jobs.values())
    # and the path runs coarse to fine: the ends, the middle, the quarters
    assert sorted(jobs, key=lambda t: jobs[t].started) == [0.0, 1.0, 0.5, 0.25, 0.75]

    cached = client.post("/api/space/prefetch", json=body).json()
    assert cached["done"] == cached["cached"] == 5 and cached["queued"] == 0


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("fields, status, needle", [
    ({"a": "stary_night"}, 422, "did you mean starry_night"),
    ({"b": "red_strips"}, 422, "b: unknown style 'red_strips'"),
    ({"a": "/etc/passwd"}, 422, "unknown style"),                  # never a file path
    ({"a": "../../tests/conftest.py"}, 422, "unknown style"),
    ({"t": 1.5}, 422, "t must be between 0 and 1"),
    ({"t": -0.01}, 422, "t must be between 0 and 1"),
    ({"t": "half"}, 422, "t:"),
    ({"size": 4096}, 422, "size must be between 32 and 64"),
    ({"colour": "red"}, 422, "colour"),
    ({"upload": "A" * 22}, 404, "unknown upload"),
    ({"upload": "../../jobs.sqlite"}, 404, "unknown upload"),
])
def test_bad_render_requests(client, upload, fields, status, needle):
    fields = dict(fields)
    response = render(client, fields.pop("upload", upload), **fields)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert needle in detail and "\n" not in detail


def test_bad_prefetch_uploads_and_urls(client, upload):
    body = {"upload": upload, "a": "starry_night", "b": "great_wave"}
    response = client.post("/api/space/prefetch", json={**body, "points": 6})
    assert response.status_code == 422 and "points must be between 2 and 5" in response.json()["detail"]
    raw = '{"upload": "%s", "a": "starry_night", "b": "great_wave", "t": NaN}' % upload
    response = client.post("/api/space/render", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "t must be between 0 and 1" in response.json()["detail"]
    response = client.get("/api/space/path", params={**body, "points": 22})   # listing: up to 1 / t_step + 1
    assert response.status_code == 422 and "points must be between 2 and 21" in response.json()["detail"]
    assert client.get("/api/space/path", params={**body, "points": 21}).json()["total"] == 21
    response = client.get("/api/space/path", params={**body, "a": "starry"})
    assert response.status_code == 422 and "did you mean starry_night" in response.json()["detail"]
    response = client.post("/api/uploads", files={"photo": ("notes.png", b"not an image", "image/png")})
    assert response.status_code == 422 and "photo: not a readable image" in response.json()["detail"]
    response = client.post("/api/uploads", data={"photo": "text"})
    assert response.status_code == 422 and "photo" in response.json()["detail"]
    assert client.get(f"/api/uploads/{upload}").status_code == 200
    for url in ("/api/uploads/" + "A" * 22, "/api/uploads/..%2Fjobs.sqlite", "/api/space/renders/" + "0" * 32,
                "/api/space/renders/..%2F..%2Fjobs.sqlite", "/api/space/renders/xyz"):
        assert client.get(url).status_code == 404, url


# ------------------------------------------------------------------ pure parts

def test_rounding_points_and_order():
    assert round_t(0.33, 0.05) == 0.35 and round_t(0.0, 0.05) == 0.0 and round_t(1.0, 0.05) == 1.0
    assert round_t(0.974, 0.05) == 0.95 and round_t(0.976, 0.05) == 1.0
    for bad in (-0.1, 1.01, math.nan):
        with pytest.raises(PainterlyError, match="between 0 and 1"):
            round_t(bad, 0.05)
    assert path_points(21, 0.05) == [round(i * 0.05, 2) for i in range(21)]
    assert path_points(3, 0.05) == [0.0, 0.5, 1.0]
    assert coarse_to_fine(path_points(5, 0.05)) == [0.0, 1.0, 0.5, 0.25, 0.75]
    assert sorted(coarse_to_fine(path_points(21, 0.05))) == path_points(21, 0.05)


@pytest.mark.parametrize("settings, needle", [
    ({"space_method": "magic"}, "render method"),
    ({"space_t_step": 0.3}, "t step"),
    ({"space_prefetch_points": 30}, "prefetch points"),
    ({"space_size": 16}, "size"),
])
def test_space_settings_are_checked(tmp_path, settings, needle):
    with pytest.raises(PainterlyError, match=needle):
        ServeConfig(data_dir=tmp_path, **settings).validate()


def test_prune_cache_removes_the_oldest_renders_first(tmp_path):
    from painterly.web.space import prune_cache

    folder = tmp_path / "renders"
    folder.mkdir()
    paths = []
    for i in range(5):
        path = folder / f"{i}.png"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + i, 1000 + i))
        paths.append(path)
    os.utime(paths[0], (2000, 2000))          # written last, though its name is first
    removed = prune_cache(folder, max_bytes=250, keep=paths[1])
    assert removed == [paths[2], paths[3]] + [paths[4]]
    assert sorted(p.name for p in folder.iterdir()) == ["0.png", "1.png"]
    assert prune_cache(folder, max_bytes=1000) == []
    assert prune_cache(tmp_path / "missing", max_bytes=0) == []
    with pytest.raises(PainterlyError, match="cache size"):
        ServeConfig(data_dir=tmp_path, space_cache_mb=0).validate()
