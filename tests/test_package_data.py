"""What ships inside the package: within the size budget, and every built-in style complete."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

from painterly.styles import STATS_SUFFIX, StyleRegistry, load_style_stats

DATA = Path(str(importlib.resources.files("painterly") / "data"))
BUDGET_BYTES = 60_000_000   # issue 7: total package data under 60 MB


def test_package_data_fits_the_budget():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert 0 < total < BUDGET_BYTES, f"package data is {total / 1e6:.1f} MB"


def test_every_built_in_style_has_statistics_at_its_reference_sizes():
    registry = StyleRegistry()
    names = registry.names()
    assert len(names) >= 12
    for name in names:
        info = registry.info(name)
        meta = json.loads((registry.folder / f"{name}.json").read_text())
        assert meta["name"] == name and info.title and info.artist, name
        stats = load_style_stats(registry.folder / f"{name}{STATS_SUFFIX}")
        assert sorted(stats) == sorted(info.reference_sizes), name
        for size_stats in stats.values():
            for layer in info.layers:
                channels = size_stats.means[layer].numel()
                assert size_stats.grams[layer].shape == (channels, channels), (name, layer)
                assert (size_stats.stds[layer] >= 0).all(), (name, layer)
