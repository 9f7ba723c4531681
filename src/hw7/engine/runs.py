"""What a training run is, without torch: which engine trains a config, that engine's version, the
run's key (the run store's file name depends on both) and the metrics of its history.

Kept apart from the engines themselves, and free of torch, because the report reads
the store (and so computes keys) without training anything: importing torch costs
a second in every chapter.
"""

from __future__ import annotations

import math

from hw7.config import RunConfig

COMPILED_ENGINE_VERSION = 2  # the compiled epoch (`hw7.engine.epoch_kernel`): narrow networks
TORCH_ENGINE_VERSION = 1  # stacked torch ops (`hw7.engine.stacked`): wide layers, dropout, augmentation
MAX_COMPILED_WIDTH = 64  # the compiled epoch's widest hidden layer
HISTORY_KEYS = ("train_loss", "train_acc", "eval_loss", "eval_acc", "grad_ratio", "grad_norms", "seconds")


def compiled(config: RunConfig) -> bool:
    """Whether ``config`` trains through the compiled epoch (and so under ``COMPILED_ENGINE_VERSION``)."""
    return (max(config.sizes[1:-1], default=0) <= MAX_COMPILED_WIDTH and config.dropout == 0
            and config.input_dropout == 0 and config.augment == "none" and config.optimizer in ("sgd", "adam")
            and config.ema == 0 and not config.batch_norm)


def engine_version(config: RunConfig) -> int:
    """The version of the engine that trains ``config``."""
    return COMPILED_ENGINE_VERSION if compiled(config) else TORCH_ENGINE_VERSION


def key_of(config: RunConfig) -> str:
    """The run's key (its file name in the run store): its config's hash under the version of the engine
    that trains it, so that a new engine version makes its runs missing again."""
    return config.key(engine_version(config))


def finite_or_none(x: float) -> float | None:
    """JSON has no NaN or inf; a non-finite metric is stored as null."""
    x = float(x)
    return x if math.isfinite(x) else None
