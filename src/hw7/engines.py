"""Which engine trains a config, and each engine's version: the run store's keys depend on both.

Kept apart from the engines themselves, and free of torch, because the report reads
the store (and so computes keys) without training anything: importing torch costs
a second in every chapter.
"""

from __future__ import annotations

from hw7.config import RunConfig

COMPILED_ENGINE_VERSION = 2  # the compiled epoch (`hw7.epoch_kernel`): narrow networks
TORCH_ENGINE_VERSION = 1  # stacked torch ops (`hw7.stacked`): wide layers, dropout, augmentation
MAX_COMPILED_WIDTH = 64  # the compiled epoch's widest hidden layer


def compiled(config: RunConfig) -> bool:
    """Whether ``config`` trains through the compiled epoch (and so under ``COMPILED_ENGINE_VERSION``)."""
    return (max(config.sizes[1:-1], default=0) <= MAX_COMPILED_WIDTH and config.dropout == 0
            and config.input_dropout == 0 and config.augment == "none" and config.optimizer in ("sgd", "adam")
            and config.ema == 0 and not config.batch_norm)


def engine_version(config: RunConfig) -> int:
    """The version of the engine that trains ``config``."""
    return COMPILED_ENGINE_VERSION if compiled(config) else TORCH_ENGINE_VERSION
