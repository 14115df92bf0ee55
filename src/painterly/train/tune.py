"""Loss-weight search for per-style networks: Optuna TPE over short trainings.

Each trial trains a small :class:`~painterly.train.fast.FastTask` for ``steps`` steps with
weights drawn by the sampler, stylises held-out photos, and scores them with
:func:`painterly.analysis.metrics.evaluate`::

    score = mean_i style_loss(y_i) / style_loss(x_i)  +  ssim_weight * mean_i (1 - SSIM(y_i, x_i))

The first term is the share of the photo's Gram distance to the style that is left (1: not
stylised, 0: the style's textures exactly); the second the structure lost. Lower is better.

The search space is the calibrated weight space of :mod:`painterly.train.fast`: with the
content weight fixed at 1 (Adam is invariant to a common scale of all weights, so only the
ratios matter), the style weight is ``style_ratio * C0 / S0`` and the TV weight
``tv_ratio * C0 / T0``, with ``style_ratio`` and ``tv_ratio`` searched on log scales. The
reference losses C0, S0, T0 are measured once, so every trial's weights are plain numbers,
reported as such.
"""

from __future__ import annotations

import functools
import logging
import math
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from ..errors import PainterlyError
from ..features import VGG19Features
from .fast import FastTask, FastTrainConfig, calibrated_weights
from .loop import TrainerConfig, train

logger = logging.getLogger(__name__)

# The network and crop of a trial: small, so that a trial of a few hundred steps means something on a CPU.
TRIAL_CROP, TRIAL_WIDTH, TRIAL_DEPTH = 128, 16, 3


@dataclass
class TuneConfig:
    """The search; the ``painterly tune`` flags derive from these fields."""

    trials: int = 20
    steps: int = 200                 # training steps per trial
    batch_size: int = 2
    lr: float = 2e-3
    style_ratio_range: tuple[float, float] = (0.25, 16.0)
    tv_ratio_range: tuple[float, float] = (1e-4, 0.1)
    ssim_weight: float = 1.0         # weight of (1 - SSIM) in the score
    seed: int = 0
    device: str = "cpu"
    max_seconds: float | None = None

    def validate(self) -> "TuneConfig":
        if self.trials < 1 or self.steps < 1 or self.batch_size < 1:
            raise PainterlyError("trials, steps and batch size must be at least 1")
        for name, (low, high) in (("style ratio", self.style_ratio_range), ("tv ratio", self.tv_ratio_range)):
            if not 0 < low <= high:
                raise PainterlyError(f"{name} range must be 0 < low <= high, not {low}..{high}")
        return self


@dataclass
class TrialResult:
    number: int
    style_ratio: float
    tv_ratio: float
    content_weight: float
    style_weight: float
    tv_weight: float
    style_left: float                # mean style_loss(y) / style_loss(x)
    ssim: float
    content_loss: float
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TuneResult:
    best: TrialResult
    trials: list[TrialResult] = field(default_factory=list)
    reference_losses: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"best": self.best.to_dict(), "trials": [t.to_dict() for t in self.trials],
                "reference_losses": self.reference_losses}


def score(style_left: float, ssim: float, ssim_weight: float) -> float:
    """The objective of the module docstring (lower is better)."""
    return style_left + ssim_weight * (1.0 - ssim)


def _optuna():
    try:
        import optuna
    except ImportError:
        raise PainterlyError("painterly tune needs optuna: pip install 'painterly[train]'") from None
    return optuna


def evaluate_outputs(outputs: torch.Tensor, photos: torch.Tensor, style: str, features) -> tuple[float, float, float]:
    """(mean style loss left, mean SSIM, mean content loss) of outputs against their photos."""
    from ..analysis.metrics import EvaluateConfig, evaluate

    cfg = EvaluateConfig(size=None)
    left, ssim, content = [], [], []
    for out, photo in zip(outputs, photos):
        got = evaluate(out[None], photo[None], style, cfg, features=features)
        base = evaluate(photo[None], photo[None], style, cfg, features=features)
        left.append(got.style_loss / max(base.style_loss, 1e-12))
        ssim.append(got.ssim)
        content.append(got.content_loss)
    n = len(left)
    return sum(left) / n, sum(ssim) / n, sum(content) / n


def tune(base: FastTrainConfig, batches, photos: torch.Tensor, cfg: TuneConfig, callbacks=()) -> TuneResult:
    """Search style/TV weights for ``base`` (its style, layers, crop, network) on ``photos`` (held out)."""
    optuna = _optuna()
    from ..analysis.metrics import make_features

    cfg.validate()
    base = replace(base, content_weight=1.0, style_weight=None, tv_weight=None).validate()
    features = functools.lru_cache(maxsize=4)(lambda layers: VGG19Features(layers).to(cfg.device))
    reference = FastTask(base, cfg.device, features=lambda layers: features(tuple(layers)))
    reference.calibrate(batches)
    ref = reference.reference_losses
    eval_features = make_features()
    results: list[TrialResult] = []

    def objective(trial) -> float:
        style_ratio = trial.suggest_float("style_ratio", *cfg.style_ratio_range, log=True)
        tv_ratio = trial.suggest_float("tv_ratio", *cfg.tv_ratio_range, log=True)
        style_w, tv_w = calibrated_weights(ref["content"], ref["style"], ref["tv"], 1.0, style_ratio, tv_ratio)
        task = FastTask(replace(base, style_weight=style_w, tv_weight=tv_w, style_ratio=style_ratio,
                                tv_ratio=tv_ratio), cfg.device, features=lambda layers: features(tuple(layers)))
        with tempfile.TemporaryDirectory(prefix="painterly-tune-") as scratch:
            train(task, batches, TrainerConfig(out_dir=scratch, iterations=cfg.steps, batch_size=cfg.batch_size,
                                               lr=cfg.lr, warmup=min(cfg.steps // 10, 50), checkpoint_every=10**9,
                                               sample_every=10**9, seed=cfg.seed, device=cfg.device,
                                               tensorboard=False, sample_gif=False),
                  export_path=Path(scratch) / "model.safetensors")
        with torch.no_grad():
            outputs = task.samples(photos.to(cfg.device)).cpu()
        left, ssim, content = evaluate_outputs(outputs, photos, base.style, eval_features)
        value = score(left, ssim, cfg.ssim_weight)
        if not math.isfinite(value):
            value = float("inf")
        result = TrialResult(trial.number, style_ratio, tv_ratio, 1.0, style_w, tv_w, left, ssim, content, value)
        results.append(result)
        logger.info("trial %d: style ratio %.3g, tv ratio %.3g -> score %.4f", trial.number, style_ratio, tv_ratio,
                    value)
        for callback in callbacks:
            callback(result)
        return value

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    study.optimize(objective, n_trials=cfg.trials, timeout=cfg.max_seconds)
    if not results:
        raise PainterlyError("no trial finished within the time limit")
    best = min(results, key=lambda r: r.score)
    return TuneResult(best, results, dict(ref))


def format_table(result: TuneResult) -> str:
    """The trials as a text table, best marked with *."""
    head = f"{'trial':>5}  {'style_ratio':>11}  {'tv_ratio':>9}  {'content_w':>9}  {'style_w':>10}  {'tv_w':>10}  " \
           f"{'style_left':>10}  {'ssim':>6}  {'score':>7}"
    lines = [head, "-" * len(head)]
    for t in sorted(result.trials, key=lambda r: r.score):
        mark = "*" if t is result.best else " "
        lines.append(f"{t.number:>4}{mark}  {t.style_ratio:>11.4g}  {t.tv_ratio:>9.3g}  {t.content_weight:>9.3g}  "
                     f"{t.style_weight:>10.4g}  {t.tv_weight:>10.4g}  {t.style_left:>10.4f}  {t.ssim:>6.3f}  "
                     f"{t.score:>7.4f}")
    return "\n".join(lines)


__all__ = ["TRIAL_CROP", "TRIAL_WIDTH", "TRIAL_DEPTH", "TuneConfig", "TuneResult", "TrialResult", "tune", "score", "format_table"]
