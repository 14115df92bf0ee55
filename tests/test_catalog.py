"""The style catalogue: statistics styles and trained networks merged, methods per style."""

from __future__ import annotations

import pytest

from painterly.catalog import CatalogEntry, find_style, list_styles, method_status
from painterly.cli import main
from painterly.errors import StyleNotFoundError
from painterly.styles import StyleRegistry


def test_catalogue_merges_statistics_and_networks():
    entries = {e.name: e for e in list_styles()}
    for name in StyleRegistry().names():
        assert "optimize" in entries[name].methods
    # statistics, per-style networks and a multi-style slot merge into one entry, in METHOD_ORDER
    assert entries["wheat_field"].methods == ("fast", "multistyle", "adain", "optimize")
    assert entries["wheat_field"].artist == "Vincent van Gogh"
    assert entries["van_gogh"].methods == ("adaptive",)                  # a network with no statistics
    assert list(entries) == sorted(entries)


def test_find_style_suggests_close_names():
    entries = list_styles()
    assert find_style("great_wave", entries).title.startswith("The Great Wave")
    with pytest.raises(StyleNotFoundError, match="did you mean starry_night"):
        find_style("stary_night", entries)


def test_method_status_says_why():
    status = method_status()
    assert status["optimize"] is None and status["fast"] is None
    assert all(reason is None or isinstance(reason, str) and reason for reason in status.values())


def test_label():
    assert CatalogEntry("x", "Title", "Artist", "1900").label() == "Title (1900), Artist"
    assert CatalogEntry("x", "Title (1900)", "Artist", "1900").label() == "Title (1900), Artist"


def test_styles_command_lists_networks_too(capsys):
    assert main(["styles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split("\t")[0] for line in lines]
    assert "wheat_field" in names and "starry_night" in names
    assert lines[names.index("wheat_field")].endswith("[fast, multistyle, adain, optimize]")
    assert lines[names.index("van_gogh")].endswith("[adaptive]")


def test_an_installed_adain_decoder_renders_every_statistics_style(tmp_path):
    """With an AdaIN model in the model folder, every statistics style lists adain; without one, none does."""
    from painterly.catalog import adain_installed
    from painterly.methods.adain import builtin_decoder_path
    from painterly.methods.feedforward import available_models
    from painterly.nets.adain import AdainDecoderConfig
    from painterly.train.adain import AdainTask, AdainTrainConfig

    empty = tmp_path / "empty"
    empty.mkdir()
    if not builtin_decoder_path().is_file():
        assert not adain_installed(available_models(empty))
        assert all("adain" not in e.methods for e in list_styles(model_dir=empty))
        assert method_status(empty)["adain"]
    folder = tmp_path / "models"
    from painterly.nets.adain import AdainDecoder

    task = AdainTask(AdainTrainConfig(), decoder=AdainDecoder(AdainDecoderConfig(width=1 / 16)))
    task.export(folder / "decoder.safetensors", {"training": {"steps": 0}})
    entries = {e.name: e for e in list_styles(model_dir=folder)}
    for name in StyleRegistry().names():
        assert entries[name].methods[:2] == ("adain", "optimize")
    assert method_status(folder)["adain"] is None



def test_styles_into_a_closed_pipe_stops_quietly(monkeypatch, capsys):
    """``painterly styles | head -1``: the reader has gone; no traceback, SIGPIPE's status 141."""
    import io
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    with capsys.disabled():
        stdout = io.TextIOWrapper(io.FileIO(write_end, "w"), write_through=True)
        monkeypatch.setattr("sys.stdout", stdout)
        assert main(["styles"]) == 141
        stdout.write("still writable\n")   # now a null device: the interpreter's last flush cannot fail
        stdout.close()
