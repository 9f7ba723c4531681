"""Published test accuracies of dense (fully connected) networks on MNIST, with their sources.

The report compares its own tuned networks with these and with the assignment's own
statements. Each entry's ``key`` is a ``references.bib`` key; the accuracies are the
papers' test error rates turned into accuracies (``1 − error``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hw7.config import RunConfig
from hw7.report.findings.common import Accuracy
from hw7.report.findings.problem3 import Problem3
from hw7.report.formatting import fixed, fraction, pm


@dataclass(frozen=True)
class Published:
    key: str  # references.bib
    network: str
    training: str
    accuracy: tuple[float, float]  # lowest and highest reported (equal for a single result)


PUBLISHED = (
    Published("simard2003", "784-800-10", "no distortions", (0.984, 0.984)),
    Published("simard2003", "784-800-10", "elastic distortions", (0.993, 0.993)),
    Published("srivastava2014", "2–3 ReLU layers of 1,024–8,192 units",
              "dropout and max-norm constraint", (0.9894, 0.9905)),
    Published("goodfellow2013", "2 maxout layers", "dropout and max-norm constraint", (0.9906, 0.9906)),
    Published("ciresan2010", "784-2500-2000-1500-1000-500-10", "affine and elastic deformations",
              (0.9965, 0.9965)),
)


DROPOUT = ("srivastava2014", "goodfellow2013")  # the dropout and maxout networks on the original images


def dropout_range() -> tuple[float, float]:
    """The lowest and highest test accuracy of the published dropout and maxout networks."""
    found = [a for r in PUBLISHED if r.key in DROPOUT for a in r.accuracy]
    return min(found), max(found)


def reported(key: str) -> float:
    """The highest test accuracy a source of :data:`PUBLISHED` reports (its ``references.bib`` key)."""
    found = [a for r in PUBLISHED if r.key == key for a in r.accuracy]
    if not found:
        raise ValueError(f"no published result with key {key!r}; known: {sorted({r.key for r in PUBLISHED})}")
    return max(found)


def parameters(key: str) -> int:
    """Weights and biases of a source's dense network written as layer widths (``784-800-10``)."""
    widths = [r.network for r in PUBLISHED if r.key == key and r.network.replace("-", "").isdigit()]
    if not widths:
        raise ValueError(f"no published network of {key!r} is written as layer widths")
    return RunConfig(sizes=tuple(int(w) for w in widths[0].split("-"))).n_params


def placed(accuracy: float) -> str:
    """Where an accuracy lies against the dropout and maxout networks, in the report's words."""
    lo, hi = dropout_range()
    return "below them" if accuracy < lo else "above them" if accuracy > hi else "within their range"


def against(a: Accuracy, key: str) -> str:
    """How a mean test accuracy over seeds compares with a source's, in the report's words: "passes
    it by 2 errors per 10,000, less than the standard deviation of its seeds"."""
    gap = a.mean - reported(key)
    errors = round(abs(gap) * 10_000)
    if errors == 0:
        return "matches it to within one error per 10,000"
    verb = "passes it" if gap > 0 else "falls short of it"
    spread = "less" if abs(gap) < a.sd else "more"
    return (f"{verb} by {errors} error{'s' if errors > 1 else ''} per 10,000, {spread} than the standard "
            "deviation of its seeds")


def _accuracy(lo: float, hi: float) -> str:
    """As precise as the paper reports it: ``98.4 %``, ``98.94 – 99.05 %``."""
    def digits(x: float) -> str:
        return f"{round(x * 100, 2):g}"
    return f"{digits(lo)}\u00a0%" if lo == hi else f"{digits(lo)} – {digits(hi)}\u00a0%"


def training(c: RunConfig) -> str:
    """How a network of ours was trained, in the words of the tables' training column: batch norm,
    the optimizer, dropout, max-norm, distortions and epochs."""
    parts = ["batch norm"] if c.batch_norm else []
    parts.append(c.optimizer.upper().replace("ADAMW", "AdamW"))
    parts.append(f"dropout {fraction(c.input_dropout)} (inputs) and {fraction(c.dropout)}" if c.input_dropout
                 else f"dropout {fraction(c.dropout)}" if c.dropout else "no dropout")
    if c.max_norm:
        parts.append(f"max-norm {c.max_norm:g}")
    if c.augment != "none":
        parts.append("affine and elastic distortions")
    return ", ".join(parts + [f"{c.epochs} epochs"])


def _ours(label: str, c: RunConfig, a: Accuracy, committee: float | None) -> dict:
    return {"network": f"{'-'.join(map(str, c.sizes))} ({label})", "training": training(c),
            "test accuracy": f"{pm(a.mean * 100, a.sd * 100, 2)}\u00a0%",
            "committee of the seeds": "–" if committee is None else f"{fixed(committee * 100, 2)}\u00a0%",
            "source": "this report"}


def comparison_table(p: Problem3) -> pd.DataFrame:
    """The report's tuned networks (test accuracy, mean ± sd over seeds, and the committee of the
    seeds where stored, else "–") above the published results, as text; the source column holds
    Pandoc citations (``[@key]``)."""
    rows = [_ours("Problem 2", n.config, n.test, n.committee)
            for n in (p.shallow_tuned, p.shallow_expanded, p.shallow_maxnorm_expanded, p.shallow_maxnorm_wide)]
    rows += [_ours("Problem 3", n.config, n.test, n.committee) for n in (p.tuned, p.expanded)]
    rows.append(_ours("Problem 2", p.batchnorm_depth[0].config, p.batchnorm_depth[0].test, p.batchnorm_depth[0].committee))
    rows.append(_ours("Problem 3", p.batchnorm, p.batchnorm_test, p.batchnorm_committee))
    rows.append(_ours("Problem 3", p.batchnorm_long, p.batchnorm_long_test, p.batchnorm_long_committee))
    rows.append(_ours("Problem 3", p.batchnorm_expanded.config, p.batchnorm_expanded.test, p.batchnorm_expanded.committee))
    rows += [{"network": r.network, "training": r.training, "test accuracy": _accuracy(*r.accuracy),
              "committee of the seeds": "–", "source": f"[@{r.key}]"} for r in PUBLISHED]
    return pd.DataFrame(rows)
