"""What each problem found, as numbers: one function per problem, one frozen dataclass each.

The chapters' prose and answer boxes, their tables and the index's headline table
all read these objects, so a number shown in two places is computed once. Nothing
here formats text (that is `hw7.formatting`) and nothing trains: the MNIST numbers
come from the run store and the searches, and a missing run is an error that names
the command computing it (`hw7.summaries.records`). Each function is cached for the
life of the process (one render).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from hw7 import summaries as S
from hw7.config import RunConfig

# --- Problem 1 ------------------------------------------------------------------


@dataclass(frozen=True)
class Descent1:
    """One optimizer run of Problem 1: distances to the minimum (1, 1) and step counts."""

    method: str
    eta: float
    final_error: float  # distance after the last step
    final_gap: float  # f − f* after the last step
    settled: float  # median distance over the last `late` steps: the level it settles at
    band: tuple[float, float]  # 10th and 90th percentile of that distance: its oscillation
    steps: dict[float, int]  # first step below each threshold (−1: never)
    diverged_at: int  # −1 if never
    first_x: float  # x after the first step
    start_error: float  # distance at the start


@dataclass(frozen=True)
class LrMap1:
    """One method over the learning-rate grid."""

    largest_stable: float | None
    reach_lo: float | None  # smallest and largest η that get within 10⁻³ in the budget
    reach_hi: float | None
    fastest_eta: float | None
    fastest_steps: int
    best_eta: float  # the η with the smallest settled error
    best_settled: float
    smallest_settled: float  # smallest settled error over the grid


@dataclass(frozen=True)
class Problem1:
    start: tuple[float, float]
    n_steps: int
    late: int
    thresholds: tuple[float, ...]
    n_etas: int
    eta_range: tuple[float, float]
    printed_ends: dict[str, tuple[float, float, float]]  # method → (x, y, f) after the run on the printed function
    curvatures: tuple[float, float]  # Hessian eigenvalues at the minimum: along and across the valley
    grad_x_start: float  # ∂f/∂x at the start
    b: dict[str, Descent1]  # η = 10⁻⁴: gd, momentum, adam
    c: dict[str, Descent1]  # η = 10⁻³: adam, momentum
    d: dict[str, Descent1]  # ADAM at 10⁻², momentum at 10⁻⁴
    decades_per_10k: dict[str, float]  # rate of exponential decay at η = 10⁻⁴ (gd, momentum)
    lr_map: dict[str, LrMap1]
    eps_ratio: tuple[float, float]  # settled error, ε inside / outside √, smallest and largest
    eps_step_difference: int  # largest difference in steps to 10⁻³ at η = 10⁻⁴, 10⁻³, 10⁻²


def descent1(method: str, eta: float, eps_inside: bool = True) -> Descent1:
    """The stored run of ``method`` at grid learning rate ``eta`` (`hw7.rosenbrock_runs`)."""
    from hw7 import rosenbrock_runs as R

    name = method if method != "adam" or eps_inside else "adam-eps-outside"
    s, i = R.sweep_stats(name), R.grid_index(eta)
    return Descent1(method=method, eta=float(R.ETAS[i]), final_error=float(s["final_error"][i]),
                    final_gap=float(s["final_gap"][i]), settled=float(s["late_median"][i]),
                    band=(float(s["late_p10"][i]), float(s["late_p90"][i])),
                    steps={t: int(s["steps_to"][i, j]) for j, t in enumerate(R.TOLS)},
                    diverged_at=int(s["diverged_at"][i]), first_x=float(s["first_x"][i]),
                    start_error=float(s["start_error"][i]))


def _lr_map(method: str) -> LrMap1:
    from hw7 import rosenbrock_runs as R

    s = R.sweep_stats(method)
    ok, to3 = s["diverged_at"] < 0, s["steps_to"][:, R.TOLS.index(1e-3)]
    hit = to3 >= 0
    late = s["late_median"]
    fast = int(np.flatnonzero(hit)[np.argmin(to3[hit])]) if hit.any() else None
    best = int(np.flatnonzero(ok)[np.argmin(late[ok])])
    return LrMap1(largest_stable=float(R.ETAS[ok].max()) if ok.any() else None,
                  reach_lo=float(R.ETAS[hit].min()) if hit.any() else None,
                  reach_hi=float(R.ETAS[hit].max()) if hit.any() else None,
                  fastest_eta=float(R.ETAS[fast]) if fast is not None else None,
                  fastest_steps=int(to3[fast]) if fast is not None else -1,
                  best_eta=float(R.ETAS[best]), best_settled=float(late[best]),
                  smallest_settled=float(late[ok].min()))


@cache
def problem1() -> Problem1:
    """Problem 1's numbers: the runs of (b)–(d), the printed function, the learning-rate map, ε."""
    from hw7 import rosenbrock_runs as R
    from hw7.descent import LABELS
    from hw7.surfaces import rosenbrock_grad

    ends = {m: tuple(float(v) for v in R.typo_run(m)[1]) for m in LABELS}
    b = {m: descent1(m, 1e-4) for m in ("gd", "momentum", "adam")}
    inside = [(descent1("adam", e, True), descent1("adam", e, False)) for e in (1e-4, 1e-3, 1e-2)]
    lo, hi = R.eps_ratio()
    return Problem1(
        start=(float(R.START[0]), float(R.START[1])), n_steps=R.N_STEPS, late=R.LATE, thresholds=R.TOLS,
        n_etas=len(R.ETAS), eta_range=(float(R.ETAS[0]), float(R.ETAS[-1])), printed_ends=ends,
        curvatures=tuple(float(v) for v in R.hessian_eigenvalues()),
        grad_x_start=float(rosenbrock_grad(R.START)[0]),
        b=b, c={m: descent1(m, 1e-3) for m in ("adam", "momentum")},
        d={"adam": descent1("adam", 1e-2), "momentum": b["momentum"]},
        decades_per_10k={m: R.case(m, 1e-4).decades_per_10k for m in ("gd", "momentum")},
        lr_map={m: _lr_map(m) for m in ("gd", "momentum", "adam")},
        eps_ratio=(lo, hi),
        eps_step_difference=max(abs(a.steps[1e-3] - o.steps[1e-3]) for a, o in inside))


# --- Problems 2 and 3: MNIST -----------------------------------------------------


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


def _final(df: pd.DataFrame, metric: str = "eval_acc") -> Accuracy:
    return Accuracy.of(S.final(df)[metric])


def _row(summary: pd.DataFrame, lr: float) -> Accuracy:
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


def _search(study_name: str) -> Search:
    from hw7 import tune

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
    given): the mean of the final models' softmax outputs (`hw7.summaries.committee_accuracy`).
    None if a record keeps no probabilities: no committee is reported for that network."""
    from hw7.data import test_set

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


def _tuned(name: str) -> Tuned:
    from hw7 import store
    from hw7.data import test_set
    from hw7.experiments import experiment

    records, df = S.records(name), S.runs(name)
    curve = df.groupby("epoch")[["train_acc", "eval_loss"]].mean()
    return Tuned(config=experiment(name)[0], test=_final(df), committee=committee((name,)),
                 train_final=float(curve["train_acc"].iloc[-1]),
                 confusions=tuple(S.top_confusions(store.predictions(records[0]), test_set()[1])),
                 eval_loss_min=float(curve["eval_loss"].min()), eval_loss_min_epoch=int(curve["eval_loss"].idxmin()),
                 eval_loss_last=float(curve["eval_loss"].iloc[-1]))


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
    sgd_by, adam_by = S.by(sgd), S.by(adam)
    best_sgd, best_adam = S.best(sgd_by), S.best(adam_by)
    good_sgd, good_adam = S.near_best(sgd_by, 0.005), S.near_best(adam_by, 0.005)
    return Problem2(
        rates=len(sgd_by), baseline=_row(sgd_by, 0.001),
        sgd_best_lr=float(best_sgd["lr"]), sgd_best=_row(sgd_by, best_sgd["lr"]),
        sgd_poor_from=float(sgd_by.loc[sgd_by["mean"] < 0.6, "lr"].min()),
        sgd_largest_lr=float(sgd_by["lr"].max()), sgd_largest=_row(sgd_by, sgd_by["lr"].max()),
        sgd_smallest_lr=float(sgd_by["lr"].min()), sgd_smallest=_row(sgd_by, sgd_by["lr"].min()),
        sgd_good=(float(good_sgd["lr"].min()), float(good_sgd["lr"].max())), sgd_tied=tied_with_best(sgd_by),
        adam_best_lr=float(best_adam["lr"]), adam_best=_row(adam_by, best_adam["lr"]),
        adam_tied=tied_with_best(adam_by), adam_at_baseline=_row(adam_by, 0.001),
        adam_good=(float(good_adam["lr"].min()), float(good_adam["lr"].max())),
        adam_largest_lr=float(adam_by["lr"].max()), adam_largest=_row(adam_by, adam_by["lr"].max()),
        first_epoch={"sgd@0.001": S.epoch_acc(sgd, 0.001, 1), "adam@0.001": S.epoch_acc(adam, 0.001, 1),
                     "sgd@best": S.epoch_acc(sgd, best_sgd["lr"], 1),
                     "adam@best": S.epoch_acc(adam, best_adam["lr"], 1)},
        search=_search("problem2"), tuned=_tuned("p2-best"), expanded=_tuned("p2-best-expanded"),
        batchnorm=_tuned("p3-batchnorm-shallow"),
        maxnorm_expanded_val=_final(S.runs("p2-maxnorm-expanded-val")), maxnorm_expanded=_tuned("p2-maxnorm-expanded"),
        maxnorm_wide_val=_final(S.runs("p2-maxnorm-wide-expanded-val")), maxnorm_wide=_tuned("p2-maxnorm-wide-expanded"))


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
    """The arms of the depth comparison under Problem 2's tuned recipe (`hw7.summaries.depth_runs`),
    fewest hidden layers first."""
    from hw7.experiments import experiment

    configs: dict[tuple[int, ...], RunConfig] = {}
    for name in S.DEPTH_COMPARISON:
        for c in experiment(name):
            configs.setdefault(c.sizes, c)  # the first seed's
    arms = []
    for df in S.depth_runs().values():
        c = configs[tuple(int(v) for v in df["sizes"].iloc[0].split("-"))]
        arms.append((c, _final(df), committee(S.DEPTH_COMPARISON, c.sizes)))
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
    from hw7 import tune
    from hw7.experiments import experiment

    sig, relu = S.runs("p3-sigmoid"), S.runs("p3-relu")
    shallow = S.by(S.runs("p2-sgd"))
    norms = S.layer_norms(sig)
    trials = tune.trials_frame(tune.load("problem3"))
    high = trials[trials["dropout"] >= 0.3]
    reg = S.variant_table(S.runs("p3-regularized"), "dropout")
    bn = S.runs("p3-batchnorm-val")
    one = problem2().batchnorm
    long_test, long_committee = _final(S.runs("p3-batchnorm-long")), committee(("p3-batchnorm-long",))
    return Problem3(
        sigmoid=_final(sig), relu=_final(relu), chance=S.majority_rate(),
        ratio_sigmoid=_ratio(sig), ratio_relu=_ratio(relu),
        attenuation_sigmoid=S.attenuation(sig), attenuation_relu=S.attenuation(relu),
        norm_output_sigmoid=float(norms[-1].mean()), norm_input_sigmoid=float(norms[0].mean()),
        shallow_same_lr=_row(shallow, 0.001), shallow_sweep_best_lr=float(S.best(shallow)["lr"]),
        shallow_sweep_best=_row(shallow, S.best(shallow)["lr"]),
        shallow_tuned=problem2().tuned, shallow_expanded=problem2().expanded,
        shallow_maxnorm_expanded=problem2().maxnorm_expanded, shallow_maxnorm_wide=problem2().maxnorm_wide,
        search=_search("problem3"), shallow_search_trials=problem2().search.trials,
        start=tune.trial_config(tune.load("problem3").get_trials(deepcopy=False)[tune.enqueued(tune.load("problem3"))[0]]),
        high_dropout=(len(high), int((high["state"] == "pruned").sum()),
                      int(high["epochs_run"].min()), int(high["epochs_run"].max())),
        tuned=_tuned("p3-best"), expanded=_tuned("p3-best-expanded"),
        regularized=tuple((float(r.dropout), float(r.accuracy), float(r.loss), float(r["training accuracy"]))
                          for _, r in reg.iterrows()),
        regularized_epochs=int(S.runs("p3-regularized")["epoch"].max()), depth=depth_arms(),
        batchnorm=experiment("p3-batchnorm-val")[0], batchnorm_val=_final(bn),
        batchnorm_train=float(S.final(bn)["train_acc"].iloc[0]),
        batchnorm_long=experiment("p3-batchnorm-val-long")[0], batchnorm_long_val=_final(S.runs("p3-batchnorm-val-long")),
        batchnorm_test=_final(S.runs("p3-batchnorm")), batchnorm_committee=committee(("p3-batchnorm",)),
        batchnorm_shallow=experiment("p3-batchnorm-shallow-val")[0],
        batchnorm_shallow_val=_final(S.runs("p3-batchnorm-shallow-val")),
        batchnorm_long_test=long_test, batchnorm_long_committee=long_committee,
        batchnorm_depth=compared([(one.config, one.test, one.committee),
                                  (experiment("p3-batchnorm-long")[0], long_test, long_committee)]),
        batchnorm_expanded_val=_final(S.runs("p3-batchnorm-expanded-val")),
        batchnorm_expanded=_tuned("p3-batchnorm-expanded"))
