"""Add the final model's softmax probabilities to stored records that lack them.

A stored run cannot give its final model back (only its numbers are stored), but
its group can be trained again: a seed fixes a run on one machine, so the group,
trained as it was stored (the same configs stacked together, the record's device
and thread count), gives the same histories bit for bit, and so the same final
models. ``add_probabilities`` re-trains each such group and rewrites its records
(atomically, under the same key) with the one field ``probabilities`` added, and
only if every re-trained history is bitwise the stored one (`hw7.results.sweep.same_numbers`)
and so are the predicted digits where a record keeps them. Otherwise it raises
``NotReproduced`` and writes nothing for that group.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from hw7.config import RunConfig
from hw7.data import MNIST
from hw7.engine import checkpoint
from hw7.results import store
from hw7.results.sweep import same_numbers, train_group


class NotReproduced(ValueError):
    """A re-trained group did not give its stored numbers bitwise; none of its records was changed."""


def _retrain(stored: list[dict], mnist: MNIST | None, root: Path | None, progress: bool | None) -> list[dict]:
    """The group of ``stored`` (its records, in group order) trained again as it was, with probabilities."""
    env = stored[0]["environment"]
    threads = torch.get_num_threads()
    torch.set_num_threads(env["threads"])  # the products' summation order depends on it
    try:
        return train_group([RunConfig.from_dict(r["config"]) for r in stored], mnist,
                           device=env["device"].split(":")[0], progress=progress,
                           predictions=any("predictions" in r for r in stored), probabilities=True, root=root)
    finally:
        torch.set_num_threads(threads)


def _same_run(old: dict, new: dict) -> bool:
    """Bitwise the stored run: its histories, divergence and, where it keeps them, predicted digits."""
    return same_numbers(old, new) and ("predictions" not in old or old["predictions"] == new["predictions"])


def add_probabilities(configs: list[RunConfig], mnist: MNIST | None = None, root: Path | None = None,
                      progress: bool | None = None) -> list[str]:
    """Give every stored record of ``configs`` its ``probabilities``; return the keys of those rewritten.

    Each group with a record that lacks them is re-trained whole, under its lock; a
    run of ``configs`` that is not stored is an error (train it first: ``train_many``).
    """
    records = [store.load(c, root) for c in configs]
    missing = [c for c, r in zip(configs, records) if r is None]
    if missing:
        raise ValueError(f"{len(missing)} runs are not stored (first: {missing[0]}); compute them first")
    groups = list(dict.fromkeys(tuple(r["group"]) for r in records if "probabilities" not in r))
    if groups:
        store.check_writable(root)  # before anything trains
    added = []
    for i, keys in enumerate(groups):
        with store.group_lock(list(keys), root):
            paths = [store.runs_dir(root) / f"{k}.json" for k in keys]
            stored = [store.read(p) for p in paths]
            if all("probabilities" in r for r in stored):  # another process added them meanwhile
                continue
            start = time.perf_counter()
            fresh = _retrain(stored, mnist, root, progress)
            checkpoint.remove(store.checkpoint_path(list(keys), root))
            differ = [old["key"] for old, new in zip(stored, fresh) if not _same_run(old, new)]
            if differ:
                raise NotReproduced(f"run {differ[0]} re-trained with its group of {len(keys)} does not give its "
                                    "stored numbers bitwise (another machine or library version?); "
                                    "no record of the group was changed")
            for old, new in zip(stored, fresh):
                store.save(old | {"probabilities": new["probabilities"]}, root, replace=True)
                added.append(old["key"])
            print(f"group {i + 1}/{len(groups)}: {len(keys)} runs re-trained bitwise as stored in "
                  f"{time.perf_counter() - start:.0f} s; probabilities added", file=sys.stderr, flush=True)
    return added
