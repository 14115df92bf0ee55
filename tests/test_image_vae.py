"""The image-space VAE: KL and reparameterisation maths, latent paths, the network, its training
task on the shared loop, export/reload, and ``painterly vae-interpolate`` / ``train image-vae``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from painterly.cli import main
from painterly.nets.image_vae import (ImageVAE, ImageVAEConfig, builtin_image_vae_path, interpolate_latents,
                                      kl_divergence, load_image_vae, reparameterize)
from painterly.train.image_vae import (ImageVAETask, ImageVAETrainConfig, PaintingBatches, build_image_vae_training,
                                       reconstruction_loss, split_styles, stages_for)
from painterly.train.loop import TrainerConfig, train

TINY = dict(size=16, latent=4, base_width=4, max_width=8)


def tiny_config(**overrides) -> ImageVAEConfig:
    return ImageVAEConfig(**{**TINY, "stages": 2, **overrides})


# --------------------------------------------------------------------------- KL and sampling


def test_kl_matches_a_hand_computed_value():
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(2.0), 0.0]])
    # example 1: -1/2 [(1 + 0 - 1 - 1) + (1 + 0 - 0 - 1)] = 1/2
    # example 2: -1/2 [(1 + ln 2 - 0 - 2) + (1 + 0 - 4 - 1)] = (5 - ln 2) / 2
    expected = (0.5 + (5.0 - math.log(2.0)) / 2.0) / 2.0
    assert float(kl_divergence(mu, logvar)) == pytest.approx(expected, rel=1e-6)
    assert float(kl_divergence(torch.zeros(3, 5), torch.zeros(3, 5))) == 0.0


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 7, generator=g), torch.randn(6, 7, generator=g)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    reference = torch.distributions.kl_divergence(q, p).sum(-1).mean()
    assert torch.allclose(kl_divergence(mu, logvar), reference, rtol=1e-5, atol=1e-5)


def test_gradcheck_kl_and_reparameterize():
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kl_divergence, (mu, logvar))

    def sample(m, lv):  # the same noise on every call: a fixed generator seed
        return reparameterize(m, lv, torch.Generator().manual_seed(5))

    assert torch.autograd.gradcheck(sample, (mu, logvar))


def test_reparameterize_uses_generator_or_noise():
    mu, logvar = torch.zeros(2, 3), torch.full((2, 3), math.log(4.0))  # std 2
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    noise = torch.ones(2, 3)
    assert torch.allclose(reparameterize(mu + 1, logvar, noise=noise), torch.full((2, 3), 3.0))
    with pytest.raises(ValueError, match="noise"):
        reparameterize(mu, logvar, noise=torch.ones(3))


# --------------------------------------------------------------------------- latent paths


@pytest.mark.parametrize("mode", ["linear", "slerp"])
def test_interpolation_endpoints_are_the_inputs(mode):
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(8, generator=g), torch.randn(8, generator=g)
    path = interpolate_latents(a, b, [0.0, 0.3, 1.0], mode)
    assert path.shape == (3, 8)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert torch.allclose(interpolate_latents(a[None], b[None], torch.tensor([0.0, 1.0]), mode)[1], b, atol=1e-5)


def test_slerp_keeps_norms_and_linear_is_straight():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(16, generator=g), torch.randn(16, generator=g)
    b = b * a.norm() / b.norm()
    ts = torch.linspace(0, 1, 9)
    norms = interpolate_latents(a, b, ts, "slerp").norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, float(a.norm())), rtol=1e-5)
    assert float(interpolate_latents(a, b, [0.5], "linear").norm()) < float(a.norm())  # the chord dips inside
    assert torch.allclose(interpolate_latents(a, b, [0.5], "linear")[0], (a + b) / 2)
    assert torch.allclose(interpolate_latents(a, 2 * a, [0.5], "slerp")[0], 1.5 * a)  # parallel: straight line
    with pytest.raises(ValueError, match="mode"):
        interpolate_latents(a, b, [0.5], "cubic")


# --------------------------------------------------------------------------- the network


def test_encode_decode_shapes_and_range():
    torch.manual_seed(0)
    vae = ImageVAE(tiny_config())
    images = torch.rand(3, 3, 16, 16)
    mu, logvar = vae.encode(images)
    assert mu.shape == logvar.shape == (3, 4)
    out = vae.decode(mu).detach()
    assert out.shape == (3, 3, 16, 16)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    recon, mu2, _ = vae(images, generator=torch.Generator().manual_seed(0))
    assert recon.shape == images.shape and torch.equal(mu, mu2)
    with pytest.raises(ValueError, match="16 x 16"):
        vae.encode(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="latent"):
        vae.decode(torch.zeros(1, 5))
    assert ImageVAEConfig.from_dict(vae.config.to_dict()) == vae.config
    assert ImageVAEConfig().widths() == (32, 64, 128, 192, 192) and ImageVAEConfig().grid == 4
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in vae.modules())


def test_stages_and_config_checks():
    assert stages_for(128) == 5 and stages_for(224) == 5 and stages_for(16) == 2 and stages_for(33) == 0
    assert ImageVAETrainConfig(size=224).vae_config().grid == 7
    from painterly.errors import PainterlyError

    with pytest.raises(PainterlyError, match="even"):
        ImageVAETrainConfig(size=33).validate()
    with pytest.raises(PainterlyError, match="reconstruction loss"):
        ImageVAETrainConfig(recon_loss="ssim").validate()


def test_reconstruction_loss_is_summed_per_image():
    target = torch.zeros(2, 3, 4, 4)
    recon = torch.full_like(target, 0.5)
    assert float(reconstruction_loss(recon, target, "mse")) == pytest.approx(48 * 0.25)
    assert float(reconstruction_loss(recon, target, "l1")) == pytest.approx(48 * 0.5)


# --------------------------------------------------------------------------- data


def _paintings(folder, names, size=(40, 28), seed=0, green=0):
    """Random images with an empty green channel (so a held-out green image is recognisable)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        array[..., 1] = green
        Image.fromarray(array).save(folder / f"{name}.png")
    return folder


@pytest.fixture
def styles(tmp_path):
    folder = _paintings(tmp_path / "styles", ["a", "b", "c"])
    Image.new("RGB", (40, 30), (0, 255, 0)).save(folder / "munch_the_scream.png")  # a default held-out name
    return folder


def _uint8(n, h=28, w=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(n)]


def test_batches_are_deterministic_per_seed_and_step():
    batches = PaintingBatches(_uint8(3), batch_size=4, size=16, latent=4, jitter=0.25, seed=7)
    a, b = batches.batch(5), batches.batch(5)
    assert a["images"].shape == (4, 3, 16, 16) and a["noise"].shape == (4, 4)
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["noise"], b["noise"])
    assert not torch.equal(a["images"], batches.batch(6)["images"])
    other_seed = PaintingBatches(_uint8(3), batch_size=4, size=16, latent=4, jitter=0.25, seed=8)
    assert not torch.equal(a["images"], other_seed.batch(5)["images"])
    assert 0.0 <= float(a["images"].min()) and float(a["images"].max()) <= 1.0


def test_held_out_paintings_are_never_in_batches(styles):
    cfg = ImageVAETrainConfig(styles_dir=str(styles), **TINY)
    train_paths, held = split_styles(cfg)
    assert [p.stem for p in held] == ["munch_the_scream"]
    assert "munch_the_scream" not in {p.stem for p in train_paths}
    task, batches, info = build_image_vae_training(cfg, batch_size=4)
    assert len(batches.paintings) == 3
    for step in range(25):
        assert float(batches.batch(step)["images"][:, 1].max()) == 0.0  # no green: the held-out one never comes
    assert info["held_out_styles"] == ["munch_the_scream.png"]
    assert info["validation"].shape == (4, 3, 16, 16)   # 1 held out + 3 training paintings
    assert float(info["validation"][0, 1].min()) > 0.99  # the held-out painting leads the sample sheets


# --------------------------------------------------------------------------- training and export


def test_training_on_the_shared_loop_lowers_the_loss_and_export_reloads(styles, tmp_path):
    torch.manual_seed(0)
    cfg = ImageVAETrainConfig(styles_dir=str(styles), beta=0.05, kl_warmup=0, **TINY)
    task, batches, info = build_image_vae_training(cfg, batch_size=8)
    probe = batches.batch(10_000)

    def probe_loss():
        with torch.no_grad():
            return float(task.losses(probe, 10_000)["total"])

    before = probe_loss()
    losses = task.losses(probe, 0)
    assert set(losses) >= {"total", "recon", "kl"}
    tcfg = TrainerConfig(out_dir=str(tmp_path / "run"), iterations=40, batch_size=8, lr=3e-3, warmup=0,
                         checkpoint_every=40, sample_every=20, log_every=5, tensorboard=False, device="cpu",
                         grad_clip=None)
    result = train(task, batches, tcfg, info["validation"], export_path=tmp_path / "vae.safetensors",
                   task_config=task.config_dict())
    assert result.steps == 40 and result.gif is not None and result.samples
    assert probe_loss() < 0.8 * before
    task.vae.eval()
    vae, meta = load_image_vae(result.model_path)
    assert meta["kind"] == "image-vae" and meta["training"]["steps"] == 40
    assert meta["training"]["task"]["held_out_styles"] == ["munch_the_scream.png"]
    assert vae.config == task.vae.config
    images = info["validation"]
    rounded = ImageVAE(task.vae.config).eval()  # the file holds fp16 weights
    rounded.load_state_dict({k: v.half().float() for k, v in task.vae.state_dict().items()})
    with torch.no_grad():
        mu, _ = vae.encode(images)
        mu_ref, _ = rounded.encode(images)
        assert torch.allclose(mu, mu_ref, atol=1e-6)
        assert torch.allclose(vae.decode(mu), rounded.decode(mu_ref), atol=1e-6)
        assert torch.allclose(vae.decode(mu), task.reconstruct(images), atol=2e-2)


# --------------------------------------------------------------------------- command line


@pytest.fixture
def tiny_model(tmp_path):
    torch.manual_seed(0)
    task = ImageVAETask(ImageVAETrainConfig(**TINY))
    return task.export(tmp_path / "tiny_vae.safetensors", {"training": {"steps": 0}})


@pytest.fixture
def pair(tmp_path):
    folder = _paintings(tmp_path / "pair", ["first", "second"], size=(48, 30), seed=3, green=60)
    return folder / "first.png", folder / "second.png"


def test_cli_writes_strip_and_gif(tiny_model, pair, tmp_path, capsys):
    from painterly.cli.vae_interpolate import strip_width

    out, gif = tmp_path / "strip.png", tmp_path / "path.gif"
    code = main(["vae-interpolate", str(pair[0]), str(pair[1]), "--model", str(tiny_model), "-o", str(out),
                 "--steps", "5", "--mode", "slerp", "--gif", str(gif), "--json", "--device", "cpu"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 5 and summary["ts"][0] == 0 and summary["ts"][-1] == 1
    with Image.open(out) as strip:
        strip.load()
        assert strip.width == strip_width(5, 16)
    with Image.open(gif) as animation:
        assert animation.n_frames == 8  # there and back: 5 + 3
        assert animation.size == (16, 16)
    assert not list(tmp_path.glob(".*part")) and not list(tmp_path.glob(".*.gif"))


def test_cli_cell_size(tiny_model, pair, tmp_path):
    from painterly.cli.vae_interpolate import strip_width

    out = tmp_path / "big.png"
    assert main(["vae-interpolate", str(pair[0]), str(pair[1]), "--model", str(tiny_model), "-o", str(out),
                 "--steps", "2", "--cell", "40", "--device", "cpu"]) == 0
    with Image.open(out) as strip:
        assert strip.width == strip_width(2, 40)


def _fails(argv, capsys, match):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error:") and match in err[0], err
    return err[0]


def test_cli_errors_are_one_line(tiny_model, pair, text_as_jpg, tmp_path, capsys):
    from painterly.io.model_file import save_model_file

    out = str(tmp_path / "strip.png")
    base = ["--model", str(tiny_model), "-o", out, "--device", "cpu"]
    _fails(["vae-interpolate", str(text_as_jpg), str(pair[1]), *base], capsys, "not a readable image")
    _fails(["vae-interpolate", str(pair[0]), str(pair[1]), *base, "--steps", "1"], capsys, "--steps")
    wrong = save_model_file(tmp_path / "other.safetensors", "fast", {"w": torch.zeros(2)})
    _fails(["vae-interpolate", str(pair[0]), str(pair[1]), "--model", str(wrong), "-o", out, "--device", "cpu"],
           capsys, "expected 'image-vae'")
    _fails(["vae-interpolate", str(pair[0]), str(pair[1]), "--model", str(tiny_model), "-o", str(pair[1]),
            "--device", "cpu"], capsys, "overwrite")
    _fails(["vae-interpolate", str(pair[0]), str(pair[1]), *base, "--gif", str(pair[0])], capsys, "overwrite")
    assert not (tmp_path / "strip.png").exists()


def test_cli_refuses_the_shipped_fast_model(pair, tmp_path, capsys):
    shipped = builtin_image_vae_path().with_name("wheat_field.safetensors")
    if not shipped.is_file():
        pytest.skip("no built-in fast model in this checkout")
    _fails(["vae-interpolate", str(pair[0]), str(pair[1]), "--model", str(shipped), "-o",
            str(tmp_path / "s.png")], capsys, "'fast' model")


def test_builtin_model_loads():
    path = builtin_image_vae_path()
    if not path.is_file():
        pytest.skip("the image VAE is not shipped in this checkout")
    vae, meta = load_image_vae()
    assert meta["kind"] == "image-vae" and vae.config.size == 128
    assert meta["training"]["steps"] > 0 and "hardware" in meta["training"]
    held_out = set(meta["training"]["task"]["held_out_styles"])
    assert "hokusai_great_wave.jpg" in held_out
    with torch.no_grad():
        assert vae.decode(torch.zeros(1, vae.config.latent)).shape == (1, 3, 128, 128)


def test_cli_train_end_to_end(styles, tmp_path):
    out = tmp_path / "trained.safetensors"
    code = main(["train", "image-vae", "--styles", str(styles), "-o", str(out), "--size", "16", "--latent", "4",
                 "--base-width", "4", "--max-width", "8", "--iterations", "2", "--batch-size", "2",
                 "--sample-every", "1", "--checkpoint-every", "1", "--no-tensorboard", "--quiet", "--device", "cpu",
                 "--run-dir", str(tmp_path / "run")])
    assert code == 0
    vae, meta = load_image_vae(out)
    assert vae.config.size == 16 and meta["training"]["steps"] == 2
    assert meta["training"]["task"]["beta"] == ImageVAETrainConfig().beta
    assert list((tmp_path / "run" / "samples").glob("*.png"))


def test_cli_train_rejects_bad_settings(styles, tmp_path, capsys):
    _fails(["train", "image-vae", "--styles", str(styles), "-o", str(tmp_path / "m.pt"), "--device", "cpu"],
           capsys, "safetensors")
    _fails(["train", "image-vae", "--styles", str(styles), "-o", str(tmp_path / "m.safetensors"), "--size", "33",
            "--device", "cpu"], capsys, "even")
