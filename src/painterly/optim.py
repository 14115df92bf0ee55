"""One optimiser iteration at a time on an image kept in [0, 1] (shared by optimize and visualize).

Both image-optimisation tools (:mod:`painterly.methods.optimize` and
:mod:`painterly.analysis.layers`) step L-BFGS or Adam one iteration per call, so progress bars,
frames and time limits act per iteration, and keep the image in the box [0, 1]. L-BFGS runs
without a line search (as in Gatys et al.'s code) and is written out here (the two-loop
recursion of Nocedal & Wright, Algorithm 7.4) rather than taken from ``torch.optim.LBFGS``,
for two reasons:

* Projection with exact secant pairs: the image is clamped to [0, 1] after each step, and a
  step that changes any pixel by more than ``max_step`` is scaled down to it (unit
  quasi-Newton steps otherwise overshoot on the quartic Gram loss and throw most pixels to 0
  or 1). The curvature pairs must then be the step actually taken, ``(x_k+1 - x_k, g_k+1 -
  g_k)``; with PyTorch's optimiser that took patching its internal state.
* Preconditioning (``precondition``): the initial inverse Hessian of the recursion is
  ``gamma * P`` instead of ``gamma * I``. :class:`SmoothingPreconditioner` is such a P: it
  adds Gaussian-smoothed copies of the gradient at widths 2, 4, 8, ... px, so changes that span
  large areas (the overall brightness and colour of a sky, a dark mass of sea) cost as few
  steps as fine texture does. Pixel-space gradients of the Gram loss are dominated by fine
  detail, and without it L-BFGS moves large areas slowly; coarse-to-fine scales help with the
  same problem but lose content when the coarsest scale is small (benchmarks/README.md).

With ``precondition=None`` the steps equal ``torch.optim.LBFGS(max_iter=1)``'s (tested).
A non-finite loss puts the best image back and clears the optimiser's state. The best iterate
seen is kept; :meth:`ProjectedStepper.best` returns it if the final image is worse.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

MAX_STEP = 0.25  # default largest change of any pixel in one step ([0, 1] units)
HISTORY_SIZE = 50  # L-BFGS curvature pairs kept
MIN_CURVATURE = 1e-10  # pairs with s.y below this are skipped (as torch.optim.LBFGS does)

Preconditioner = Callable[[torch.Tensor], torch.Tensor]


def lbfgs_direction(grad: torch.Tensor, steps: Sequence[torch.Tensor], grad_changes: Sequence[torch.Tensor],
                    precondition: Preconditioner | None = None) -> torch.Tensor:
    """The L-BFGS two-loop recursion: ``H grad`` for the inverse-Hessian estimate H built from the
    curvature pairs (oldest first), with ``H0 = gamma * P`` (P = ``precondition`` or the identity,
    gamma = s.y / y.P.y of the newest pair). Returns the descent direction's negative."""
    apply = precondition or (lambda x: x)
    q = grad.clone()
    alphas = []
    for s, y in zip(reversed(steps), reversed(grad_changes)):
        rho = 1.0 / float((y * s).sum())
        alpha = rho * float((s * q).sum())
        q -= alpha * y
        alphas.append((alpha, rho))
    r = apply(q)
    if steps:
        s, y = steps[-1], grad_changes[-1]
        r *= float((s * y).sum()) / float((y * apply(y)).sum())
    for (alpha, rho), s, y in zip(reversed(alphas), steps, grad_changes):
        beta = rho * float((y * r).sum())
        r += (alpha - beta) * s
    return r


def gaussian_sum_transfer(height: int, width: int, sigmas: Sequence[float], strength: float) -> torch.Tensor:
    """``1 + strength * sum_k exp(-2 pi^2 sigma_k^2 |f|^2)`` on the ``rfft2`` grid of a height x width
    array (f in cycles per pixel): the frequency response of I + strength * sum of Gaussian blurs."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64).view(1, -1)
    radius2 = fy**2 + fx**2
    response = torch.ones_like(radius2)
    for sigma in sigmas:
        response += strength * torch.exp(-2 * math.pi**2 * sigma**2 * radius2)
    return response


def smoothing_sigmas(height: int, width: int, finest: float = 2.0, coarsest_fraction: float = 1 / 8) -> list[float]:
    """Blur widths 2, 4, 8, ... px up to ``coarsest_fraction`` of the longer side (at least one)."""
    sigmas, sigma = [], finest
    while sigma <= max(height, width) * coarsest_fraction or not sigmas:
        sigmas.append(sigma)
        sigma *= 2
    return sigmas


class SmoothingPreconditioner:
    """P g = g + strength * sum_k G_sigma_k * g, for images of one size (N x C x H x W).

    Applied with one FFT on a zero-padded copy (twice the size, so nothing wraps around), i.e. a
    linear convolution with zero boundary: P is symmetric positive definite, as an L-BFGS
    H0 must be. At ``strength`` a the lowest frequencies are amplified 1 + a * (number of
    widths) times relative to single-pixel detail.
    """

    def __init__(self, height: int, width: int, strength: float, sigmas: Sequence[float] | None = None,
                 device: torch.device | str = "cpu"):
        if strength < 0:
            raise ValueError(f"preconditioner strength must be >= 0, not {strength}")
        self.height, self.width = height, width
        self.sigmas = list(sigmas) if sigmas is not None else smoothing_sigmas(height, width)
        self.padded = (2 * height, 2 * width)
        self.response = gaussian_sum_transfer(*self.padded, self.sigmas, strength).to(device, torch.float32)

    def __call__(self, g: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(g.float(), s=self.padded)
        return torch.fft.irfft2(spectrum * self.response, s=self.padded)[..., :self.height, :self.width].to(g.dtype)


class ProjectedStepper:
    """Steps ``image`` (a leaf tensor with ``requires_grad``) with ``closure`` one iteration per call.

    ``closure()`` must zero the gradient, evaluate the loss at ``image``, call ``backward()``
    and return the loss, as for :meth:`torch.optim.Optimizer.step`. ``precondition`` (L-BFGS
    only) is applied to gradients shaped like ``image``.
    """

    def __init__(self, image: torch.Tensor, closure: Callable[[], torch.Tensor], optimizer: str = "lbfgs",
                 learning_rate: float = 1.0, max_step: float = MAX_STEP, precondition: Preconditioner | None = None,
                 history_size: int = HISTORY_SIZE):
        self.image, self.closure, self.max_step = image, closure, max_step
        self.lbfgs = optimizer == "lbfgs"
        self.learning_rate, self.precondition, self.history_size = learning_rate, precondition, history_size
        self.adam = None if self.lbfgs else torch.optim.Adam([image], lr=learning_rate)
        self.steps: list[torch.Tensor] = []
        self.grad_changes: list[torch.Tensor] = []
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (image, gradient) of the last step
        self.best_loss = float("inf")
        self.best_image = image.detach().clone()
        self.restarts = 0

    def step(self) -> float:
        """One iteration; returns the loss evaluated at the image it started from."""
        before = self.image.detach().clone()
        if self.lbfgs:
            loss = float(self.closure().detach())
            delta = self._lbfgs_step(before)
        else:
            loss = float(self.adam.step(self.closure).detach())
            delta = self.image.detach() - before
        if loss < self.best_loss:
            self.best_loss, self.best_image = loss, before
        with torch.no_grad():
            largest = float(delta.abs().max())
            if largest > self.max_step:
                delta = delta * (self.max_step / largest)
            self.image.copy_((before + delta).clamp_(0, 1))
        if not (loss == loss and torch.isfinite(self.image).all()):
            self._restart()
        return loss

    def _lbfgs_step(self, position: torch.Tensor) -> torch.Tensor:
        grad = self.image.grad.detach().clone()
        if self.previous is not None:
            step, grad_change = position - self.previous[0], grad - self.previous[1]
            if float((step * grad_change).sum()) > MIN_CURVATURE:
                if len(self.steps) == self.history_size:
                    self.steps.pop(0)
                    self.grad_changes.pop(0)
                self.steps.append(step)
                self.grad_changes.append(grad_change)
        direction = lbfgs_direction(grad, self.steps, self.grad_changes, self.precondition)
        scale = self.learning_rate
        if self.previous is None:   # first step: no curvature known, a step of L1 norm lr (as torch does)
            scale *= min(1.0, 1.0 / max(float(direction.abs().sum()), 1e-30))
        self.previous = (position, grad)
        return -scale * direction

    def _restart(self) -> None:
        with torch.no_grad():
            self.image.copy_(self.best_image)
        if self.adam is not None:
            self.adam.state.clear()
        self.steps.clear()
        self.grad_changes.clear()
        self.previous = None
        self.restarts += 1

    def best(self, final_loss: float) -> torch.Tensor:
        """The final image, or the best iterate if that was better."""
        return self.image.detach() if final_loss <= self.best_loss else self.best_image


__all__ = ["ProjectedStepper", "SmoothingPreconditioner", "lbfgs_direction", "gaussian_sum_transfer",
           "smoothing_sigmas", "MAX_STEP"]
