"""Figures of the MNIST chapters (Problems 2 and 3), in the shared style.

Accuracies are drawn on a logit axis: it spreads both the poor runs near chance
(0.1) and the differences between good runs near 1, which a linear axis hides.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hw7.report import style
from hw7.report.formatting import name as display_name, rate
from hw7.report.frames import curves, layer_norms

ACC_TICKS = [0.1, 0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99]
PANEL_TICKS = [0.1, 0.5, 0.9, 0.97, 0.99]  # fewer labels for small panels


def _logit_acc_axis(ax, lo: float = 0.08, hi: float = 0.995, ticks=ACC_TICKS) -> None:
    ax.set_yscale("logit")
    ax.set_ylim(lo, hi)
    ax.set_yticks([t for t in ticks if lo <= t <= hi])
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(plt.NullFormatter())


def fig_learning_curves(runs: pd.DataFrame, label: str, name: str,
                        other: tuple[str, pd.DataFrame] | None = None):
    """Small multiples: one panel per learning rate with the test accuracy per epoch (mean over
    seeds, the seeds' range as a band), so that every rate can be read on its own. ``other``
    (a label and runs) is drawn in grey in the panels of the rates it was also run at."""
    c = curves(runs, "lr")
    o = curves(other[1], "lr") if other else None
    rates = sorted(c["lr"].unique())
    ncols = 6
    nrows = math.ceil(len(rates) / ncols)
    fig, axes = style.figure(nrows, ncols, height=1.35 * nrows + 0.35, sharex=True, sharey=True)
    colour = style.METHOD_COLORS["sgd" if "SGD" in label else "adam"]
    for ax, lr in zip(axes.flat, rates):
        if o is not None and (o["lr"] == lr).any():
            d = o[o["lr"] == lr]
            ax.plot(d["epoch"], d["mean"], color="0.6", lw=1.0, ls="--", label=other[0])
        d = c[c["lr"] == lr]
        ax.fill_between(d["epoch"], d["lo"], d["hi"], color=colour, alpha=0.3, linewidth=0)
        ax.plot(d["epoch"], d["mean"], color=colour, lw=1.3, label=label)
        ax.set_title(f"η = {rate(lr)}", fontsize=8, pad=2)
        _logit_acc_axis(ax, ticks=PANEL_TICKS)
        ax.tick_params(labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy", fontsize=8)
    for i, ax in enumerate(axes.flat):
        if i >= len(rates):
            ax.axis("off")
        elif i + ncols >= len(rates):  # nothing drawn below it: label its epoch axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("epoch", fontsize=8)
    handles = {h.get_label(): h for ax in axes.flat[:len(rates)] for h in ax.get_lines()}
    order = [label] + [k for k in handles if k != label]
    fig.legend([handles[k] for k in order], order, loc="outside lower center", ncol=len(order), fontsize=8)
    return style.save(fig, name)


def fig_lr_sensitivity(summaries: dict[str, pd.DataFrame], name: str, reference: float | None = None):
    """Final accuracy against learning rate, mean ± sd over seeds, one line per optimizer."""
    fig, ax = style.figure(height=2.8)
    for label, s in summaries.items():
        colour = style.METHOD_COLORS["sgd" if "SGD" in label else "adam"]  # as in the learning curves
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
    return style.save(fig, name)


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
    return style.save(fig, name)


def fig_gradient_heatmap(runs: dict[str, pd.DataFrame], name: str):
    """Layer × epoch heatmaps of log10 weight-gradient norms, one panel per net, shared colour scale."""
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
    return style.save(fig, name)


def _tiles(images: np.ndarray, cols: int, titles: list[str], height: float, title_gap: int = 9):
    """A figure of 28×28 images in a grid, each under its title, drawn as one image on one axes
    (a grid of small axes takes seconds to lay out and draw; this takes a fraction of that)."""
    rows = max(1, -(-len(images) // cols))
    tile_h, tile_w = 28 + title_gap, 28 + 3
    canvas = np.full((rows * tile_h, cols * tile_w), np.nan)
    fig, ax = style.figure(height=height)
    for k, (img, title) in enumerate(zip(images, titles)):
        r, c = divmod(k, cols)
        top, left = r * tile_h + title_gap, c * tile_w
        canvas[top:top + 28, left:left + 28] = np.asarray(img, dtype=float).reshape(28, 28)
        if title:
            ax.text(left + 13.5, top - 1.5, title, ha="center", va="bottom", fontsize=7.5)
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    ax.imshow(canvas, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    return fig


def fig_augmented_samples(images: "torch.Tensor", kinds: tuple[str, ...], name: str, seed: int = 0):
    """Each row: an original digit, then fresh random distortions of it (one row per digit)."""
    import torch  # here, not at the top: no other figure needs torch, which takes a second to load

    from hw7.engine.augment import augment_batch

    g = torch.Generator().manual_seed(seed)
    n_cols = 1 + 3 * len(kinds)
    tiles, titles = [], []
    for r, img in enumerate(images):
        tiles += [img] + [augment_batch(img[None], k, g)[0] for k in kinds for _ in range(3)]
        titles += (["original"] + [k for k in kinds for _ in range(3)]) if r == 0 else [""] * n_cols
    fig = _tiles(torch.stack(tiles).numpy(), n_cols, titles, height=0.62 * len(images) + 0.3)
    return style.save(fig, name)


def fig_search(trials: pd.DataFrame, importance: pd.Series, name: str):
    """Left: validation accuracy of every trial and the best so far. Right: parameter importances."""
    fig, (ax, bx) = style.figure(1, 2, height=2.8, width=style.WIDTH)
    diverged = trials[trials["diverged"]]
    done = trials[(trials["state"] == "complete") & ~trials["diverged"]]
    pruned = trials[trials["state"] == "pruned"]
    lo = max(0.5, float(trials.loc[~trials["diverged"], "value"].min()) - 0.01)
    ax.scatter(pruned["number"], pruned["value"], s=12, marker="x", color="0.55", label="pruned (last epoch run)")
    ax.scatter(done["number"], done["value"], s=14, color=style.OKABE_ITO[0], label="complete")
    if len(diverged):  # scored 0: drawn just above the axis' floor (axes coordinates), whole
        ax.scatter(diverged["number"], [0.04] * len(diverged), s=22, marker="v", transform=ax.get_xaxis_transform(),
                   color=style.OKABE_ITO[3], label="diverged (scored 0)", zorder=5)
    best = done.set_index("number")["value"].reindex(trials["number"]).cummax().ffill()
    ax.step(trials["number"], best, where="post", color=style.OKABE_ITO[3], label="best so far")
    _logit_acc_axis(ax, lo=lo, hi=0.995)
    ax.set_xlabel("trial")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_ylabel("validation accuracy")
    ax.legend(loc="upper left", fontsize=7)
    imp = importance.sort_index(ascending=False).sort_values(kind="stable")  # ties in a fixed order
    bx.barh([display_name(p) for p in imp.index], imp.values, color=style.OKABE_ITO[0])
    bx.set_xlabel("importance (PED-ANOVA)")
    bx.grid(axis="y", visible=False)
    return style.save(fig, name)


def fig_confusion(predicted, truth, name: str):
    """Confusion matrix of one network's test predictions, counts; the diagonal left blank
    so that the errors are readable."""
    cm = np.zeros((10, 10), dtype=np.int64)
    np.add.at(cm, (np.asarray(truth), np.asarray(predicted)), 1)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    fig, ax = style.figure(height=3.2, width=3.6)
    im = ax.imshow(off, cmap="Blues")
    for i in range(10):
        for j in range(10):
            if off[i, j]:
                ax.text(j, i, str(off[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if off[i, j] > off.max() / 2 else "black")
            elif i == j:
                ax.text(j, i, str(int(cm[i, i])), ha="center", va="center", fontsize=6, color="0.5")
    ax.set_xticks(range(10)), ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="errors", shrink=0.8)
    return style.save(fig, name)


def fig_mistakes(images, predicted, truth, name: str, n: int = 24):
    """The first ``n`` misclassified test images (uint8, as `hw7.data.test_set` gives them), each
    titled 'true → predicted'."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    wrong = np.flatnonzero(predicted != truth)[:n]
    rows = max(1, -(-len(wrong) // 12))
    fig = _tiles(np.asarray(images)[wrong] / 255.0, 12, [f"{truth[i]}→{predicted[i]}" for i in wrong],
                 height=0.75 * rows + 0.1)
    return style.save(fig, name)


def fig_winner_curves(final: pd.DataFrame, val_curve: pd.Series, name: str, title: str = ""):
    """Error rates per epoch (log scale) of the retrained winner: on 10,000 training images and
    on the test set (mean over seeds), and on the validation split in its search trial.

    Error rates, not accuracies: the training error reaches zero, which no accuracy axis
    that also resolves the test set can show. Zero is drawn at one image in 10,000.
    """
    floor = 1e-4
    fig, ax = style.figure(height=2.6)
    m = final.groupby("epoch")[["train_acc", "eval_acc"]].mean()
    ax.plot(m.index, (1 - m["train_acc"]).clip(lower=floor), color=style.OKABE_ITO[1],
            label="train (10,000 training images)")
    ax.plot(val_curve.index, 1 - val_curve.values, color=style.OKABE_ITO[2], linestyle="--",
            label="validation (search trial, trained on 50,000)")
    ax.plot(m.index, 1 - m["eval_acc"], color=style.OKABE_ITO[0], label="test (mean over seeds)")
    ax.set_yscale("log")
    ax.set_ylim(floor * 0.7, 0.1)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v * 100:g}%"))
    ax.axhline(floor, color="0.6", linewidth=0.6, linestyle=":")
    ax.text(1, floor * 1.15, "no errors", fontsize=7.5, color="0.4")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error rate")
    if title:
        ax.set_title(title)
    ax.legend(loc="best")
    return style.save(fig, name)


def fig_best_networks(runs: dict[str, pd.DataFrame], name: str):
    """Test error rate per epoch (log scale, mean over seeds) of several networks; the
    epoch axis is the fraction of each run's training, so runs of different lengths
    (10 and 60 epochs) share it."""
    fig, ax = style.figure(height=2.8)
    for (label, df), color in zip(runs.items(), style.OKABE_ITO):
        m = df.groupby("epoch")["eval_acc"].mean()
        ls = "--" if "expanded" in label else "-"
        ax.plot(m.index / m.index.max(), 1 - m.values, color=color, linestyle=ls, marker=".", markersize=3,
                label=f"{label} ({m.index.max()} epochs)")
    ax.set_yscale("log")
    percent = plt.FuncFormatter(lambda v, _: f"{v * 100:.2g}%")
    ax.yaxis.set_major_formatter(percent)
    ax.yaxis.set_minor_formatter(percent)  # the range spans less than a decade: label the minor ticks too
    ax.tick_params(axis="y", which="minor", labelsize=7.5)
    ax.set_xlabel("fraction of training done")
    ax.set_ylabel("test error rate")
    ax.legend(loc="upper right", fontsize=7.5)
    return style.save(fig, name)


def fig_depth(runs: dict[str, pd.DataFrame], name: str):
    """Two panels for networks trained alike: left, each seed's final test accuracy (dots) and the
    mean over seeds (bar); right, the test error rate per epoch (log scale, mean over seeds)."""
    fig, (left, right) = style.figure(1, 2, height=2.7)
    for i, ((label, df), color) in enumerate(zip(runs.items(), style.OKABE_ITO)):
        final = df[df["epoch"] == df["epoch"].max()]["eval_acc"]
        spread = np.linspace(-0.08, 0.08, len(final)) if len(final) > 1 else np.zeros(1)  # equal seeds stay visible
        left.plot(i + spread, final, "o", color=color, ms=5, alpha=0.8)
        left.plot([i - 0.25, i + 0.25], [final.mean()] * 2, color=color, lw=2)
        m = df.groupby("epoch")["eval_acc"].mean()
        right.plot(m.index, 1 - m.values, color=color, label=label)
    left.set_xticks(range(len(runs)), list(runs), fontsize=8)
    left.set_xlim(-0.6, len(runs) - 0.4)
    left.set_xlabel("hidden layers × units")
    left.set_ylabel("final test accuracy")
    left.grid(axis="x", visible=False)
    right.set_yscale("log")
    lo, hi = right.get_ylim()  # less than a decade: ticks at round percentages instead of powers of ten
    right.set_yticks([t for t in (0.01, 0.012, 0.015, 0.02, 0.03, 0.05, 0.1) if lo <= t <= hi])
    right.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v * 100:.2g}%"))
    right.yaxis.set_minor_formatter(plt.NullFormatter())
    right.set_xlabel("epoch")
    right.set_ylabel("test error rate")
    right.legend(loc="upper right")
    return style.save(fig, name)
