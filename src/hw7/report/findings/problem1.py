"""Problem 1's findings: the optimizers on the Rosenbrock function, read from their stored sweeps."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from hw7.rosenbrock import runs as R
from hw7.rosenbrock.descent import LABELS
from hw7.rosenbrock.surfaces import rosenbrock_grad


@dataclass(frozen=True)
class Descent1:
    """One optimizer run of Problem 1: distances to the minimum (1, 1) and step counts."""

    method: str
    eta: float
    final_error: float  # distance after the last step
    final_gap: float  # f − f* after the last step
    settled: float  # median distance over the last `late` steps: the level it settles at
    band: tuple[float, float]  # 10th and 90th percentile of that distance: its oscillation
    settled_step: float  # median length of a step over the last `late` steps, in units of η
    steps: dict[float, int]  # first step below each threshold (−1: never)
    diverged_at: int  # −1 if never
    first_x: float  # x after the first step
    start_error: float  # distance at the start


@dataclass(frozen=True)
class LrMap1:
    """One method over the learning-rate grid."""

    largest_stable: float | None
    reach_lo: float | None  # smallest and largest η that get within 10⁻³ in the budget
    reach_hi: float | None
    fastest_eta: float | None
    fastest_steps: int
    best_eta: float  # the η with the smallest settled error
    best_settled: float
    smallest_settled: float  # smallest settled error over the grid


@dataclass(frozen=True)
class Problem1:
    start: tuple[float, float]
    n_steps: int
    late: int
    thresholds: tuple[float, ...]
    n_etas: int
    eta_range: tuple[float, float]
    printed_ends: dict[str, tuple[float, float, float]]  # method → (x, y, f) after the run on the printed function
    curvatures: tuple[float, float]  # Hessian eigenvalues at the minimum: along and across the valley
    grad_x_start: float  # ∂f/∂x at the start
    b: dict[str, Descent1]  # η = 10⁻⁴: gd, momentum, adam
    c: dict[str, Descent1]  # η = 10⁻³: adam, momentum
    d: dict[str, Descent1]  # ADAM at 10⁻², momentum at 10⁻⁴
    decades_per_10k: dict[str, float]  # rate of exponential decay at η = 10⁻⁴ (gd, momentum)
    lr_map: dict[str, LrMap1]
    eps_ratio: tuple[float, float]  # settled error, ε inside / outside √, smallest and largest
    eps_step_difference: int  # largest difference in steps to 10⁻³ at η = 10⁻⁴, 10⁻³, 10⁻²


def descent1(method: str, eta: float, eps_inside: bool = True) -> Descent1:
    """The stored run of ``method`` at grid learning rate ``eta`` (`hw7.rosenbrock.runs`)."""
    name = method if method != "adam" or eps_inside else "adam-eps-outside"
    s, i = R.sweep_stats(name), R.grid_index(eta)
    return Descent1(method=method, eta=float(R.ETAS[i]), final_error=float(s["final_error"][i]),
                    final_gap=float(s["final_gap"][i]), settled=float(s["late_median"][i]),
                    band=(float(s["late_p10"][i]), float(s["late_p90"][i])), settled_step=float(s["late_step"][i]),
                    steps={t: int(s["steps_to"][i, j]) for j, t in enumerate(R.TOLS)},
                    diverged_at=int(s["diverged_at"][i]), first_x=float(s["first_x"][i]),
                    start_error=float(s["start_error"][i]))


def _lr_map(method: str) -> LrMap1:

    s = R.sweep_stats(method)
    ok, to3 = s["diverged_at"] < 0, s["steps_to"][:, R.TOLS.index(1e-3)]
    hit = to3 >= 0
    late = s["late_median"]
    fast = int(np.flatnonzero(hit)[np.argmin(to3[hit])]) if hit.any() else None
    best = int(np.flatnonzero(ok)[np.argmin(late[ok])])
    return LrMap1(largest_stable=float(R.ETAS[ok].max()) if ok.any() else None,
                  reach_lo=float(R.ETAS[hit].min()) if hit.any() else None,
                  reach_hi=float(R.ETAS[hit].max()) if hit.any() else None,
                  fastest_eta=float(R.ETAS[fast]) if fast is not None else None,
                  fastest_steps=int(to3[fast]) if fast is not None else -1,
                  best_eta=float(R.ETAS[best]), best_settled=float(late[best]),
                  smallest_settled=float(late[ok].min()))


@cache
def problem1() -> Problem1:
    """Problem 1's numbers: the runs of (b)–(d), the printed function, the learning-rate map, ε."""
    ends = {m: tuple(float(v) for v in R.typo_run(m)[1]) for m in LABELS}
    b = {m: descent1(m, 1e-4) for m in ("gd", "momentum", "adam")}
    inside = [(descent1("adam", e, True), descent1("adam", e, False)) for e in (1e-4, 1e-3, 1e-2)]
    lo, hi = R.eps_ratio()
    return Problem1(
        start=(float(R.START[0]), float(R.START[1])), n_steps=R.N_STEPS, late=R.LATE, thresholds=R.TOLS,
        n_etas=len(R.ETAS), eta_range=(float(R.ETAS[0]), float(R.ETAS[-1])), printed_ends=ends,
        curvatures=tuple(float(v) for v in R.hessian_eigenvalues()),
        grad_x_start=float(rosenbrock_grad(R.START)[0]),
        b=b, c={m: descent1(m, 1e-3) for m in ("adam", "momentum")},
        d={"adam": descent1("adam", 1e-2), "momentum": b["momentum"]},
        decades_per_10k={m: R.case(m, 1e-4).decades_per_10k for m in ("gd", "momentum")},
        lr_map={m: _lr_map(m) for m in ("gd", "momentum", "adam")},
        eps_ratio=(lo, hi),
        eps_step_difference=max(abs(a.steps[1e-3] - o.steps[1e-3]) for a, o in inside))


# --- Problems 2 and 3: MNIST -----------------------------------------------------
