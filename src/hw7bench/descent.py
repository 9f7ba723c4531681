"""Benchmark: one vectorized call over many learning rates vs a plain loop per run.

Both sides take 10⁵ steps from (−4, −2) on the Rosenbrock function. The
vectorized side runs 400 log-spaced learning rates in one call (recording only
the per-step error, as a sweep would); the plain side times a few single runs
of the same equations (``descent.reference_*``) at the full 10⁵ steps. The
printed ratio is plain seconds per run over vectorized seconds per run.
"""

from __future__ import annotations

import time

import numpy as np

from hw7.rosenbrock import descent
from hw7.rosenbrock.surfaces import rosenbrock_grad

START = (-4.0, -2.0)
N_STEPS = 100_000
N_RUNS = 400
N_PLAIN = 2  # plain runs timed per method; each takes about a second
REFERENCES = {"gd": descent.reference_gd, "momentum": descent.reference_momentum,
              "adam": descent.reference_adam}


def _seconds(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(method: str, n_runs: int = N_RUNS, n_plain: int = N_PLAIN,
            n_steps: int = N_STEPS) -> dict:
    """Per-run seconds of both paths for one method, and their ratio."""
    etas = np.logspace(-6, -1, n_runs)
    vec = _seconds(lambda: descent.run(method, rosenbrock_grad, START, n_steps, etas,
                                       record="error")) / n_runs
    # Plain runs at stable learning rates: a plain loop has no divergence check,
    # and overflowing values would not make it any faster or slower.
    plain = sum(_seconds(lambda: REFERENCES[method](rosenbrock_grad, START, n_steps, eta))
                for eta in np.logspace(-6, -5, n_plain)) / n_plain
    return {"method": method, "vectorized_s_per_run": vec, "plain_s_per_run": plain,
            "speedup": plain / vec}


def main() -> None:
    """Print the per-trajectory cost of both paths and the speed-up for each method."""
    print(f"Rosenbrock descent, {N_STEPS:,} steps per run: one vectorized call over "
          f"{N_RUNS} learning rates vs {N_PLAIN} plain single-run loops (full length)")
    print(f"{'method':<10}{'vectorized ms/run':>19}{'plain ms/run':>14}{'speed-up':>10}")
    rows = [measure(m) for m in REFERENCES]
    for r in rows:
        print(f"{r['method']:<10}{1e3 * r['vectorized_s_per_run']:>19.2f}"
              f"{1e3 * r['plain_s_per_run']:>14.0f}{r['speedup']:>9.0f}×")
    print(f"smallest speed-up: {min(r['speedup'] for r in rows):.0f}× (goal ≥ 100×)")


if __name__ == "__main__":
    main()
