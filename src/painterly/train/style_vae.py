"""Training the style VAE (:mod:`painterly.stylespace.vae`) as a task of the shared trainer loop.

Data: every painting of ``styles_dir`` except the held-out ones is seen at several sizes
(longer side ``sizes``), and at each size ``windows`` random windows (side ``min_window`` to 1
of the shorter side) give one style vector each; this is the augmentation: a style is a cloud of
nearby vectors, not one point, so the latent space between paintings is filled. All vectors
are measured once, before training (one VGG pass per painting and size, see
:func:`painterly.stylespace.vectors.window_vectors`).

A batch of step k, and the noise of its reparameterised samples, depend on (seed, k) alone,
so a resumed run continues exactly.

The exported model holds, beside the weights, the latent code (posterior mean of the whole
painting's vector at ``code_size`` px) of every painting in ``styles_dir``, held-out ones included
(marked), so ``vae:NAME`` needs no painting file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import PainterlyError
from ..features import VGG19Features
from ..io.image import atomic_write_bytes, load_image
from ..losses import warmed_up_weight
from ..ops import resize_longer_side
from ..stylespace.vae import StyleVAE, StyleVAEConfig, vae_loss
from ..stylespace.vectors import CODE_SIZE, VECTOR_LAYERS, random_windows, window_vectors
from .adain import DEFAULT_HOLDOUT_STYLES, list_images

log = logging.getLogger(__name__)



@dataclass
class StyleVAETrainConfig:
    """What the style-VAE trainer needs beyond the shared :class:`TrainerConfig`."""

    styles_dir: str = ""
    sizes: tuple[int, ...] = (384, 512)   # longer sides at which paintings are measured
    windows: int = 64                     # random windows per painting and size
    min_window: float = 0.4               # smallest window side, as a fraction of the shorter side
    code_size: int = CODE_SIZE            # longer side at which a whole painting is measured for its code
    latent: int = 16
    hidden: tuple[int, ...] = (512, 256)
    beta: float = 1.0                     # weight of the KL term
    kl_warmup: int = 500                  # steps over which the KL weight rises linearly to beta
    holdout_styles: tuple[str, ...] = DEFAULT_HOLDOUT_STYLES
    seed: int = 0

    def validate(self) -> "StyleVAETrainConfig":
        if self.latent < 1 or self.windows < 1 or not self.sizes or min(*self.sizes, self.code_size) < 32:
            raise PainterlyError("latent and windows must be >= 1 and sizes >= 32 px")
        if not 0.05 <= self.min_window <= 1.0:
            raise PainterlyError(f"min window must be in [0.05, 1], not {self.min_window}")
        if self.beta < 0 or self.kl_warmup < 0:
            raise PainterlyError("beta and KL warm-up must be >= 0")
        return self

    def vae_config(self) -> StyleVAEConfig:
        return StyleVAEConfig(latent=self.latent, hidden=tuple(self.hidden), layers=VECTOR_LAYERS)

    def to_dict(self) -> dict:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass
class StyleVectors:
    """Measured training data: ``vectors`` (N x D), the painting of each row, and every painting's own vector."""

    vectors: torch.Tensor
    owners: torch.Tensor                   # N, index into ``names``
    names: list[str]                       # every painting (file stem), held-out ones too
    whole: torch.Tensor                    # len(names) x D, each painting at CODE_SIZE
    held_out: list[bool]


def measure_styles(cfg: StyleVAETrainConfig, vgg: VGG19Features | None = None,
                   progress: Callable[[int, int], None] | None = None) -> StyleVectors:
    """Style vectors of random windows of the training paintings, and every painting's own vector."""
    paths = list_images(cfg.styles_dir)
    vgg = vgg or VGG19Features(VECTOR_LAYERS)
    gen = torch.Generator().manual_seed(cfg.seed)
    rows, owners, whole, held = [], [], [], []
    for index, path in enumerate(paths):
        image = load_image(path)
        out = path.stem in cfg.holdout_styles
        held.append(out)
        sizes = [cfg.code_size] if out else sorted(set(cfg.sizes) | {cfg.code_size})
        for size in sizes:
            scaled = resize_longer_side(image, size)
            aspect = scaled.shape[-1] / scaled.shape[-2]
            windows = random_windows(cfg.windows, cfg.min_window, gen, aspect) if size in cfg.sizes and not out else []
            # one VGG pass per size; at CODE_SIZE the whole painting is one more window
            vectors = window_vectors(vgg, scaled, windows + ([(0.0, 0.0, 1.0, 1.0)] if size == cfg.code_size else []))
            if size == cfg.code_size:
                whole.append(vectors[-1])
                vectors = vectors[:-1]
            if len(vectors):
                rows.append(vectors)
                owners.append(torch.full((len(vectors),), index, dtype=torch.long))
        if progress is not None:
            progress(index + 1, len(paths))
    if not rows:
        raise PainterlyError(f"{cfg.styles_dir}: every painting is held out; nothing to train on")
    return StyleVectors(torch.cat(rows).float(), torch.cat(owners), [p.stem for p in paths],
                        torch.stack(whole).float(), held)


def _measure_key(cfg: StyleVAETrainConfig, paths: Sequence[Path]) -> str:
    """What the measured vectors depend on: data settings and the paintings (name, size, mtime)."""
    settings = {k: cfg.to_dict()[k] for k in ("sizes", "windows", "min_window", "code_size", "holdout_styles", "seed")}
    files = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in paths]
    return hashlib.sha256(json.dumps([settings, files, list(VECTOR_LAYERS)]).encode()).hexdigest()[:16]


def measure_styles_cached(cfg: StyleVAETrainConfig, cache_dir: Path,
                          progress: Callable[[int, int], None] | None = None) -> StyleVectors:
    """:func:`measure_styles`, kept in ``cache_dir/vectors-KEY.safetensors`` for re-runs and resumes."""
    from safetensors.torch import load_file, save

    path = Path(cache_dir) / f"vectors-{_measure_key(cfg, list_images(cfg.styles_dir))}.safetensors"
    names_path = path.with_suffix(".json")
    if path.is_file() and names_path.is_file():
        saved, meta = load_file(str(path)), json.loads(names_path.read_text())
        log.info("using measured style vectors from %s", path)
        return StyleVectors(saved["vectors"], saved["owners"], meta["names"], saved["whole"], meta["held_out"])
    data = measure_styles(cfg, progress=progress)
    atomic_write_bytes(names_path, json.dumps({"names": data.names, "held_out": data.held_out}).encode())
    atomic_write_bytes(path, save({"vectors": data.vectors, "owners": data.owners, "whole": data.whole}))
    return data


class VectorBatches:
    """``batch(step)``: rows of the training vectors and the reparameterisation noise, from (seed, step)."""

    def __init__(self, vectors: torch.Tensor, batch_size: int, latent: int, seed: int = 0):
        self.vectors, self.batch_size, self.latent, self.seed = vectors, batch_size, latent, seed

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        rows = torch.randint(0, len(self.vectors), (self.batch_size,), generator=gen)
        noise = torch.randn(self.batch_size, self.latent, generator=gen)
        return {"vectors": self.vectors[rows], "noise": noise}


class StyleVAETask:
    """The style VAE as a :class:`painterly.train.loop.TrainTask`."""

    kind = "style-vae"

    def __init__(self, cfg: StyleVAETrainConfig, data: StyleVectors, vae: StyleVAE | None = None):
        self.cfg, self.data = cfg, data
        if vae is None:
            with torch.random.fork_rng():       # initial weights from the seed alone: reruns give the same model
                torch.manual_seed(cfg.seed)
                vae = StyleVAE(cfg.vae_config())
            vae.set_normalisation(data.vectors)
        self.vae = vae
        self.ddp: dict[str, torch.nn.Module] = {}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vae": self.vae}

    def parameters(self) -> Iterable[torch.nn.Parameter]:
        return self.vae.parameters()

    def distribute(self, wrapped: dict[str, torch.nn.Module], world) -> None:
        self.ddp = wrapped

    def config_dict(self) -> dict:
        return self.cfg.to_dict()

    def kl_weight(self, step: int) -> float:
        return warmed_up_weight(step, self.cfg.beta, self.cfg.kl_warmup)

    def losses(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        vectors = batch["vectors"]
        recon, mu, logvar = self.ddp.get("vae", self.vae)(vectors, batch["noise"])
        terms = vae_loss(recon, self.vae.standardise(vectors), mu, logvar, self.kl_weight(step))
        return {"total": terms["total"], "recon": terms["recon"].detach(), "kl": terms["kl"].detach()}

    def samples(self, photos: torch.Tensor) -> torch.Tensor:  # no picture samples: styles are statistics
        return photos

    def codes(self) -> torch.Tensor:
        """Posterior means of every painting's own vector: len(names) x latent."""
        with torch.no_grad():
            mu, _ = self.vae.encode(self.data.whole.to(self.vae.center.device))
        return mu.cpu()

    def export(self, path: Path, meta: dict) -> Path:
        from ..io.model_file import save_model_file

        state = {k: v.detach().cpu() for k, v in self.vae.state_dict().items()}
        state["codes"] = self.codes()
        paintings = [{"name": name, "held_out": out} for name, out in zip(self.data.names, self.data.held_out)]
        meta = {"architecture": {"vae": self.vae.config.to_dict(), "code_size": self.cfg.code_size},
                "paintings": paintings, **meta}
        meta.setdefault("training", {})["style_vae"] = self.cfg.to_dict()
        meta["training"]["vectors"] = int(len(self.data.vectors))
        return save_model_file(path, self.kind, state, meta)   # fp16: decoded statistics change by < 0.2 %


def holdout_names(cfg: StyleVAETrainConfig, names: Sequence[str]) -> list[str]:
    return [n for n in names if n in cfg.holdout_styles]


__all__ = ["StyleVAETrainConfig", "StyleVAETask", "StyleVectors", "VectorBatches", "measure_styles", "measure_styles_cached", "CODE_SIZE"]
