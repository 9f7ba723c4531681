"""The assignment's training loop: a ``DataLoader`` in, per-epoch results out.

This is the reference path, written the way the assignment and pytorch/examples'
``mnist/main.py`` write it (one config, ``torch.optim``, autograd). The report's
sweeps use the faster stacked path in `hw7.results.sweep`, which the tests check against
this one.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn, optim

from hw7.config import OPTIMIZERS, SCHEDULES


def gradient_norms(network: nn.Module) -> list[float]:
    """Norm of each layer's weight gradient, input layer first."""
    return [float(layer.weight.grad.norm()) for layer in network.layers]


def gradient_ratio(norms: list[float]) -> float:
    """‖∇ input-layer weights‖ / ‖∇ output-layer weights‖: < 1 means the input layer learns slower."""
    return norms[0] / norms[-1]


def make_optimizer(network: nn.Module, optimizer: str = "sgd", eta: float = 0.001,
                   momentum: float = 0.8, nesterov: bool = True,
                   betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 1e-5):
    """The assignment's optimizers: SGD (Nesterov momentum) or Adam, with L2 weight decay; or AdamW
    (decoupled weight decay)."""
    if eta <= 0:
        raise ValueError(f"invalid learning rate eta={eta!r}: must be positive")
    if optimizer == "sgd":
        return optim.SGD(network.parameters(), lr=eta, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay)
    if optimizer == "adam":
        return optim.Adam(network.parameters(), lr=eta, betas=betas, weight_decay=weight_decay)
    if optimizer == "adamw":
        return optim.AdamW(network.parameters(), lr=eta, betas=betas, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {optimizer!r}; allowed: {OPTIMIZERS}")


def make_scheduler(opt, schedule: str = "none", step_size: int = 2, gamma: float = 0.7,
                   epochs: int = 30, warmup_epochs: int = 0):
    """torch's scheduler for ``schedule``, stepped once per epoch (`hw7.config.lr_at` gives its rates)."""
    if schedule == "none":
        return None
    if schedule == "step":
        return optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    if schedule == "cosine" and warmup_epochs:
        warmup = optim.lr_scheduler.LinearLR(opt, start_factor=1 / (warmup_epochs + 1), total_iters=warmup_epochs)
        cosine = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs - warmup_epochs)
        return optim.lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[warmup_epochs])
    if schedule == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    raise ValueError(f"unknown schedule {schedule!r}; allowed: {SCHEDULES}")


@torch.no_grad()
def evaluate(network: nn.Module, data) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on a ``DataLoader`` or an ``(x, y)`` pair of tensors."""
    network.eval()
    batches = [data] if isinstance(data, tuple) else data
    loss, correct, n = 0.0, 0, 0
    for x, y in batches:
        out = network(x)
        loss += float(F.cross_entropy(out, y, reduction="sum"))
        correct += int((out.argmax(1) == y).sum())
        n += len(y)
    network.train()
    return loss / n, correct / n


def train(network: nn.Module, train_loader, epochs: int = 30, eta: float = 0.001, test_data=None,
          optimizer: str = "sgd", momentum: float = 0.8, nesterov: bool = True,
          betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 1e-5,
          schedule: str = "none", step_size: int = 2, gamma: float = 0.7) -> dict:
    """Train ``network`` and return its history, one entry per epoch.

    History keys: ``train_loss`` (mean over the epoch's batches), ``eval_loss`` and
    ``eval_acc`` (on ``test_data``, if given), ``grad_ratio`` (the per-batch
    gradient ratio averaged over the epoch), ``grad_norms`` (per layer, averaged),
    ``seconds``; and ``diverged_epoch`` (None, or the epoch whose loss was not finite,
    after which training stops).
    """
    opt = make_optimizer(network, optimizer, eta, momentum, nesterov, betas, weight_decay)
    scheduler = make_scheduler(opt, schedule, step_size, gamma, epochs)
    history = {k: [] for k in ("train_loss", "eval_loss", "eval_acc", "grad_ratio", "grad_norms", "seconds")}
    history["diverged_epoch"] = None
    network.train()
    for epoch in range(epochs):
        start = time.perf_counter()
        loss_sum, ratio_sum, norm_sums, n_batches = 0.0, 0.0, None, 0
        for x, y in train_loader:
            opt.zero_grad()
            loss = F.cross_entropy(network(x), y)
            loss.backward()
            norms = gradient_norms(network)
            opt.step()
            loss_sum += loss.item()
            ratio_sum += gradient_ratio(norms)
            norm_sums = norms if norm_sums is None else [a + b for a, b in zip(norm_sums, norms)]
            n_batches += 1
        if scheduler is not None:
            scheduler.step()
        history["train_loss"].append(loss_sum / n_batches)
        history["grad_ratio"].append(ratio_sum / n_batches)
        history["grad_norms"].append([s / n_batches for s in norm_sums])
        eval_loss, eval_acc = evaluate(network, test_data) if test_data is not None else (math.nan, math.nan)
        history["eval_loss"].append(eval_loss)
        history["eval_acc"].append(eval_acc)
        history["seconds"].append(time.perf_counter() - start)
        if not math.isfinite(loss_sum):
            history["diverged_epoch"] = epoch
            break
    return history
