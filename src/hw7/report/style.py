"""One look for every figure: sizes, fonts, a colour-blind-safe palette, saving.

Figures are sized for the page (``WIDTH`` inches = text width) so that the
fonts set here (≥ 8 pt) are their printed size. Colours are the Okabe–Ito
palette, distinguishable under the common colour-vision deficiencies.
"""

from __future__ import annotations

import io
import os

import matplotlib
import matplotlib.pyplot as plt
from IPython.display import Image

from hw7 import PROJECT_ROOT

FIGURES = PROJECT_ROOT / "figures"
WIDTH = 6.5  # inches: the text width of the HTML column and of the PDF page
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
METHOD_COLORS = {"gd": OKABE_ITO[0], "momentum": OKABE_ITO[1], "adam": OKABE_ITO[2],
                 "sgd": OKABE_ITO[1]}

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
    "image.cmap": "viridis",
}
plt.rcParams.update(RC)


def figure(nrows: int = 1, ncols: int = 1, height: float = 3.0, width: float = WIDTH, **kw):
    """A figure of page width in the project style; returns ``(fig, axes)``."""
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kw)


def save(fig, name: str) -> Image:
    """Write ``figures/<name>.png`` (a stable name the README and tests can point at) and return
    the same image for the chapter cell to show.

    The figure is drawn once, at ``savefig.dpi``: the cell shows these bytes rather than the
    figure, which Jupyter's inline backend would draw a second time at a lower resolution
    (drawing is most of a chapter's execution time). The PNG carries its dpi, from which
    Quarto's Typst output and the own render path take its printed width.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    data = buffer.getvalue()
    FIGURES.mkdir(exist_ok=True)
    path = FIGURES / f"{name}.png"
    if not path.is_file() or path.read_bytes() != data:  # atomically: a reader never sees half a file
        tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return Image(data=data, format="png")
