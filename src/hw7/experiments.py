"""Every stored experiment of the report, as plain lists of configs.

The chapters call these by name (``experiment("p2-sgd")``) and ``train_many``
loads what is stored; ``python -m hw7 run NAME`` computes what is missing.
"""

from __future__ import annotations

from hw7.config import RunConfig

SEEDS = (0, 1, 2)
BASELINE = RunConfig()  # the assignment's configuration
SGD_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
ADAM_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
DEEP_SIZES = (784,) + (30,) * 8 + (10,)


def seeded(config: RunConfig, seeds=SEEDS) -> list[RunConfig]:
    """One config per seed; the seed fixes both the initial weights and the batch order."""
    return [config.replace(seed=s, data_seed=s) for s in seeds]


def lr_sweep(config: RunConfig, rates) -> list[RunConfig]:
    return [c for lr in rates for c in seeded(config.replace(lr=lr))]


def best_of(study: str, augment: str = "none") -> list[RunConfig]:
    """The study's best config, retrained on all training images and tested, per seed.

    With ``augment`` the same hyperparameters train on distorted images for twice
    the epochs (at least 60): each epoch shows new versions of every digit, so the
    net needs longer to fit them.
    """
    from hw7.tune import final_configs, load

    configs = final_configs(load(study))
    if augment != "none":
        configs = [c.replace(augment=augment, epochs=max(60, 2 * c.epochs)) for c in configs]
    return configs


def regularized(study: str, dropouts=(0.024085536327043765, 0.2, 0.4), epochs: int = 30) -> list[RunConfig]:
    """A diagnostic on the validation split: the study's chosen config trained for ``epochs``
    with its own and with stronger dropout (seed 0 only). The first dropout is the chosen
    trial's own, written out so that the runs keep their stored keys if the study grows."""
    from hw7.tune import best_config, load

    return [best_config(load(study)).replace(dropout=p, epochs=epochs) for p in dropouts]


EXPERIMENTS = {
    "p2-sgd": lambda: lr_sweep(BASELINE, SGD_RATES),
    "p2-adam": lambda: lr_sweep(BASELINE.replace(optimizer="adam"), ADAM_RATES),
    "p3-sigmoid": lambda: seeded(BASELINE.replace(sizes=DEEP_SIZES)),
    "p3-relu": lambda: seeded(BASELINE.replace(sizes=DEEP_SIZES, activation="relu", init="kaiming_uniform")),
    "p2-best": lambda: best_of("problem2"),
    "p2-best-expanded": lambda: best_of("problem2", "elastic"),
    "p3-best": lambda: best_of("problem3"),
    "p3-best-expanded": lambda: best_of("problem3", "elastic"),
    "p3-regularized": lambda: regularized("problem3"),
}
WITH_PREDICTIONS = {"p2-best", "p2-best-expanded", "p3-best", "p3-best-expanded"}


def experiment(name: str) -> list[RunConfig]:
    """The configs of one named experiment."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; allowed: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]()


def experiment_of(config: RunConfig) -> str | None:
    """The first named experiment holding ``config`` (its groups are computed from that list), or None.

    An experiment that cannot be listed yet (its search has not run) holds no stored run.
    """
    for name in EXPERIMENTS:
        try:
            if config in experiment(name):
                return name
        except ValueError:
            continue
    return None
