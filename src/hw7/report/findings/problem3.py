"""Problem 3's findings: deep networks, gradient ratios, the deep search, depth at equal parameters."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from hw7.config import RunConfig
from hw7.report import frames as S
from hw7.report.findings.common import Accuracy, Search, Tuned, committee, final_accuracy, row_accuracy, search, tuned
from hw7.report.findings.problem2 import problem2
from hw7.results import tune
from hw7.results.experiments import experiment


@dataclass(frozen=True)
class Ratio:
    """The gradient ratio ‖∇W input‖ / ‖∇W output‖ per epoch, mean over seeds."""

    first: float
    last: float
    mean: float
    lo: float
    hi: float


NOISE_SE = 2.0  # a difference within this many standard errors is not told apart from seed-to-seed noise


@dataclass(frozen=True)
class DepthArm:
    """One depth of a controlled comparison: one recipe with only the hidden layers changed (equal
    widths, about the same number of parameters), against the arm with one hidden layer."""
    config: RunConfig  # seed 0's
    test: Accuracy
    committee: float | None  # test accuracy of the committee of its seeds (None: not stored)
    difference: float  # mean test accuracy minus the one-hidden-layer arm's (0 for that arm)
    standard_error: float  # of the difference, from both arms' seed-to-seed spread (0 for that arm)

    @property
    def hidden(self) -> tuple[int, ...]:
        return self.config.sizes[1:-1]

    @property
    def within_noise(self) -> bool:
        """Whether the difference is within ``NOISE_SE`` standard errors of zero."""
        return abs(self.difference) <= NOISE_SE * self.standard_error


def compared(arms: list[tuple[RunConfig, Accuracy, float | None]]) -> tuple[DepthArm, ...]:
    """(config, test accuracy, committee) of each depth, the one-hidden-layer reference first, as
    `DepthArm`s: each mean's difference from the reference with Welch's standard error,
    sqrt(sd₁²/n₁ + sd₂²/n₂), from the final test accuracies of both arms' seeds."""
    ref = arms[0][1]
    return tuple(DepthArm(config=c, test=a, committee=k, difference=a.mean - ref.mean,
                          standard_error=0.0 if i == 0 else float(np.sqrt(a.sd**2 / a.n + ref.sd**2 / ref.n)))
                 for i, (c, a, k) in enumerate(arms))


def depth_arms() -> tuple[DepthArm, ...]:
    """The arms of the depth comparison under Problem 2's tuned recipe (`hw7.report.frames.depth_runs`),
    fewest hidden layers first."""
    configs: dict[tuple[int, ...], RunConfig] = {}
    for name in S.DEPTH_COMPARISON:
        for c in experiment(name):
            configs.setdefault(c.sizes, c)  # the first seed's
    arms = []
    for df in S.depth_runs().values():
        c = configs[tuple(int(v) for v in df["sizes"].iloc[0].split("-"))]
        arms.append((c, final_accuracy(df), committee(S.DEPTH_COMPARISON, c.sizes)))
    return compared(arms)


@dataclass(frozen=True)
class Problem3:
    sigmoid: Accuracy
    relu: Accuracy
    chance: float  # always answering the commonest digit of the test set
    ratio_sigmoid: Ratio
    ratio_relu: Ratio
    attenuation_sigmoid: float  # geometric-mean shrinkage of the gradient norm per layer
    attenuation_relu: float
    norm_output_sigmoid: float  # mean weight-gradient norm of the output and input layers
    norm_input_sigmoid: float
    shallow_same_lr: Accuracy  # Problem 2's network at η = 0.001 (the deep nets' η)
    shallow_sweep_best_lr: float
    shallow_sweep_best: Accuracy  # best rate of Problem 2's SGD sweep
    shallow_tuned: Tuned  # the best one-hidden-layer network of Problem 2 (c)
    shallow_expanded: Tuned
    shallow_maxnorm_expanded: Tuned  # Problem 2's dropout and max-norm recipe on distorted images
    shallow_maxnorm_wide: Tuned  # and with a wider layer and a longer schedule
    search: Search
    shallow_search_trials: int
    start: RunConfig  # the search's first trial (a starting point from the literature)
    high_dropout: tuple[int, int, int, int]  # trials with dropout ≥ 0.3: how many, pruned, fewest and most epochs
    tuned: Tuned
    expanded: Tuned
    regularized: tuple[tuple[float, float, float, float], ...]  # (dropout, accuracy, loss, training accuracy)
    regularized_epochs: int
    depth: tuple[DepthArm, ...]  # one hidden layer (the reference), then the deeper arms at equal parameters
    batchnorm: RunConfig  # a batch-normalized recipe, trained on the fit images (seed 0)
    batchnorm_val: Accuracy  # its validation accuracy after the last epoch
    batchnorm_train: float  # and its accuracy on 10,000 training images then
    batchnorm_long: RunConfig  # the recipe with a longer schedule, on the fit images (seed 0)
    batchnorm_long_val: Accuracy  # its validation accuracy after the last epoch
    batchnorm_test: Accuracy  # the recipe retrained on all training images, on the test set (seeds)
    batchnorm_committee: float | None  # the committee of those seeds
    batchnorm_shallow: RunConfig  # the longer schedule with one hidden layer of the same parameter count
    batchnorm_shallow_val: Accuracy  # its validation accuracy after the last epoch (seed 0)
    batchnorm_long_test: Accuracy  # the longer schedule (chosen on validation) retrained the same way
    batchnorm_long_committee: float | None
    batchnorm_depth: tuple[DepthArm, DepthArm]  # that test run with one hidden layer, then with two
    batchnorm_expanded_val: Accuracy  # the longer schedule on distorted images, less dropout: validation (seed 0)
    batchnorm_expanded: Tuned  # and retrained on all (distorted) training images, on the test set

    @property
    def committees(self) -> tuple[tuple[str, str, Tuned], ...]:
        """The tuned networks whose seeds make a committee (probabilities stored), as
        (``shallow`` or ``deep``, ``original`` or ``expanded`` data, the network)."""
        nets = (("shallow", "original", self.shallow_tuned), ("shallow", "expanded", self.shallow_expanded),
                ("deep", "original", self.tuned), ("deep", "expanded", self.expanded))
        return tuple(n for n in nets if n[2].committee is not None)


def _ratio(df: pd.DataFrame) -> Ratio:
    r = df.groupby("epoch")["grad_ratio"].mean()
    return Ratio(float(r.iloc[0]), float(r.iloc[-1]), float(r.mean()), float(r.min()), float(r.max()))


@cache
def problem3() -> Problem3:
    """Problem 3's numbers: the deep sigmoid and ReLU nets, the deep search and its tuned net."""
    sig, relu = S.runs("p3-sigmoid"), S.runs("p3-relu")
    shallow = S.by(S.runs("p2-sgd"))
    norms = S.layer_norms(sig)
    trials = tune.trials_frame(tune.load("problem3"))
    high = trials[trials["dropout"] >= 0.3]
    reg = S.variant_table(S.runs("p3-regularized"), "dropout")
    bn = S.runs("p3-batchnorm-val")
    one = problem2().batchnorm
    long_test, long_committee = final_accuracy(S.runs("p3-batchnorm-long")), committee(("p3-batchnorm-long",))
    return Problem3(
        sigmoid=final_accuracy(sig), relu=final_accuracy(relu), chance=S.majority_rate(),
        ratio_sigmoid=_ratio(sig), ratio_relu=_ratio(relu),
        attenuation_sigmoid=S.attenuation(sig), attenuation_relu=S.attenuation(relu),
        norm_output_sigmoid=float(norms[-1].mean()), norm_input_sigmoid=float(norms[0].mean()),
        shallow_same_lr=row_accuracy(shallow, 0.001), shallow_sweep_best_lr=float(S.best(shallow)["lr"]),
        shallow_sweep_best=row_accuracy(shallow, S.best(shallow)["lr"]),
        shallow_tuned=problem2().tuned, shallow_expanded=problem2().expanded,
        shallow_maxnorm_expanded=problem2().maxnorm_expanded, shallow_maxnorm_wide=problem2().maxnorm_wide,
        search=search("problem3"), shallow_search_trials=problem2().search.trials,
        start=tune.trial_config(tune.load("problem3").get_trials(deepcopy=False)[tune.enqueued(tune.load("problem3"))[0]]),
        high_dropout=(len(high), int((high["state"] == "pruned").sum()),
                      int(high["epochs_run"].min()), int(high["epochs_run"].max())),
        tuned=tuned("p3-best"), expanded=tuned("p3-best-expanded"),
        regularized=tuple((float(r.dropout), float(r.accuracy), float(r.loss), float(r["training accuracy"]))
                          for _, r in reg.iterrows()),
        regularized_epochs=int(S.runs("p3-regularized")["epoch"].max()), depth=depth_arms(),
        batchnorm=experiment("p3-batchnorm-val")[0], batchnorm_val=final_accuracy(bn),
        batchnorm_train=float(S.final(bn)["train_acc"].iloc[0]),
        batchnorm_long=experiment("p3-batchnorm-val-long")[0], batchnorm_long_val=final_accuracy(S.runs("p3-batchnorm-val-long")),
        batchnorm_test=final_accuracy(S.runs("p3-batchnorm")), batchnorm_committee=committee(("p3-batchnorm",)),
        batchnorm_shallow=experiment("p3-batchnorm-shallow-val")[0],
        batchnorm_shallow_val=final_accuracy(S.runs("p3-batchnorm-shallow-val")),
        batchnorm_long_test=long_test, batchnorm_long_committee=long_committee,
        batchnorm_depth=compared([(one.config, one.test, one.committee),
                                  (experiment("p3-batchnorm-long")[0], long_test, long_committee)]),
        batchnorm_expanded_val=final_accuracy(S.runs("p3-batchnorm-expanded-val")),
        batchnorm_expanded=tuned("p3-batchnorm-expanded"))
