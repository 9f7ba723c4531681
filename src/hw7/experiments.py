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


EXPERIMENTS = {
    "p2-sgd": lambda: lr_sweep(BASELINE, SGD_RATES),
    "p2-adam": lambda: lr_sweep(BASELINE.replace(optimizer="adam"), ADAM_RATES),
    "p3-sigmoid": lambda: seeded(BASELINE.replace(sizes=DEEP_SIZES)),
    "p3-relu": lambda: seeded(BASELINE.replace(sizes=DEEP_SIZES, activation="relu", init="kaiming_uniform")),
}


def experiment(name: str) -> list[RunConfig]:
    """The configs of one named experiment."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; allowed: {sorted(EXPERIMENTS)}")
    return EXPERIMENTS[name]()
