"""The stored runs of the MNIST chapters as pandas frames, and the statistics the report computes
from them (never trained here: a missing run is an error naming the command that computes it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hw7.data import test_set
from hw7.results import store, tune
from hw7.results.experiments import WITH_PROBABILITIES, experiment


class MissingRuns(LookupError):
    """An experiment the report reads has runs missing from the store."""


def records(name: str) -> list[dict]:
    """The stored records of a named experiment. The report never trains: a run missing
    from ``results/runs/`` raises :class:`MissingRuns` naming the command that computes it."""
    found = [store.load(c) for c in experiment(name)]
    missing = sum(r is None for r in found)
    if missing:
        raise MissingRuns(f"{missing} of the {len(found)} runs of experiment {name!r} are not in results/runs/: "
                          f"compute them with `python -m hw7 run {name}`")
    lacking = [r["key"] for r in found if name in WITH_PROBABILITIES and "probabilities" not in r]
    if lacking:  # the report's committees and confusion matrices read them (`store.predictions`)
        raise MissingRuns(f"{len(lacking)} runs of experiment {name!r} keep no probabilities (first: {lacking[0]}): "
                          f"add them with `python -m hw7 run {name} --add-probabilities`")
    return found


def runs(name: str) -> pd.DataFrame:
    """Tidy per-epoch table of a named experiment's stored runs (see :func:`records`)."""
    return store.frame(records(name))


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


def compute_seconds(df: pd.DataFrame) -> float:
    """Wall-clock seconds the runs of ``df`` took (each run's share of its stacked group)."""
    return float((df["seconds"] / df["group_size"]).sum())


def layer_norms(df: pd.DataFrame) -> np.ndarray:
    """[layer, epoch]: weight-gradient norm per layer (input layer first), averaged over seeds."""
    per_epoch = df.groupby("epoch")["grad_norms"].apply(lambda s: np.mean(np.array(s.tolist(), dtype=float), 0))
    return np.stack(per_epoch.to_list(), axis=1)


def attenuation(df: pd.DataFrame) -> float:
    """Geometric-mean factor by which the gradient norm shrinks per layer, from output to input."""
    n = np.log(layer_norms(df))
    return float(np.exp(np.mean(n[1:] - n[:-1])))


def majority_rate() -> float:
    """Test accuracy of always answering the most frequent digit of the test set."""
    y = test_set()[1]
    return float(np.bincount(y).max()) / len(y)


def near_best(summary: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Rows whose mean final accuracy is within ``tolerance`` of the best."""
    return summary[summary["mean"] >= summary["mean"].max() - tolerance]


def epoch_acc(df: pd.DataFrame, lr: float, epoch: int) -> float:
    """Mean test accuracy over seeds at one learning rate after ``epoch`` epochs."""
    return float(df[(df["lr"] == lr) & (df["epoch"] == epoch)]["eval_acc"].mean())


def stored(name: str) -> bool:
    """Whether every run of a named experiment is in the store (False if its search has no result)."""
    try:
        return all(store.load(c) is not None for c in experiment(name))
    except tune.JournalError:  # a faulty search is an error, never "not stored"
        raise
    except ValueError:
        return False


def test_errors(records: list[dict], n_test: int = 10_000) -> list[int]:
    """Number of misclassified test images of each run, from its final test accuracy."""
    return [round((1 - r["history"]["eval_acc"][-1]) * n_test) for r in records]


def top_confusions(predicted, truth, n: int = 3) -> list[tuple[int, int, int]]:
    """The most frequent (true digit, predicted digit, count) errors: the ``n`` commonest and
    every other error as frequent as the ``n``-th (a tie is not dropped), by count then digits."""
    truth, predicted = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    wrong = (truth * 10 + predicted)[truth != predicted]
    counts = np.bincount(wrong, minlength=100)
    order = np.argsort(-counts, kind="stable")
    cut = int(counts[order[n - 1]]) if n <= len(order) else 0
    return [(int(i) // 10, int(i) % 10, int(counts[i])) for i in order if counts[i] >= max(cut, 1)]


def committee_accuracy(records: list[dict], truth) -> float:
    """Accuracy of the committee of ``records`` (the seeds of one network) against the labels ``truth``:
    per image, the digit with the highest softmax probability averaged over the records' final
    models (``store.probabilities``). ``ValueError`` if a record keeps no probabilities."""
    lacking = [r["key"] for r in records if "probabilities" not in r]
    if not records or lacking:
        raise ValueError(f"a committee needs records with probabilities; {lacking or 'no records'} have none")
    mean = np.mean([store.probabilities(r) for r in records], axis=0)
    truth = np.asarray(truth)
    if mean.shape[0] != len(truth):
        raise ValueError(f"probabilities of {mean.shape[0]} images against {len(truth)} labels")
    return float((mean.argmax(1) == truth).mean())


def variant_table(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per value of ``column``: the final accuracy and loss on the evaluation split and the
    accuracy on 10,000 training images (mean over the runs that share the value)."""
    last = final(df)
    out = last.groupby(column)[["eval_acc", "eval_loss", "train_acc"]].mean().reset_index()
    return out.rename(columns={"eval_acc": "accuracy", "eval_loss": "loss", "train_acc": "training accuracy"})


def validation_curve(study: str) -> pd.Series:
    """Validation accuracy after each epoch (from 1) of the trial a search chose."""
    values = tune.chosen_trial(tune.load(study)).intermediate_values
    return pd.Series(values).rename(lambda e: e + 1)


DEPTH_COMPARISON = ("p2-best", "p3-depth")  # the tuned one-hidden-layer net, then the same recipe deeper


def depth_runs(names=DEPTH_COMPARISON) -> dict[str, pd.DataFrame]:
    """The per-epoch runs of the depth comparison, one frame per network shape, fewest hidden
    layers first, each labelled by its hidden layers as "depth × width" ("2 × 493")."""
    df = pd.concat([runs(name) for name in names], ignore_index=True)
    hidden = df["sizes"].str.split("-").str[1:-1]
    df["depth"], df["width"] = hidden.str.len(), hidden.str[0]
    groups = sorted(df.groupby(["depth", "width"]), key=lambda item: item[0][0])
    return {f"{d} × {w}": g.drop(columns=["depth", "width"]).reset_index(drop=True) for (d, w), g in groups}
