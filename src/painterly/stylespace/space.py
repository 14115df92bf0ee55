"""The style space: a trained style VAE plus the latent codes of named paintings.

    space = load_style_space()                       # the built-in style_vae model
    z = space.code("starry_night")                   # built-in name, painting name or image file
    stats = space.stats(space.point(parse_vae_spec("vae:starry_night..great_wave@0.3")))

A *vae style spec* (``--style`` on the command line) is one of

* ``vae:NAME``            the latent code of NAME, decoded (a round trip through the space),
* ``vae:A..B@T``          the point at fraction T in [0, 1] of the straight latent path A -> B,
* ``vae:random``          a code drawn from the prior N(0, I) (``seed`` fixes it; ``@S`` scales it),

where NAME, A and B are painting names stored in the model (``painterly styles-map`` shows
them), built-in style names (``starry_night``) or image files.
"""

from __future__ import annotations

import difflib
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import PainterlyError, StyleNotFoundError
from ..styles import StyleRegistry, StyleStats
from .vae import StyleVAE, StyleVAEConfig, interpolate
from .vectors import CODE_SIZE, image_vector, vector_to_stats

KIND = "style-vae"
BUILTIN_MODEL = "style_vae.safetensors"
PREFIX = "vae:"


class VaeSpecError(StyleNotFoundError):
    """A malformed ``vae:`` style."""


@dataclass(frozen=True)
class VaeSpec:
    """A parsed ``vae:`` style: ``a`` alone, a path ``a``..``b`` at ``t``, or a random draw."""

    a: str | None = None
    b: str | None = None
    t: float = 0.0
    random: bool = False
    scale: float = 1.0
    text: str = ""

    def label(self) -> str:
        return self.text or (f"vae:{self.a}..{self.b}@{self.t:g}" if self.b else f"vae:{self.a}")


def is_vae_spec(text: object) -> bool:
    return isinstance(text, str) and text.startswith(PREFIX)


def check_t(t: float, text: str = "") -> float:
    if not 0.0 <= t <= 1.0:
        raise VaeSpecError(f"t must be between 0 and 1 in {text or t!r}")
    return t


def parse_vae_spec(text: str) -> VaeSpec:
    """``vae:NAME``, ``vae:A..B@T`` or ``vae:random[@SCALE]`` -> :class:`VaeSpec` (see the module doc)."""
    if not is_vae_spec(text):
        raise VaeSpecError(f"{text!r} is not a vae: style (vae:NAME, vae:A..B@T or vae:random)")
    body = text[len(PREFIX):]
    head, at, tail = body.rpartition("@")
    if body == "random" or (at and head == "random"):
        scale = _number(tail, text) if at else 1.0
        if scale < 0:
            raise VaeSpecError(f"the random scale must be >= 0 in {text!r}")
        return VaeSpec(random=True, scale=scale, text=text)
    if ".." in body:
        if not at:
            raise VaeSpecError(f"a path needs a point: vae:A..B@T with T in [0, 1], not {text!r}")
        a, _, b = head.partition("..") if head.count("..") == 1 else _split_path(head, text)
        if not a or not b:
            raise VaeSpecError(f"a path needs two styles: vae:A..B@T, not {text!r}")
        return VaeSpec(a=a, b=b, t=check_t(_number(tail, text), text), text=text)
    if not body:
        raise VaeSpecError("vae: needs a style: vae:NAME, vae:A..B@T or vae:random")
    return VaeSpec(a=body, text=text)


def _number(text: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise VaeSpecError(f"{text!r} is not a number in {spec!r}") from None


def _split_path(head: str, text: str) -> tuple[str, str, str]:
    """A..B where A or B is a relative path with '..' in it: the split whose two sides exist or are names."""
    parts = head.split("..")
    for i in range(1, len(parts)):
        a, b = "..".join(parts[:i]), "..".join(parts[i:])
        if (Path(a).exists() or "/" not in a) and (Path(b).exists() or "/" not in b):
            return a, "..", b
    raise VaeSpecError(f"cannot tell the two styles apart in {text!r}")


@dataclass
class StyleSpace:
    """A style VAE and the latent codes of the paintings it was given."""

    vae: StyleVAE
    names: list[str]
    codes: torch.Tensor                        # len(names) x latent
    held_out: list[bool] = field(default_factory=list)
    path: Path | None = None
    meta: dict = field(default_factory=dict)
    registry: StyleRegistry = field(default_factory=StyleRegistry)
    _vgg: object = None

    @property
    def latent(self) -> int:
        return self.vae.config.latent

    def known_names(self) -> list[str]:
        return sorted(set(self.names) | set(self.registry.names()))

    def code(self, style: str | torch.Tensor) -> torch.Tensor:
        """Latent code (posterior mean) of a painting name, a built-in style name, an image file or tensor."""
        if isinstance(style, torch.Tensor):
            return self.encode_image(style)
        if style in self.names:
            return self.codes[self.names.index(style)]
        if style in self.registry.names():
            source = Path(self.registry.info(style).source).stem
            if source in self.names:
                return self.codes[self.names.index(source)]
        if Path(style).is_file():
            from ..io.image import load_image

            return self.encode_image(load_image(style))
        close = difflib.get_close_matches(style, self.known_names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise StyleNotFoundError(f"unknown style {style!r} for the style space: not a painting in it, a built-in "
                                 f"style or an image file{hint} (`painterly styles-map` shows them)")

    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        from ..features import VGG19Features
        from ..ops import resize_longer_side

        if self._vgg is None:
            self._vgg = VGG19Features(self.vae.config.layers)
        image = image if image.ndim == 4 else image[None]
        size = int(self.meta.get("architecture", {}).get("code_size", CODE_SIZE))
        vector = image_vector(self._vgg, resize_longer_side(image.float(), size), self.vae.config.layers)
        with torch.no_grad():
            mu, _ = self.vae.encode(vector[None])
        return mu[0]

    def point(self, spec: VaeSpec, seed: int = 0) -> torch.Tensor:
        """The latent code a spec names."""
        if spec.random:
            gen = torch.Generator().manual_seed(seed)
            return spec.scale * torch.randn(self.latent, generator=gen)
        if spec.b is None:
            return self.code(spec.a)
        return interpolate(self.code(spec.a), self.code(spec.b), spec.t)

    def stats(self, z: torch.Tensor) -> StyleStats:
        """The style statistics (channel means and stds per layer) decoded from a latent code."""
        with torch.no_grad():
            vector = self.vae.decode(z.float()[None])[0]
        means, stds = vector_to_stats(vector, self.vae.config.layers)
        return StyleStats(means=means, stds=stds)

    def spec_stats(self, text: str, seed: int = 0) -> StyleStats:
        return self.stats(self.point(parse_vae_spec(text), seed))


def builtin_style_vae_path() -> Path:
    return Path(str(importlib.resources.files("painterly") / "data" / "models" / BUILTIN_MODEL))


def load_style_space(model: str | Path | None = None) -> StyleSpace:
    """The style space of a ``style-vae`` model file (default: the built-in one)."""
    from ..io.model_file import ModelFileError, load_model_file

    path = Path(model) if model else builtin_style_vae_path()
    if model is None and not path.is_file():
        raise PainterlyError("no style VAE is installed: train one with `painterly train style-vae`")
    loaded = load_model_file(path, KIND)
    state = dict(loaded.state)
    codes = state.pop("codes", None)
    config = StyleVAEConfig.from_dict(loaded.meta.get("architecture", {}).get("vae", {}))
    vae = StyleVAE(config)
    try:
        vae.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not fit a style VAE ({str(exc).splitlines()[0][:100]})") from None
    vae.eval()
    paintings = loaded.meta.get("paintings", [])
    names = [p["name"] for p in paintings]
    if codes is None or len(codes) != len(names):
        raise ModelFileError(f"{path}: a style VAE without a code per painting")
    return StyleSpace(vae, names, codes.float(), [bool(p.get("held_out")) for p in paintings], path, loaded.meta)


__all__ = ["StyleSpace", "VaeSpec", "VaeSpecError", "parse_vae_spec", "is_vae_spec", "load_style_space",
           "builtin_style_vae_path", "check_t", "KIND"]
