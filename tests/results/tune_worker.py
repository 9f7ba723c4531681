"""The ``hw7`` command line with a tiny study added, for the tests' concurrent searches:
``python -m tests.results.tune_worker tune tiny --storage URL --trials N [--workers W] [--timeout S]``.

"tiny" trains a small net for ``HW7_TINY_EPOCHS`` epochs (default 2) on the first 1,000
fit images. Heartbeats come every second and the grace period is 4 seconds, so that a
dead worker is noticed in seconds rather than minutes.
"""

import os
from functools import partial

import optuna

from hw7.__main__ import main as cli
from hw7.config import RunConfig
from hw7.results import tune

SUBSET = 1000  # fit images per trial
HEARTBEAT, GRACE = 1, 4  # seconds


def tiny_space(trial: optuna.Trial, epochs: int = 2) -> RunConfig:
    return RunConfig(sizes=(784, trial.suggest_int("width", 8, 32), 10), batch_size=100, epochs=epochs,
                     lr=trial.suggest_float("sgd_lr", 0.01, 0.5, log=True), eval_on="val")


def storage(url: str):
    return tune.storage_for("tiny", url, heartbeat=HEARTBEAT, grace=GRACE)


def subset_objective(space, subset=None, attrs=None, objective=tune.objective):
    """``tune.objective`` on the first ``SUBSET`` fit images."""
    return objective(space, SUBSET, attrs)


if __name__ == "__main__":
    tune.SPACES["tiny"] = partial(tiny_space, epochs=int(os.environ.get("HW7_TINY_EPOCHS", 2)))
    tune.HEARTBEAT, tune.GRACE = HEARTBEAT, GRACE
    tune.objective = subset_objective
    cli()
