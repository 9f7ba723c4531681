"""Tables the MNIST chapters state their numbers from, computed from stored runs."""

from __future__ import annotations

import pandas as pd

from hw7 import store
from hw7.experiments import experiment
from hw7.sweep import train_many


def runs(name: str, **kwargs) -> pd.DataFrame:
    """Tidy per-epoch table of a named experiment (trains what the store lacks)."""
    return store.frame(train_many(experiment(name), **kwargs))


def final(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last recorded epoch (a diverged run's last is its divergence)."""
    return df[df["epoch"] == df.groupby("key")["epoch"].transform("max")].reset_index(drop=True)


def by(df: pd.DataFrame, column: str = "lr", metric: str = "eval_acc") -> pd.DataFrame:
    """Final ``metric`` per value of ``column`` over seeds: mean, sd, n, and how many diverged.

    A diverged run counts with accuracy 0.1 (chance): it did not learn.
    """
    last = final(df).copy()
    last[metric] = last[metric].where(last["diverged_epoch"].isna(), 0.1)
    g = last.groupby(column)
    out = pd.DataFrame({"mean": g[metric].mean(), "sd": g[metric].std(ddof=1), "n": g.size(),
                        "diverged": g["diverged_epoch"].count()})
    return out.reset_index()


def curves(df: pd.DataFrame, column: str = "lr", metric: str = "eval_acc") -> pd.DataFrame:
    """Per ``column`` value and epoch: mean, min and max of ``metric`` over seeds."""
    g = df.groupby([column, "epoch"])[metric]
    return pd.DataFrame({"mean": g.mean(), "lo": g.min(), "hi": g.max()}).reset_index()


def best(summary: pd.DataFrame, column: str = "lr") -> pd.Series:
    """The row with the highest mean final accuracy."""
    return summary.loc[summary["mean"].idxmax()]


def pm(mean: float, sd: float, digits: int = 4) -> str:
    """``0.9412 ± 0.0021``: a mean and standard deviation for the prose."""
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def compute_seconds(df: pd.DataFrame) -> float:
    """Wall-clock seconds the runs of ``df`` took (each run's share of its stacked group)."""
    return float((df["seconds"] / df["group_size"]).sum())
