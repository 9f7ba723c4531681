"""How the report writes numbers and names: one format for prose, tables and figures.

Two faces of the same formats:

- the plain functions (``sci``, ``pm``, ``rate``, ...) return ``str``, for table
  cells, figure labels and legends;
- ``inline`` holds the same functions returning IPython ``Markdown``, for the
  chapters' inline ``{python}`` expressions. Quarto inserts an inline ``str``
  through its ``repr`` (quotes stripped), so a no-break space would show as a
  literal ``\\xa0``; a ``Markdown`` value is inserted as Markdown, unchanged.

Large and small numbers are written as powers of ten (``4.1 × 10⁻⁵``, never
``4.1e-05``); the number and its unit of ten are held together by no-break
spaces, and so are a mean and its standard deviation, so neither is split
across lines.
"""

from __future__ import annotations

import math
from functools import wraps
from typing import Callable

from IPython.display import Markdown

NBSP = "\u00a0"
_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")

# Names of the configuration values and search parameters as a reader knows them.
NAMES = {
    "sgd": "SGD", "adam": "ADAM", "adamw": "AdamW (decoupled weight decay)", "sigmoid": "sigmoid", "relu": "ReLU", "tanh": "tanh",
    "xavier_normal": "Xavier normal", "kaiming_uniform": "Kaiming uniform", "kaiming_normal": "Kaiming normal",
    "none": "constant", "step": "step decay", "cosine": "cosine decay",
    "elastic": "affine + elastic distortions", "affine": "affine distortions",
    # Optuna parameter names of hw7.results.tune
    "optimizer": "optimizer", "sgd_lr": "SGD learning rate", "adam_lr": "ADAM learning rate",
    "momentum": "momentum", "beta1": "β₁", "beta2": "β₂", "schedule": "schedule",
    "step_size": "step size", "gamma": "step factor", "width": "width", "activation": "activation",
    "dropout": "dropout", "batch_size": "batch size", "weight_decay": "weight decay", "epochs": "epochs",
    "shrink": "width shrink factor", "depth": "hidden layers", "init": "initialization",
}


def name(identifier: str) -> str:
    """The reader's name for a config value or search parameter (``adam_lr`` → ``ADAM learning rate``)."""
    return NAMES.get(identifier, identifier.replace("_", " "))


def sci(x: float, digits: int = 2) -> str:
    """``1.3 × 10⁻²`` (``10⁻²`` for a power of ten), with ``digits`` significant digits."""
    if x == 0 or not math.isfinite(x):
        return str(x)
    exp = math.floor(math.log10(abs(x)))
    mant = x / 10.0**exp
    if round(abs(mant), digits - 1) >= 10:  # 9.96 rounds up to the next power
        mant, exp = mant / 10, exp + 1
    if exp == 0:  # "2.2", not "2.2 × 10⁰"
        return num(mant, f".{digits - 1}f")
    power = f"10{str(exp).translate(_SUP)}"
    if abs(round(mant, digits - 1) - 1) < 1e-9:  # "10⁻⁴", not "1.0 × 10⁻⁴"
        return power
    return f"{mant:.{digits - 1}f}{NBSP}×{NBSP}{power}".replace("-", "−")


def num(x: float, fmt: str = ".2f") -> str:
    """``x`` in a ``format`` spec, with a typographic minus sign (``−3.84``)."""
    return format(x, fmt).replace("-", "−")


def rate(x: float, digits: int = 1) -> str:
    """A learning rate or other setting to ``digits`` significant digits: decimals from 0.01 to 100
    (``0.03``, ``1``, ``0.164``), powers of ten outside (``3 × 10⁻⁴``). One rule for every table,
    label and sentence."""
    if 1e-2 <= abs(x) < 100:
        return num(x, f".{max(digits, 2)}g")
    return sci(x, digits)


def count(n: int) -> str:
    """An exact count with thousands separators (``12,345``)."""
    return f"{int(n):,}"


def steps(n: int) -> str:
    """A step count, or "never" for −1 (a threshold not reached)."""
    return "never" if n < 0 else count(n)


def fixed(x: float, digits: int = 4) -> str:
    """``0.9852``: a fraction such as an accuracy, to ``digits`` decimals."""
    return num(x, f".{digits}f")


def pm(mean: float, sd: float, digits: int = 4) -> str:
    """``0.9852 ± 0.0007``: a mean and standard deviation, kept on one line."""
    return f"{fixed(mean, digits)}{NBSP}±{NBSP}{fixed(sd, digits)}"


def difference(d: float, se: float, digits: int = 4) -> str:
    """``+0.0021 ± 0.0005``: a signed difference and its standard error, kept on one line."""
    return f"{num(d, f'+.{digits}f')}{NBSP}±{NBSP}{fixed(se, digits)}"


def times(x: float) -> str:
    """A ratio in words' precision: two significant digits (``about 33``, ``2.4 × 10⁴``)."""
    if abs(x) >= 1e4:
        return sci(x, 2)
    return f"{float(f'{x:.2g}'):,g}"


def fraction(p: float) -> str:
    """A rate such as dropout, to two significant digits, the same in every table and sentence (``0.024``, ``0.3``)."""
    return f"{p:.2g}"


def listing(items: list[str]) -> str:
    """``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _as_markdown(fn: Callable[..., str]) -> Callable[..., Markdown]:
    @wraps(fn)
    def markdown(*args, **kwargs) -> Markdown:
        return Markdown(fn(*args, **kwargs))
    return markdown


class inline:
    """The formats above as ``Markdown``, for inline ``{python}`` expressions in the chapters."""

    sci = staticmethod(_as_markdown(sci))
    num = staticmethod(_as_markdown(num))
    rate = staticmethod(_as_markdown(rate))
    count = staticmethod(_as_markdown(count))
    steps = staticmethod(_as_markdown(steps))
    fixed = staticmethod(_as_markdown(fixed))
    pm = staticmethod(_as_markdown(pm))
    difference = staticmethod(_as_markdown(difference))
    times = staticmethod(_as_markdown(times))
    fraction = staticmethod(_as_markdown(fraction))
    name = staticmethod(_as_markdown(name))
    listing = staticmethod(_as_markdown(listing))
    text = staticmethod(_as_markdown(str))


def table(df) -> Markdown:
    """A DataFrame of text (formatted here) as a Markdown table, shown as it is (what a ``tbl-`` cell displays)."""
    return Markdown(df.to_markdown(index=False, disable_numparse=True))
