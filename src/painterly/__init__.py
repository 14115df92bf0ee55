"""painterly: neural style transfer toolkit.

The public API is imported lazily, so ``import painterly`` is cheap and has no side effects.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "optimize": "painterly.methods.optimize",
    "OptimizeConfig": "painterly.methods.optimize",
    "stylize": "painterly.methods.stylize",
    "VGG19Features": "painterly.features",
    "StyleRegistry": "painterly.styles",
    "load_image": "painterly.io.image",
    "save_image": "painterly.io.image",
    "evaluate": "painterly.analysis.metrics",
    "PainterlyError": "painterly.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
