"""Checkpoints of a group in training, so a stopped long run resumes where it was.

One file per group (``results/checkpoints/<group id>.pt``, not committed: the caller names it,
`hw7.results.store.checkpoint_path`), written
atomically (temporary file + rename) at the end of an epoch once ``every`` seconds
have passed since the last one. It holds everything the next epoch depends on: the
stacked parameters, the optimizer's state, the mini-batch order and augmentation
generators, the dropout generators, which configs are still alive, and the
histories so far; so a resumed run's numbers are bitwise the uninterrupted ones.
It is read with ``torch.load(weights_only=True)``: tensors and plain data only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

EVERY = 300.0  # seconds between checkpoints
TMP_PREFIX = ".tmp-"  # a checkpoint being written (never read back)


def save(path: Path, state: dict) -> None:
    """Write ``state`` atomically: a killed process leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path: Path, keys: list[str], epochs: int) -> dict | None:
    """The checkpoint of exactly this group and epoch count, or None (a stale or foreign file is ignored)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, weights_only=True)
    except Exception:  # unreadable (e.g. from an older torch): start over rather than fail
        return None
    if state.get("keys") != list(keys) or state.get("epochs") != epochs:
        return None
    return state


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
