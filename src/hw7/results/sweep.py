"""``train_many``: many configs, trained in stacked groups, stored as they finish.

One obvious path: group the configs that can share a stacked model (equal
``RunConfig.group_key``), skip those already in the run store, train each group
for its epochs with one shared stream of mini-batches (`hw7.engine.trainer.fit`),
and store one record per config. A killed sweep resumes from what was stored. A
narrow network's missing run is trained alone or with the other missing ones, a
wide one's with its whole group (``plan``); each record names the configs it was
trained with.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import torch

from hw7.config import RunConfig
from hw7.data import MNIST, load_mnist
from hw7.engine import checkpoint as hw7_checkpoint, epoch_kernel
from hw7.engine.trainer import check_memory, environment, fit, resolve_device, split_for
from hw7.results import store


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
    ckpt = store.checkpoint_path(keys, root) if epochs is None else None
    resumed = hw7_checkpoint.load(ckpt, keys, configs[0].epochs, configs) if ckpt is not None else None
    if ckpt is not None and resumed is None:
        hw7_checkpoint.remove(ckpt)  # absent, or not this group's (ignored): ``fit`` starts from the first epoch
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

    Narrow networks (the compiled epoch, `hw7.engine.epoch_kernel.handles`) are trained with
    fixed-order sums, so a run's weights and training numbers do not depend on the configs
    stacked with it: their missing configs are grouped among themselves (``groups_of``) and
    stored group-mates are never trained again. (Their evaluation is a matrix product of
    the whole stack, whose rounding may change with its width: the evaluation loss can
    differ in the last bits from the same run's in another stack. Each record names the
    configs it was trained with, and `hw7.results.check` re-trains that.) Wide networks are
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
    is training. Before training it checks it can write the store, and reserves room for each
    group's records: a store that fails afterwards keeps them, and the next call stores them
    (`hw7.results.store.reserve`). With ``train_missing=False`` a missing run is an error instead (what
    the chapters use when they must not train at render time). ``progress``: None shows
    tqdm's bars on a terminal and otherwise one line per finished group; False nothing.
    """
    unique = list(dict.fromkeys(configs))
    store.store_all_kept(root)  # runs an earlier call trained but could not store
    missing = [c for c in unique if store.load(c, root) is None]
    if missing and not train_missing:
        raise RuntimeError(f"{len(missing)} runs are not in the store (first: {missing[0]}); "
                           "run the experiment script to compute them")
    groups = plan(unique, universe or unique, max_group, root)
    for group in groups:  # before anything is allocated or locked
        check_memory(group, resolve_device(device), 60_000, 10_000)
    if groups:
        store.check_writable(root)
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
            with store.reserve(keys, store.kept_bytes(group, predictions, probabilities), root) as room:
                records = train_group(group, mnist, device=device, progress=progress, predictions=predictions,
                                      root=root, checkpoint_every=checkpoint_every, probabilities=probabilities)
                kept = room.keep([r for old, r in zip(stored, records) if old is None])
            hw7_checkpoint.remove(store.checkpoint_path(keys, root))  # the records are safe on disk now
            new = store.store_kept(kept, root)
            for old, record in zip(stored, records):
                if old is not None and old["group"] == keys and not same_numbers(old, record):
                    print(f"warning: run {record['key']} re-trained with its group does not reproduce its "
                          "stored numbers bitwise (another machine or library version?); kept the stored one",
                          file=sys.stderr)
            if progress is None and not terminal:  # tqdm is silent here (a log file, a pipe): one line instead
                print(f"group {i + 1}/{len(groups)} ({describe(group)}): {len(group)} run{'s' * (len(group) > 1)} "
                      f"trained in {time.perf_counter() - start:.0f} s, {new} stored", file=sys.stderr, flush=True)
    return [store.load(c, root) for c in configs]
