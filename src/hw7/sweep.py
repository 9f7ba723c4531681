"""``train_many``: many configs, trained in stacked groups, stored as they finish.

One obvious path: group the configs that can share a stacked model (equal
``RunConfig.group_key``), skip those already in the run store, train each group
for its epochs with one shared stream of mini-batches, and store one record per
config. A killed sweep resumes from what was stored. A narrow network's missing
run is trained alone or with the other missing ones, a wide one's with its whole
group (``plan``); each record names the configs it was trained with.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm  # not tqdm.auto: no notebook widgets; disable=None silences it off a TTY

from hw7 import checkpoint as hw7_checkpoint
from hw7 import epoch_kernel, store
from hw7.config import DEVICES, RunConfig, lr_at
from hw7.data import MNIST, load_mnist, split_validation
from hw7.stacked import StackedAdam, StackedEMA, StackedMLP, StackedSGD

N_TRAIN_ACC = 10_000  # training accuracy is measured on this many training images each epoch


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
    """``cpu``, ``cuda`` or ``auto``; ``ValueError`` (one line) for anything else or a missing GPU."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; allowed: {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available here; use --device cpu (or auto)")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def torch_epoch(model: StackedMLP, opt: StackedSGD | StackedAdam, train_x: torch.Tensor, train_y: torch.Tensor,
                onehot_all: torch.Tensor, order: torch.Tensor, neg_lr: torch.Tensor, track_grads: bool,
                aug_gen: torch.Generator, ema: StackedEMA | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One epoch through the stacked torch ops (engine version 1): per config the sums over steps of
    the batch loss [K], of each layer's weight-gradient norm [L, K] and of their first-to-last ratio [K].
    With ``ema`` the weight average is updated after every step."""
    from hw7.augment import augment_batch

    c0, K, L, dev = model.configs[0], model.K, len(model.W), train_x.device
    loss_sum = torch.zeros(K, device=dev)
    ratio_sum, norm_sum = torch.zeros(K, device=dev), torch.zeros(L, K, device=dev)
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
        model.apply_max_norm_()  # nothing when max_norm is 0 (off)
        if ema is not None:
            ema.update()
    return loss_sum, norm_sum, ratio_sum


def fit(configs: list[RunConfig], train_x: torch.Tensor, train_y: torch.Tensor,
        eval_x: torch.Tensor, eval_y: torch.Tensor, epochs: int | None = None,
        track_grads: bool = True, progress: bool | None = None,
        on_epoch: Callable[[int, list[dict]], bool] | None = None,
        checkpoint: Path | None = None, checkpoint_every: float = hw7_checkpoint.EVERY,
        ) -> tuple[StackedMLP, list[dict], list]:
    """Train configs of one group together on the given tensors (all on one device).

    Each epoch is one call of the compiled epoch for narrow networks
    (`hw7.epoch_kernel.handles`; CPU only), else `torch_epoch`. Returns the model, one history per config and, per config, the epoch its
    training loss became non-finite (None if never). A diverged config stops
    updating (learning rate 0) and its history ends there; the others go on.
    ``on_epoch(epoch, histories)`` is called after each epoch; returning True
    stops training (how a tuner prunes a trial). With ``checkpoint`` the state is
    saved there at the end of an epoch once ``checkpoint_every`` seconds have
    passed, and training resumes from it if it exists (see `hw7.checkpoint`).
    """
    if len({c.group_key() for c in configs}) != 1:
        raise ValueError("configs trained together need equal group_key(); use train_many")
    dev = train_x.device
    c0, K = configs[0], len(configs)
    compiled = epoch_kernel.handles(c0)
    if compiled and dev.type != "cpu":
        raise ValueError(f"{'-'.join(map(str, c0.sizes))} trains through the compiled epoch, on the CPU; "
                         f"its data is on {dev}")
    onehot_all = F.one_hot(train_y, 10).float()
    model = StackedMLP(configs, dev)
    opt = (StackedSGD if c0.optimizer == "sgd" else StackedAdam)(model, configs)
    ema = StackedEMA(model, c0.ema) if c0.ema else None
    order_gen = torch.Generator().manual_seed(c0.data_seed)
    aug_gen = torch.Generator(device=dev).manual_seed(c0.data_seed + 1)
    alive, diverged = [True] * K, [None] * K
    hist = [{m: [] for m in store.HISTORY_KEYS} for _ in configs]
    n_epochs = epochs or c0.epochs
    keys, first = [store.key_of(c) for c in configs] if checkpoint is not None else [], 0  # name the checkpoint
    state = hw7_checkpoint.load(checkpoint, keys, n_epochs) if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        order_gen.set_state(state["order_gen"])
        aug_gen.set_state(state["aug_gen"].to(aug_gen.get_state().device))
        first, alive, diverged, hist = state["epoch"], state["alive"], state["diverged"], state["hist"]
        if ema is not None:
            ema.load_state_dict(state["ema"])
    saved_at = time.monotonic()
    bar = tqdm(total=n_epochs, initial=first, disable=None if progress is None else not progress, leave=False,
               desc=f"{K}×{'-'.join(map(str, c0.sizes))} {c0.optimizer}")
    for epoch in range(first, n_epochs):
        start = time.perf_counter()
        lrs = [lr_at(c, epoch) * a for c, a in zip(configs, alive)]  # per config; 0 once diverged
        order = epoch_order(len(train_y), order_gen)
        n_b = -(-len(order) // c0.batch_size)
        if compiled:
            loss_sum, norm_sum, ratio_sum = epoch_kernel.train_epoch(model, opt, configs, train_x, train_y, order,
                                                                     lrs, track_grads)
        else:
            loss_sum, norm_sum, ratio_sum = torch_epoch(model, opt, train_x, train_y, onehot_all, order.to(dev),
                                                        torch.tensor([-lr for lr in lrs]), track_grads, aug_gen, ema)
        with ema.swapped() if ema is not None else contextlib.nullcontext():  # the average is what is measured
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
        if checkpoint is not None and time.monotonic() - saved_at >= checkpoint_every:
            hw7_checkpoint.save(checkpoint, {
                "keys": keys, "epochs": n_epochs, "epoch": epoch + 1, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "order_gen": order_gen.get_state(),
                "aug_gen": aug_gen.get_state().cpu(), "alive": alive, "diverged": diverged, "hist": hist}
                | ({"ema": ema.state_dict()} if ema is not None else {}))
            saved_at = time.monotonic()
        bar.update(1)
        bar.set_postfix(best_acc=f"{float(eval_acc.nan_to_num(0).max()):.4f}")
        if not any(alive) or (on_epoch is not None and on_epoch(epoch, hist)):
            break
    bar.close()
    if ema is not None:  # the final model is the average
        model.theta.copy_(ema.theta)
    return model, hist, diverged


def memory_needed(configs: list[RunConfig], n_train: int, n_eval: int, chunk: int = 10_000) -> int:
    """Bytes a group needs beyond the loaded data set, an estimate from above (float32 throughout).

    Counted in parameter-sized buffers: parameters and gradients, the optimizer's state
    (SGD: momentum and the per-element learning rate; Adam: two moments, scratch and
    learning rate) plus, for K > 1 configs, their per-element hyperparameters, and one
    network built for initialization. Then the training step's activations (value,
    dropout mask, gradient and derivative per hidden unit, K configs × the batch; with input
    dropout also each config's mask and dropped-out input), the
    evaluation pass (two consecutive layers' outputs for a chunk of images, K configs)
    and the epoch's shuffled copy of the training data. Within about 1.2× of the peak
    measured for 784-20000-10 (SGD and Adam).
    """
    c0, K = configs[0], len(configs)
    widths = c0.sizes[1:]
    params = K * c0.n_params
    buffers = (2 + (2 if c0.optimizer == "sgd" else 4) + (0 if K == 1 else 2 if c0.optimizer == "sgd" else 5)
               + (1 if c0.ema else 0))
    step = 4 * c0.batch_size * K * sum(widths) + (2 * c0.batch_size * K * 784 if c0.input_dropout else 0)
    evaluation = min(chunk, max(n_eval, N_TRAIN_ACC)) * K * max(a + b for a, b in zip(widths, widths[1:] + (0,)))
    data = n_train * (784 + 10) + (n_train + n_eval) * 784 * (c0.eval_on == "val")
    return 4 * (buffers * params + c0.n_params + step + evaluation + data)


def memory_available(device: torch.device) -> int:
    """Bytes free for a new allocation: the GPU's free memory, or the system's ``MemAvailable``."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    with open("/proc/meminfo") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["MemAvailable"].split()[0]) * 1024


def check_memory(configs: list[RunConfig], device: torch.device, n_train: int, n_eval: int) -> None:
    """Refuse, before allocating anything, a group this machine cannot hold."""
    need, have = memory_needed(configs, n_train, n_eval), memory_available(device)
    if need > have:
        raise ValueError(f"{len(configs)} × {'-'.join(map(str, configs[0].sizes))} needs about "
                         f"{need / 2**30:.1f} GiB to train, but only {have / 2**30:.1f} GiB of {device.type} "
                         "memory is available; use narrower layers, fewer configs per group (--max-group) "
                         "or a larger machine")


def train_group(configs: list[RunConfig], mnist: MNIST | None = None, epochs: int | None = None,
                device: str = "cpu", progress: bool | None = None, predictions: bool = False,
                root: Path | None = None, checkpoint_every: float = hw7_checkpoint.EVERY,
                probabilities: bool = False) -> list[dict]:
    """Train one stackable group on MNIST; return one store record per config.

    ``epochs`` overrides the configs' epoch count (the integrity check re-trains one
    epoch; such a partial run is never checkpointed). With ``predictions`` each record
    also keeps the final model's predicted digit for every evaluation image (for
    confusion matrices and error galleries), with ``probabilities`` its softmax
    outputs (``store.encode_probabilities``; for committees of seeds). A full run
    checkpoints under ``root`` and resumes from its checkpoint; the caller removes it
    once the records are stored.
    """
    dev = resolve_device(device)
    if epoch_kernel.handles(configs[0]) and dev.type != "cpu":  # the compiled epoch: CPU only (fastest there, too)
        print(f"{'-'.join(map(str, configs[0].sizes))} trains through the compiled epoch, on the CPU "
              f"(not {dev.type})", file=sys.stderr)
        dev = torch.device("cpu")
    mnist = mnist or load_mnist()
    tensors = [t.to(dev) for t in split_for(configs[0], mnist)]
    keys = [store.key_of(c) for c in configs]
    ckpt = hw7_checkpoint.path_of(keys, root) if epochs is None else None
    resumed = hw7_checkpoint.load(ckpt, keys, configs[0].epochs) if ckpt is not None else None
    start = time.perf_counter()
    model, hist, diverged = fit(configs, *tensors, epochs=epochs, progress=progress, checkpoint=ckpt,
                                checkpoint_every=checkpoint_every)
    wall = time.perf_counter() - start + (max(sum(h["seconds"]) for h in resumed["hist"]) if resumed else 0.0)
    if predictions or probabilities:
        with torch.no_grad():
            logits = model.forward(tensors[2])[0].cpu()
    outputs = [({"predictions": logits[k].argmax(-1).tolist()} if predictions else {})
               | ({"probabilities": store.encode_probabilities(logits[k].softmax(-1))} if probabilities else {})
               for k in range(len(configs))]
    env = environment(dev)
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return [{"key": keys[k], "config": c.to_dict(), "engine_version": store.engine_version(c),
             "history": hist[k], "diverged_epoch": diverged[k], "group": keys, "group_size": len(configs),
             "group_seconds": wall, "seconds": wall / len(configs), "environment": env,
             "finished": finished, "data_sha256": mnist.sha256} | outputs[k]
            for k, c in enumerate(configs)]


def groups_of(configs: list[RunConfig], max_group: int) -> list[list[RunConfig]]:
    """Split configs into stackable groups of at most ``max_group``, in first-seen order."""
    if max_group < 1:
        raise ValueError(f"max_group must be at least 1; got {max_group}")
    by_key: dict[tuple, list[RunConfig]] = defaultdict(list)
    for c in configs:
        by_key[c.group_key()].append(c)
    return [g[i:i + max_group] for g in by_key.values() for i in range(0, len(g), max_group)]


def plan(configs: list[RunConfig], universe: list[RunConfig], max_group: int,
         root: Path | None = None) -> list[list[RunConfig]]:
    """The groups to train so that every missing config of ``configs`` is trained.

    Narrow networks (the compiled epoch, `hw7.epoch_kernel.handles`) are trained with
    fixed-order sums, so a run's weights and training numbers do not depend on the configs
    stacked with it: their missing configs are grouped among themselves (``groups_of``) and
    stored group-mates are never trained again. (Their evaluation is a matrix product of
    the whole stack, whose rounding may change with its width: the evaluation loss can
    differ in the last bits from the same run's in another stack. Each record names the
    configs it was trained with, and `hw7.check` re-trains that.) Wide networks are
    trained in their ``whole_groups``.
    """
    missing = [c for c in dict.fromkeys(configs) if store.load(c, root) is None]
    groups = groups_of([c for c in missing if epoch_kernel.handles(c)], max_group)
    wide = [c for c in missing if not epoch_kernel.handles(c)]
    if wide:  # only then is every stored record read, for the groups they name
        groups += whole_groups(wide, configs, universe, max_group, root)
    return groups


def whole_groups(missing: list[RunConfig], configs: list[RunConfig], universe: list[RunConfig], max_group: int,
                 root: Path | None = None) -> list[list[RunConfig]]:
    """The whole groups that train the ``missing`` configs in the torch-ops engine.

    There a run's numbers depend on the configs stacked with it (the products' width
    changes their rounding), so a config's group is fixed: the one its stored group-mates'
    records name, else its group in ``groups_of(universe, max_group)``, computed from
    the experiment's full list of configs, never from what happens to be missing.
    A re-created run is therefore bitwise the lost one. Configs of ``configs`` outside
    ``universe`` are grouped among themselves.
    """
    universe = list(dict.fromkeys(universe))
    extra = [c for c in dict.fromkeys(configs) if c not in set(universe)]
    by_key = {store.key_of(c): c for c in universe + extra}
    canonical = {store.key_of(c): [store.key_of(x) for x in g]
                 for g in groups_of(universe, max_group) + groups_of(extra, max_group) for c in g}
    named: dict[str, list[str]] = {}
    for r in store.all_records(root):
        named.update({k: r["group"] for k in r["group"]})
        by_key.setdefault(r["key"], RunConfig.from_dict(r["config"]))
    groups: dict[tuple[str, ...], list[RunConfig]] = {}
    for c in missing:
        keys = named.get(store.key_of(c)) or canonical[store.key_of(c)]
        unknown = [k for k in keys if k not in by_key]
        if unknown:
            raise RuntimeError(f"run {store.key_of(c)} was trained in a group with run {unknown[0]}, whose config "
                               "is in no record and not in this experiment; run the experiment that holds it")
        groups.setdefault(tuple(keys), [by_key[k] for k in keys])
    return list(groups.values())


def describe(group: list[RunConfig]) -> str:
    """What a group trains, for a progress line: its network, optimizer, batch order and learning rates."""
    c0, lrs = group[0], sorted({c.lr for c in group})
    span = f"lr {lrs[0]:g}" + (f" to {lrs[-1]:g}" if len(lrs) > 1 else "")
    return f"{'-'.join(map(str, c0.sizes))} {c0.optimizer}, data seed {c0.data_seed}, {span}"


def same_numbers(a: dict, b: dict) -> bool:
    """Bitwise equal histories (wall-clock seconds aside) and divergence."""
    return a["diverged_epoch"] == b["diverged_epoch"] and all(
        a["history"][m] == b["history"][m] for m in store.HISTORY_KEYS if m != "seconds")


def train_many(configs: list[RunConfig], mnist: MNIST | None = None, root=None, max_group: int = 16,
               device: str = "cpu", progress: bool | None = None, train_missing: bool = True,
               predictions: bool = False, universe: list[RunConfig] | None = None,
               checkpoint_every: float = hw7_checkpoint.EVERY, probabilities: bool = False) -> list[dict]:
    """Records of ``configs`` (in order): stored ones loaded, missing ones trained and stored.

    Which runs are trained is ``plan``'s: a narrow network's missing runs alone or
    among themselves; a wide network's in their whole groups (``universe``, the
    experiment's full list, defaults to ``configs``), whose group-mates already stored
    are re-verified (if stored from this very group), never overwritten. Each group is
    trained under its lock, so a second process waits for, then skips, what a first one
    is training. With ``train_missing=False`` a missing run is an error instead (what
    the chapters use when they must not train at render time). ``progress``: None shows
    tqdm's bars on a terminal and otherwise one line per finished group; False nothing.
    """
    unique = list(dict.fromkeys(configs))
    missing = [c for c in unique if store.load(c, root) is None]
    if missing and not train_missing:
        raise RuntimeError(f"{len(missing)} runs are not in the store (first: {missing[0]}); "
                           "run the experiment script to compute them")
    groups = plan(unique, universe or unique, max_group, root)
    for group in groups:  # before anything is allocated or locked
        check_memory(group, resolve_device(device), 60_000, 10_000)
    terminal = sys.stderr.isatty()
    for i, group in enumerate(groups):
        keys = [store.key_of(c) for c in group]
        with store.group_lock(keys, root):
            stored = [store.load(c, root) for c in group]
            if all(stored):  # another process trained it while we waited
                continue
            if progress is not False and terminal:
                print(f"group {i + 1}/{len(groups)}: {len(group)} configs", file=sys.stderr)
            start = time.perf_counter()
            records = train_group(group, mnist, device=device, progress=progress, predictions=predictions,
                                  root=root, checkpoint_every=checkpoint_every, probabilities=probabilities)
            new = 0
            for old, record in zip(stored, records):
                if old is None:
                    try:
                        store.save(record, root)
                        new += 1
                    except FileExistsError:
                        print(f"run {record['key']} was stored meanwhile by another process; kept that one",
                              file=sys.stderr)
                elif old["group"] == keys and not same_numbers(old, record):
                    print(f"warning: run {record['key']} re-trained with its group does not reproduce its "
                          "stored numbers bitwise (another machine or library version?); kept the stored one",
                          file=sys.stderr)
            hw7_checkpoint.remove(hw7_checkpoint.path_of(keys, root))
            if progress is None and not terminal:  # tqdm is silent here (a log file, a pipe): one line instead
                print(f"group {i + 1}/{len(groups)} ({describe(group)}): {len(group)} run{'s' * (len(group) > 1)} "
                      f"trained in {time.perf_counter() - start:.0f} s, {new} stored", file=sys.stderr, flush=True)
    return [store.load(c, root) for c in configs]
