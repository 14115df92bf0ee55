"""The shared image optimiser: L-BFGS against torch's, the smoothing preconditioner's algebra."""

from __future__ import annotations

import math

import pytest
import torch

from painterly.optim import (ProjectedStepper, SmoothingPreconditioner, gaussian_sum_transfer, lbfgs_direction,
                             smoothing_sigmas)


def quadratic(shape=(1, 3, 6, 5), seed=0):
    """f(x) = 0.5 (x - c)^T A (x - c) with a well-conditioned SPD A; minimiser c inside [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    n = math.prod(shape)
    m = torch.randn(n, n, generator=g, dtype=torch.float64) / n**0.5
    a = m @ m.T + 0.5 * torch.eye(n, dtype=torch.float64)
    c = (0.4 + 0.2 * torch.rand(n, generator=g, dtype=torch.float64))
    return a, c


def test_unpreconditioned_steps_equal_torch_lbfgs():
    """Inside the box and under the step cap, ProjectedStepper is torch.optim.LBFGS(max_iter=1)."""
    a, c = quadratic()
    shape = (1, 3, 6, 5)

    def make(x):
        def closure():
            x.grad = None
            d = x.flatten() - c
            loss = 0.5 * d @ a @ d
            loss.backward()
            return loss
        return closure

    start = torch.full(shape, 0.5, dtype=torch.float64)
    ours = start.clone().requires_grad_(True)
    theirs = start.clone().requires_grad_(True)
    stepper = ProjectedStepper(ours, make(ours), "lbfgs", learning_rate=0.5, max_step=10.0, history_size=5)
    reference = torch.optim.LBFGS([theirs], lr=0.5, max_iter=1, history_size=5, tolerance_grad=0.0,
                                  tolerance_change=0.0)
    ref_closure = make(theirs)
    for _ in range(12):
        stepper.step()
        reference.step(ref_closure)
        assert torch.allclose(ours.detach(), theirs.detach(), atol=1e-9), "trajectories diverged"
    assert float((ours.detach().flatten() - c).abs().max()) < 1e-3   # and it converged


def test_two_loop_recursion_inverts_a_quadratic_exactly():
    """With n independent secant pairs of a quadratic, H equals A^-1 (the BFGS property)."""
    a, _ = quadratic((1, 1, 2, 2), seed=3)
    n = a.shape[0]
    steps = [torch.eye(n, dtype=torch.float64)[i] * 0.1 for i in range(n)]
    changes = [a @ s for s in steps]
    g = torch.randn(n, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    # BFGS reproduces A^-1 on the span after n conjugate-free pairs only approximately; with all n
    # coordinate pairs the secant equations H y_i = s_i hold for the newest pair exactly:
    h_y = lbfgs_direction(changes[-1], steps, changes)
    assert torch.allclose(h_y, steps[-1], atol=1e-12)
    # and for a diagonal A every pair is exact, so H g = A^-1 g
    d = torch.diag(torch.tensor([1.0, 2.0, 5.0, 10.0], dtype=torch.float64))
    changes = [d @ s for s in steps]
    assert torch.allclose(lbfgs_direction(g, steps, changes), torch.linalg.solve(d, g), atol=1e-12)


def test_preconditioner_is_symmetric_positive_definite_and_smooths():
    p = SmoothingPreconditioner(12, 9, strength=3.0)
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(2, 1, 3, 12, 9, generator=g)
    assert torch.allclose((p(u) * v).sum(), (u * p(v)).sum(), rtol=1e-4)      # <Pu, v> = <u, Pv>
    for _ in range(5):
        w = torch.randn(1, 3, 12, 9, generator=g)
        assert float((p(w) * w).sum()) >= float((w * w).sum()) * (1 - 1e-5)   # P >= I
    # P as a dense matrix (one channel): symmetric, eigenvalues in [1, 1 + strength * len(sigmas)]
    eye = torch.eye(12 * 9).view(-1, 1, 12, 9)
    dense = p(eye).reshape(12 * 9, 12 * 9).double()
    assert torch.allclose(dense, dense.T, atol=1e-5)
    eigenvalues = torch.linalg.eigvalsh(dense)
    assert eigenvalues.min() > 1 - 1e-4 and eigenvalues.max() < 1 + 3.0 * len(p.sigmas) + 1e-3
    # a constant image far from the borders is amplified about 1 + a * L; a checkerboard is not
    big = SmoothingPreconditioner(64, 64, strength=3.0, sigmas=[2.0])
    flat = big(torch.ones(1, 1, 64, 64))[..., 28:36, 28:36]
    assert torch.allclose(flat, torch.full_like(flat, 4.0), atol=1e-3)
    checker = (torch.arange(64).view(-1, 1) + torch.arange(64).view(1, -1)) % 2 * 2.0 - 1
    out = big(checker.view(1, 1, 64, 64).float())[..., 28:36, 28:36]
    assert torch.allclose(out, checker[28:36, 28:36].float(), atol=1e-3)


def test_transfer_function_matches_the_formula_and_sigmas_follow_the_size():
    response = gaussian_sum_transfer(8, 8, [2.0, 4.0], 5.0)
    assert response.shape == (8, 5)
    assert float(response[0, 0]) == pytest.approx(11.0)            # DC: 1 + 5 * 2
    f = 0.25                                                     # cycles/px at index 2 along x
    expected = 1 + 5 * (math.exp(-2 * math.pi**2 * 4 * f**2) + math.exp(-2 * math.pi**2 * 16 * f**2))
    assert float(response[0, 2]) == pytest.approx(expected)
    assert smoothing_sigmas(256, 192) == [2, 4, 8, 16, 32]
    assert smoothing_sigmas(128, 96) == [2, 4, 8, 16]
    assert smoothing_sigmas(8, 8) == [2]
    with pytest.raises(ValueError, match="strength"):
        SmoothingPreconditioner(8, 8, strength=-1)


def test_preconditioning_speeds_up_a_smooth_problem():
    """Denoising with a strong smoothness term, 0.5 |x - t|^2 + lam |grad x|^2: the curvature is
    dominated by fine detail (condition number ~ 1 + 8 lam), the solution is smooth. In 15 steps
    preconditioned L-BFGS must get 10x closer to the optimum's loss than plain L-BFGS."""
    g = torch.Generator().manual_seed(0)
    size, lam = 32, 100.0
    coarse = torch.rand(1, 3, 4, 4, generator=g)
    target = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    target = target.clamp(0.05, 0.95)

    def loss_after(steps, precondition):
        x = torch.full_like(target, 0.5).requires_grad_(True)

        def closure():
            x.grad = None
            loss = (x - target).pow(2).sum() + lam * ((x[..., 1:, :] - x[..., :-1, :]).pow(2).sum()
                                                     + (x[..., :, 1:] - x[..., :, :-1]).pow(2).sum())
            loss.backward()
            return loss

        stepper = ProjectedStepper(x, closure, "lbfgs", precondition=precondition)
        for _ in range(steps):
            stepper.step()
        return float(closure().detach())

    optimum = loss_after(300, None)
    plain = loss_after(15, None) - optimum
    smoothed = loss_after(15, SmoothingPreconditioner(size, size, strength=10.0)) - optimum
    assert plain > 0 and smoothed < 0.1 * plain
