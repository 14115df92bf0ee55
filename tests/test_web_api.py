"""The web studio's API, in process: every endpoint, good and bad input."""

from __future__ import annotations

import io
import warnings
import zipfile
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

from painterly.web.app import JOB_FIELDS, create_app, resolve_method  # noqa: E402
from painterly.web.config import ServeConfig  # noqa: E402
from painterly.web.store import INTERRUPTED, JobStore, valid_job_id  # noqa: E402
from painterly.web.uploads import display_name  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture()
def client(tmp_path):
    config = ServeConfig(data_dir=tmp_path / "studio", max_upload_bytes=2 * 1024 * 1024, max_pixels=1_000_000)
    with TestClient(create_app(config)) as c:
        yield c


def submit(client, content=None, **fields):
    files = {"content": ("photo.png", noise_png_bytes() if content is None else content, "image/png")}
    data = {"style": "wheat_field", "size": "48", **fields}
    return client.post("/api/jobs", files=files, data={k: v for k, v in data.items() if v is not None})


# ------------------------------------------------------------------ read-only endpoints

def test_health_styles_methods_and_openapi(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and set(health["jobs"]) == {"queued", "running", "done", "failed"}
    styles = client.get("/api/styles").json()
    by_name = {s["name"]: s for s in styles}
    assert "wheat_field" in by_name and "fast" in by_name["wheat_field"]["methods"]
    assert "starry_night" in by_name and "optimize" in by_name["starry_night"]["methods"]
    assert all({"name", "title", "artist", "methods"} <= set(s) for s in styles)
    methods = client.get("/api/methods").json()
    assert methods["optimize"]["available"] and methods["fast"]["available"]
    assert methods["adaptive"]["available"] and "van_gogh" in by_name          # the shipped artist-level model
    assert by_name["van_gogh"]["methods"] == ["adaptive"]
    spec = client.get("/openapi.json").json()
    for path in ("/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result", "/api/styles", "/api/health"):
        assert path in spec["paths"]


def test_a_method_with_no_model_is_unavailable_with_its_reason(tmp_path):
    config = ServeConfig(data_dir=tmp_path / "studio", model_dir=str(tmp_path / "no_models"))
    with TestClient(create_app(config)) as c:
        methods = c.get("/api/methods").json()
    assert methods["optimize"]["available"]
    for name in ("fast", "multistyle", "adaptive"):
        assert not methods[name]["available"] and methods[name]["reason"], name


def test_page_and_static_files_are_local(client):
    page = client.get("/")
    assert page.status_code == 200 and "painterly" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../app.py").status_code == 404


def test_thumbnails_are_jpegs_and_names_are_checked(client):
    artist = client.get("/api/styles/van_gogh/thumbnail")      # an artist-level model's name
    assert artist.status_code == 200 and artist.headers["content-type"] == "image/jpeg"
    response = client.get("/api/styles/great_wave/thumbnail")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size[0] >= 64
    assert client.get("/api/styles/no_such_style/thumbnail").status_code == 404
    assert client.get("/api/styles/..%2F..%2Fetc/thumbnail").status_code == 404


# ------------------------------------------------------------------ jobs

def test_fast_job_end_to_end(client):
    response = submit(client, strength="0.8", preserve_color="true", detail="0.5")
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued" and valid_job_id(created["id"])
    job = wait_for_job(client, created["id"])
    assert job["status"] == "done", job
    assert job["method"] == "fast" and job["strength"] == 0.8 and job["preserve_color"] is True
    assert job["detail"] == 0.5
    assert (job["width"], job["height"]) == (48, 40)
    result = client.get(job["result"])
    assert result.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(result.content))
    assert image.size == (48, 40) and image.mode == "RGB"
    download = client.get(job["result"], params={"download": 1})
    assert download.headers["content-disposition"] == 'attachment; filename="photo_wheat_field.png"'
    assert download.content == result.content


def test_artist_level_job_by_the_artists_name(client):
    job = wait_for_job(client, submit(client, style="van_gogh").json()["id"])   # method auto
    assert job["status"] == "done", job
    assert job["method"] == "adaptive" and (job["width"], job["height"]) == (48, 40)
    assert Image.open(io.BytesIO(client.get(job["result"]).content)).size == (48, 40)


def test_optimize_job_reports_progress_and_finishes(client):
    response = submit(client, style="starry_night", method="optimize", size="32", iterations="3")
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "done", job
    assert job["method"] == "optimize" and job["progress"] == 1.0 and job["iterations"] == 3
    assert Image.open(io.BytesIO(client.get(job["result"]).content)).size == (32, 27)


def test_own_style_image_uses_adain_when_installed_else_optimisation(client):
    from painterly.catalog import method_status

    expected = "adain" if method_status().get("adain") is None else "optimize"
    for method, wanted in (("auto", expected), ("optimize", "optimize")):
        files = {"content": ("p.png", noise_png_bytes(), "image/png"),
                 "style_image": ("painting.png", noise_png_bytes(seed=3), "image/png")}
        response = client.post("/api/jobs", files=files, data={"size": "32", "iterations": "2", "method": method})
        assert response.status_code == 202, response.text
        job = wait_for_job(client, response.json()["id"])
        assert job["status"] == "done" and job["method"] == wanted and job["style"] is None, job


def test_zip_of_results(client):
    ids = [submit(client).json()["id"] for _ in range(2)]
    for job_id in ids:
        assert wait_for_job(client, job_id)["status"] == "done"
    response = client.get("/api/results.zip", params={"ids": ",".join(ids + ["unknownunknownunknown1"])})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        assert sorted(names) == ["photo_wheat_field.png", "photo_wheat_field_2.png"]
        for name in names:
            assert Image.open(io.BytesIO(archive.read(name))).size == (48, 40)
    assert client.get("/api/results.zip", params={"ids": "nope"}).status_code == 404
    assert client.get("/api/results.zip").status_code == 422


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("payload, needle", [
    (b"", "empty file"),
    (b"this is not an image at all", "not a readable image"),
    (noise_png_bytes()[:60], "content:"),                                   # truncated PNG
    (noise_png_bytes(4, 4), "too small"),
])
def test_bad_photos_are_refused_with_a_clear_message(client, payload, needle):
    response = submit(client, content=payload)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert needle in detail and "/" not in detail.split(":")[0]  # names the field, never a server path


def test_huge_image_is_refused_before_decoding(client):
    buffer = io.BytesIO()
    Image.new("L", (1500, 1000)).save(buffer, "PNG")  # 1.5 MP over the 1 MP limit, tiny file
    response = submit(client, content=buffer.getvalue())
    assert response.status_code == 422 and "over the limit" in response.json()["detail"]


def test_oversized_upload_gets_413(client):
    response = submit(client, content=b"\x89PNG" + b"0" * (5 * 1024 * 1024))
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_odd_modes_are_accepted(client):
    for mode in ("RGBA", "P", "L", "CMYK"):
        buffer = io.BytesIO()
        image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)).convert(mode)
        image.save(buffer, "JPEG" if mode == "CMYK" else "PNG")
        job = wait_for_job(client, submit(client, content=buffer.getvalue()).json()["id"])
        assert job["status"] == "done", (mode, job)


@pytest.mark.parametrize("fields, needle", [
    ({"style": "wheat_feild"}, "did you mean wheat_field"),
    ({"style": None}, "exactly one of style"),
    ({"method": "magic"}, "unknown method"),
    ({"method": "adain", "style": "van_gogh"}, "cannot render"),    # an artist-level model has no statistics
    ({"method": "adaptive", "style": "starry_night"}, "cannot render"),
    ({"strength": "1.5"}, "strength must be between"),
    ({"strength": "strong"}, "strength must be a number"),
    ({"detail": "2.5"}, "detail must be between"),
    ({"size": "100000"}, "size must be between"),
    ({"iterations": "0"}, "iterations must be between"),
    ({"preserve_color": "maybe"}, "preserve_color must be true or false"),
    ({"colour": "1"}, "unknown field 'colour'"),
])
def test_bad_fields_are_422_with_a_reason(client, fields, needle):
    response = submit(client, **fields)
    assert response.status_code == 422, response.text
    assert needle in response.json()["detail"]


def test_missing_content_field(client):
    response = client.post("/api/jobs", files={"photo": ("p.png", noise_png_bytes(), "image/png")},
                           data={"style": "wheat_field"})
    assert response.status_code == 422 and "unknown field 'photo'" in response.json()["detail"]
    response = client.post("/api/jobs", data={"style": "wheat_field"})
    assert response.status_code == 422 and "content" in response.json()["detail"]


def test_traversal_and_unknown_ids(client, tmp_path):
    for job_id in ("../../jobs.sqlite", "..%2F..%2Fjobs.sqlite", "a" * 22, "short", "x" * 200):
        for suffix in ("", "/result"):
            response = client.get(f"/api/jobs/{job_id}{suffix}")
            assert response.status_code == 404, (job_id, suffix)
    # a malicious upload name is display text only; files are named by the job id
    files = {"content": ("../../../etc/passwd.png", noise_png_bytes(), "image/png")}
    job = wait_for_job(client, client.post("/api/jobs", files=files, data={"style": "wheat_field", "size": "48"}).json()["id"])
    assert job["filename"] == "passwd"
    stored = sorted(p.relative_to(tmp_path / "studio").as_posix() for p in (tmp_path / "studio").rglob("*.png"))
    assert stored == [f"results/{job['id']}.png"]


def test_result_of_unfinished_or_failed_job(client, tmp_path):
    store = JobStore(tmp_path / "studio" / "jobs.sqlite")
    job = store.create({"method": "fast", "style": "wheat_field"}, "photo")
    assert client.get(f"/api/jobs/{job.id}/result").status_code == 409
    store.fail(job.id, "boom")
    response = client.get(f"/api/jobs/{job.id}/result")
    assert response.status_code == 404 and "boom" in response.json()["detail"]


# ------------------------------------------------------------------ pure parts

def test_store_fails_unfinished_jobs_on_restart(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    done, running, queued = (store.create({"method": "fast"}, f"p{i}") for i in range(3))
    store.start(done.id)
    store.finish(done.id, 10, 10)
    store.start(running.id)
    store.progress(running.id, 0.4)
    reopened = JobStore(tmp_path / "jobs.sqlite")
    assert reopened.fail_unfinished() == 2
    assert reopened.get(done.id).status == "done"
    for job in (running, queued):
        again = reopened.get(job.id)
        assert again.status == "failed" and again.error == INTERRUPTED


def test_job_ids_are_random_and_validated(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    ids = {store.create({}, "p").id for _ in range(200)}
    assert len(ids) == 200 and all(valid_job_id(i) for i in ids)
    assert not valid_job_id("../etc/passwd") and store.get("../etc/passwd") is None


def test_display_names():
    assert display_name("../../a b/c d.jpg") == "c_d"
    assert display_name("C:\\Users\\me\\photo.PNG") == "photo"
    assert display_name("....png") == "image" and display_name(None) == "image"
    assert len(display_name("x" * 500 + ".png")) == 80


def test_resolve_method():
    from painterly.catalog import CatalogEntry

    ready = {"fast": None, "multistyle": "none", "adain": "none", "optimize": None, "adaptive": "none"}
    both = CatalogEntry("s", "S", "A", methods=("fast", "optimize"))
    stats_only = CatalogEntry("t", "T", "A", methods=("adain", "optimize"))
    assert resolve_method("auto", both, ready) == "fast"
    assert resolve_method("auto", stats_only, ready) == "optimize"   # adain not installed
    assert resolve_method("optimize", both, ready) == "optimize"
    assert resolve_method("auto", None, ready) == "optimize"         # an uploaded style image
    with pytest.raises(Exception, match="not available"):
        resolve_method("adain", stats_only, ready)
    assert set(JOB_FIELDS) >= {"content", "style", "style_image", "method", "strength"}


def test_serve_cli_errors(tmp_path, capsys):
    import socket

    from painterly.cli import main

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        code = main(["serve", "--port", str(taken.getsockname()[1]), "--data-dir", str(tmp_path / "d")])
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot listen") and err.count("\n") == 1
    (tmp_path / "file").write_text("x")
    assert main(["serve", "--data-dir", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_webcam_frame_needs_a_network_for_the_style(tmp_path):
    from painterly.methods.feedforward import builtin_model_dir

    models = tmp_path / "models"          # only the wheat_field network: starry_night has no network here
    models.mkdir()
    for suffix in (".safetensors", ".json"):
        (models / f"wheat_field{suffix}").write_bytes((builtin_model_dir() / f"wheat_field{suffix}").read_bytes())
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 200)).save(buffer, "JPEG")
    config = ServeConfig(data_dir=tmp_path / "studio", model_dir=models)
    with TestClient(create_app(config)) as client:
        response = client.post("/api/frame", files={"frame": ("f.jpg", buffer.getvalue(), "image/jpeg")},
                               data={"style": "starry_night"})
    assert response.status_code == 422 and "no fast network" in response.json()["detail"]


def test_data_dir_is_created(tmp_path):
    config = ServeConfig(data_dir=tmp_path / "new" / "dir")
    create_app(config)
    assert Path(tmp_path / "new" / "dir" / "jobs.sqlite").is_file()


def test_webcam_frame_endpoint(client):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(buffer, "JPEG")
    response = client.post("/api/frame", files={"frame": ("f.jpg", buffer.getvalue(), "image/jpeg")},
                           data={"style": "wheat_field"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (160, 120)
    for style in ("starry_night", "great_wave"):   # its per-style network; a slot of the multi-style network
        response = client.post("/api/frame", files={"frame": ("f.jpg", buffer.getvalue(), "image/jpeg")},
                               data={"style": style})
        assert response.status_code == 200 and Image.open(io.BytesIO(response.content)).size == (160, 120)
    response = client.post("/api/frame", files={"frame": ("f.jpg", b"nope", "image/jpeg")},
                           data={"style": "wheat_field"})
    assert response.status_code == 422 and "frame: not a readable image" in response.json()["detail"]
    assert client.post("/api/frame", data={"style": "wheat_field"}).status_code == 422
