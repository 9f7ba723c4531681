"""What the MNIST problems' findings share: accuracies over seeds, searches, tuned networks, committees."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from hw7.config import RunConfig
from hw7.data import test_set
from hw7.report import frames as S
from hw7.results import store, tune
from hw7.results.experiments import experiment


@dataclass(frozen=True)
class Accuracy:
    """Final test (or validation) accuracy over seeds."""

    mean: float
    sd: float
    n: int
    best: float  # the best and the worst seed (NaN where only the summary is known)
    worst: float

    @property
    def errors(self) -> float:
        """Misclassified images out of 10,000, on average."""
        return (1 - self.mean) * 10_000

    @classmethod
    def of(cls, values) -> "Accuracy":
        v = np.asarray(values, dtype=float)
        return cls(float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v), float(v.max()),
                   float(v.min()))


def final_accuracy(df: pd.DataFrame, metric: str = "eval_acc") -> Accuracy:
    return Accuracy.of(S.final(df)[metric])


def row_accuracy(summary: pd.DataFrame, lr: float) -> Accuracy:
    r = summary.set_index("lr").loc[lr]
    return Accuracy(float(r["mean"]), float(r["sd"]), int(r["n"]), float("nan"), float("nan"))


@dataclass(frozen=True)
class Search:
    """An Optuna search on the validation split, and the trial it chose."""

    trials: int  # finished (complete or pruned)
    complete: int  # ran to the end without diverging
    pruned: int
    diverged: int
    started: int  # every trial in the journal
    starting_points: tuple[int, ...]  # trials given by hand (from the literature)
    best_value: float
    best_number: int
    standard_error: float
    chosen_number: int
    chosen_value: float
    chosen: RunConfig
    important: tuple[str, ...]  # parameters, most important first


def search(study_name: str) -> Search:

    study = tune.load(study_name)
    trials = tune.trials_frame(study)
    chosen = tune.chosen_trial(study)
    n_diverged = int(trials["diverged"].sum())
    return Search(trials=len(trials), complete=int((trials["state"] == "complete").sum()) - n_diverged,
                  pruned=int((trials["state"] == "pruned").sum()), diverged=n_diverged,
                  started=len(study.get_trials(deepcopy=False)), starting_points=tuple(tune.enqueued(study)),
                  best_value=float(study.best_value), best_number=study.best_trial.number,
                  standard_error=tune.standard_error(study.best_value),
                  chosen_number=chosen.number, chosen_value=float(chosen.value),
                  chosen=tune.trial_config(chosen), important=tuple(tune.importances(study).index))


@cache
def committee(names: tuple[str, ...], sizes: tuple[int, ...] | None = None) -> float | None:
    """Test accuracy of the committee of the named experiments' seeds (their runs of ``sizes``, if
    given): the mean of the final models' softmax outputs (`hw7.report.frames.committee_accuracy`).
    None if a record keeps no probabilities: no committee is reported for that network."""
    records = [r for name in names for r in S.records(name) if sizes is None or tuple(r["config"]["sizes"]) == sizes]
    if not all("probabilities" in r for r in records):
        return None
    return S.committee_accuracy(records, test_set()[1])


@dataclass(frozen=True)
class Tuned:
    """A chosen network retrained on all training images with several seeds, on the test set."""

    config: RunConfig
    test: Accuracy
    committee: float | None  # test accuracy of the committee of its seeds (None: not stored)
    train_final: float  # accuracy on 10,000 training images after the last epoch (mean over seeds)
    confusions: tuple[tuple[int, int, int], ...]  # commonest errors of seed 0 (ties included)
    eval_loss_min: float  # test loss: lowest (mean over seeds), at which epoch, and at the end
    eval_loss_min_epoch: int
    eval_loss_last: float

    @property
    def committee_gain(self) -> float | None:
        """The committee's test accuracy minus the mean of its seeds' (None without a committee)."""
        return None if self.committee is None else self.committee - self.test.mean


def tuned(name: str) -> Tuned:

    records, df = S.records(name), S.runs(name)
    curve = df.groupby("epoch")[["train_acc", "eval_loss"]].mean()
    return Tuned(config=experiment(name)[0], test=final_accuracy(df), committee=committee((name,)),
                 train_final=float(curve["train_acc"].iloc[-1]),
                 confusions=tuple(S.top_confusions(store.predictions(records[0]), test_set()[1])),
                 eval_loss_min=float(curve["eval_loss"].min()), eval_loss_min_epoch=int(curve["eval_loss"].idxmin()),
                 eval_loss_last=float(curve["eval_loss"].iloc[-1]))
