"""``train_many``: many configs, trained in stacked groups, stored as they finish.

One obvious path: group the configs that can share a stacked model (equal
``RunConfig.group_key``), skip those already in the run store, train each group
for its epochs with one shared stream of mini-batches, and store one record per
config. A killed sweep resumes from what was stored.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm  # not tqdm.auto: no notebook widgets; disable=None silences it off a TTY

from hw7 import store
from hw7.config import RunConfig, lr_at
from hw7.data import MNIST, load_mnist, split_validation
from hw7.stacked import StackedAdam, StackedMLP, StackedSGD

N_TRAIN_ACC = 10_000  # training accuracy is measured on this many training images each epoch
HISTORY_KEYS = ("train_loss", "train_acc", "eval_loss", "eval_acc", "grad_ratio", "grad_norms", "seconds")


def epoch_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """The permutation ``DataLoader(shuffle=True, generator=g)`` yields for one epoch.

    Per epoch the loader's iterator draws a worker base seed from the generator,
    then its ``RandomSampler`` draws ``randperm(n)`` and, once exhausted, one more
    ``randperm(n)`` that it slices to nothing. We draw the same, so a config trained
    here sees exactly the batches ``training.train`` sees with that loader.
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    perm = torch.randperm(n, generator=generator)
    torch.randperm(n, generator=generator)
    return perm


def split_for(config: RunConfig, mnist: MNIST) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, eval_x, eval_y): all 60k vs test, or 50k vs the held-out 10k."""
    if config.eval_on == "test":
        return mnist.train_x, mnist.train_y, mnist.test_x, mnist.test_y
    fit, val = split_validation()
    return mnist.train_x[fit], mnist.train_y[fit], mnist.train_x[val], mnist.train_y[val]


def environment(device: torch.device) -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "device": str(device), "threads": torch.get_num_threads(), "cpus": os.cpu_count()}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def fit(configs: list[RunConfig], train_x: torch.Tensor, train_y: torch.Tensor,
        eval_x: torch.Tensor, eval_y: torch.Tensor, epochs: int | None = None,
        track_grads: bool = True, progress: bool | None = None,
        on_epoch: Callable[[int, list[dict]], bool] | None = None) -> tuple[StackedMLP, list[dict], list]:
    """Train configs of one group together on the given tensors (all on one device).

    Returns the model, one history per config and, per config, the epoch its
    training loss became non-finite (None if never). A diverged config stops
    updating (learning rate 0) and its history ends there; the others go on.
    ``on_epoch(epoch, histories)`` is called after each epoch; returning True
    stops training (how a tuner prunes a trial).
    """
    from hw7.augment import augment_batch

    if len({c.group_key() for c in configs}) != 1:
        raise ValueError("configs trained together need equal group_key(); use train_many")
    dev = train_x.device
    c0, K, L = configs[0], len(configs), len(configs[0].sizes) - 1
    onehot_all = F.one_hot(train_y, 10).float()
    model = StackedMLP(configs, dev)
    opt = (StackedSGD if c0.optimizer == "sgd" else StackedAdam)(model, configs)
    order_gen = torch.Generator().manual_seed(c0.data_seed)
    aug_gen = torch.Generator(device=dev).manual_seed(c0.data_seed + 1)
    alive, diverged = [True] * K, [None] * K
    hist = [{m: [] for m in HISTORY_KEYS} for _ in configs]
    n_epochs = epochs or c0.epochs
    bar = tqdm(total=n_epochs, disable=None if progress is None else not progress, leave=False,
               desc=f"{K}×{'-'.join(map(str, c0.sizes))} {c0.optimizer}")
    for epoch in range(n_epochs):
        start = time.perf_counter()
        neg_lr = torch.tensor([-lr_at(c, epoch) * a for c, a in zip(configs, alive)])  # per config
        loss_sum = torch.zeros(K, device=dev)
        ratio_sum, norm_sum = torch.zeros(K, device=dev), torch.zeros(L, K, device=dev)
        order = epoch_order(len(train_y), order_gen).to(dev)
        # the epoch's data in batch order, copied once: each batch is then a view
        xs, ys, hots = (t.index_select(0, order).split(c0.batch_size) for t in (train_x, train_y, onehot_all))
        for x, y, onehot in zip(xs, ys, hots):
            if c0.augment != "none":
                x = augment_batch(x, c0.augment, aug_gen)
            loss_sum += model.loss_and_grad(x, y, onehot)
            if track_grads:
                norms = model.weight_grad_norms()
                norm_sum += norms
                ratio_sum += norms[0] / norms[-1]
            opt.step(neg_lr)
        n_b = len(xs)
        eval_loss, eval_acc = model.evaluate(eval_x, eval_y)
        _, train_acc = model.evaluate(train_x[:N_TRAIN_ACC], train_y[:N_TRAIN_ACC])
        seconds = time.perf_counter() - start
        for k in (k for k in range(K) if alive[k]):
            h = hist[k]
            h["train_loss"].append(store.finite_or_none(loss_sum[k] / n_b))
            h["train_acc"].append(store.finite_or_none(train_acc[k]))
            h["eval_loss"].append(store.finite_or_none(eval_loss[k]))
            h["eval_acc"].append(store.finite_or_none(eval_acc[k]))
            h["grad_ratio"].append(store.finite_or_none(ratio_sum[k] / n_b) if track_grads else None)
            h["grad_norms"].append([store.finite_or_none(v) for v in norm_sum[:, k] / n_b]
                                   if track_grads else None)
            h["seconds"].append(seconds)
            if not torch.isfinite(loss_sum[k]):
                diverged[k], alive[k] = epoch, False
        bar.update(1)
        bar.set_postfix(best_acc=f"{float(eval_acc.nan_to_num(0).max()):.4f}")
        if not any(alive) or (on_epoch is not None and on_epoch(epoch, hist)):
            break
    bar.close()
    return model, hist, diverged


def train_group(configs: list[RunConfig], mnist: MNIST | None = None, epochs: int | None = None,
                device: str = "cpu", progress: bool | None = None, predictions: bool = False) -> list[dict]:
    """Train one stackable group on MNIST; return one store record per config.

    ``epochs`` overrides the configs' epoch count (the integrity test re-trains one epoch).
    With ``predictions`` each record also keeps the final model's predicted digit
    for every evaluation image (for confusion matrices and error galleries).
    """
    dev = resolve_device(device)
    tensors = [t.to(dev) for t in split_for(configs[0], mnist or load_mnist())]
    start = time.perf_counter()
    model, hist, diverged = fit(configs, *tensors, epochs=epochs, progress=progress)
    wall = time.perf_counter() - start
    if predictions:
        with torch.no_grad():
            predicted = model.forward(tensors[2])[0].argmax(-1).cpu()
    keys = [c.key(store.ENGINE_VERSION) for c in configs]
    env = environment(dev)
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return [{"key": keys[k], "config": c.to_dict(), "engine_version": store.ENGINE_VERSION,
             "history": hist[k], "diverged_epoch": diverged[k], "group": keys, "group_size": len(configs),
             "group_seconds": wall, "seconds": wall / len(configs), "environment": env,
             "finished": finished} | ({"predictions": predicted[k].tolist()} if predictions else {})
            for k, c in enumerate(configs)]


def groups_of(configs: list[RunConfig], max_group: int) -> list[list[RunConfig]]:
    """Split configs into stackable groups of at most ``max_group``, in first-seen order."""
    by_key: dict[tuple, list[RunConfig]] = defaultdict(list)
    for c in configs:
        by_key[c.group_key()].append(c)
    return [g[i:i + max_group] for g in by_key.values() for i in range(0, len(g), max_group)]


def train_many(configs: list[RunConfig], mnist: MNIST | None = None, root=None, max_group: int = 16,
               device: str = "cpu", progress: bool | None = None, train_missing: bool = True,
               predictions: bool = False) -> list[dict]:
    """Records of ``configs`` (in order): stored ones loaded, missing ones trained and stored.

    With ``train_missing=False`` a missing run is an error instead (what the chapters
    use when they must not train at render time).
    """
    unique = list(dict.fromkeys(configs))
    missing = [c for c in unique if store.load(c, root) is None]
    if missing and not train_missing:
        raise RuntimeError(f"{len(missing)} runs are not in the store (first: {missing[0]}); "
                           "run the experiment script to compute them")
    groups = groups_of(missing, max_group)
    for i, group in enumerate(groups):
        if progress is not False and sys.stderr.isatty():
            print(f"group {i + 1}/{len(groups)}: {len(group)} configs", file=sys.stderr)
        for record in train_group(group, mnist, device=device, progress=progress, predictions=predictions):
            store.save(record, root)
    return [store.load(c, root) for c in configs]
