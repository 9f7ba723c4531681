"""Test surfaces for Problem 1: the Rosenbrock function and the assignment's typo.

Every function takes points as an array of shape ``[..., 2]`` (last axis = x, y)
and works on any leading shape, so one call evaluates a whole grid or a whole
batch of optimizer runs.
"""

from __future__ import annotations

import numpy as np

MINIMUM = np.array([1.0, 1.0])  # Rosenbrock's global minimum, where f = 0
F_MIN = 0.0


def _xy(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    if p.shape[-1:] != (2,):
        raise ValueError(f"points must have shape [..., 2], got {p.shape}")
    return p[..., 0], p[..., 1]


def rosenbrock(p: np.ndarray) -> np.ndarray:
    """f(x, y) = (1 − x)² + 100 (y − x²)², shape ``[...]``."""
    x, y = _xy(p)
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(p: np.ndarray) -> np.ndarray:
    """∇f of :func:`rosenbrock`, shape ``[..., 2]``.

    Written with few array operations: it runs once per optimizer step, and
    for a batch of runs the per-call overhead dominates the arithmetic.
    """
    x, y = _xy(p)
    r = y - x * x
    g = np.empty_like(p, dtype=float)  # same memory layout as p: a transposed batch stays fast
    g[..., 0] = 2 * (x - 1) - 400 * x * r
    g[..., 1] = 200 * r
    return g


def typo(p: np.ndarray) -> np.ndarray:
    """The function as printed in the assignment, (1 − x²) + 100 (y − x²)².

    Along the valley floor y = x² it equals 1 − x², so it is unbounded below.
    """
    x, y = _xy(p)
    return (1 - x * x) + 100 * (y - x * x) ** 2


def typo_grad(p: np.ndarray) -> np.ndarray:
    """∇ of :func:`typo`, shape ``[..., 2]``."""
    x, y = _xy(p)
    r = y - x * x
    g = np.empty_like(p, dtype=float)  # same memory layout as p: a transposed batch stays fast
    g[..., 0] = -2 * x - 400 * x * r
    g[..., 1] = 200 * r
    return g
