"""One optimiser iteration at a time on an image kept in [0, 1] (shared by optimize and visualize).

Both image-optimisation tools (:mod:`painterly.methods.optimize` and
:mod:`painterly.analysis.layers`) step L-BFGS or Adam one iteration per call, so progress bars,
frames and time limits act per iteration, and keep the image in the box [0, 1]. L-BFGS runs
without a line search (as in Gatys et al.'s code). Three safeguards were found necessary on
these objectives:

* Trust region: a step that changes any pixel by more than ``max_step`` is scaled down to it.
  Unit quasi-Newton steps otherwise overshoot on the quartic Gram loss: the curvature pair of
  PyTorch's tiny first step (L1 norm ``lr``) says little about the next one, and the second
  step can throw most pixels to 0 or 1 (measured: the saturated image then takes ~70 steps to
  recover; a reconstruction at relu1_1 went from 0.04 of the noise's loss back up to 4).
* Projection with exact secant pairs: the image is clamped to [0, 1] after each step.
  PyTorch's L-BFGS builds its curvature pairs from the step it *meant* to take (``s = t * d``);
  after clamping or capping, the image moved differently, the pairs are wrong and the run can
  diverge. The stored direction is therefore set to the step actually taken, so every pair is
  a true secant ``(x_k+1 - x_k, g_k+1 - g_k)``. (PyTorch's ``strong_wolfe`` line search was
  tried instead: with the projection it stalls at the first step for Gram losses, and it
  doubles the evaluations.)
* A non-finite loss puts the best image back and clears the optimiser's state.

The best iterate seen is kept; :meth:`ProjectedStepper.best` returns it if the final image is
worse.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

MAX_STEP = 0.25  # default largest change of any pixel in one step ([0, 1] units)
HISTORY_SIZE = 50  # L-BFGS curvature pairs kept


class ProjectedStepper:
    """Steps ``image`` (a leaf tensor with ``requires_grad``) with ``closure`` one iteration per call.

    ``closure()`` must zero the gradient, evaluate the loss at ``image``, call ``backward()``
    and return the loss, as for :meth:`torch.optim.Optimizer.step`.
    """

    def __init__(self, image: torch.Tensor, closure: Callable[[], torch.Tensor], optimizer: str = "lbfgs",
                 learning_rate: float = 1.0, max_step: float = MAX_STEP):
        self.image, self.closure, self.max_step = image, closure, max_step
        self.lbfgs = optimizer == "lbfgs"
        if self.lbfgs:
            self.optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
                [image], lr=learning_rate, max_iter=1, history_size=HISTORY_SIZE,
                tolerance_grad=0.0, tolerance_change=0.0)
        else:
            self.optimizer = torch.optim.Adam([image], lr=learning_rate)
        self.best_loss = float("inf")
        self.best_image = image.detach().clone()
        self.restarts = 0

    def step(self) -> float:
        """One iteration; returns the loss evaluated at the image it started from."""
        before = self.image.detach().clone()
        loss = float(self.optimizer.step(self.closure).detach())
        if loss < self.best_loss:
            self.best_loss, self.best_image = loss, before
        with torch.no_grad():
            delta = self.image - before
            largest = float(delta.abs().max())
            if largest > self.max_step:
                delta.mul_(self.max_step / largest)
            self.image.copy_((before + delta).clamp_(0, 1))
        if not (loss == loss and torch.isfinite(self.image).all()):
            self._restart()
            return loss
        if self.lbfgs:
            state = self.optimizer.state[self.image]
            if state.get("t") and "d" in state:
                state["d"] = (self.image.detach() - before).flatten() / state["t"]
        return loss

    def _restart(self) -> None:
        with torch.no_grad():
            self.image.copy_(self.best_image)
        self.optimizer.state.clear()
        self.restarts += 1

    def best(self, final_loss: float) -> torch.Tensor:
        """The final image, or the best iterate if that was better."""
        return self.image.detach() if final_loss <= self.best_loss else self.best_image


__all__ = ["ProjectedStepper", "MAX_STEP"]
