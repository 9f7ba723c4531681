"""Hyperparameter search with Optuna, on the validation split only.

Each study lives in an Optuna storage: by default a ``JournalStorage`` text file
under ``results/optuna/`` (committed, so the chapters read the search instead of
re-running it, and a killed search resumes where it stopped). Any Optuna storage
URL works too: several machines share one search through an RDB storage, e.g.
``--storage postgresql://user:pass@host/db`` (Optuna's own distributed mode).

Trials train on the 50,000 fit images and report the validation accuracy after
every epoch; the median pruner stops trials that fall behind. The test set is
never seen here: the best trial's config is evaluated on it afterwards
(``final_configs``), over several seeds.
"""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path
from typing import Callable

from tqdm import TqdmWarning

with warnings.catch_warnings():  # optuna imports tqdm.auto, which warns inside a notebook without ipywidgets
    warnings.simplefilter("ignore", TqdmWarning)
    import optuna

from hw7.config import RunConfig
from hw7.data import load_mnist
from hw7.store import RESULTS
from hw7.sweep import fit, split_for

SEEDS = (0, 1, 2)
N_VAL = 10_000  # size of the validation split the trials are scored on


def suggest_optimizer(trial: optuna.Trial, sgd_lr: tuple[float, float], adam_lr: tuple[float, float]) -> dict:
    """Optimizer, its learning rate and momentum or betas, and the schedule, as RunConfig fields."""
    kw = {"optimizer": trial.suggest_categorical("optimizer", ["sgd", "adam"])}
    if kw["optimizer"] == "sgd":
        kw["lr"] = trial.suggest_float("sgd_lr", *sgd_lr, log=True)
        kw["momentum"] = trial.suggest_float("momentum", 0.5, 0.99)
    else:
        kw["lr"] = trial.suggest_float("adam_lr", *adam_lr, log=True)
        kw["betas"] = (trial.suggest_float("beta1", 0.8, 0.95), trial.suggest_categorical("beta2", [0.99, 0.999]))
    kw["schedule"] = trial.suggest_categorical("schedule", ["none", "step", "cosine"])
    if kw["schedule"] == "step":
        kw["step_size"] = trial.suggest_int("step_size", 2, 10)
        kw["gamma"] = trial.suggest_float("gamma", 0.3, 0.9)
    return kw


def space_problem2(trial: optuna.Trial) -> RunConfig:
    """One hidden layer: width, activation, optimizer and its knobs, batch, decay, schedule, epochs, dropout."""
    kw = suggest_optimizer(trial, sgd_lr=(1e-3, 0.5), adam_lr=(1e-4, 1e-2))
    return RunConfig(
        sizes=(784, trial.suggest_int("width", 32, 1024, log=True), 10),
        activation=trial.suggest_categorical("activation", ["sigmoid", "relu", "tanh"]),
        init="xavier_normal",
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        batch_size=trial.suggest_categorical("batch_size", [16, 32, 64, 128, 256]),
        weight_decay=trial.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
        epochs=trial.suggest_int("epochs", 10, 30),
        eval_on="val", **kw)


def tapered(first: int, shrink: float, depth: int) -> tuple[int, ...]:
    """Hidden widths that narrow steadily from ``first`` by ``shrink`` per layer (at least 32)."""
    return tuple(max(32, round(first * shrink ** i)) for i in range(depth))


def space_problem3(trial: optuna.Trial) -> RunConfig:
    """Deep dense nets narrowing from 784 to 10: depth, widths, init, regularization, optimizer."""
    kw = suggest_optimizer(trial, sgd_lr=(1e-3, 0.3), adam_lr=(1e-4, 5e-3))
    hidden = tapered(trial.suggest_int("width", 256, 1536, log=True), trial.suggest_float("shrink", 0.25, 1.0),
                     trial.suggest_int("depth", 2, 5))
    return RunConfig(
        sizes=(784, *hidden, 10), activation="relu",
        init=trial.suggest_categorical("init", ["kaiming_uniform", "xavier_normal"]),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        weight_decay=trial.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
        epochs=trial.suggest_int("epochs", 10, 30),
        eval_on="val", **kw)


SPACES: dict[str, Callable[[optuna.Trial], RunConfig]] = {"problem2": space_problem2, "problem3": space_problem3}

# Starting points from the literature, tried first (Optuna's enqueue_trial): a wide
# one-hidden-layer ReLU net with SGD or ADAM and dropout (Simard et al. 2003;
# Srivastava et al. 2014), and a tapered deep ReLU net.
KNOWN_GOOD = {
    "problem2": [
        {"optimizer": "sgd", "sgd_lr": 0.05, "momentum": 0.9, "schedule": "cosine", "width": 800,
         "activation": "relu", "dropout": 0.2, "batch_size": 64, "weight_decay": 1e-5, "epochs": 30},
        {"optimizer": "adam", "adam_lr": 0.001, "beta1": 0.9, "beta2": 0.999, "schedule": "cosine",
         "width": 1024, "activation": "relu", "dropout": 0.3, "batch_size": 128, "weight_decay": 1e-6,
         "epochs": 30}],
    "problem3": [
        {"optimizer": "sgd", "sgd_lr": 0.05, "momentum": 0.9, "schedule": "cosine", "width": 1024,
         "shrink": 0.5, "depth": 3, "init": "kaiming_uniform", "dropout": 0.2, "batch_size": 128,
         "weight_decay": 1e-5, "epochs": 30}],
}


def storage_for(study: str, url: str | None = None, root: Path | None = None):
    """An Optuna storage: the given database URL, else the study's journal file in ``results/optuna/``.

    A database storage sends heartbeats, so a trial whose worker died is marked
    failed by the other workers; a journal file is for one machine (see ``search``).
    """
    if url and "://" in url:
        return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    path = Path(url) if url else (root or RESULTS) / "optuna" / f"{study}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    return JournalStorage(JournalFileBackend(str(path)))


def objective(space: Callable[[optuna.Trial], RunConfig], subset: int | None = None):
    """Train the trial's config on the fit split, report validation accuracy per epoch, prune."""
    mnist = load_mnist()

    def run(trial: optuna.Trial) -> float:
        config = space(trial)
        trial.set_user_attr("config", config.to_json())
        train_x, train_y, val_x, val_y = split_for(config, mnist)
        if subset:
            train_x, train_y = train_x[:subset], train_y[:subset]

        def report(epoch: int, hist: list[dict]) -> bool:
            acc = hist[0]["eval_acc"][-1]
            trial.report(acc if acc is not None else 0.0, epoch)
            return trial.should_prune()

        _, hist, diverged = fit([config], train_x, train_y, val_x, val_y, progress=False, on_epoch=report)
        h = hist[0]
        trial.set_user_attr("epochs_run", len(h["eval_acc"]))
        trial.set_user_attr("seconds", sum(h["seconds"]))
        if diverged[0] is not None:
            trial.set_user_attr("diverged_epoch", diverged[0])
            return 0.0
        if len(h["eval_acc"]) < config.epochs:
            raise optuna.TrialPruned()
        return h["eval_acc"][-1]

    return run


def study(name: str, storage=None, seed: int = 0) -> optuna.Study:
    """Create or load a study (TPE sampler, median pruner), maximizing validation accuracy."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "using an existing study" on stderr
    return optuna.create_study(
        study_name=name, storage=storage or storage_for(name), direction="maximize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=10),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2))


def search(name: str, trials: int, storage=None, timeout: float | None = None,
           subset: int | None = None) -> optuna.Study:
    """Run ``trials`` more trials of study ``name`` (adds to what the storage holds)."""
    if name not in SPACES:
        raise ValueError(f"unknown study {name!r}; allowed: {sorted(SPACES)}")
    storage = storage or storage_for(name)
    s = study(name, storage)
    if not s.trials:
        for params in KNOWN_GOOD.get(name, []):
            s.enqueue_trial(params)
    if not isinstance(storage, optuna.storages.RDBStorage):
        # A journal file is searched by one process at a time: a trial still marked
        # running was left by a search that was killed. Mark it failed; it is not resumed.
        for t in s.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    s.optimize(objective(SPACES[name], subset), n_trials=trials, timeout=timeout, gc_after_trial=True)
    return s


def load(name: str, storage=None) -> optuna.Study:
    """An existing study, read-only use; ``ValueError`` if it has not been started."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=storage or storage_for(name))
    except KeyError:
        raise ValueError(f"no study {name!r} yet: run `python -m hw7 tune {name}`") from None


def standard_error(accuracy: float, n: int = N_VAL) -> float:
    """Binomial standard error of an accuracy measured on ``n`` images."""
    return math.sqrt(accuracy * (1 - accuracy) / n)


def chosen_trial(s: optuna.Study) -> optuna.trial.FrozenTrial:
    """The one-standard-error rule (Breiman et al. 1984): of the complete trials whose
    validation accuracy is within one standard error of the best, the one that took the
    least compute. Differences smaller than that are noise of the 10,000-image split."""
    done = [t for t in s.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ValueError(f"study {s.study_name!r} has no complete trial yet")
    best = max(t.value for t in done)
    near = [t for t in done if t.value >= best - standard_error(best)]
    return min(near, key=lambda t: (t.user_attrs.get("seconds", math.inf), -t.value))


def trial_config(t: optuna.trial.FrozenTrial) -> RunConfig:
    """The config a trial trained (on the validation split)."""
    import json
    return RunConfig.from_dict(json.loads(t.user_attrs["config"]))


def best_config(s: optuna.Study) -> RunConfig:
    """The chosen trial's config, as trained (on the validation split)."""
    return trial_config(chosen_trial(s))


def final_configs(s: optuna.Study, seeds=SEEDS) -> list[RunConfig]:
    """The chosen config retrained on all 60,000 training images and evaluated on test, per seed."""
    c = best_config(s).replace(eval_on="test")
    return [c.replace(seed=k, data_seed=k) for k in seeds]


def main(args: argparse.Namespace) -> None:
    import torch
    torch.set_num_threads(args.threads)
    s = search(args.study, args.trials, storage_for(args.study, args.storage), args.timeout)
    done = [t for t in s.trials if t.state == optuna.trial.TrialState.COMPLETE]
    print(f"{args.study}: {len(s.trials)} trials ({len(done)} complete); "
          f"best validation accuracy {s.best_value:.4f} with {s.best_params}")
    if not math.isfinite(s.best_value):
        raise SystemExit("no trial completed")


def trials_frame(s: optuna.Study) -> "pd.DataFrame":
    """One row per finished trial: number, state, whether it diverged (scored 0), validation
    accuracy (last reported for a pruned trial), epochs run, seconds, and the sampled parameters."""
    import pandas as pd

    rows = []
    for t in s.trials:
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
        rows.append({"number": t.number, "state": t.state.name.lower(),
                     "diverged": t.user_attrs.get("diverged_epoch") is not None,
                     "value": t.value if t.value is not None else last,
                     "epochs_run": t.user_attrs.get("epochs_run", len(t.intermediate_values)),
                     "seconds": t.user_attrs.get("seconds", 0.0), **t.params})
    return pd.DataFrame(rows)


def importances(s: optuna.Study) -> "pd.Series":
    """Each parameter's importance for the validation accuracy (Optuna's PED-ANOVA, deterministic)."""
    import warnings

    import pandas as pd
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    with warnings.catch_warnings():  # "few trials in some regime" warnings: the numbers are a guide
        warnings.simplefilter("ignore")
        imp = pd.Series(get_param_importances(s, evaluator=PedAnovaImportanceEvaluator()))
    # Largest first; ties (several zeros) by name, so that the order does not vary between runs.
    return imp.sort_index().sort_values(ascending=False, kind="stable")


def enqueued(s: optuna.Study) -> list[int]:
    """Numbers of the trials that were starting points given by hand (``enqueue_trial``)."""
    return [t.number for t in s.trials if "fixed_params" in t.system_attrs]
