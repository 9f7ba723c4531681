"""A training run as plain data: a frozen dataclass that round-trips through JSON.

Every field has the assignment's value as its default, so ``RunConfig()`` is the
instructor's baseline: 784-30-10, sigmoid, Xavier normal, SGD with Nesterov
momentum 0.8, weight decay 1e-5, learning rate 0.001, batch 10, 30 epochs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

ACTIVATIONS = ("sigmoid", "relu", "tanh")
INITS = ("xavier_normal", "kaiming_uniform", "kaiming_normal")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine")
SPLITS = ("test", "val")
AUGMENTS = ("none", "affine", "elastic")
DEVICES = ("cpu", "cuda", "auto")  # where a run trains (not part of its key; the record names it)
SEED_MAX = 2**63 - 1  # seeds are torch generator seeds (unsigned 64 bits); data_seed + 1 seeds augmentation

# Fields that may differ between configs trained together in one stacked model;
# every other field must be equal (same shapes, same stream of mini-batches).
PER_CONFIG = ("lr", "momentum", "betas", "weight_decay", "step_size", "gamma", "seed", "max_norm", "warmup_epochs")

# Fields added after runs were stored. ``key`` leaves each out while it holds its default,
# so every run stored before it existed keeps its key (and a config that does not use
# it is the same run as before); a new field with a default that changes nothing goes here.
ADDED_FIELDS = ("input_dropout", "max_norm", "warmup_epochs", "ema", "batch_norm")


def option(default, help: str, **argparse_kw):
    """A config field with the help text (and argparse extras) its command-line option is built from."""
    return field(default=default, metadata={"help": help, **argparse_kw})


@dataclass(frozen=True)
class RunConfig:
    sizes: tuple[int, ...] = option((784, 30, 10), "layer widths, input 784 to output 10")
    activation: str = option("sigmoid", "hidden activation", choices=ACTIVATIONS)
    init: str = option("xavier_normal", "weight initialization", choices=INITS)
    batch_norm: bool = option(False, "batch normalization of each hidden layer before its activation "
                              "(as nn.BatchNorm1d: a scale and shift per unit, running statistics for evaluation)")
    dropout: float = option(0.0, "dropout probability of hidden units, in [0, 1)")
    input_dropout: float = option(0.0, "dropout probability of input pixels, in [0, 1) (inverted scaling, "
                                  "masks from the seed like hidden dropout)")
    max_norm: float = option(0.0, "after every step rescale each hidden unit's incoming weight vector to "
                             "norm <= this (torch.renorm); 0: off")
    optimizer: str = option("sgd", "optimizer (adamw: Adam with decoupled weight decay)", choices=OPTIMIZERS)
    lr: float = option(0.001, "learning rate")
    momentum: float = option(0.8, "SGD momentum, in [0, 1) (0 needs --no-nesterov)")
    nesterov: bool = option(True, "Nesterov momentum (SGD only)")
    betas: tuple[float, float] = option((0.9, 0.999), "Adam's beta1 and beta2")
    weight_decay: float = option(1e-5, "L2 weight decay")
    schedule: str = option("none", "learning-rate schedule: step (lr * gamma ** (epoch // step-size)) "
                           "or cosine (to 0 at the end)", choices=SCHEDULES)
    warmup_epochs: int = option(0, "cosine schedule only: linear warm-up over this many epochs "
                                "(lr * (e + 1) / (warmup + 1) in epoch e), then cosine decay over the rest; 0: off")
    ema: float = option(0.0, "decay of an exponential moving average of the weights, updated every step "
                        "(e.g. 0.999): evaluated each epoch and kept as the final model; 0: off")
    step_size: int = option(2, "epochs per step of the step schedule")
    gamma: float = option(0.7, "factor per step of the step schedule, in (0, 1]")
    batch_size: int = option(10, "mini-batch size")
    epochs: int = option(30, "epochs")
    seed: int = option(0, "initial weights (and dropout masks)")
    data_seed: int = option(0, "order of the mini-batches (and augmentation draws)")
    eval_on: str = option("test", "test: train on all 60k, evaluate on test; val: train on 50k, "
                          "evaluate on the 10k held out", choices=SPLITS)
    augment: str = option("none", "random distortions of the training images", choices=AUGMENTS)
    extra: dict = field(default_factory=dict, compare=False, hash=False)  # free-form notes, not part of the key

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        for name, kind in (("input_dropout", float), ("max_norm", float), ("warmup_epochs", int), ("ema", float)):
            object.__setattr__(self, name, kind(getattr(self, name)))  # 3 and 3.0: one key
        validate(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}; allowed: {sorted(names)}")
        return cls(**d)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def key(self, engine_version: int) -> str:
        """Stable id of this run: hash of every field that affects training, and the engine version.

        A field of ``ADDED_FIELDS`` is hashed only when it differs from its default:
        hashing it always would change the key of every run stored before the field
        existed, and at its default it changes nothing in training (no extra operation
        runs), so such a config is the very run those records hold.
        """
        d = self.to_dict()
        d.pop("extra")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name in ADDED_FIELDS:
            if d[name] == defaults[name]:
                d.pop(name)
        blob = json.dumps({"config": d, "engine": engine_version}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def group_key(self) -> tuple:
        """Configs with equal group keys can be trained together as one stacked model."""
        return tuple(sorted((f.name, json.dumps(getattr(self, f.name))) for f in dataclasses.fields(self)
                            if f.name not in PER_CONFIG + ("extra",)))

    @property
    def n_params(self) -> int:
        """Weights and biases (and batch norm's scales and shifts)."""
        norm = 2 * sum(self.sizes[1:-1]) if self.batch_norm else 0
        return sum(i * o + o for i, o in zip(self.sizes[:-1], self.sizes[1:])) + norm


class ConfigError(ValueError):
    """An invalid ``RunConfig`` field; ``field`` names it (the command line names its option)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _check(ok: bool, name: str, value, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, f"invalid config field {name}={value!r}: {allowed}")


def validate(c: RunConfig) -> None:
    """Raise ``ConfigError`` naming the field and the allowed values. A field is checked before
    the fields whose checks depend on it (``epochs`` before ``warmup_epochs``), so the first
    problem reported is the real one."""
    _check(len(c.sizes) >= 2 and all(s > 0 for s in c.sizes), "sizes", c.sizes,
           "need at least input and output sizes, all positive")
    _check(c.sizes[0] == 784 and c.sizes[-1] == 10, "sizes", c.sizes, "MNIST needs 784 inputs and 10 outputs")
    _check(c.activation in ACTIVATIONS, "activation", c.activation, f"one of {ACTIVATIONS}")
    _check(c.init in INITS, "init", c.init, f"one of {INITS}")
    _check(0.0 <= c.dropout < 1.0, "dropout", c.dropout, "in [0, 1)")
    _check(0.0 <= c.input_dropout < 1.0, "input_dropout", c.input_dropout, "in [0, 1)")
    _check(c.max_norm >= 0 and math.isfinite(c.max_norm), "max_norm", c.max_norm, "must be >= 0 and finite (0: off)")
    _check(c.optimizer in OPTIMIZERS, "optimizer", c.optimizer, f"one of {OPTIMIZERS}")
    _check(c.lr > 0 and math.isfinite(c.lr), "lr", c.lr, "must be positive and finite")
    _check(0.0 <= c.momentum < 1.0, "momentum", c.momentum, "in [0, 1)")
    _check(not (c.nesterov and c.momentum == 0 and c.optimizer == "sgd"), "nesterov", c.nesterov,
           "Nesterov needs momentum > 0 (turn it off: --no-nesterov)")
    _check(len(c.betas) == 2 and all(0.0 <= b < 1.0 for b in c.betas), "betas", c.betas, "two values in [0, 1)")
    _check(c.weight_decay >= 0 and math.isfinite(c.weight_decay), "weight_decay", c.weight_decay,
           "must be >= 0 and finite")
    _check(c.schedule in SCHEDULES, "schedule", c.schedule, f"one of {SCHEDULES}")
    _check(c.epochs >= 1, "epochs", c.epochs, "must be positive")
    _check(0 <= c.warmup_epochs < c.epochs, "warmup_epochs", c.warmup_epochs,
           f"in [0, epochs) = [0, {c.epochs}) (0: off)")
    _check(c.warmup_epochs == 0 or c.schedule == "cosine", "warmup_epochs", c.warmup_epochs,
           "a warm-up needs --schedule cosine (or set it to 0)")
    _check(0.0 <= c.ema < 1.0, "ema", c.ema, "in [0, 1) (0: off)")
    _check(c.step_size >= 1, "step_size", c.step_size, "must be >= 1")
    _check(0 < c.gamma <= 1, "gamma", c.gamma, "in (0, 1]")
    _check(c.batch_size >= 1, "batch_size", c.batch_size, "must be positive")
    for name in ("seed", "data_seed"):
        _check(0 <= getattr(c, name) <= SEED_MAX, name, getattr(c, name),
               f"an integer in [0, 2**63 - 1] = [0, {SEED_MAX}]")
    _check(c.eval_on in SPLITS, "eval_on", c.eval_on, f"one of {SPLITS}")
    _check(c.augment in AUGMENTS, "augment", c.augment, f"one of {AUGMENTS}")


def lr_at(c: RunConfig, epoch: int) -> float:
    """Learning rate during ``epoch`` (0-based), as torch's StepLR/CosineAnnealingLR give it.

    With ``warmup_epochs`` W (cosine only) epoch e < W has ``lr * (e + 1) / (W + 1)`` and
    the cosine decay runs over the remaining epochs from epoch W on: torch's
    ``LinearLR(start_factor=1 / (W + 1), total_iters=W)`` then ``CosineAnnealingLR(T_max=epochs - W)``
    joined by ``SequentialLR(milestones=[W])``.
    """
    if c.schedule == "step":
        return c.lr * c.gamma ** (epoch // c.step_size)
    if c.schedule == "cosine":
        w = c.warmup_epochs
        if epoch < w:
            return c.lr * (epoch + 1) / (w + 1)
        return c.lr * 0.5 * (1 + math.cos(math.pi * (epoch - w) / (c.epochs - w)))
    return c.lr
