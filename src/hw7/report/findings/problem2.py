"""Problem 2's findings: one hidden layer, SGD and ADAM over learning rates, the search and its tuned net."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from hw7.report import frames as S
from hw7.report.findings.common import Accuracy, Search, Tuned, final_accuracy, row_accuracy, search, tuned


@dataclass(frozen=True)
class Problem2:
    rates: int
    baseline: Accuracy  # the assignment's configuration (SGD, η = 0.001)
    sgd_best_lr: float
    sgd_best: Accuracy
    sgd_poor_from: float  # smallest η whose mean accuracy is below 0.6
    sgd_largest_lr: float
    sgd_largest: Accuracy
    sgd_smallest_lr: float
    sgd_smallest: Accuracy
    sgd_good: tuple[float, float]  # η range within half a point of the best
    sgd_tied: tuple[float, ...]  # η whose mean is within one standard error of the difference from the best
    adam_best_lr: float
    adam_best: Accuracy
    adam_tied: tuple[float, ...]
    adam_at_baseline: Accuracy  # ADAM at η = 0.001
    adam_good: tuple[float, float]
    adam_largest_lr: float
    adam_largest: Accuracy
    first_epoch: dict[str, float]  # mean test accuracy after epoch 1: "sgd@0.001", "adam@0.001", "sgd@best", "adam@best"
    plain_baseline: Accuracy  # SGD without momentum, as the assignment's text describes it, at η = 0.001
    plain_best_lr: float
    plain_best: Accuracy
    plain_tied: tuple[float, ...]
    search: Search
    tuned: Tuned
    expanded: Tuned
    batchnorm: Tuned  # Problem 3's batch-norm recipe with one hidden layer of the same parameter count
    maxnorm_expanded_val: Accuracy  # on distorted images, SGD with dropout and max-norm: validation (seed 0)
    maxnorm_expanded: Tuned  # and retrained on all (distorted) training images, on the test set
    maxnorm_wide_val: Accuracy  # that recipe with a wider layer and a longer schedule: validation (seed 0)
    maxnorm_wide: Tuned  # and retrained on all (distorted) training images, on the test set


def tied_with_best(summary: pd.DataFrame) -> tuple[float, ...]:
    """Learning rates whose mean accuracy differs from the best one's by less than the standard
    error of that difference (from the seeds' spread): the data cannot tell them apart."""
    best = summary.loc[summary["mean"].idxmax()]
    se = np.sqrt(best["sd"] ** 2 / best["n"] + summary["sd"] ** 2 / summary["n"])
    return tuple(float(v) for v in summary.loc[best["mean"] - summary["mean"] <= se, "lr"])


@cache
def problem2() -> Problem2:
    """Problem 2's numbers: the SGD and ADAM learning-rate sweeps, the search, the tuned net."""
    sgd, adam = S.runs("p2-sgd"), S.runs("p2-adam")
    sgd_by, adam_by, plain_by = S.by(sgd), S.by(adam), S.by(S.runs("p2-sgd-plain"))
    best_sgd, best_adam = S.best(sgd_by), S.best(adam_by)
    good_sgd, good_adam = S.near_best(sgd_by, 0.005), S.near_best(adam_by, 0.005)
    return Problem2(
        rates=len(sgd_by), baseline=row_accuracy(sgd_by, 0.001),
        sgd_best_lr=float(best_sgd["lr"]), sgd_best=row_accuracy(sgd_by, best_sgd["lr"]),
        sgd_poor_from=float(sgd_by.loc[sgd_by["mean"] < 0.6, "lr"].min()),
        sgd_largest_lr=float(sgd_by["lr"].max()), sgd_largest=row_accuracy(sgd_by, sgd_by["lr"].max()),
        sgd_smallest_lr=float(sgd_by["lr"].min()), sgd_smallest=row_accuracy(sgd_by, sgd_by["lr"].min()),
        sgd_good=(float(good_sgd["lr"].min()), float(good_sgd["lr"].max())), sgd_tied=tied_with_best(sgd_by),
        adam_best_lr=float(best_adam["lr"]), adam_best=row_accuracy(adam_by, best_adam["lr"]),
        adam_tied=tied_with_best(adam_by), adam_at_baseline=row_accuracy(adam_by, 0.001),
        adam_good=(float(good_adam["lr"].min()), float(good_adam["lr"].max())),
        adam_largest_lr=float(adam_by["lr"].max()), adam_largest=row_accuracy(adam_by, adam_by["lr"].max()),
        first_epoch={"sgd@0.001": S.epoch_acc(sgd, 0.001, 1), "adam@0.001": S.epoch_acc(adam, 0.001, 1),
                     "sgd@best": S.epoch_acc(sgd, best_sgd["lr"], 1),
                     "adam@best": S.epoch_acc(adam, best_adam["lr"], 1)},
        plain_baseline=row_accuracy(plain_by, 0.001), plain_best_lr=float(S.best(plain_by)["lr"]),
        plain_best=row_accuracy(plain_by, S.best(plain_by)["lr"]), plain_tied=tied_with_best(plain_by),
        search=search("problem2"), tuned=tuned("p2-best"), expanded=tuned("p2-best-expanded"),
        batchnorm=tuned("p3-batchnorm-shallow"),
        maxnorm_expanded_val=final_accuracy(S.runs("p2-maxnorm-expanded-val")), maxnorm_expanded=tuned("p2-maxnorm-expanded"),
        maxnorm_wide_val=final_accuracy(S.runs("p2-maxnorm-wide-expanded-val")), maxnorm_wide=tuned("p2-maxnorm-wide-expanded"))
