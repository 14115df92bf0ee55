"""``painterly demo`` end to end at a tiny size: every file it names is written and decodes."""

from __future__ import annotations

from PIL import Image

from painterly.cli import main
from painterly.cli.demo import sheet_columns
from painterly.methods.feedforward import LOADERS, available_models


def test_demo_writes_result_gif_networks_and_sheet(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--size", "64", "--iterations", "3", "--quiet"]) == 0
    said = capsys.readouterr().out
    assert str(out) in said and "3 optimisation steps" in said
    with Image.open(out / "result.png") as result:
        assert max(result.size) == 64
    with Image.open(out / "optimization.gif") as gif:
        assert gif.n_frames >= 2
    networks = [m for m in available_models() if m.kind in LOADERS]
    panels = [f"{m.kind}_{m.name}.png" for m in networks]
    assert len(set(panels)) == len(panels)                 # one file per model, none overwritten
    written = said.split("Wrote ", 1)[1].split(" and sheet.png")[0].split(", ")[2:]
    assert sorted(written) == sorted(panels)
    from painterly.catalog import METHOD_ORDER

    kinds = [next(m.kind for m in networks if f"{m.kind}_{m.name}.png" == name) for name in written]
    assert [METHOD_ORDER.index(k) for k in kinds] == sorted(METHOD_ORDER.index(k) for k in kinds)   # grouped by method
    for name in panels:
        with Image.open(out / name) as image:
            image.load()
    n_panels = 2 + len(networks)                           # photo, optimisation and every network
    with Image.open(out / "sheet.png") as sheet:
        rows = -(-n_panels // sheet_columns(n_panels))
        assert sheet.width >= 64 * sheet_columns(n_panels)
        assert sheet.height >= rows * 64                   # every panel placed, in rows of at most four


def test_demo_sheet_wraps_into_rows_of_four():
    assert [sheet_columns(n) for n in (1, 3, 4, 5, 11)] == [1, 3, 4, 4, 4]


def test_demo_blends_its_style_with_the_next_one_of_a_multistyle_model():
    from painterly.cli.demo import blend_pair

    styles = ["great_wave", "starry_night", "the_scream"]
    assert blend_pair(styles, "starry_night") == ("starry_night", "the_scream")
    assert blend_pair(styles, "the_scream") == ("the_scream", "great_wave")     # wraps round
    assert blend_pair(styles, "udnie") == ("great_wave", "starry_night")        # not in the model: the first two
