"""The run store: one JSON file per finished run under ``results/runs/``.

A run's file name is its key: a hash of its config and of the version of the
engine that trains it (`engine_version`: bump a version whenever that engine's
numbers change, and its stored runs become "missing" again). Files are written
to a temporary name and renamed, so a killed sweep never leaves a half-written
result behind; a temporary file that
a killed process left (``.tmp-*.json``) is ignored, and removed once stale.

Nothing is trusted on load: ``validate`` recomputes the key from the stored
config and engine version, checks the schema and the history's length, and
names the file and the fault (``StoreError``).

A record may keep the final model's outputs on the evaluation images, which are
outputs of the run and never part of its key: ``predictions`` (the predicted digit
per image) and ``probabilities`` (its softmax outputs, [images, 10], as text:
``encode_probabilities``; read back with ``probabilities``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from hw7 import PROJECT_ROOT
from hw7.config import RunConfig
from hw7.engine.runs import HISTORY_KEYS, engine_version, key_of

RESULTS = PROJECT_ROOT / "results"
TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600  # a temporary file this old belongs to a killed process
SCHEMA = {  # field -> allowed JSON types (bool is excluded from int below)
    "key": str, "config": dict, "engine_version": int, "history": dict, "diverged_epoch": (int, type(None)),
    "group": list, "group_size": int, "group_seconds": (int, float), "seconds": (int, float),
    "environment": dict, "finished": str, "data_sha256": str,  # the SHA-256 of the data it was trained on
}
OPTIONAL = {"predictions": list, "probabilities": str}
PROBABILITY_SCALE = 65_535  # fixed point: a probability p is stored as the 16-bit integer round(p × 65,535)
N_CLASSES = 10
ROW_SUM_TOLERANCE = 1e-3  # rounding to 16 bits moves a row's sum by at most 10 / (2 × 65,535) ≈ 8 × 10⁻⁵


class StoreError(ValueError):
    """A stored record is unreadable or inconsistent; the message names the file and the fault."""


def runs_dir(root: Path | None = None) -> Path:
    return (root or RESULTS) / "runs"


def path_of(config: RunConfig, root: Path | None = None) -> Path:
    return runs_dir(root) / f"{key_of(config)}.json"


def encode_probabilities(p) -> str:
    """Probabilities [n, 10] (a tensor or array with values in [0, 1]) as compact text: each one
    rounded to 16-bit fixed point (``PROBABILITY_SCALE``), little-endian, zlib-compressed, base64.

    Measured on the stored runs' 10,000 test images (200 kB as raw 16-bit values): 17 to 70 kB
    of text per run, the less the more confident the network (most values are then 0)."""
    q = np.rint(np.clip(np.asarray(p, dtype=np.float64), 0, 1) * PROBABILITY_SCALE).astype("<u2")
    if q.ndim != 2 or q.shape[1] != N_CLASSES:
        raise ValueError(f"probabilities have shape {q.shape}, expected [images, {N_CLASSES}]")
    return base64.b64encode(zlib.compress(q.tobytes(), 9)).decode("ascii")


def decode_probabilities(text: str) -> np.ndarray:
    """The [n, 10] float64 array of ``encode_probabilities`` text (``ValueError`` if it is not such text)."""
    try:
        raw = zlib.decompress(base64.b64decode(text, validate=True))
    except (binascii.Error, zlib.error) as exc:
        raise ValueError(f"not encoded probabilities ({exc})") from None
    if len(raw) % (2 * N_CLASSES):
        raise ValueError(f"{len(raw)} bytes are not rows of {N_CLASSES} 16-bit values")
    return np.frombuffer(raw, dtype="<u2").reshape(-1, N_CLASSES) / PROBABILITY_SCALE


def probabilities(record: dict) -> np.ndarray | None:
    """The final model's softmax outputs on the evaluation images, [images, 10], or None if the
    record does not keep them."""
    return decode_probabilities(record["probabilities"]) if "probabilities" in record else None


def predictions(record: dict) -> np.ndarray:
    """The final model's predicted digit for each evaluation image: the stored predictions, else
    the most probable digit of the stored probabilities (their 16-bit rounding can only tie two
    outputs that were within 1/65,535 of each other)."""
    if "predictions" in record:
        return np.asarray(record["predictions"])
    if "probabilities" in record:
        return probabilities(record).argmax(1)
    raise KeyError(f"record {record.get('key')} keeps neither predictions nor probabilities")


def _probability_faults(record: dict) -> list[str]:
    """What is wrong with a record's ``probabilities`` field (empty if it is sound or absent)."""
    if "probabilities" not in record:
        return []
    try:
        p = probabilities(record)
    except ValueError as exc:
        return [f"probabilities: {exc}"]
    faults = [] if len(p) else ["probabilities: no rows"]
    if "predictions" in record and len(record["predictions"]) != len(p):
        faults.append(f"probabilities: {len(p)} rows for {len(record['predictions'])} predictions")
    worst = float(np.abs(p.sum(1) - 1).max()) if len(p) else 0.0
    if worst > ROW_SUM_TOLERANCE:
        faults.append(f"probabilities: a row's sum is {worst:.2g} away from 1")
    return faults


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _faults(record, stem: str) -> list[str]:
    """Everything wrong with one record stored under ``<stem>.json`` (empty if it is sound)."""
    if not isinstance(record, dict):
        return [f"a record is a JSON object, found {type(record).__name__}"]
    faults = [f"missing field {name!r}" for name in SCHEMA if name not in record]
    for name, types in (SCHEMA | OPTIONAL).items():
        value = record.get(name)
        if name in record and (not isinstance(value, types) or isinstance(value, bool)):
            faults.append(f"field {name!r} has type {type(value).__name__}")
    if faults:
        return faults
    try:
        config = RunConfig.from_dict(record["config"])
    except (TypeError, ValueError) as exc:
        return [f"config: {exc}"]
    key = config.key(record["engine_version"])  # a copy of another version's record fails here
    if key != record["key"]:
        faults.append(f"key {record['key']!r} is not the stored config's key {key!r}")
    if key != stem:
        faults.append(f"the stored config's key {key!r} is not the file name")
    h = record["history"]
    if set(h) != set(HISTORY_KEYS):
        return faults + [f"history holds {sorted(h)}, expected {sorted(HISTORY_KEYS)}"]
    lengths = {m: len(h[m]) if isinstance(h[m], list) else None for m in HISTORY_KEYS}
    expected = config.epochs if record["diverged_epoch"] is None else record["diverged_epoch"] + 1
    wrong = {m: n for m, n in lengths.items() if n != expected}
    if wrong:
        faults.append(f"history lengths {wrong}, expected {expected} epochs"
                      + ("" if record["diverged_epoch"] is None else " (diverged)"))
    if not all(_is_number(v) or v is None for m in HISTORY_KEYS if m != "grad_norms" and lengths[m]
               for v in h[m]):
        faults.append("history holds a value that is neither a number nor null")
    if record["key"] not in record["group"] or record["group_size"] != len(record["group"]):
        faults.append(f"group of {record['group_size']} does not list this key among {len(record['group'])} keys")
    return faults + _probability_faults(record)


def validate(record, path: Path) -> dict:
    """``record`` if it is a sound record for ``path``; else ``StoreError`` naming the file and faults."""
    faults = _faults(record, path.stem)
    if faults:
        raise StoreError(f"{path}: {'; '.join(faults)}")
    return record


def read(path: Path) -> dict:
    """Parse and validate one record file (treat the record as read-only: an unchanged file is
    parsed once per process, and every reader gets the same dict)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise StoreError(f"{path}: not readable JSON ({exc})") from None
    return _read(path, stat.st_mtime_ns, stat.st_size, stat.st_ino)


@functools.lru_cache(maxsize=4096)
def _read(path: Path, *version: int) -> dict:
    """``read`` of one version of the file (its modification time, size and inode)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: not readable JSON ({exc})") from None
    return validate(record, path)


def load(config: RunConfig, root: Path | None = None) -> dict | None:
    """The stored record of ``config``, or None if it has not been run by this engine version."""
    path = path_of(config, root)
    return read(path) if path.is_file() else None


def record_paths(root: Path | None = None) -> list[Path]:
    """Every record file (temporary files of an unfinished ``save`` excluded; stale ones removed)."""
    folder = runs_dir(root)
    for tmp in folder.glob(f"{TMP_PREFIX}*.json"):
        try:
            if time.time() - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                tmp.unlink()
        except FileNotFoundError:  # its writer just renamed or removed it
            pass
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(TMP_PREFIX))


def save(record: dict, root: Path | None = None, replace: bool = False) -> Path:
    """Write one run's record atomically (temp file, then link or rename).

    A key's record is written once: if another process stored it meanwhile (trained
    in another grouping, say), ``FileExistsError`` and the stored one stays. Only
    ``replace=True`` (a migration of the store) overwrites.
    """
    path = runs_dir(root) / f"{record['key']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True, allow_nan=False)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and fails if the key is already stored
            os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def all_records(root: Path | None = None) -> list[dict]:
    """Every stored record trained by the engine version its config gets now (every file validated)."""
    return [r for r in map(read, record_paths(root))
            if r["engine_version"] == engine_version(RunConfig.from_dict(r["config"]))]


def group_id(keys: list[str]) -> str:
    """Name of a group of runs trained together (its lock and its checkpoint)."""
    return hashlib.sha256(",".join(keys).encode()).hexdigest()[:16]


def checkpoint_path(keys: list[str], root: Path | None = None) -> Path:
    """Where the group of ``keys`` keeps its checkpoint while it trains (`hw7.engine.checkpoint`)."""
    return (root or RESULTS) / "checkpoints" / f"{group_id(keys)}.pt"


@contextlib.contextmanager
def group_lock(keys: list[str], root: Path | None = None) -> Iterator[None]:
    """Hold ``results/locks/<group id>.lock`` while training a group; wait while another process holds it.

    ``fcntl.flock``: the kernel drops the lock when its holder exits, even on ``kill -9``,
    so a lock is never stale; the file names the holder's pid for the waiting message.
    """
    path = (root or RESULTS) / "locks" / f"{group_id(keys)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            print(f"waiting for process {f.read().strip() or '?'}, which trains this group of {len(keys)} "
                  f"runs ({path})", file=sys.stderr, flush=True)
            fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def frame(records: list[dict]) -> pd.DataFrame:
    """Tidy table: one row per run × epoch, config fields as columns, then the metrics.

    ``epoch`` counts from 1 (after the first epoch); ``grad_norms`` stays a list per row. A record
    stored before a config field existed gets that field's default (what it was trained with).
    """
    rows = []
    for r in records:
        cfg = {k: v for k, v in RunConfig.from_dict(r["config"]).to_dict().items() if k != "extra"}
        cfg["sizes"] = "-".join(map(str, cfg["sizes"]))
        cfg["betas"] = tuple(cfg["betas"])
        h = r["history"]
        for e in range(len(h["train_loss"])):
            row = dict(cfg, key=r["key"], epoch=e + 1, diverged_epoch=r["diverged_epoch"],
                       group_size=r["group_size"])
            row.update({m: h[m][e] for m in h})
            rows.append(row)
    df = pd.DataFrame(rows)
    metrics = ["train_loss", "train_acc", "eval_loss", "eval_acc", "grad_ratio", "seconds"]
    for m in metrics:
        if m in df:
            df[m] = df[m].astype(float)  # null (non-finite) -> NaN
    return df
