"""Surfaces: values at known points, gradients against finite differences and autograd."""

import numpy as np
import pytest
import torch

from hw7.rosenbrock.surfaces import MINIMUM, rosenbrock, rosenbrock_grad, typo, typo_grad

PAIRS = [(rosenbrock, rosenbrock_grad), (typo, typo_grad)]


def central_diff(f, p, h=1e-6):
    g = np.empty_like(p)
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        g[..., i] = (f(p + e) - f(p - e)) / (2 * h)
    return g


@pytest.mark.parametrize("f, grad", PAIRS)
def test_gradient_matches_finite_differences(f, grad):
    p = np.random.default_rng(0).uniform(-3, 3, size=(500, 2))
    fd = central_diff(f, p)
    np.testing.assert_allclose(grad(p), fd, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("f, grad", PAIRS)
def test_gradient_matches_torch_autograd(f, grad):
    p = np.random.default_rng(1).uniform(-5, 5, size=(200, 2))
    t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    x, y = t[:, 0], t[:, 1]
    if f is rosenbrock:
        val = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    else:
        val = (1 - x**2) + 100 * (y - x**2) ** 2
    val.sum().backward()
    np.testing.assert_allclose(grad(p), t.grad.numpy(), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(f(p), val.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("f, grad", PAIRS)
def test_any_leading_shape(f, grad):
    p = np.random.default_rng(2).normal(size=(3, 4, 2))
    assert f(p).shape == (3, 4)
    assert grad(p).shape == (3, 4, 2)
    np.testing.assert_array_equal(grad(p)[1, 2], grad(p[1, 2]))
    assert np.ndim(f(p[0, 0])) == 0


def test_rosenbrock_minimum():
    assert rosenbrock(MINIMUM) == 0
    np.testing.assert_array_equal(rosenbrock_grad(MINIMUM), [0, 0])
    assert rosenbrock(MINIMUM + [1e-3, 0]) > 0


def test_typo_unbounded_along_valley():
    x = np.array([0.0, 1.0, 10.0, 100.0])
    valley = np.stack([x, x**2], axis=-1)
    np.testing.assert_allclose(typo(valley), 1 - x**2)
    assert typo(valley)[-1] < -9000


def test_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\[\.\.\., 2\]"):
        rosenbrock(np.zeros(3))
