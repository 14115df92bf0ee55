"""``painterly reencode`` and ``painterly embeddings``: the re-encoding loop, embeddings, files, plots, errors."""

from __future__ import annotations

import csv
import gc
import json
import math
import sys
import tracemalloc
import types

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_painting, make_photo
from painterly.analysis.embedding_plot import project, projection_html
from painterly.analysis.embeddings import (DistanceTracker, EmbeddingSequence, NoEmbeddingError, embedding_distances,
                                           embedding_probe, load_sequences, pooled_mean_std)
from painterly.analysis.reencode import ReencodeConfig, quantize_8bit, reencode, run_reencode
from helpers import assert_one_error, run_cli
from painterly.errors import PainterlyError
from painterly.io.model_file import save_model_file
from painterly.io.streaming import AnimationStream
from painterly.methods.feedforward import load_stylizer
from painterly.nets.transformer import TransformerConfig, TransformerNet

TINY = TransformerConfig(width=4, depth=1)          # bottleneck: 16 channels -> 32 values


def save_tiny(path, kind="fast", styles=("tiny",), seed=0, config=TINY):
    torch.manual_seed(seed)
    config = TransformerConfig(config.width, config.depth, len(styles), config.fast_variant)
    net = TransformerNet(config)
    with torch.no_grad():
        for param in net.parameters():  # a lively random net: passes keep changing the image
            param.add_(0.2 * torch.randn_like(param))
    return save_model_file(path, kind, net.state_dict(),
                           {"architecture": config.to_dict(), "styles": [{"name": s} for s in styles]})


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny.safetensors")


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(make_photo(32, 48)).save(folder / "photo.png")
    Image.fromarray(make_painting(40, 40)).save(folder / "stripes.png")
    return [folder / "photo.png", folder / "stripes.png"]


# --------------------------------------------------------------------------- the command, end to end


@pytest.mark.parametrize("passes, every", [(7, 3), (6, 3), (4, 1)])
def test_reencode_writes_every_kth_pass(capsys, tmp_path, photos, model, passes, every):
    out, log = tmp_path / "out", tmp_path / "log"
    code, stdout, stderr = run_cli(capsys, "reencode", *photos, "--model", model, "--reencodes", passes,
                               "--reencode-steps", every, "-o", out, "--embeddings", "--log", log, "--json",
                               "--quiet", "--device", "cpu")
    assert code == 0, stderr
    saved = passes // every + 1
    expected = [f"pass_{p:06d}" for p in range(0, passes + 1, every)]
    summary = json.loads(stdout)
    assert summary["saved_per_image"] == saved and summary["embedding_dim"] == 32
    assert json.loads((out / "reencode.json").read_text())["images"] == summary["images"]
    for photo in photos:
        folder = out / photo.stem
        assert sorted(p.stem for p in folder.glob("pass_*.png")) == expected
        assert sorted(p.stem for p in folder.glob("pass_*.npy")) == expected
        size = Image.open(photo).size
        assert all(Image.open(p).size == size for p in folder.glob("pass_*.png"))
        assert all(np.load(p).shape == (32,) and np.load(p).dtype == np.float32 for p in folder.glob("*.npy"))
        gif = Image.open(out / f"{photo.stem}.gif")
        assert gif.n_frames == saved and gif.size == size
        assert list((log / photo.stem).glob("events.out.tfevents.*"))
    assert list((log / "projector").glob("events.out.tfevents.*"))
    assert (log / "projector" / "projector_config.pbtxt").is_file()
    tsv = next((log / "projector").rglob("metadata.tsv")).read_text().splitlines()
    assert tsv[0] == "image\tpass" and len(tsv) == 1 + 2 * saved
    assert next((log / "projector").rglob("sprite.png")).is_file()


def test_pass_zero_is_the_input_and_passes_follow_from_the_pngs(capsys, tmp_path, photos, model):
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "reencode", photos[0], "--model", model, "--reencodes", 2, "-o", out, "--quiet")
    assert code == 0, stderr
    assert "wrote" in stderr
    frames = [np.array(Image.open(out / "photo" / f"pass_{p:06d}.png")) for p in range(3)]
    assert np.array_equal(frames[0], np.asarray(Image.open(photos[0]).convert("RGB")))
    stylizer = load_stylizer(model)
    again = quantize_8bit(stylizer(torch.from_numpy(frames[1]).permute(2, 0, 1)[None].float() / 255))
    assert np.array_equal((again[0].permute(1, 2, 0) * 255).round().byte().numpy(), frames[2])
    assert not np.array_equal(frames[1], frames[2])
    assert not list((out / "photo").glob("*.npy"))          # no --embeddings, no --log: no embeddings


def test_distances_csv_matches_the_npy_files(capsys, tmp_path, photos, model):
    out = tmp_path / "out"
    assert run_cli(capsys, "reencode", photos[1], "--model", model, "--reencodes", 6, "--reencode-steps", 2, "-o", out,
               "--embeddings", "--quiet")[0] == 0
    [sequence] = load_sequences(out)
    assert sequence.label == "stripes" and list(sequence.passes) == [0, 2, 4, 6]
    expected = embedding_distances(sequence.vectors)
    with open(out / "stripes" / "distances.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["pass"]) for r in rows] == [0, 2, 4, 6]
    assert rows[0]["step_distance"] == ""
    for row, norm, step, first in zip(rows, expected["norm"], expected["step"], expected["first"]):
        assert float(row["norm"]) == pytest.approx(norm, rel=1e-5)
        assert float(row["distance_to_first"]) == pytest.approx(first, rel=1e-5, abs=1e-6)
        if not math.isnan(step):
            assert float(row["step_distance"]) == pytest.approx(step, rel=1e-5)


def test_mp4_animation(capsys, tmp_path, photos, model):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio

    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "reencode", photos[0], "--model", model, "--reencodes", 4, "-o", out, "--mp4",
                          "--quiet")
    assert code == 0, stderr
    assert not (out / "photo.gif").exists()
    frames = iio.imread(out / "photo.mp4")
    assert frames.shape[0] == 5 and frames.shape[1:3] == (32, 48)


def test_multistyle_model_with_a_style_name(capsys, tmp_path, photos):
    path = save_tiny(tmp_path / "trio.safetensors", kind="multistyle", styles=("a", "b", "c"), seed=2)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "reencode", photos[0], "--model", path, "--style", "b", "--reencodes", 2,
                               "-o", out, "--embeddings", "--json", "--quiet")
    assert code == 0, stderr
    assert json.loads(stdout)["method"] == "multistyle"
    assert np.load(out / "photo" / "pass_000002.npy").shape == (32,)


def test_adain_with_an_untrained_decoder(capsys, tmp_path, photos, style_png):
    from painterly.nets.adain import AdainDecoder, AdainDecoderConfig

    torch.manual_seed(0)
    tiny = AdainDecoderConfig(width=1 / 16, input_scale=1.0)
    decoder = save_model_file(tmp_path / "dec.safetensors", "adain", AdainDecoder(tiny).state_dict(),
                              {"architecture": {"decoder": tiny.to_dict()}})
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "reencode", photos[0], "--method", "adain", "--model", decoder, "--style",
                               style_png, "--reencodes", 2, "-o", out, "--embeddings", "--json", "--quiet")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["method"] == "adain" and summary["embedding_dim"] == 1024 and "relu4_1" in summary["embedding"]
    assert len(list((out / "photo").glob("pass_*.npy"))) == 3


# --------------------------------------------------------------------------- the embedding


@pytest.mark.parametrize("fast_variant", [False, True])
def test_fast_embedding_equals_a_manual_forward_pass(tmp_path, fast_variant):
    config = TransformerConfig(width=4, depth=2, fast_variant=fast_variant)
    stylizer = load_stylizer(save_tiny(tmp_path / "net.safetensors", config=config))
    image = torch.rand(1, 3, 32, 44)
    out, vector = embedding_probe(stylizer)(image, True)
    net = stylizer.net
    with torch.no_grad():  # the first half of TransformerNet.forward, by hand (32 x 44 needs no padding)
        y = torch.nn.functional.pixel_unshuffle(image, 2) if fast_variant else image
        for layer in net.down:
            y = layer(y, None)
        for block in net.res:
            y = block(y, None)
        flat = y.flatten(2)
        manual = torch.cat([flat.mean(2), (flat.var(2, unbiased=False) + 1e-5).sqrt()], dim=1)
    channels = 2 * 4 if fast_variant else 4 * 4
    assert vector.shape == (1, 2 * channels)
    assert torch.allclose(vector, manual, atol=1e-5)
    assert torch.equal(out, stylizer(image))   # recording changes nothing about the pass


def test_embedding_length_does_not_depend_on_the_image_size(model):
    probe = embedding_probe(load_stylizer(model))
    assert probe(torch.rand(1, 3, 16, 16), True)[1].shape == probe(torch.rand(1, 3, 40, 52), True)[1].shape


def test_pooled_mean_std():
    features = torch.arange(8.0).reshape(1, 2, 2, 2)
    expected = torch.tensor([[1.5, 5.5, math.sqrt(1.25 + 1e-5), math.sqrt(1.25 + 1e-5)]])
    assert torch.allclose(pooled_mean_std(features), expected)


class Future:
    """Stands in for a method painterly does not have yet."""

    kind, style_names = "future", []

    def __call__(self, images, style=None):
        return images.flip(-1)


def test_a_method_without_embedding_is_refused_and_one_with_embed_plugs_in(tmp_path):
    with pytest.raises(NoEmbeddingError, match="future method defines no embedding"):
        embedding_probe(Future())
    for embed in (lambda images: images.mean(dim=(2, 3)), lambda images, style=None: images.mean(dim=(2, 3))):
        plugged = Future()
        plugged.embed = embed
        config = ReencodeConfig(reencodes=3, embeddings=True, animation="none")
        [result] = run_reencode([("x", torch.rand(1, 3, 16, 16))], embedding_probe(plugged), config,
                                tmp_path / str(id(embed)))
        assert result.images == 4 and result.embeddings == 4 and result.embedding_dim == 3


def test_artist_level_model(capsys, tmp_path, photos):
    adaptive = pytest.importorskip("painterly.nets.adaptive")
    config = adaptive.AdaptiveConfig(width=4, depth=1, disc_width=4, disc_layers=3)
    torch.manual_seed(0)
    path = save_model_file(tmp_path / "artist.safetensors", "adaptive", adaptive.AdaptiveGenerator(config).state_dict(),
                           {"architecture": config.to_dict(), "styles": [{"name": "van_gogh"}]})
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "reencode", photos[0], "--method", "adaptive", "--model", path,
                               "--reencodes", 2, "-o", out, "--embeddings", "--json", "--quiet")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["method"] == "adaptive" and summary["embedding_dim"] > 0
    assert [np.load(p).shape for p in sorted((out / "photo").glob("*.npy"))] == [(summary["embedding_dim"],)] * 3


# --------------------------------------------------------------------------- distances


def test_distances_against_a_hand_calculation():
    vectors = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 0.0], [0.0, 0.0]])
    got = embedding_distances(vectors)
    assert np.allclose(got["norm"], [0, 5, 3, 0])
    assert np.isnan(got["step"][0]) and np.allclose(got["step"][1:], [5, 4, 3])
    assert np.allclose(got["first"], [0, 5, 3, 0])
    tracker = DistanceTracker()
    streamed = [tracker.update(v) for v in vectors + 1.0]          # shifted: norms change, distances do not
    assert [round(d["first"], 9) for d in streamed] == [0, 5, 3, 0]
    assert math.isnan(streamed[0]["step"]) and [d["step"] for d in streamed[1:]] == [5, 4, 3]
    assert streamed[1]["norm"] == pytest.approx(math.hypot(4, 5))


# --------------------------------------------------------------------------- streaming and memory


def test_reencode_is_a_lazy_generator():
    calls = []

    def probe(images, embed):
        calls.append(embed)
        return images.flip(-1), (torch.ones(1, 4) if embed else None)

    passes = reencode(torch.rand(1, 3, 8, 8), probe, ReencodeConfig(reencodes=1000, every=10, embeddings=True))
    assert isinstance(passes, types.GeneratorType) and calls == []
    first = [next(passes) for _ in range(12)]
    assert len(calls) == 12                                     # one pass computed per item asked for
    assert [p.index for p in first if p.saved] == [0, 10]
    assert calls[0] and calls[10] and not any(calls[1:10])      # embeddings only at saved passes
    last = list(reencode(torch.rand(1, 3, 8, 8), probe, ReencodeConfig(reencodes=4, every=2, embeddings=True)))
    assert [p.index for p in last] == [0, 1, 2, 3, 4] and last[-1].embedding.shape == (4,)


def test_animation_stream_writes_frames_as_they_come(tmp_path):
    path = tmp_path / "run.gif"
    with AnimationStream(path, fps=5) as stream:
        sizes = []
        for k in range(6):
            stream.append(torch.full((1, 3, 12, 20), k / 5))
            sizes.append(stream._file.tell())
        assert not path.exists()                               # published only when finished
    assert all(b > a for a, b in zip(sizes, sizes[1:]))         # the file grows frame by frame
    gif = Image.open(path)
    assert gif.n_frames == 6 and gif.info["duration"] == 200
    gif.seek(5)
    assert np.asarray(gif.convert("RGB")).min() == 255
    with pytest.raises(RuntimeError), AnimationStream(tmp_path / "broken.gif") as stream:
        stream.append(torch.zeros(1, 3, 8, 8))
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == [path]                   # nothing left of the broken one


def test_memory_does_not_grow_with_the_number_of_passes(tmp_path, model):
    probe = embedding_probe(load_stylizer(model))
    image = torch.rand(1, 3, 16, 16)
    run_reencode([("x", image)], probe, ReencodeConfig(reencodes=3, embeddings=True), tmp_path / "warm")

    def peak(passes):
        gc.collect()
        tracemalloc.start()
        try:
            run_reencode([("x", image)], probe, ReencodeConfig(reencodes=passes, embeddings=True), tmp_path / f"{passes}")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(20), peak(200)
    assert len(list((tmp_path / "200" / "x").glob("pass_*"))) == 2 * 201
    # keeping anything per pass (a 16 px frame is 768 bytes) would add > 130 kB over 180 more passes
    assert large - small < 100_000, (small, large)


def test_projector_keeps_at_most_the_points_asked_for(tmp_path, model):
    probe = embedding_probe(load_stylizer(model))
    config = ReencodeConfig(reencodes=30, embeddings=False, animation="none", projector_points=5)
    run_reencode([("a", torch.rand(1, 3, 16, 16)), ("b", torch.rand(1, 3, 16, 20))], probe, config,
                 tmp_path / "out", log_dir=tmp_path / "log")
    rows = next((tmp_path / "log" / "projector").rglob("metadata.tsv")).read_text().splitlines()[1:]
    assert 2 <= len(rows) <= 5 and {r.split("\t")[0] for r in rows} == {"a", "b"}
    assert not list((tmp_path / "out").rglob("*.npy"))           # --log alone writes no .npy files
    assert (tmp_path / "out" / "a" / "distances.csv").is_file()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("flags, message", [
    (["--reencodes", "0"], "--reencodes: must be at least 1"),
    (["--reencodes", "-3"], "--reencodes: must be at least 1"),
    (["--reencodes", "5", "--reencode-steps", "0"], "--reencode-steps: must be at least 1"),
    (["--reencodes", "5", "--model", "wheat_fild"], "unknown model 'wheat_fild'"),
    (["--reencodes", "5", "--model", "no/such/model.safetensors"], "model file not found"),
    (["--reencodes", "5", "--style", "no_such_style"], "no_such_style"),
    (["--reencodes", "5"], "a style is needed"),
])
def test_bad_arguments_are_one_line_and_write_nothing(capsys, tmp_path, photos, flags, message):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "reencode", photos[0], "-o", out, "--quiet", *flags)
    assert_one_error(code, stderr, message)
    assert not out.exists() and stdout == ""


def test_unknown_model_name_lists_the_builtin_ones(capsys, tmp_path, photos):
    code, _, stderr = run_cli(capsys, "reencode", photos[0], "-o", tmp_path / "out", "--reencodes", "2",
                          "--model", "wheat_fild")
    assert_one_error(code, stderr, "did you mean wheat_field")


def test_an_earlier_run_is_not_mixed_in(capsys, tmp_path, photos, model):
    out = tmp_path / "out"
    args = ["reencode", photos[0], "--model", model, "--reencodes", 4, "-o", out, "--embeddings", "--quiet"]
    assert run_cli(capsys, *args)[0] == 0
    shorter = args[:5] + [2] + args[6:]
    code, _, stderr = run_cli(capsys, *shorter)
    assert_one_error(code, stderr, "earlier run")
    assert run_cli(capsys, *shorter, "--overwrite")[0] == 0
    assert len(list((out / "photo").glob("pass_*.npy"))) == 3   # the stale passes 3 and 4 are gone


def test_unreadable_input_is_refused_before_writing(capsys, tmp_path, photos, model, text_as_jpg):
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "reencode", photos[0], text_as_jpg, "--model", model, "--reencodes", 2, "-o", out)
    assert_one_error(code, stderr, "not a readable image")
    assert not out.exists()


def test_missing_tensorboard_is_a_clear_error(capsys, tmp_path, photos, model, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "reencode", photos[0], "--model", model, "--reencodes", 2, "-o", out,
                          "--log", tmp_path / "log")
    assert_one_error(code, stderr, "pip install 'painterly[analysis]'")
    assert not out.exists()


def test_config_validation():
    assert ReencodeConfig(reencodes=10, every=3).saved_count == 4
    for bad in ({"reencodes": 0}, {"every": -1}, {"every": 1.5}, {"animation": "avi"}, {"size": 8}):
        with pytest.raises(PainterlyError):
            ReencodeConfig(**bad).validate()


# --------------------------------------------------------------------------- painterly embeddings


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, model):
    folder = tmp_path_factory.mktemp("run")
    stylizer = load_stylizer(model)
    config = ReencodeConfig(reencodes=12, every=2, embeddings=True, animation="none")
    images = [("photo", torch.from_numpy(make_photo(32, 32)).permute(2, 0, 1)[None].float() / 255),
              ("stripes", torch.from_numpy(make_painting(32, 32)).permute(2, 0, 1)[None].float() / 255)]
    run_reencode(images, embedding_probe(stylizer), config, folder)
    return folder


@pytest.mark.parametrize("method, extra", [("pca", []), ("tsne", []), ("pca", ["--3d"])])
def test_embeddings_plots(capsys, tmp_path, run_folder, method, extra):
    plot = tmp_path / "plot.png"
    code, stdout, stderr = run_cli(capsys, "embeddings", run_folder, "--method", method, "-o", plot,
                               "--curves", tmp_path / "curves.png", "--json", *extra)
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["points"] == 14 and [s["label"] for s in summary["sequences"]] == ["photo", "stripes"]
    assert Image.open(plot).size[0] > 300 and Image.open(tmp_path / "curves.png").size[0] > 300
    html = (tmp_path / "plot.html").read_text()
    assert "<canvas" in html and '"stripes"' in html
    assert "http" not in html.replace("http-equiv", "") and "<script src" not in html   # offline


def test_projection_is_deterministic_and_html_escapes_labels():
    vectors = np.random.default_rng(0).standard_normal((12, 5))
    assert np.allclose(project(vectors, "tsne", 2, seed=1), project(vectors, "tsne", 2, seed=1))
    assert project(vectors[:2], "pca", 3).shape == (2, 3)
    html = projection_html(np.zeros((2, 2)), [EmbeddingSequence("</script><b>", np.arange(2), np.zeros((2, 3)))])
    assert "</script><b>" not in html


def test_embeddings_errors(capsys, tmp_path, run_folder, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, stderr = run_cli(capsys, "embeddings", empty, "--method", "pca", "-o", tmp_path / "p.png")
    assert_one_error(code, stderr, "no embeddings")
    code, _, stderr = run_cli(capsys, "embeddings", tmp_path / "missing", "-o", tmp_path / "p.png")
    assert_one_error(code, stderr, "not a folder")
    code, _, stderr = run_cli(capsys, "embeddings", run_folder, "-o", tmp_path / "p.jpg")
    assert_one_error(code, stderr, "ending in .png")
    monkeypatch.setitem(sys.modules, "umap", None)
    code, _, stderr = run_cli(capsys, "embeddings", run_folder, "--method", "umap", "-o", tmp_path / "p.png")
    assert_one_error(code, stderr, "umap-learn")
    assert not list(tmp_path.glob("p.*"))
