"""Problem 1: the tables and figures of the optimizer chapter, from its stored runs.

The runs themselves (41 learning rates per method, 10⁵ steps each) are computed
once and stored by `hw7.rosenbrock.runs`; everything here reads that store.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.ticker import FuncFormatter

from hw7.report import style
from hw7.report.findings.problem1 import Descent1, LrMap1, descent1
from hw7.report.formatting import num, sci, steps as steps_str
from hw7.rosenbrock.descent import LABELS
from hw7.rosenbrock.runs import ETAS, N_STEPS, START, TOLS, XLIM, YLIM, Case, sweep_stats, typo_run
from hw7.rosenbrock.surfaces import MINIMUM, rosenbrock, typo

ZOOM = dict(xlim=(0.55, 1.3), ylim=(0.25, 1.7))
EPS_OUTSIDE_COLOR = style.OKABE_ITO[4]


def label(c: Case) -> str:
    """A run's legend entry: its method and learning rate."""
    return f"{LABELS[c.method]}, η = {sci(c.eta, 1)}"


def summary_table(runs: list[Descent1]) -> pd.DataFrame:
    """Final and settled distance to (1, 1), final f − f*, and steps to each threshold, one row per run."""
    def error(r, value):
        return sci(value) if r.diverged_at < 0 else "diverged"
    return pd.DataFrame({
        "method": [LABELS[r.method] for r in runs],
        "η": [sci(r.eta, 1) for r in runs],
        "final ‖p − (1,1)‖": [error(r, r.final_error) for r in runs],
        "settled ‖p − (1,1)‖": [error(r, r.settled) for r in runs],
        "final f − f*": [error(r, r.final_gap) for r in runs],
        **{f"steps to < {sci(t, 1)}": [steps_str(r.steps[t]) for r in runs] for t in TOLS},
    })


# --- the typo ------------------------------------------------------------------

def typo_table(ends: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    """Where each method is after 10⁵ steps on the printed function (``Problem1.printed_ends``), and f there."""
    return pd.DataFrame({
        "method": [LABELS[m] for m in ends],
        "final x": [num(x) for x, _, _ in ends.values()],
        "final y": [num(y) for _, y, _ in ends.values()],
        "final f (printed function)": [num(f, ".1f") for _, _, f in ends.values()],
    })


def plot_typo():
    """Left: both functions along the valley floor y = x². Right: paths on the printed function."""
    fig, (a, b) = style.figure(1, 2, height=2.9)
    x = np.linspace(-8, 8, 400)
    floor = np.stack([x, x**2], axis=-1)
    a.plot(x, typo(floor), color=style.OKABE_ITO[3], label="as printed: 1 − x²")
    a.plot(x, rosenbrock(floor), color=style.OKABE_ITO[7], ls="--", label="Rosenbrock: (1 − x)²")
    a.set(xlabel="x", ylabel="f(x, x²)", title="Along the valley floor y = x²", ylim=(-70, 90))
    a.legend(loc="lower left")

    gx, gy = np.meshgrid(np.linspace(-8, 8, 300), np.linspace(-5, 60, 300))
    levels = [-60, -30, -10, 0, 10, 100, 1000, 10000]
    b.contour(gx, gy, typo(np.stack([gx, gy], -1)), levels=levels, colors="0.6", linewidths=0.6)
    for m in LABELS:
        path, (x, y, _) = typo_run(m)
        b.plot(*path.T, color=style.METHOD_COLORS[m], label=LABELS[m])
        b.plot(x, y, "o", color=style.METHOD_COLORS[m], ms=4)
    # (1, 1) is no minimum of the printed function: marked as a plain point, not a star
    b.plot(*MINIMUM, marker="+", ms=9, mew=1.5, color="black", ls="none", label="(1, 1)", zorder=5)
    b.plot(*START, marker="s", ms=6, color="black", ls="none", label="start (−4, −2)", zorder=5)
    b.set(xlabel="x", ylabel="y", title="Paths on the printed function, η = 10⁻⁴")
    b.legend(loc="upper center")
    return style.save(fig, "p1-typo")


# --- contour and paths ---------------------------------------------------------

def _grid(xlim=XLIM, ylim=YLIM, n: int = 400):
    gx, gy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    return gx, gy, rosenbrock(np.stack([gx, gy], axis=-1))


def _mark_points(ax, start: bool = True) -> None:
    ax.plot(*MINIMUM, marker="*", ms=11, color="white", mec="black", mew=0.8, ls="none",
            label="minimum (1, 1)", zorder=5)
    if start:
        ax.plot(*START, marker="s", ms=6, color="black", ls="none", label="start (−4, −2)", zorder=5)


def plot_contour():
    """(a): filled contours of Rosenbrock, log-spaced levels, minimum and start marked."""
    fig, ax = style.figure(height=3.6)
    gx, gy, f = _grid()
    levels = np.logspace(-2, 5, 15)
    cs = ax.contourf(gx, gy, f, levels=levels, norm=LogNorm(), cmap="viridis", extend="both")
    ax.contour(gx, gy, f, levels=levels, colors="white", linewidths=0.3, alpha=0.6)
    xv = np.linspace(XLIM[0], XLIM[1], 200)
    ax.plot(xv, xv**2, color="white", ls=":", lw=1, label="valley floor y = x²")
    _mark_points(ax)
    ax.set(xlim=XLIM, ylim=YLIM, xlabel="x", ylabel="y")
    ax.grid(False)
    fig.colorbar(cs, ax=ax, label="f(x, y)  (log scale)", ticks=levels[::2])
    ax.legend(loc="lower right", labelcolor="white", facecolor="0.25", frameon=True, framealpha=0.7)
    return style.save(fig, "p1-contour")


def _faint_contour(ax, xlim, ylim) -> None:
    gx, gy, f = _grid(xlim, ylim, 300)
    ax.contour(gx, gy, f, levels=np.logspace(-3, 5, 17), colors="0.7", linewidths=0.5)


def _style_for(c: Case, cases: list[Case]) -> dict:
    """Colour by method; a second run of the same method is dashed."""
    same = [d for d in cases if d.method == c.method]
    return dict(color=style.METHOD_COLORS[c.method], ls="-" if same[0] is c else "--")


def plot_paths(cases: list[Case], name: str):
    """Paths on the contour: the full frame of (b)-(d), and a zoom around (1, 1)."""
    fig, axes = style.figure(1, 2, height=3.0)
    for ax, lims in zip(axes, (dict(xlim=XLIM, ylim=YLIM), ZOOM)):
        _faint_contour(ax, lims["xlim"], lims["ylim"])
        for c in cases:
            ax.plot(*c.path.T, lw=1.0, label=label(c), **_style_for(c, cases))
            if c.diverged_at >= 0:  # left the plot; say where it went
                ax.plot(*c.path[-1], "x", color=style.METHOD_COLORS[c.method], ms=7, mew=1.5)
        _mark_points(ax, start=ax is axes[0])
        ax.set(xlabel="x", ylabel="y", **lims)
        ax.grid(False)
    axes[0].set_title("Whole path")
    axes[1].set_title("Near the minimum")
    for c in cases:
        if c.diverged_at >= 0:
            axes[0].annotate(f"{LABELS[c.method]}: off the plot at step {c.off_plot},\n"
                             f"diverged at step {c.diverged_at} (|x| or |y| > 10⁶)",
                             xy=(0.02, 0.98), xycoords="axes fraction", va="top", fontsize=8,
                             color=style.METHOD_COLORS[c.method], zorder=6,
                             bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.9))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return style.save(fig, name)


def plot_errors(cases: list[Case], name: str, gap: bool = True):
    """log₁₀ distance to (1, 1) (and log₁₀ (f − f*)) against the step; dotted: 10⁻¹, 10⁻³, 10⁻⁶."""
    fig, axes = style.figure(1, 2 if gap else 1, height=2.8, squeeze=False)
    axes = axes[0]
    kinds = [("log₁₀ ‖p − (1, 1)‖", lambda c: c.error_curve)]
    if gap:
        kinds.append(("log₁₀ (f − f*)", lambda c: c.gap_curve))
    for ax, (ylabel, curve) in zip(axes, kinds):
        for c in cases:
            ax.plot(*curve(c).T, lw=1.0, label=label(c), **_style_for(c, cases))
            if c.diverged_at >= 0:  # near the frame's edge: drawn whole, over the axis
                ax.plot(*curve(c)[-1], "x", color=style.METHOD_COLORS[c.method], ms=7, mew=1.5,
                        clip_on=False, zorder=6)
        ax.set(xlabel="step", ylabel=ylabel, xlim=(0, N_STEPS))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:.0f}k" if v else "0"))
    for t in TOLS:  # the thresholds of the tables
        axes[0].axhline(np.log10(t), color="0.5", lw=0.6, ls=":")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return style.save(fig, name)


# --- learning-rate map and epsilon placement ------------------------------------

def lr_table(lr_map: dict[str, LrMap1]) -> pd.DataFrame:
    """Per method (``Problem1.lr_map``): stable range on the grid, where 10⁻³ is reached, the fastest
    and the most accurate η."""
    rows = []
    for m, r in lr_map.items():
        rows.append({
            "method": LABELS[m],
            "largest η without divergence": sci(r.largest_stable) if r.largest_stable else "none",
            "η reaching 10⁻³ in 10⁵ steps": f"{sci(r.reach_lo)} – {sci(r.reach_hi)}" if r.reach_lo else "none",
            "fastest η to 10⁻³ (steps)": (f"{sci(r.fastest_eta)} ({steps_str(r.fastest_steps)})"
                                          if r.fastest_eta else "none"),
            "most accurate η (settled error)": f"{sci(r.best_eta)} ({sci(r.best_settled)})",
        })
    return pd.DataFrame(rows)


def plot_lr_map():
    """Late error and steps to 10⁻³ against η for each method; × = diverged (one row per method)."""
    fig, (a, b) = style.figure(1, 2, height=3.0)
    top = 3.2  # log₁₀ error of the first row of × marks
    for row, m in enumerate(LABELS):
        r, color = sweep_stats(m), style.METHOD_COLORS[m]
        ok = r["diverged_at"] < 0
        a.plot(ETAS[ok], np.log10(r["late_median"][ok]), "o-", ms=3, color=color, label=LABELS[m])
        a.plot(ETAS[~ok], np.full((~ok).sum(), top - 0.9 * row), "x", ms=5, color=color)
        to3 = r["steps_to"][:, TOLS.index(1e-3)]
        hit = to3 >= 0
        b.plot(ETAS[hit], to3[hit], "o-", ms=3, color=color, label=LABELS[m])
    a.axhline(np.log10(1e-3), color="0.5", lw=0.6, ls=":")
    a.text(1.3e-6, top, "× diverged", fontsize=8, va="center")
    a.set(xscale="log", xlabel="learning rate η", ylabel="log₁₀ settled ‖p − (1, 1)‖",
          title="Settled error (median, last 10⁴ steps)", ylim=(-14, top + 0.8))
    b.set(xscale="log", yscale="log", xlabel="learning rate η", ylabel="steps",
          title="Steps to ‖p − (1, 1)‖ < 10⁻³", xlim=a.get_xlim())
    fig.legend(*a.get_legend_handles_labels(), loc="outside lower center", ncol=3)  # off the data
    return style.save(fig, "p1-lr-map")


def eps_table(etas=(1e-4, 1e-3, 1e-2)) -> pd.DataFrame:
    """ADAM with ε inside vs outside the root: final and settled error, steps to 10⁻³ and 10⁻⁶."""
    rows = []
    for eta in etas:
        for inside in (True, False):
            r = descent1("adam", eta, eps_inside=inside)
            rows.append({"η": sci(eta, 1), "ε": "inside √ (assignment)" if inside else "outside √ (PyTorch)",
                         "final ‖p − (1,1)‖": sci(r.final_error), "settled ‖p − (1,1)‖": sci(r.settled),
                         "steps to < 10⁻³": steps_str(r.steps[1e-3]),
                         "steps to < 10⁻⁶": steps_str(r.steps[1e-6])})
    return pd.DataFrame(rows)


def plot_eps():
    """Late error against η for ADAM with ε inside and outside the square root."""
    fig, ax = style.figure(height=2.6)
    for inside, color, ls in ((True, style.METHOD_COLORS["adam"], "-"), (False, EPS_OUTSIDE_COLOR, "--")):
        r = sweep_stats("adam" if inside else "adam-eps-outside")
        ax.plot(ETAS, np.log10(r["late_median"]), "o", ls=ls, ms=3, color=color,
                label="ε inside √ (assignment)" if inside else "ε outside √ (PyTorch's Adam)")
    ax.axhline(np.log10(1e-3), color="0.5", lw=0.6, ls=":")
    ax.set(xscale="log", xlabel="learning rate η", ylabel="log₁₀ settled ‖p − (1, 1)‖")
    ax.legend(loc="upper right")
    return style.save(fig, "p1-eps")
