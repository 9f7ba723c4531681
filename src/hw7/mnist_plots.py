"""Figures of the MNIST chapters (Problems 2 and 3), in the shared style.

Accuracies are drawn on a logit axis: it spreads both the poor runs near chance
(0.1) and the differences between good runs near 1, which a linear axis hides.
"""

from __future__ import annotations

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown

from hw7 import style
from hw7.summaries import curves

ACC_TICKS = [0.1, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99]


def _logit_acc_axis(ax, lo: float = 0.08, hi: float = 0.995) -> None:
    ax.set_yscale("logit")
    ax.set_ylim(lo, hi)
    ax.set_yticks([t for t in ACC_TICKS if lo <= t <= hi])
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(plt.NullFormatter())


def table(df: pd.DataFrame, floatfmt: str = ".4f") -> Markdown:
    """A DataFrame as a Markdown table (how the chapters show tables)."""
    return Markdown(df.to_markdown(index=False, floatfmt=floatfmt))


def lr_curves(df: pd.DataFrame, ax, title: str, metric: str = "eval_acc") -> plt.cm.ScalarMappable:
    """Accuracy per epoch for every learning rate: mean over seeds, band from min to max."""
    c = curves(df, "lr", metric)
    rates = sorted(c["lr"].unique())
    norm = mcolors.LogNorm(min(rates), max(rates))
    cmap = mcolors.ListedColormap(plt.get_cmap("viridis")(np.linspace(0, 0.88, 256)))  # no pale yellow
    for lr in rates:
        d = c[c["lr"] == lr]
        colour = cmap(norm(lr))
        ax.fill_between(d["epoch"], d["lo"], d["hi"], color=colour, alpha=0.25, linewidth=0)
        ax.plot(d["epoch"], d["mean"], color=colour, label=f"{lr:g}")
    _logit_acc_axis(ax)
    ax.set_xlabel("epoch")
    ax.set_title(title)
    return plt.cm.ScalarMappable(norm=norm, cmap=cmap)


def fig_learning_curves(panels: dict[str, pd.DataFrame], name: str):
    """One panel of learning curves per optimizer, sharing the accuracy axis and a colour bar."""
    fig, axes = style.figure(1, len(panels), height=3.0, sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (title, df) in zip(axes, panels.items()):
        mappable = lr_curves(df, ax, title)
    axes[0].set_ylabel("test accuracy")
    fig.colorbar(mappable, ax=axes, label="learning rate", pad=0.01, aspect=30)
    style.save(fig, name)
    return fig


def fig_lr_sensitivity(summaries: dict[str, pd.DataFrame], name: str, reference: float | None = None):
    """Final accuracy against learning rate, mean ± sd over seeds, one line per optimizer."""
    fig, ax = style.figure(height=2.8)
    for i, (label, s) in enumerate(summaries.items()):
        colour = style.OKABE_ITO[i]
        ax.errorbar(s["lr"], s["mean"], yerr=s["sd"].fillna(0), marker="o", ms=3.5, capsize=2,
                    color=colour, label=label)
        b = s.loc[s["mean"].idxmax()]
        ax.plot(b["lr"], b["mean"], marker="*", ms=11, color=colour, markeredgecolor="black",
                markeredgewidth=0.5, linestyle="none")
    if reference is not None:
        ax.axhline(reference, color="0.4", linestyle=":", linewidth=1)
        ax.text(0.01, reference, f"instructor's ≈ {reference:g}", transform=ax.get_yaxis_transform(),
                va="bottom", fontsize=7.5, color="0.3")
    ax.set_xscale("log")
    _logit_acc_axis(ax)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test accuracy after 30 epochs")
    ax.legend(loc="lower center")
    style.save(fig, name)
    return fig


def fig_gradient_ratio(runs: dict[str, pd.DataFrame], name: str):
    """Gradient ratio per epoch (log scale), mean over seeds with min–max band, one line per net."""
    fig, ax = style.figure(height=2.6)
    for i, (label, df) in enumerate(runs.items()):
        c = curves(df, "activation", "grad_ratio")
        ax.fill_between(c["epoch"], c["lo"], c["hi"], color=style.OKABE_ITO[i], alpha=0.25, linewidth=0)
        ax.plot(c["epoch"], c["mean"], color=style.OKABE_ITO[i], label=label, marker="o", ms=2.5)
    ax.axhline(1.0, color="0.4", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("‖∇W input‖ / ‖∇W output‖")
    ax.legend()
    style.save(fig, name)
    return fig


def fig_gradient_heatmap(runs: dict[str, pd.DataFrame], name: str):
    """Layer × epoch heatmaps of log10 weight-gradient norms, one panel per net, shared colour scale."""
    from hw7.summaries import layer_norms

    maps = {label: np.log10(layer_norms(df)) for label, df in runs.items()}
    lo = min(m.min() for m in maps.values())
    hi = max(m.max() for m in maps.values())
    fig, axes = style.figure(1, len(maps), height=2.8, sharey=True)
    for ax, (label, m) in zip(np.atleast_1d(axes), maps.items()):
        im = ax.imshow(m, aspect="auto", origin="lower", vmin=lo, vmax=hi, cmap="viridis",
                       extent=(0.5, m.shape[1] + 0.5, 0.5, m.shape[0] + 0.5), interpolation="nearest")
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.grid(False)
    np.atleast_1d(axes)[0].set_ylabel("layer (1 = input)")
    fig.colorbar(im, ax=axes, label="log₁₀ ‖∇W‖", pad=0.01, aspect=30)
    style.save(fig, name)
    return fig


def fig_augmented_samples(images: "torch.Tensor", kinds: tuple[str, ...], name: str, seed: int = 0):
    """Each row: an original digit, then fresh random distortions of it (one row per digit)."""
    import torch

    from hw7.augment import augment_batch

    g = torch.Generator().manual_seed(seed)
    n_rows, n_cols = len(images), 1 + 3 * len(kinds)
    fig, axes = style.figure(n_rows, n_cols, height=0.62 * n_rows + 0.3)
    for r, img in enumerate(images):
        row = [img] + [augment_batch(img[None], k, g)[0] for k in kinds for _ in range(3)]
        for c, x in enumerate(row):
            ax = axes[r, c]
            ax.imshow(x.view(28, 28), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0:
                ax.set_title("original" if c == 0 else kinds[(c - 1) // 3], fontsize=8)
    style.save(fig, name)
    return fig
