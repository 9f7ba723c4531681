"""Problem 1's runs, computed once and stored in ``results/problem1.npz``.

Every run starts at (−4, −2) and takes 10⁵ steps. Each method is run once over
a grid of 41 log-spaced learning rates (one vectorized call, `hw7.rosenbrock.descent`);
the assignment's learning rates 10⁻⁴, 10⁻³, 10⁻² are grid points. Computing the
sweeps takes about ten seconds, and the report reads them in every chapter that
quotes Problem 1, so, like a training run, they are computed by
``python -m hw7 run problem1`` and stored; the chapters only read the file.

What is stored is what the report reads, not the 10⁵-step trajectories (tens of
megabytes): per sweep and learning rate, the numbers the text and tables quote;
per plotted run, its path as the vertices matplotlib keeps when it draws it at
four times the figures' resolution (``drawn``), and its error curves reduced to
what each pixel column shows (``columns``), so the figures are the same at their
printed size. A test recomputes the file and compares it with the committed one.

The file is untrusted input: ``load`` refuses a file that is not an ``.npz`` of
exactly the expected arrays (names, shapes, dtypes), never unpickles, and says
which command rebuilds it.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from hw7 import PROJECT_ROOT
from hw7.rosenbrock.descent import LABELS, run, steps_to
from hw7.rosenbrock.surfaces import F_MIN, MINIMUM, rosenbrock, rosenbrock_grad, typo, typo_grad

STORE = PROJECT_ROOT / "results" / "problem1.npz"
START = np.array([-4.0, -2.0])
N_STEPS = 100_000
ETAS = np.logspace(-6, -1, 41)  # 8 per decade, so 1e-4, 1e-3 and 1e-2 are grid points
TOLS = (1e-1, 1e-3, 1e-6)
LATE = 10_000  # steps at the end over which the settled ("late") error is measured
XLIM, YLIM = (-4.6, 4.4), (-3.0, 8.5)  # every path of (b)-(d) fits: one frame for all
SWEEPS = {"gd": ("gd", True), "momentum": ("momentum", True), "adam": ("adam", True),
          "adam-eps-outside": ("adam", False)}  # name -> (method, ε inside the square root)
PLOTTED = (("gd", 1e-4), ("momentum", 1e-4), ("adam", 1e-4), ("adam", 1e-3), ("momentum", 1e-3),
           ("adam", 1e-2))  # the runs the figures of (b)-(d) draw
GAP_ETA = 1e-4  # only the error figure of (b) also draws f − f*
TYPO_ETA = 1e-4
# Pixels per unit at which paths are simplified: four times the finest panel they are drawn in (the zoom
# near the minimum: 0.75 units across about 580 pixels at 200 dpi); the paths on the printed function
# set their panel's limits, so their scale is a panel's pixels over their own extent.
PATH_SCALE = 4 * 800.0
PANEL_PIXELS = 4 * np.array([580.0, 460.0])  # a panel's width and height at four times 200 dpi
COLUMNS = 2 * 1_300  # columns of the error curves: twice the pixels of the widest error plot at 200 dpi
MAX_BYTES = 16 << 20  # the store is about 0.5 MiB; anything far larger is not it
ROUNDING = 1e-9  # relative tolerance of the arrays computed through log10 or a fit (`differences`)
STATS = {"late_step": np.float64,  # median step length over the last LATE steps, in units of η
         "diverged_at": np.int64, "steps_to": np.int64, "late_median": np.float64, "late_p10": np.float64,
         "late_p90": np.float64, "final_error": np.float64, "final_gap": np.float64, "first_x": np.float64,
         "start_error": np.float64}
CASE_ARRAYS = ("path", "error_curve", "gap_curve", "scalars")  # scalars: diverged_at, off_plot, decades per 10⁴


class Problem1StoreError(ValueError):
    """``results/problem1.npz`` is missing or not what this code stores; the message says how to rebuild it."""


def drawn(xy: np.ndarray, scale) -> np.ndarray:
    """The vertices of the polyline ``xy`` that matplotlib keeps when drawing it at ``scale`` pixels
    per unit (its own simplification, threshold ``path.simplify_threshold``); non-finite points
    (gaps in the line) become single NaN rows, as matplotlib draws them."""
    from matplotlib.path import Path as MplPath  # only when computing: reading the store needs no matplotlib

    scale = np.broadcast_to(np.asarray(scale, dtype=float), (2,))
    pts = np.where(np.isfinite(xy), xy, np.nan) * scale
    path = MplPath(pts).cleaned(simplify=True, remove_nans=True)
    out, codes = [], path.codes if path.codes is not None else np.full(len(path.vertices), MplPath.LINETO)
    for v, code in zip(path.vertices, codes):
        if code == MplPath.STOP:
            break
        if code == MplPath.MOVETO and out:
            out.append((np.nan, np.nan))
        out.append(tuple(v))
    return (np.asarray(out, dtype=float).reshape(-1, 2) / scale).astype(np.float32)


def columns(y: np.ndarray, n: int = COLUMNS) -> np.ndarray:
    """(step, y) vertices of the curve ``y`` against its index that draw the same line at ``n`` pixel
    columns: per column the first, lowest, highest and last point, in step order (M4 aggregation,
    Jugel et al. 2014). Written here because matplotlib's simplification keeps nearly every vertex
    of a curve that oscillates within a column (ADAM's error: over 50,000 of 10⁵)."""
    y = np.where(np.isfinite(y), y, np.nan)
    picks = []
    for chunk in np.array_split(np.arange(len(y)), min(n, len(y))):
        finite = chunk[np.isfinite(y[chunk])]
        if len(finite):
            picks += [finite[0], finite[np.argmin(y[finite])], finite[np.argmax(y[finite])], finite[-1]]
    steps = np.unique(np.array(picks, dtype=np.int64))
    return np.c_[steps, y[steps]].astype(np.float32)


def _stats(error: np.ndarray, traj: np.ndarray, etas: np.ndarray, diverged_at: np.ndarray) -> dict:
    late = error[:, -LATE:].astype(float)
    steps = np.linalg.norm(np.diff(traj[:, -LATE - 1:], axis=1), axis=-1)  # [runs, LATE] length of each step
    traj_final, first = traj[:, -1], traj[:, 1]
    return {"late_step": np.median(steps, axis=1) / etas, "diverged_at": diverged_at.astype(np.int64),
            "steps_to": np.stack([steps_to(error, t) for t in TOLS], axis=1).astype(np.int64),
            "late_median": np.median(late, axis=1), "late_p10": np.percentile(late, 10, axis=1),
            "late_p90": np.percentile(late, 90, axis=1), "final_error": error[:, -1].astype(float),
            "final_gap": rosenbrock(traj_final) - F_MIN, "first_x": first[:, 0].astype(float),
            "start_error": error[:, 0].astype(float)}


def decades_per_10k(error: np.ndarray, lo: float = 1e-11, hi: float = 1e-1) -> float:
    """Rate of the error's exponential decay: decades per 10⁴ steps, fitted where lo < error < hi."""
    steps = np.flatnonzero((error > lo) & (error < hi))
    slope = np.polyfit(steps, np.log10(error[steps].astype(float)), 1)[0]
    return float(-slope * 1e4)


def _case(traj: np.ndarray, error: np.ndarray, diverged_at: int, with_gap: bool) -> dict:
    """A plotted run's drawn path and curves (f − f* only where a figure draws it: ``GAP_ETA``)."""
    stop = N_STEPS + 1 if diverged_at < 0 else diverged_at
    path = traj[:stop]
    x, y = path.T
    outside = (x < XLIM[0]) | (x > XLIM[1]) | (y < YLIM[0]) | (y > YLIM[1])
    with np.errstate(divide="ignore"):  # f − f* and the distance can be exactly 0 at the end
        err = np.log10(error[:stop].astype(float))
        gap = np.log10(rosenbrock(path) - F_MIN)
    decay = decades_per_10k(error) if diverged_at < 0 else np.nan
    return {"path": drawn(path, PATH_SCALE), "error_curve": columns(err),
            "gap_curve": columns(gap) if with_gap else np.empty((0, 2), np.float32),
            "scalars": np.array([diverged_at, int(outside.argmax()) if outside.any() else -1, decay])}


def compute() -> dict[str, np.ndarray]:
    """Every array of the store, computed from `hw7.rosenbrock.descent` (about ten seconds)."""
    arrays: dict[str, np.ndarray] = {"etas": ETAS, "tols": np.array(TOLS), "start": START,
                                     "n_steps": np.array(N_STEPS), "late": np.array(LATE)}
    for name, (method, inside) in SWEEPS.items():
        kw = {} if method != "adam" else {"eps_inside": inside}
        r = run(method, rosenbrock_grad, START, N_STEPS, ETAS, **kw)
        arrays |= {f"{name}/{k}": v for k, v in _stats(r.error, r.traj, ETAS, r.diverged_at).items()}
        for m, eta in PLOTTED:
            if m == name:
                i = int(np.flatnonzero(np.isclose(ETAS, eta, rtol=1e-9))[0])
                c = _case(r.traj[i], r.error[i], int(r.diverged_at[i]), with_gap=eta == GAP_ETA)
                arrays |= {f"case/{m}/{eta:.0e}/{k}": v for k, v in c.items()}
    for m in LABELS:
        r = run(m, typo_grad, START, N_STEPS, TYPO_ETA)
        arrays[f"typo/{m}/path"] = drawn(r.traj, PANEL_PIXELS / np.ptp(r.traj, axis=0))
        arrays[f"typo/{m}/final"] = np.array([*r.final, typo(r.final)])
    return arrays


def differences(stored: dict[str, np.ndarray], fresh: dict[str, np.ndarray]) -> list[str]:
    """The arrays of ``stored`` that are not what ``fresh`` (``compute()``) holds. Arrays that pass
    through numpy's ``log10`` or a least-squares fit may differ in the last bits on another CPU (numpy
    picks its SIMD kernels at run time): they are compared within ``ROUNDING`` (relative); the rest
    bitwise."""
    out = []
    for name in sorted(stored.keys() | fresh.keys()):
        a, b = stored.get(name), fresh.get(name)
        if a is None or b is None or a.dtype != b.dtype or a.shape != b.shape:
            out.append(f"{name}: not the array this code computes")
        elif name.endswith(("_curve", "/scalars")):
            if not np.allclose(a, b, rtol=ROUNDING, atol=0, equal_nan=True):
                out.append(f"{name}: differs beyond a relative {ROUNDING:g}")
        elif not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            out.append(f"{name}: differs")
    return out


def expected_layout() -> dict[str, tuple[type, tuple[int | None, ...]]]:
    """Name → (dtype, shape; None where the length varies) of every stored array."""
    k = len(ETAS)
    out: dict[str, tuple[type, tuple[int | None, ...]]] = {
        "etas": (np.float64, (k,)), "tols": (np.float64, (len(TOLS),)), "start": (np.float64, (2,)),
        "n_steps": (np.int64, ()), "late": (np.int64, ())}
    for name in SWEEPS:
        for statistic, dtype in STATS.items():
            out[f"{name}/{statistic}"] = (dtype, (k, len(TOLS)) if statistic == "steps_to" else (k,))
    for m, eta in PLOTTED:
        for a in CASE_ARRAYS:
            out[f"case/{m}/{eta:.0e}/{a}"] = (np.float64, (3,)) if a == "scalars" else (np.float32, (None, 2))
    for m in LABELS:
        out[f"typo/{m}/path"] = (np.float32, (None, 2))
        out[f"typo/{m}/final"] = (np.float64, (3,))
    return out


def save(arrays: dict[str, np.ndarray], path: Path | None = None) -> Path:
    """Write the store (default ``STORE``) atomically (a temporary file in the same folder, then a rename)."""
    path = path or STORE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)  # mkstemp's file is private; the store is for every reader
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read(path: Path | None = None) -> dict[str, np.ndarray]:
    """The stored arrays (default ``STORE``), checked against ``expected_layout`` and the grid constants."""
    path = path or STORE
    rebuild = "rebuild it with `python -m hw7 run problem1`"
    try:
        info = path.stat()
    except FileNotFoundError:
        raise Problem1StoreError(f"{path} is missing: {rebuild}") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:  # a FIFO would block; a huge file is no store
        raise Problem1StoreError(f"{path} is not a regular file of at most {MAX_BYTES >> 20} MiB: {rebuild}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise Problem1StoreError(f"{path} is not a readable .npz file ({exc}): {rebuild}") from None
    layout = expected_layout()
    if set(arrays) != set(layout):
        odd = sorted(set(arrays) ^ set(layout))
        raise Problem1StoreError(f"{path} does not hold the arrays this code stores ({odd[0]}, …): {rebuild}")
    for name, (dtype, shape) in layout.items():
        a = arrays[name]
        if a.dtype != dtype or a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape)):
            raise Problem1StoreError(f"{path}: array {name} is {a.dtype}{list(a.shape)}, expected "
                                     f"{np.dtype(dtype)}{list(shape)}: {rebuild}")
    same = (np.array_equal(arrays["etas"], ETAS) and np.array_equal(arrays["tols"], TOLS)
            and np.array_equal(arrays["start"], START) and arrays["n_steps"] == N_STEPS and arrays["late"] == LATE)
    if not same:
        raise Problem1StoreError(f"{path} was computed for another grid, start or step count: {rebuild}")
    return arrays


@cache
def stored() -> dict[str, np.ndarray]:
    """The store, read once per process (one render)."""
    return read()


@dataclass(frozen=True, eq=False)
class Case:
    """One plotted run: its path and curves as drawn, and where it diverged or left the frame."""

    method: str
    eta: float
    path: np.ndarray  # (n, 2) drawn vertices of the path up to its divergence
    error_curve: np.ndarray  # (n, 2) step, log₁₀ distance to (1, 1)
    gap_curve: np.ndarray  # (n, 2) step, log₁₀ (f − f*); empty unless the run's η is ``GAP_ETA``
    diverged_at: int  # −1 if never
    off_plot: int  # first step outside the frame of (b)-(d), −1 if never
    decades_per_10k: float  # rate of exponential decay (NaN for a diverged run)


def grid_index(eta: float) -> int:
    """Index of ``eta`` on ``ETAS``; ``ValueError`` if it is not a grid point."""
    i = np.flatnonzero(np.isclose(ETAS, eta, rtol=1e-9))
    if len(i) != 1:
        raise ValueError(f"eta = {eta} is not on the learning-rate grid")
    return int(i[0])


def case(method: str, eta: float) -> Case:
    """The stored plotted run of ``method`` at grid learning rate ``eta``."""
    eta = float(ETAS[grid_index(eta)])
    if (method, round(eta, 12)) not in {(m, round(e, 12)) for m, e in PLOTTED}:
        raise ValueError(f"{method} at eta = {eta:g} is not among the plotted runs {PLOTTED}")
    a = stored()
    prefix = f"case/{method}/{eta:.0e}/"
    diverged_at, off_plot, decay = a[prefix + "scalars"]
    return Case(method, eta, a[prefix + "path"], a[prefix + "error_curve"], a[prefix + "gap_curve"],
                int(diverged_at), int(off_plot), float(decay))


def sweep_stats(name: str) -> dict[str, np.ndarray]:
    """The per-learning-rate numbers of one sweep of ``SWEEPS`` (arrays over ``ETAS``)."""
    if name not in SWEEPS:
        raise ValueError(f"unknown sweep {name!r}; expected one of {sorted(SWEEPS)}")
    return {k: stored()[f"{name}/{k}"] for k in STATS}


def hessian_eigenvalues() -> np.ndarray:
    """Eigenvalues of Rosenbrock's Hessian at the minimum (ascending): the valley's two curvatures."""
    x, y = MINIMUM
    h = np.array([[2 - 400 * (y - x * x) + 800 * x * x, -400 * x], [-400 * x, 200.0]])
    return np.linalg.eigvalsh(h)


def eps_ratio() -> tuple[float, float]:
    """Smallest and largest settled-error ratio (ε inside / outside) over the η that reach 10⁻³."""
    inside, outside = sweep_stats("adam"), sweep_stats("adam-eps-outside")
    to3 = TOLS.index(1e-3)
    hit = (inside["steps_to"][:, to3] >= 0) & (outside["steps_to"][:, to3] >= 0)
    ratio = inside["late_median"][hit] / outside["late_median"][hit]
    return float(ratio.min()), float(ratio.max())


def typo_run(method: str) -> tuple[np.ndarray, np.ndarray]:
    """The drawn path and (x, y, f) at the end of ``method`` on the function as printed."""
    return stored()[f"typo/{method}/path"], stored()[f"typo/{method}/final"]
