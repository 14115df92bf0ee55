"""``painterly.stylize`` and ``painterly stylize``: dispatch, strength, colour, files, folders, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from conftest import array_to_tensor, make_photo
from painterly.cli import main
from painterly.errors import PainterlyError, StyleNotFoundError
from painterly.io.model_file import save_model_file
from painterly.methods.feedforward import TransformerStylizer, available_models, is_speed_variant
from painterly.methods.stylize import StyleRequest, apply_stylizer, choose_model, parse_style
from painterly.nets.transformer import TransformerConfig, TransformerNet
from painterly.ops import rgb_to_yiq
from painterly.styles import StyleRegistry

TRIO = ("udnie", "great_wave", "the_scream")


def save_tiny(folder, name, kind="fast", styles=("starry_night",), seed=0):
    torch.manual_seed(seed)
    config = TransformerConfig(width=4, depth=1, n_styles=len(styles))
    net = TransformerNet(config)
    with torch.no_grad():  # distinct norm parameters per style
        for param in net.norm_parameters():
            param.add_(0.3 * torch.randn_like(param))
    return save_model_file(folder / name, kind, net.state_dict(),
                           {"architecture": config.to_dict(), "styles": [{"name": s} for s in styles]})


@pytest.fixture
def models(tmp_path):
    folder = tmp_path / "models"
    save_tiny(folder, "starry_night")
    save_tiny(folder, "trio", kind="multistyle", styles=TRIO, seed=1)
    return folder


@pytest.fixture
def stylizer():
    torch.manual_seed(0)
    return TransformerStylizer(TransformerNet(TransformerConfig(width=4, depth=1)), "fast", ["starry_night"])


# --------------------------------------------------------------------------- Python API


@pytest.mark.parametrize("kind", ["path", "pil", "array"])
def test_stylize_accepts_paths_pil_and_arrays(models, content_png, kind):
    content = {"path": content_png, "pil": Image.open(content_png), "array": np.asarray(Image.open(content_png))}[kind]
    out = painterly.stylize(content, style="starry_night", model_dir=str(models))
    assert isinstance(out, Image.Image) and out.size == (48, 32) and out.mode == "RGB"


def test_size_and_method_auto_picks_fast_then_multistyle(models, content_png):
    assert painterly.stylize(content_png, style="udnie", size=64, model_dir=str(models)).size == (64, 43)
    request = parse_style("starry_night")
    assert choose_model(request, "auto", None, models) == ("fast", str(models / "starry_night.safetensors"))
    assert choose_model(parse_style("udnie"), "auto", None, models)[0] == "multistyle"
    assert choose_model(parse_style(["udnie:1", "the_scream:3"]), "auto", None, models)[0] == "multistyle"
    with pytest.raises(StyleNotFoundError, match="no multistyle model holds style 'starry_night'"):
        choose_model(request, "multistyle", None, models)


def test_prefer_orders_the_full_and_the_speed_architecture_of_one_style(models, content_png, tmp_path):
    torch.manual_seed(2)
    speed = TransformerConfig(width=4, depth=1, fast_variant=True)
    save_model_file(models / "a_starry_speed", "fast", TransformerNet(speed).state_dict(),   # sorts first by name
                    {"architecture": speed.to_dict(), "styles": [{"name": "starry_night"}]})
    full, fast = str(models / "starry_night.safetensors"), str(models / "a_starry_speed.safetensors")
    request = parse_style("starry_night")
    assert choose_model(request, "auto", None, models) == ("fast", full)
    assert choose_model(request, "auto", None, models, prefer="speed") == ("fast", fast)
    assert choose_model(parse_style("udnie"), "auto", None, models, prefer="speed")[0] == "multistyle"
    quality = painterly.stylize(content_png, style="starry_night", model_dir=str(models))
    quick = painterly.stylize(content_png, style="starry_night", model_dir=str(models), prefer="speed")
    assert not np.array_equal(np.asarray(quality), np.asarray(quick))       # two different networks ran
    with pytest.raises(PainterlyError, match="unknown preference 'fastest'"):
        painterly.stylize(content_png, style="starry_night", model_dir=str(models), prefer="fastest")
    out = tmp_path / "speed.png"
    assert main(["stylize", str(content_png), "-o", str(out), "--style", "starry_night", "--model-dir", str(models),
                 "--prefer", "speed", "--json"]) == 0
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), np.asarray(quick))


def test_blend_equals_the_model_blend(models, content_png):
    a = painterly.stylize(content_png, style={"udnie": 0.25, "the_scream": 0.75}, model_dir=str(models))
    b = painterly.stylize(content_png, style=["udnie:1", "the_scream:3"], model_dir=str(models))
    c = painterly.stylize(content_png, style="udnie", model_dir=str(models))
    assert np.array_equal(np.asarray(a), np.asarray(b)) and not np.array_equal(np.asarray(a), np.asarray(c))


def test_unknown_style_suggests_and_lists(models, content_png):
    with pytest.raises(StyleNotFoundError, match=r"did you mean udnie\?.*styles with models: great_wave"):
        painterly.stylize(content_png, style="udnei", method="multistyle", model_dir=str(models))
    with pytest.raises(StyleNotFoundError, match="no style 'starry'"):
        painterly.stylize(content_png, style="starry", model=str(models / "trio.safetensors"))


def test_style_image_needs_adain(content_png, style_png, models):
    request = parse_style(str(style_png))
    assert len(request.images) == 1 and not request.names
    with pytest.raises(PainterlyError, match="needs built-in style names"):
        choose_model(request, "fast", None, models)
    with pytest.raises(StyleNotFoundError, match="cannot mix"):
        parse_style([str(style_png), "udnie"])
    with pytest.raises(StyleNotFoundError, match="style image not found"):
        parse_style("missing.jpg")


def test_strength_zero_returns_the_input_exactly(stylizer, content_tensor, models, content_png):
    assert torch.equal(apply_stylizer(stylizer, content_tensor, strength=0.0), content_tensor)
    out = painterly.stylize(content_png, style="starry_night", strength=0.0, model_dir=str(models))
    assert np.array_equal(np.asarray(out), np.asarray(Image.open(content_png).convert("RGB")))


def test_strength_mixes_linearly(stylizer, content_tensor):
    full = apply_stylizer(stylizer, content_tensor)
    half = apply_stylizer(stylizer, content_tensor, strength=0.5)
    assert torch.allclose(half, 0.5 * (full + content_tensor), atol=1e-6)
    for bad in (-0.1, 1.5):
        with pytest.raises(PainterlyError, match="between 0 and 1"):
            apply_stylizer(stylizer, content_tensor, strength=bad)
        with pytest.raises(PainterlyError, match="between 0 and 1"):
            painterly.stylize(content_tensor, style="starry_night", strength=bad)


def test_preserve_color_changes_luminance_only(stylizer, content_tensor):
    styled = apply_stylizer(stylizer, content_tensor)
    kept = apply_stylizer(stylizer, content_tensor, preserve_color=True)
    yiq_kept, yiq_styled, yiq_content = rgb_to_yiq(kept), rgb_to_yiq(styled), rgb_to_yiq(content_tensor)
    inside = ((kept > 0.001) & (kept < 0.999)).all(dim=1, keepdim=True)  # where the RGB clamp did nothing
    assert inside.float().mean() > 0.9
    assert torch.allclose(yiq_kept[:, :1][inside], yiq_styled[:, :1][inside], atol=1e-5)
    assert torch.allclose(yiq_kept[:, 1:][inside.expand(-1, 2, -1, -1)],
                          yiq_content[:, 1:][inside.expand(-1, 2, -1, -1)], atol=1e-5)


def test_detail_is_added_before_the_strength_blend(stylizer, content_tensor):
    from painterly.ops import restore_detail

    styled = apply_stylizer(stylizer, content_tensor)
    detailed = apply_stylizer(stylizer, content_tensor, detail=1.0, detail_radius=1.5)
    torch.testing.assert_close(detailed, restore_detail(styled, content_tensor, 1.0, 1.5))
    assert not torch.equal(detailed, styled)
    half = apply_stylizer(stylizer, content_tensor, strength=0.5, detail=1.0, detail_radius=1.5)
    torch.testing.assert_close(half, (0.5 * (detailed + content_tensor)).clamp(0, 1), atol=1e-6, rtol=0)
    assert torch.equal(apply_stylizer(stylizer, content_tensor, strength=0.0, detail=1.0), content_tensor)
    for bad in ({"detail": -0.5}, {"detail": 2.5}, {"detail_radius": 0.0}, {"detail_radius": 100.0}):
        with pytest.raises(PainterlyError, match="detail"):
            apply_stylizer(stylizer, content_tensor, **bad)
        with pytest.raises(PainterlyError, match="detail"):
            painterly.stylize(content_tensor, style="starry_night", **bad)


def test_tiled_api_matches_untiled_closely(models):
    photo = Image.fromarray(make_photo(100, 300))
    whole = np.asarray(painterly.stylize(photo, style="starry_night", model_dir=str(models))).astype(int)
    tiled = np.asarray(painterly.stylize(photo, style="starry_night", tile=160, model_dir=str(models),
                                         tile_stats="exact")).astype(int)
    assert np.abs(whole - tiled).max() <= 1


# --------------------------------------------------------------------------- command line


def run_cli(capsys, *argv):
    code = main(["stylize", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_one_file_with_json(capsys, tmp_path, content_png, models):
    out = tmp_path / "out.png"
    code, stdout, stderr = run_cli(capsys, content_png, "-o", out, "--style", "starry_night", "--model-dir", models,
                                   "--json", "--device", "cpu")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["method"] == "fast" and summary["model"] == "starry_night"
    assert summary["images"][0]["output"] == str(out) and summary["images"][0]["seconds"] >= 0
    assert (summary["images"][0]["width"], summary["images"][0]["height"]) == (48, 32)
    assert Image.open(out).size == (48, 32)
    assert summary["detail"] == 0.0
    detailed = tmp_path / "detailed.png"
    code, stdout, stderr = run_cli(capsys, content_png, "-o", detailed, "--style", "starry_night", "--model-dir",
                                   models, "--json", "--detail", "1", "--detail-radius", "1.5")
    assert code == 0, stderr
    assert (json.loads(stdout)["detail"], json.loads(stdout)["detail_radius"]) == (1.0, 1.5)
    assert not np.array_equal(np.asarray(Image.open(detailed)), np.asarray(Image.open(out)))


def test_cli_folder_keeps_names(capsys, tmp_path, content_png, models):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(make_photo(40, 33)).save(folder / "b.jpg")
    Image.fromarray(make_photo(32, 32)).save(folder / "c.png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "styled"
    code, _, stderr = run_cli(capsys, folder, content_png, "-o", out, "--style", "udnie:0.5", "--style",
                              "the_scream:0.5", "--model", models / "trio.safetensors", "--size", "40",
                              "--preserve-color", "--strength", "0.8")
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["b.jpg", "c.png", "content.png"]
    assert Image.open(out / "c.png").size == (40, 40) and Image.open(out / "b.jpg").size == (33, 40)
    assert stderr.count("wrote") == 3


def test_cli_tiles(capsys, tmp_path, models):
    photo = tmp_path / "wide.png"
    Image.fromarray(make_photo(80, 300)).save(photo)
    code, stdout, stderr = run_cli(capsys, photo, "-o", tmp_path / "out.png", "--model", "starry_night",
                                   "--model-dir", models, "--tile", "200", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["tile"] == 200 and Image.open(tmp_path / "out.png").size == (300, 80)


@pytest.mark.parametrize("extra, message", [
    (["--model", "{tmp}/junk.safetensors"], "not a readable model file"),
    (["--model", "{models}/trio.safetensors", "--method", "fast", "--style", "udnie"], "is a 'multistyle' model"),
    (["--model", "{models}/trio.safetensors", "--style", "7"], "style index 7 out of range"),
    (["--model-dir", "{models}", "--style", "the_screem"], "did you mean the_scream"),
    (["--model-dir", "{models}", "--style", "udnie", "--strength", "1.5"], "strength must be between 0 and 1"),
    (["--model-dir", "{models}", "--style", "starry_night", "--detail", "3"], "detail must be between 0 and 2"),
    (["--model-dir", "{models}", "--style", "starry_night", "--detail-radius", "-1"], "detail radius must be above 0"),
    (["--model", "{models}/trio.safetensors"], "holds 3 styles"),
    (["--model", "{models}/nothing.safetensors"], "model file not found"),
])
def test_cli_errors_are_one_line_and_write_nothing(capsys, tmp_path, content_png, models, extra, message):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 32)
    out = tmp_path / "out.png"
    args = [a.format(tmp=tmp_path, models=models) for a in extra]
    code, stdout, stderr = run_cli(capsys, content_png, "-o", out, *args)
    assert code == 2
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and message in stderr
    assert "Traceback" not in stderr and not out.exists()


def test_cli_corrupt_input_and_overwrites(capsys, tmp_path, content_png, text_as_jpg, models):
    out = tmp_path / "outs"
    code, _, stderr = run_cli(capsys, content_png, text_as_jpg, "-o", out, "--model", models / "starry_night")
    assert code == 2 and "not a readable image" in stderr and not out.exists()
    code, _, stderr = run_cli(capsys, content_png, "-o", content_png, "--model", models / "starry_night")
    assert code == 2 and "refusing to overwrite an input" in stderr
    code, _, stderr = run_cli(capsys, tmp_path, "-o", tmp_path, "--model", models / "starry_night")
    assert code == 2 and "refusing to overwrite an input" in stderr


def test_style_request_parsing():
    request = parse_style({"udnie": 2, "great_wave": 1})
    assert request == StyleRequest(names=(("udnie", 2.0), ("great_wave", 1.0)))
    assert parse_style(["udnie:0.3", ("great_wave", 0.7)]).names == (("udnie", 0.3), ("great_wave", 0.7))
    assert parse_style(None).is_empty and parse_style(2).names == ((2, 1.0),)
    assert parse_style(array_to_tensor(make_photo(16, 16))).images


# --------------------------------------------------------------------------- AdaIN regions from the command line


@pytest.fixture
def tiny_decoder(tmp_path):
    from painterly.nets.adain import AdainDecoder, AdainDecoderConfig

    torch.manual_seed(0)
    config = AdainDecoderConfig(width=1 / 16, input_scale=1.0)
    return save_model_file(tmp_path / "models" / "dec.safetensors", "adain", AdainDecoder(config).state_dict(),
                           {"architecture": {"decoder": config.to_dict()}})


def _mask(path, width, height, left: bool, value=255):
    array = np.zeros((height, width), np.uint8)
    array[:, : width // 2] = value
    Image.fromarray(array if left else value - array).save(path)
    return path


def test_cli_masks_put_each_style_in_its_region(capsys, tmp_path, content_png, style_png, tiny_decoder):
    """Style 1 on the left and a second painting on the right: each half equals the single-style result there."""
    other = tmp_path / "other.png"
    Image.fromarray(np.full((32, 32, 3), (20, 200, 90), np.uint8)).save(other)
    left, right = _mask(tmp_path / "l.png", 48, 32, True), _mask(tmp_path / "r.png", 48, 32, False)
    common = ["--method", "adain", "--model", tiny_decoder, "--device", "cpu"]
    code, _, err = run_cli(capsys, content_png, "-o", tmp_path / "both.png", "--style", style_png, "--style", other,
                           "--mask", left, "--mask", right, *common)
    assert code == 0, err
    both = np.asarray(Image.open(tmp_path / "both.png")).astype(int)
    for style, name in ((style_png, "a.png"), (other, "b.png")):
        assert run_cli(capsys, content_png, "-o", tmp_path / name, "--style", style, *common)[0] == 0
    only_a = np.asarray(Image.open(tmp_path / "a.png")).astype(int)
    only_b = np.asarray(Image.open(tmp_path / "b.png")).astype(int)
    # away from the seam (the decoder's receptive field mixes a few cells there) each half is its style
    assert np.abs(both[:, :8] - only_a[:, :8]).mean() < np.abs(both[:, :8] - only_b[:, :8]).mean()
    assert np.abs(both[:, -8:] - only_b[:, -8:]).mean() < np.abs(both[:, -8:] - only_a[:, -8:]).mean()
    # with --size the masks follow the photo
    code, _, err = run_cli(capsys, content_png, "-o", tmp_path / "small.png", "--style", style_png, "--style", other,
                           "--mask", left, "--mask", right, "--size", 24, *common)
    assert code == 0, err
    assert Image.open(tmp_path / "small.png").size == (24, 16)


def test_cli_mask_errors_are_one_line_and_write_nothing(capsys, tmp_path, content_png, style_png, tiny_decoder, models):
    left = _mask(tmp_path / "l.png", 48, 32, True)
    cases = [
        ([_mask(tmp_path / "small.png", 40, 32, True), left], "mask is 40x32 but the photo is 48x32"),
        ([_mask(tmp_path / "black.png", 48, 32, True, value=0), left], "no region"),
        ([left], "1 --mask for 2 --style"),
        ([tmp_path / "missing.png", left], "no such file"),
    ]
    for masks, message in cases:
        argv = [content_png, "-o", tmp_path / "out.png", "--method", "adain", "--model", tiny_decoder,
                "--style", style_png, "--style", style_png, "--device", "cpu"]
        for mask in masks:
            argv += ["--mask", mask]
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "out.png").exists()
    code, _, err = run_cli(capsys, content_png, "-o", tmp_path / "out.png", "--style", "starry_night",
                           "--model-dir", models, "--mask", left, "--device", "cpu")
    assert code == 2 and "--method adain" in err and not (tmp_path / "out.png").exists()


def test_shipped_networks_serve_every_built_in_style_and_each_own_network_wins():
    """A sidecar naming its style wrongly would leave the network unused and `--style NAME` on `zoo`."""
    shipped = available_models()
    built_in = set(StyleRegistry().names())
    own: dict[str, dict[bool, str]] = {}    # style -> {speed variant?: file}
    for model in shipped:
        if model.kind != "fast":
            continue
        (style,) = model.meta["styles"]
        speed = is_speed_variant(model)
        assert speed not in own.get(style["name"], {}), f"two {'speed' if speed else 'full'} networks of {style}"
        own.setdefault(style["name"], {})[speed] = str(model.path)
        if str(style.get("source", "")).startswith("built-in:"):  # trained on a built-in style's statistics
            assert style["source"] == f"built-in:{style['name']}" and style["name"] in built_in, model.path.name
        assert model.path.stem == style["name"] + ("_fast" if speed else ""), model.path.name
    assert len(own) >= 2
    slots = {s for m in shipped if m.kind == "multistyle" for s in m.styles}
    for name in sorted(built_in | set(own)):
        for prefer in ("quality", "speed"):
            method, path = choose_model(parse_style(name), "auto", None, prefer=prefer)
            if name in own:   # the preferred architecture where the style has it, else the other
                variants = own[name]
                assert method == "fast" and path == (variants.get(prefer == "speed") or next(iter(variants.values()))), name
            else:
                assert name in slots and method == "multistyle", name
