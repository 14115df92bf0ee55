"""The style space (issue #8): style vectors, the style VAE, its trainer, vae: styles and style-path."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.cli import main
from painterly.features import VGG19Features
from painterly.losses import calc_mean_std, gaussian_kl
from painterly.stylespace.space import (StyleSpace, VaeSpecError, builtin_style_vae_path, is_vae_spec,
                                        load_style_space, parse_vae_spec)
from painterly.stylespace.vae import StyleVAE, StyleVAEConfig, interpolate, reparameterize, vae_loss
from painterly.stylespace.vectors import (VECTOR_LAYERS, image_vector, random_windows, stats_to_vector,
                                          vector_size, vector_to_stats, window_vectors)

TINY_TRAIN = ["--sizes", "48", "--windows", "4", "--code-size", "64", "--latent", "3", "--hidden", "16",
              "--iterations", "30", "--batch-size", "8", "--quiet", "--no-tensorboard", "--seed", "0"]


@pytest.fixture(scope="module")
def vgg():
    return VGG19Features(VECTOR_LAYERS)


def _painting(seed: int, size=(64, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, size[0])[None, :, None]
    y = np.linspace(0, 1, size[1])[:, None, None]
    base = rng.uniform(0, 1, 3)[None, None, :]
    stripes = 0.5 + 0.5 * np.sin(2 * math.pi * (x * (seed + 1) * 2 + y * seed))
    noise = rng.uniform(0, 1, (size[1], size[0], 3)) * (seed % 3) / 3
    array = np.clip(0.6 * base * stripes + 0.4 * noise, 0, 1)
    return Image.fromarray((array * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def paintings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paintings")
    for i in range(5):
        _painting(i).save(folder / f"artist_{i}.png")
    _painting(7).save(folder / "kept_out.png")
    return folder


@pytest.fixture(scope="module")
def tiny_model(paintings, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "space.safetensors"
    code = main(["train", "style-vae", "--styles", str(paintings), "-o", str(out), "--holdout-styles", "kept_out",
                 *TINY_TRAIN])
    assert code == 0
    return out


# --------------------------------------------------------------------------- style vectors


def test_vector_round_trip_and_layout():
    means = {layer: torch.rand(c) * 50 for layer, c in zip(VECTOR_LAYERS, (64, 128, 256, 512))}
    stds = {layer: torch.rand(c) * 80 + 0.1 for layer, c in zip(VECTOR_LAYERS, (64, 128, 256, 512))}
    vector = stats_to_vector(means, stds)
    assert vector.shape == (vector_size(),) == (1920,)
    assert torch.allclose(vector[:64], means["relu1_1"].log1p())          # means first, layer by layer
    assert torch.allclose(vector[960:1024], stds["relu1_1"].log1p())      # then stds
    back_means, back_stds = vector_to_stats(vector)
    for layer in VECTOR_LAYERS:
        assert torch.allclose(back_means[layer], means[layer], rtol=1e-4, atol=1e-3)
        assert torch.allclose(back_stds[layer], stds[layer], rtol=1e-4, atol=1e-3)


def test_decoded_stats_stay_valid():
    means, stds = vector_to_stats(torch.full((1920,), -5.0))     # far below any measured vector
    assert all((m >= 0).all() for m in means.values())
    assert all((s > 0).all() for s in stds.values())
    with pytest.raises(ValueError):
        vector_to_stats(torch.zeros(10))


def test_window_vectors_match_direct_statistics(vgg):
    image = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    whole = window_vectors(vgg, image, [(0.0, 0.0, 1.0, 1.0)])[0]
    assert torch.allclose(whole, image_vector(vgg, image), atol=1e-4)
    # a window on whole feature cells of every layer: statistics of the sliced feature maps
    feats = vgg(image)
    window = (0.5, 0.25, 0.5, 0.5)              # rows 24..48, cols 16..48 of the image
    got = window_vectors(vgg, image, [window])[0]
    means, stds = {}, {}
    for layer in VECTOR_LAYERS:
        f = feats[layer]
        h, w = f.shape[-2:]
        part = f[..., round(0.5 * h):h, round(0.25 * w):round(0.75 * w)]
        m, s = calc_mean_std(part.double())
        means[layer], stds[layer] = m.flatten(), s.flatten()
    assert torch.allclose(got, stats_to_vector(means, stds), atol=1e-4)


def test_random_windows_inside_the_image():
    gen = torch.Generator().manual_seed(3)
    for aspect in (0.5, 1.0, 1.7):
        for top, left, h, w in random_windows(50, 0.4, gen, aspect):
            assert 0 <= top and top + h <= 1 + 1e-9 and 0 <= left and left + w <= 1 + 1e-9
            # square in pixels: height fraction * H == width fraction * W, i.e. h == w * aspect
            assert math.isclose(h, w * aspect, rel_tol=1e-6)
            assert min(h, w) >= 0.4 * min(1, 1 / aspect, aspect) - 1e-9


# --------------------------------------------------------------------------- the VAE maths


def test_gaussian_kl_against_closed_form_and_torch():
    mu = torch.tensor([[0.5, -1.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 0.0]])
    # hand: 0.5 * sum(var + mu^2 - 1 - log var) per row
    row0 = 0.5 * ((1 + 0.25 - 1 - 0) + (4 + 1 - 1 - math.log(4)))
    row1 = 0.5 * ((0.25 + 0 - 1 - math.log(0.25)) + (1 + 4 - 1 - 0))
    assert math.isclose(float(gaussian_kl(mu, logvar)), (row0 + row1) / 2, rel_tol=1e-6)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    reference = torch.distributions.kl_divergence(q, p).sum(-1).mean()
    assert torch.allclose(gaussian_kl(mu, logvar), reference)


def test_gradchecks():
    mu = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(3, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(gaussian_kl, (mu, logvar))
    assert torch.autograd.gradcheck(lambda m, v: reparameterize(m, v, noise), (mu, logvar))


def test_vae_loss_terms():
    recon, target = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
    mu, logvar = torch.zeros(1, 3), torch.zeros(1, 3)
    terms = vae_loss(recon, target, mu, logvar, beta=2.0)
    assert float(terms["recon"]) == pytest.approx(0.5 * 5.0)
    assert float(terms["kl"]) == pytest.approx(0.0)
    mu = torch.ones(1, 3)
    terms = vae_loss(recon, target, mu, logvar, beta=2.0)
    assert float(terms["total"]) == pytest.approx(2.5 + 2.0 * 1.5)


def test_vae_shapes_and_normalisation():
    vae = StyleVAE(StyleVAEConfig(latent=5, hidden=(32,)))
    vectors = torch.randn(10, 1920) * 3 + 7
    vae.set_normalisation(vectors)
    assert torch.allclose(vae.standardise(vectors).mean(0), torch.zeros(1920), atol=1e-5)
    mu, logvar = vae.encode(vectors)
    assert mu.shape == logvar.shape == (10, 5)
    assert vae.decode(mu).shape == (10, 1920)
    with pytest.raises(ValueError):
        vae.encode(torch.zeros(2, 7))
    z_a, z_b = torch.zeros(5), torch.ones(5)
    assert torch.equal(interpolate(z_a, z_b, 0.0), z_a) and torch.equal(interpolate(z_a, z_b, 1.0), z_b)
    assert torch.allclose(interpolate(z_a, z_b, 0.3), torch.full((5,), 0.3))


# --------------------------------------------------------------------------- specs


@pytest.mark.parametrize("text, a, b, t, random", [
    ("vae:starry_night", "starry_night", None, 0.0, False),
    ("vae:starry_night..great_wave@0.3", "starry_night", "great_wave", 0.3, False),
    ("vae:a..b@0", "a", "b", 0.0, False),
    ("vae:a..b@1", "a", "b", 1.0, False),
    ("vae:random", None, None, 0.0, True),
])
def test_parse_vae_spec(text, a, b, t, random):
    spec = parse_vae_spec(text)
    assert (spec.a, spec.b, spec.t, spec.random) == (a, b, t, random)
    assert is_vae_spec(text)


def test_parse_vae_spec_random_scale_and_errors():
    assert parse_vae_spec("vae:random@0.5").scale == 0.5
    for bad in ("vae:a..b@1.5", "vae:a..b@-0.1", "vae:a..b", "vae:", "vae:a..@0.5", "vae:a..b@x", "starry_night"):
        with pytest.raises(VaeSpecError):
            parse_vae_spec(bad)


# --------------------------------------------------------------------------- training and the space


def test_trained_model_file(tiny_model, paintings):
    space = load_style_space(tiny_model)
    assert sorted(space.names) == sorted(p.stem for p in paintings.iterdir())
    assert space.held_out[space.names.index("kept_out")] is True
    assert sum(space.held_out) == 1
    assert space.codes.shape == (6, 3)
    meta = json.loads(tiny_model.with_suffix(".json").read_text())
    assert meta["kind"] == "style-vae" and meta["training"]["steps"] == 30
    assert meta["training"]["vectors"] == 5 * 4          # 5 training paintings x 4 windows x 1 size
    # the stored code is the encoder's mean for the whole painting, measured at the code size
    from painterly.io.image import load_image

    z, stored = space.encode_image(load_image(paintings / "artist_2.png")), space.code("artist_2")
    assert torch.allclose(z, stored, rtol=1e-2, atol=1e-2 * float(stored.abs().max()))   # codes are stored in fp16


def test_measured_vectors_are_cached(tiny_model, paintings, tmp_path):
    run_dir = tiny_model.with_name(tiny_model.stem + "_run")
    cached = list(run_dir.glob("vectors-*.safetensors"))
    assert len(cached) == 1
    out = tmp_path / "again.safetensors"
    assert main(["train", "style-vae", "--styles", str(paintings), "-o", str(out), "--holdout-styles", "kept_out",
                 "--run-dir", str(run_dir), *TINY_TRAIN]) == 0
    assert list(run_dir.glob("vectors-*.safetensors")) == cached
    # same data and seed: the same model
    a, b = load_style_space(tiny_model), load_style_space(out)
    assert torch.allclose(a.codes, b.codes)


def test_training_lowers_the_loss(paintings, tmp_path):
    from painterly.train.style_vae import StyleVAETask, StyleVAETrainConfig, VectorBatches, measure_styles

    cfg = StyleVAETrainConfig(styles_dir=str(paintings), sizes=(48,), windows=4, code_size=64, latent=3,
                              hidden=(16,), kl_warmup=0, holdout_styles=())
    data = measure_styles(cfg)
    assert data.vectors.shape == (6 * 4, 1920) and data.whole.shape == (6, 1920)
    task = StyleVAETask(cfg, data)
    batches = VectorBatches(data.vectors, 8, 3, seed=1)
    assert torch.equal(batches.batch(5)["vectors"], batches.batch(5)["vectors"])
    optimizer = torch.optim.Adam(task.parameters(), lr=3e-3)
    first = None
    for step in range(150):
        loss = task.losses(batches.batch(step), step)["total"]
        first = first if first is not None else float(loss.detach())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.6 * first


def test_space_lookup(tiny_model, paintings):
    space = load_style_space(tiny_model)
    assert torch.equal(space.code("artist_1"), space.codes[space.names.index("artist_1")])
    file_code, stored = space.code(str(paintings / "artist_1.png")), space.code("artist_1")
    assert torch.allclose(file_code, stored, rtol=1e-2, atol=1e-2 * float(stored.abs().max()))
    with pytest.raises(Exception, match="did you mean artist_1"):
        space.code("artist_11")
    spec = parse_vae_spec("vae:artist_0..artist_3@0.25")
    expected = 0.75 * space.code("artist_0") + 0.25 * space.code("artist_3")
    assert torch.allclose(space.point(spec), expected, atol=1e-6)
    r1, r2 = space.point(parse_vae_spec("vae:random"), seed=4), space.point(parse_vae_spec("vae:random"), seed=4)
    assert torch.equal(r1, r2) and not torch.equal(r1, space.point(parse_vae_spec("vae:random"), seed=5))
    stats = space.spec_stats("vae:artist_0..artist_3@0.5")
    assert set(stats.means) == set(VECTOR_LAYERS) and stats.stds["relu4_1"].shape == (512,)


def test_wrong_kind_model_is_refused():
    from painterly.io.model_file import ModelFileError
    from painterly.methods.feedforward import available_models

    fast = next((m.path for m in available_models() if m.kind == "fast"), None)
    if fast is None:
        pytest.skip("no fast model installed")
    with pytest.raises(ModelFileError, match="expected 'style-vae'"):
        load_style_space(fast)


# --------------------------------------------------------------------------- commands


@pytest.fixture()
def photo(tmp_path):
    path = tmp_path / "photo.png"
    _painting(11, (40, 32)).save(path)
    return path


def test_optimize_with_a_vae_style(tiny_model, photo, tmp_path, capsys):
    out = tmp_path / "out.png"
    code = main(["optimize", str(photo), "--style", "vae:artist_0..artist_4@0.5", "--size", "32", "--iterations", "3",
                 "--json", "--quiet", "-o", str(out), "--style-vae", str(tiny_model)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["settings"]["style_loss"] == "meanstd"
    assert Image.open(out).size == (32, 26)


def test_optimize_meanstd_lowers_the_style_loss(photo):
    from painterly.methods.optimize import optimize_tensor

    short = optimize_tensor(str(photo), "starry_night", size=32, iterations=1, style_loss="meanstd")
    longer = optimize_tensor(str(photo), "starry_night", size=32, iterations=15, style_loss="meanstd")
    assert longer.losses["style"] < 0.5 * short.history[0]["style"]


def test_gram_loss_refuses_statistics_without_grams(tiny_model, photo, tmp_path, capsys):
    code = main(["optimize", str(photo), "--style", "vae:artist_0", "--style-loss", "gram", "--size", "32",
                 "--iterations", "1", "--quiet", "-o", str(tmp_path / "x.png"), "--style-vae", str(tiny_model)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "meanstd" in err[0]
    assert not (tmp_path / "x.png").exists()


def test_stylize_with_a_vae_style(tiny_model, photo, tmp_path, capsys):
    out = tmp_path / "s.png"
    code = main(["stylize", str(photo), "--style", "vae:random", "--seed", "3", "--size", "32", "--model",
                 str(tiny_model), "--strength", "0.5", "--json", "-o", str(out)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["style"] == "vae:random" and summary["seed"] == 3
    assert Image.open(out).size == (32, 26)


@pytest.mark.parametrize("style, message", [
    ("vae:artist_0..artist_1@1.5", "between 0 and 1"),
    ("vae:artist_0..nobody@0.5", "unknown style 'nobody'"),
    ("vae:artist_0..artist_1", "needs a point"),
])
def test_stylize_bad_vae_styles(tiny_model, photo, tmp_path, capsys, style, message):
    out = tmp_path / "bad.png"
    code = main(["stylize", str(photo), "--style", style, "--size", "32", "--model", str(tiny_model), "-o", str(out)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not out.exists()


def test_stylize_vae_with_a_wrong_kind_model(photo, tmp_path, capsys):
    from painterly.methods.feedforward import available_models

    fast = next((m.path for m in available_models() if m.kind == "fast"), None)
    if fast is None:
        pytest.skip("no fast model installed")
    code = main(["stylize", str(photo), "--style", "vae:random", "--model", str(fast), "-o", str(tmp_path / "x.png")])
    assert code == 2
    assert "expected 'style-vae'" in capsys.readouterr().err


def test_style_path_command(tiny_model, photo, tmp_path, capsys):
    out = tmp_path / "path"
    code = main(["style-path", str(photo), "artist_0", "artist_4", "--steps", "3", "--size", "32", "--iterations",
                 "4", "--render", "optimize", "--model", str(tiny_model), "--quiet", "--json", "-o", str(out)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert [p["t"] for p in summary["points"]] == [0.0, 0.5, 1.0]
    for point in summary["points"]:
        assert Image.open(point["image"]).size == (32, 26)
    strip = Image.open(out / "strip.png")
    assert strip.width > 3 * 26
    gif = Image.open(out / "path.gif")
    assert gif.n_frames == 4                   # there and back: 0, 0.5, 1, 0.5
    assert json.loads((out / "path.json").read_text())["points"][0]["stats_to_a"] >= 0
    # never overwrites: the folder is no longer empty
    assert main(["style-path", str(photo), "artist_0", "artist_4", "--steps", "3", "--model", str(tiny_model),
                 "-o", str(out)]) == 2


def test_style_path_bad_input(tiny_model, photo, tmp_path, capsys):
    for args, message in ((["artist_0", "nobody"], "unknown style"), (["artist_0", "artist_1", "--steps", "1"], "steps")):
        code = main(["style-path", str(photo), *args, "--model", str(tiny_model), "-o", str(tmp_path / "p")])
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "p").exists()


def test_path_monotonic_logic():
    from painterly.stylespace.path import PathPoint, StylePath

    image = torch.zeros(1, 3, 2, 2)
    good = StylePath("a", "b", [PathPoint(t, image, t, 1 - t) for t in (0, 0.5, 1)])
    bad_a = StylePath("a", "b", [PathPoint(t, image, d, 1 - t) for t, d in ((0, 0), (0.5, 0.6), (1, 0.4))])
    bad_b = StylePath("a", "b", [PathPoint(t, image, t, d) for t, d in ((0, 1), (0.5, 0.2), (1, 0.3))])
    assert good.rises_from_a() and good.approaches_b()
    assert not bad_a.rises_from_a() and bad_a.approaches_b()
    assert bad_b.rises_from_a() and not bad_b.approaches_b()


# --------------------------------------------------------------------------- the shipped model


@pytest.mark.skipif(not builtin_style_vae_path().is_file(), reason="no built-in style VAE installed")
def test_builtin_space_paths_are_smooth_in_statistics():
    """Decoded statistics move steadily from A to B: the distance to A's decoded statistics rises with t."""
    from painterly.stylespace.path import stats_distance

    space: StyleSpace = load_style_space()
    assert len(space.names) >= 100 and any(space.held_out)
    for a, b in (("starry_night", "great_wave"), ("the_scream", "composition_vii")):
        z_a, z_b = space.code(a), space.code(b)
        end = space.stats(z_a)
        distances = []
        for t in np.linspace(0, 1, 9):
            stats = space.stats(interpolate(z_a, z_b, float(t)))
            feats = {layer: stats.means[layer].view(1, -1, 1, 1) + stats.stds[layer].view(1, -1, 1, 1) *
                     torch.tensor([[-1.0, 1.0]]).view(1, 1, 1, 2) for layer in VECTOR_LAYERS}
            distances.append(stats_distance(feats, end))
        assert distances[0] < 1e-3 * distances[-1]
        assert all(x <= y * 1.001 for x, y in zip(distances, distances[1:])), distances


def test_render_uses_an_installed_adain_decoder(tiny_model, photo, tmp_path, monkeypatch):
    """With a decoder installed, style-space points go through AdaIN: its relu4_1 statistics are the target's."""
    import painterly.methods.adain as adain_module
    from painterly.io.model_file import save_model_file
    from painterly.nets.adain import AdainDecoder, AdainDecoderConfig
    from painterly.stylespace.render import RenderConfig, render, resolve_method

    decoder = AdainDecoder(AdainDecoderConfig(width=0.05))
    path = save_model_file(tmp_path / "decoder.safetensors", "adain", decoder.state_dict(),
                           {"architecture": {"decoder": decoder.config.to_dict(), "encoder": "vgg19",
                                             "encoder_layer": "relu4_1"}})
    assert resolve_method("auto") in ("optimize", "adain")
    monkeypatch.setattr(adain_module, "builtin_decoder_path", lambda: path)
    assert resolve_method("auto") == "adain"
    space = load_style_space(tiny_model)
    stats = space.spec_stats("vae:artist_0..artist_4@0.5")
    calls = []
    original = adain_module.adain_from_stats

    def spy(content_feat, mean, std, eps=1e-5):
        calls.append((mean.flatten(), std.flatten()))
        return original(content_feat, mean, std, eps)

    monkeypatch.setattr(adain_module, "adain_from_stats", spy, raising=False)
    from painterly.io.image import load_image

    image = render(load_image(photo), stats, RenderConfig(method="auto", size=32))
    assert image.shape[-1] == 32 and image.min() >= 0 and image.max() <= 1
    assert calls   # the stylizer applies AdaIN with exactly the decoded relu4_1 statistics
    assert torch.allclose(calls[0][0], stats.means["relu4_1"], rtol=1e-4, atol=1e-4)
    assert torch.allclose(calls[0][1], stats.stds["relu4_1"], rtol=1e-4, atol=1e-4)


def test_kl_warm_up_weight():
    from painterly.losses import warmed_up_weight

    assert [warmed_up_weight(s, 2.0, 4) for s in (0, 1, 3, 10)] == [0.5, 1.0, 2.0, 2.0]
    assert warmed_up_weight(0, 2.0, 0) == 2.0
