"""The assignment's three optimizers, vectorized over many runs at once.

``gd``, ``gd_with_mom`` and ``adams`` keep the assignment's names, argument
order, defaults and update equations. ``eta`` and ``init`` may also be arrays:
K runs (one per learning rate and/or start point) then advance together as
``[K, 2]`` arrays, one numpy call per operation for all of them, which is what
makes a learning-rate sweep cheap. Runs that blow up are frozen individually
(see :class:`Descent`). ``reference_*`` are the same equations as a plain loop
over one run; the tests and the benchmark compare against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Grad = Callable[[np.ndarray], np.ndarray]
RECORDS = ("traj", "error")
_CHUNK = 256  # steps buffered in record="error" before their errors are computed (fits in cache)


@dataclass(frozen=True, eq=False)
class Descent:
    """Result of one optimizer call over a batch of runs.

    Arrays have a leading batch axis K when ``eta`` or ``init`` was batched
    and none for a single run (scalar ``eta``, ``init`` of shape ``(2,)``).
    """

    method: str
    eta: np.ndarray  # [K] learning rates
    traj: np.ndarray | None  # [K, n_epochs + 1, 2] parameters per step; None for record="error"
    error: np.ndarray  # [K, n_epochs + 1] float32 distance to `minimum` per step
    final: np.ndarray  # [K, 2] last parameters (the frozen point for a diverged run)
    diverged: np.ndarray  # [K] bool: left the box |x|, |y| <= bound or became non-finite
    diverged_at: np.ndarray  # [K] first step whose update left the box, -1 if never
    minimum: np.ndarray  # (2,) point the error is measured to

    @property
    def n_epochs(self) -> int:
        return self.error.shape[-1] - 1


def steps_to(error: np.ndarray, tol: float) -> np.ndarray:
    """First step with ``error < tol`` along the last axis, -1 where never reached."""
    below = np.asarray(error) < tol
    return np.where(below.any(axis=-1), below.argmax(axis=-1), -1)


def _check_common(init, eta, n_epochs: int, bound: float, record: str):
    eta = np.asarray(eta, dtype=float)
    if eta.ndim > 1:
        raise ValueError(f"eta must be a scalar or 1-D array, got shape {eta.shape}")
    if not np.all(np.isfinite(eta) & (eta > 0)):
        raise ValueError("eta must be positive and finite")
    init = np.asarray(init, dtype=float)
    if init.ndim not in (1, 2) or init.shape[-1] != 2:
        raise ValueError(f"init must have shape (2,) or (K, 2), got {init.shape}")
    if not np.all(np.isfinite(init)):
        raise ValueError("init must be finite")
    try:
        batch = np.broadcast_shapes(eta.shape, init.shape[:-1])
    except ValueError:
        raise ValueError(f"eta {eta.shape} and init {init.shape} hold different numbers of runs") from None
    if int(n_epochs) != n_epochs or n_epochs < 0:
        raise ValueError(f"n_epochs must be a non-negative integer, got {n_epochs}")
    if not bound > 0:
        raise ValueError(f"bound must be positive, got {bound}")
    if not np.all(np.abs(init) <= bound):
        raise ValueError(f"init must lie inside the box |x|, |y| <= bound = {bound:g}")
    if record not in RECORDS:
        raise ValueError(f"record must be one of {RECORDS}, got {record!r}")
    k = int(np.prod(batch, dtype=int))
    eta_k = np.broadcast_to(eta, batch).reshape(k)
    init_k = np.broadcast_to(init, batch + (2,)).reshape(k, 2).copy()
    return batch, eta_k, init_k


def _descend(method: str, make_update, grad: Grad, init, eta, n_epochs: int,
             bound: float, record: str, minimum) -> Descent:
    """Shared driver: step all runs, record them, freeze the ones that leave the box."""
    batch, eta_k, init_k = _check_common(init, eta, n_epochs, bound, record)
    n_epochs = int(n_epochs)
    k = len(eta_k)
    minimum = np.asarray(minimum, dtype=float)
    # Runs are held as [2, K] (a row of x, a row of y) so that every array
    # operation streams over contiguous memory; grad still sees [K, 2] points.
    p = np.ascontiguousarray(init_k.T)
    update = make_update(k, eta_k)

    rows = n_epochs + 1 if record == "traj" else min(n_epochs + 1, _CHUNK)
    buf = np.empty((rows, 2, k))
    err = np.empty((n_epochs + 1, k), dtype=np.float32)
    diverged_at = np.full(k, -1)
    frozen_at = np.zeros((2, k))  # last in-box point of each diverged run
    last = p.copy()  # last recorded point of the previous block

    def flush(start: int, count: int) -> None:
        """Freeze the runs that left the box in steps start..start+count-1, record errors.

        Checking once per block instead of once per step keeps the step loop
        lean; runs are independent, so the NaNs a diverged run produces in
        the meantime touch no other run and are overwritten here.
        """
        nonlocal last
        block = buf[:count]
        out = ~(np.abs(block) <= bound).all(axis=1)  # [count, K]; NaN counts as out
        new = out.any(axis=0) & (diverged_at < 0)
        for run in np.flatnonzero(new):
            i = int(out[:, run].argmax())
            diverged_at[run] = start + i
            frozen_at[:, run] = block[i - 1, :, run] if i > 0 else last[:, run]
        if (diverged_at >= 0).any():
            after = (start + np.arange(count)[:, None] >= diverged_at) & (diverged_at >= 0)
            np.copyto(block, frozen_at, where=after[:, None, :])
        d = block - minimum[:, None]
        d *= d
        np.sqrt(d[:, 0] + d[:, 1], out=err[start:start + count])  # np.hypot is several times slower
        last = block[-1].copy()

    base = 0
    buf[0] = p
    with np.errstate(all="ignore"):  # diverging runs overflow; expected, and handled in flush
        for j in range(n_epochs):
            p = update(p, j)
            if j + 1 - base == rows:
                flush(base, rows)
                base = j + 1
            buf[j + 1 - base] = p
        flush(base, n_epochs + 1 - base)

    def shape(a: np.ndarray) -> np.ndarray:
        return a.reshape(batch + a.shape[1:])

    return Descent(
        method=method,
        eta=shape(eta_k.copy()),
        traj=shape(buf.transpose(2, 0, 1)) if record == "traj" else None,
        error=shape(err.T),
        final=shape(last.T),
        diverged=shape(diverged_at >= 0),
        diverged_at=shape(diverged_at),
        minimum=minimum,
    )


def gd(grad: Grad, init, n_epochs: int = 1000, eta=10**-4, *, bound: float = 1e6,
       record: str = "traj", minimum=(1.0, 1.0)) -> Descent:
    """Gradient descent: p ← p − η ∇f(p).

    With the exact gradient this is the assignment's "stochastic" gradient
    descent: there is no sampling noise. ``bound`` is the box |x|, |y| ≤ bound
    outside which a run counts as diverged; ``record="error"`` keeps only the
    per-step error (no trajectory) for large sweeps.
    """
    def make_update(k, eta_row):
        def update(p, j):
            return p - eta_row * grad(p.T).T
        return update
    return _descend("gd", make_update, grad, init, eta, n_epochs, bound, record, minimum)


def gd_with_mom(grad: Grad, init, n_epochs: int = 5000, eta=10**-4, beta: float = 0.9,
                gamma: float = 0.9, *, bound: float = 1e6, record: str = "traj",
                minimum=(1.0, 1.0)) -> Descent:
    """Gradient descent with momentum: v ← γ v + ∇f(p), p ← p − η v, v₀ = 0.

    ``beta`` is accepted and ignored, as in the assignment's signature. The
    update is PyTorch's SGD with ``momentum=gamma``, ``dampening=0``.
    """
    del beta  # unused by the given algorithm; kept for its call signature
    if not gamma >= 0:
        raise ValueError(f"gamma must be non-negative, got {gamma}")

    def make_update(k, eta_row):
        v = np.zeros((2, k))

        def update(p, j):
            # In place, but the same roundings as v = γ v + g: results match the plain loop bit for bit.
            np.multiply(v, gamma, out=v)
            np.add(v, grad(p.T).T, out=v)
            return p - eta_row * v
        return update
    return _descend("momentum", make_update, grad, init, eta, n_epochs, bound, record, minimum)


def adams(grad: Grad, init, n_epochs: int = 5000, eta=10**-4, gamma: float = 0.9,
          beta: float = 0.99, epsilon: float = 10**-8, *, eps_inside: bool = True,
          bound: float = 1e6, record: str = "traj", minimum=(1.0, 1.0)) -> Descent:
    """ADAM with bias correction, as given in the assignment.

    m ← γ m + (1−γ) g,  s ← β s + (1−β) g²,  m̂ = m/(1−γᵗ),  ŝ = s/(1−βᵗ),
    p ← p − η m̂ / √(ŝ + ε).  The assignment puts ε inside the square root
    (``eps_inside=True``); ``eps_inside=False`` gives the usual Adam,
    p ← p − η m̂ / (√ŝ + ε), which is ``torch.optim.Adam``.
    """
    for name, val in (("gamma", gamma), ("beta", beta)):
        if not 0 <= val < 1:
            raise ValueError(f"{name} must lie in [0, 1), got {val}")
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be non-negative, got {epsilon}")

    def make_update(k, eta_row):
        m, s, t, u = (np.zeros((2, k)) for _ in range(4))

        def update(p, j):
            # In-place updates in the order of the equations: the same roundings
            # as the plain loop, with fewer temporaries (it matters for large K).
            g = grad(p.T).T
            np.multiply(m, gamma, out=m)
            np.multiply(1 - gamma, g, out=t)
            np.add(m, t, out=m)
            np.multiply(s, beta, out=s)
            np.multiply(1 - beta, g, out=t)
            np.multiply(t, g, out=t)
            np.add(s, t, out=s)
            np.divide(m, 1 - gamma ** (j + 1), out=t)  # m̂
            np.divide(s, 1 - beta ** (j + 1), out=u)  # ŝ
            if eps_inside:
                np.add(u, epsilon, out=u)
                np.sqrt(u, out=u)
            else:
                np.sqrt(u, out=u)
                np.add(u, epsilon, out=u)
            np.divide(t, u, out=t)
            np.multiply(t, eta_row, out=t)
            return p - t
        return update
    return _descend("adam", make_update, grad, init, eta, n_epochs, bound, record, minimum)


METHODS = {"gd": gd, "momentum": gd_with_mom, "adam": adams}
LABELS = {"gd": "gradient descent", "momentum": "momentum", "adam": "ADAM"}


def run(method: str, grad: Grad, init, n_epochs: int, eta, **kwargs) -> Descent:
    """Dispatch by name: ``method`` is one of ``METHODS`` ("gd", "momentum", "adam")."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    return METHODS[method](grad, init, n_epochs=n_epochs, eta=eta, **kwargs)


# Plain single-run loops of the same equations: the yardstick for exactness and speed.

def reference_gd(grad: Grad, init, n_epochs: int, eta: float) -> np.ndarray:
    """One gradient-descent run as a plain loop; trajectory ``(n_epochs + 1, 2)``."""
    p = np.array(init, dtype=float)
    traj = np.empty((n_epochs + 1, 2))
    traj[0] = p
    for j in range(n_epochs):
        p = p - eta * grad(p)
        traj[j + 1] = p
    return traj


def reference_momentum(grad: Grad, init, n_epochs: int, eta: float,
                       gamma: float = 0.9) -> np.ndarray:
    """One momentum run as a plain loop; trajectory ``(n_epochs + 1, 2)``."""
    p = np.array(init, dtype=float)
    traj = np.empty((n_epochs + 1, 2))
    traj[0] = p
    v = np.zeros(2)
    for j in range(n_epochs):
        v = gamma * v + grad(p)
        p = p - eta * v
        traj[j + 1] = p
    return traj


def reference_adam(grad: Grad, init, n_epochs: int, eta: float, gamma: float = 0.9,
                   beta: float = 0.99, epsilon: float = 1e-8) -> np.ndarray:
    """One ADAM run (ε inside the root) as a plain loop; trajectory ``(n_epochs + 1, 2)``."""
    p = np.array(init, dtype=float)
    traj = np.empty((n_epochs + 1, 2))
    traj[0] = p
    m = np.zeros(2)
    s = np.zeros(2)
    for j in range(n_epochs):
        g = grad(p)
        m = gamma * m + (1 - gamma) * g
        s = beta * s + (1 - beta) * g * g
        m_hat = m / (1 - gamma ** (j + 1))
        s_hat = s / (1 - beta ** (j + 1))
        p = p - eta * (m_hat / np.sqrt(s_hat + epsilon))
        traj[j + 1] = p
    return traj
