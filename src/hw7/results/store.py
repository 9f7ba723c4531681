"""The run store: one JSON file per finished run under ``results/runs/``.

A run's file name is its key: a hash of its config and of the version of the
engine that trains it (`engine_version`: bump a version whenever that engine's
numbers change, and its stored runs become "missing" again). Files are written
to a temporary name, synced and renamed, so a killed sweep never leaves a half-written
result behind; a temporary file that
a killed process left (``.tmp-*.json``) is ignored, and removed once stale.

Nothing is trusted on load: ``read`` opens only a regular file of at most
``MAX_RECORD_BYTES`` (a FIFO or a device is refused, never waited on), and
``validate`` recomputes the key from the stored config and engine version, checks
every field that anything reads, with its range, and the record's digest of its
own content (``content_sha256``, written by ``save``: an accidental edit or a
partial write is caught; a deliberate edit that recomputes it is
`hw7.results.check`'s ``--reproduce`` to catch). Every fault names the file.

Training writes nowhere before it has checked it can (``check_writable``), and a
group's records are first written to room reserved before it trained
(``reserve``, in ``results/checkpoints/``), then stored: if storing fails (a full
disk, a folder made read-only), they stay there and the next run stores them
(``store_kept``) without training them again.

A record may keep the final model's outputs on the evaluation images, which are
outputs of the run and never part of its key: ``predictions`` (the predicted digit
per image) and ``probabilities`` (its softmax outputs, [images, 10], as text:
``encode_probabilities``; read back with ``probabilities``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import stat
import sys
import tempfile
import time
import zlib
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import pandas as pd

from hw7 import PROJECT_ROOT
from hw7.config import RunConfig
from hw7.data import SHA256, data_digest
from hw7.engine.runs import HISTORY_KEYS, engine_version, key_of

RESULTS = PROJECT_ROOT / "results"
TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600  # a temporary file this old belongs to a killed process
SCHEMA = {  # field -> allowed JSON types (bool is excluded from int below)
    "key": str, "config": dict, "engine_version": int, "history": dict, "diverged_epoch": (int, type(None)),
    "group": list, "group_size": int, "group_seconds": (int, float), "seconds": (int, float),
    "environment": dict, "finished": str, "data_sha256": str,  # the SHA-256 of the data it was trained on
    "content_sha256": str,  # the SHA-256 of everything else in the record (``digest``)
}
OPTIONAL = {"predictions": list, "probabilities": str}
ENVIRONMENT = {  # what `hw7.engine.trainer.environment` records -> allowed JSON types
    "torch": str, "python": str, "machine": str, "processor": str, "device": str, "threads": int,
    "cpus": (int, type(None)), "cpu": str, "libraries": (dict, type(None)),  # None: not recorded (older runs)
}
DIGEST = "content_sha256"
MAX_RECORD_BYTES = 64 * 2**20  # the largest stored record holds about 0.1 MiB
MNIST_DIGEST = data_digest(SHA256)  # `hw7.data.MNIST.sha256` of the real data set
UNVERIFIED = "unverified"  # `hw7.data.MNIST.sha256` of tensors built without a digest (tests' subsets)
MNIST_EVAL_IMAGES = 10_000  # MNIST's test set, and the validation split (`hw7.data.split_validation`)
RACY_NS = 2 * 10**9  # a file changed this recently may change again within its timestamps' resolution
PROBABILITY_SCALE = 65_535  # fixed point: a probability p is stored as the 16-bit integer round(p × 65,535)
N_CLASSES = 10
ROW_SUM_TOLERANCE = 1e-3  # rounding to 16 bits moves a row's sum by at most 10 / (2 × 65,535) ≈ 8 × 10⁻⁵
KEY = re.compile(r"[0-9a-f]{16}")
SHA = re.compile(r"[0-9a-f]{64}")
DEVICE = re.compile(r"cpu|cuda(:[0-9]+)?")


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


def _probability_faults(record: dict, images: int | None) -> list[str]:
    """What is wrong with a record's ``probabilities`` field (empty if it is sound or absent)."""
    if "probabilities" not in record:
        return []
    try:
        p = probabilities(record)
    except ValueError as exc:
        return [f"probabilities: {exc}"]
    faults = [] if len(p) else ["probabilities: no rows"]
    if images is not None and len(p) != images:
        faults.append(f"probabilities: {len(p)} rows for {images} evaluation images")
    worst = float(np.abs(p.sum(1) - 1).max()) if len(p) else 0.0
    if worst > ROW_SUM_TOLERANCE:
        faults.append(f"probabilities: a row's sum is {worst:.2g} away from 1")
    return faults


def _is_number(x, low: float = -math.inf, high: float = math.inf) -> bool:
    """A finite JSON number (not a bool) in [low, high]."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and low <= x <= high


def _value_fault(name: str, values: list, low: float, high: float, nullable: bool) -> str | None:
    """The first value of ``values`` that is not a number in [low, high] (or null, if ``nullable``)."""
    for i, v in enumerate(values):
        if not (_is_number(v, low, high) or (nullable and v is None)):
            return f"{name}[{i}] is {json.dumps(v)[:40]}, not a number in [{low:g}, {high:g}]" + " or null" * nullable
    return None


def _history_faults(h: dict, config: RunConfig, diverged) -> list[str]:
    """Everything wrong with a record's history: its metrics, their lengths and ranges."""
    if set(h) != set(HISTORY_KEYS):
        return [f"history holds {sorted(h)}, expected {sorted(HISTORY_KEYS)}"]
    if diverged is not None and not 0 <= diverged < config.epochs:
        return [f"diverged_epoch {diverged} is not an epoch of {config.epochs}"]
    expected = config.epochs if diverged is None else diverged + 1
    lengths = {m: len(h[m]) if isinstance(h[m], list) else None for m in HISTORY_KEYS}
    wrong = {m: n for m, n in lengths.items() if n != expected}
    if wrong:
        return [f"history lengths {wrong}, expected {expected} epochs" + ("" if diverged is None else " (diverged)")]
    layers = len(config.sizes) - 1
    faults = [_value_fault("history.train_loss", h["train_loss"][:expected - (diverged is not None)], 0, math.inf,
                           False),
              _value_fault("history.eval_loss", h["eval_loss"], 0, math.inf, True),
              _value_fault("history.train_acc", h["train_acc"], 0, 1, False),
              _value_fault("history.eval_acc", h["eval_acc"], 0, 1, False),
              _value_fault("history.grad_ratio", h["grad_ratio"], 0, math.inf, True),
              _value_fault("history.seconds", h["seconds"], 0, math.inf, False)]
    if diverged is not None and h["train_loss"][-1] is not None:
        faults.append(f"history.train_loss[{diverged}] is {h['train_loss'][-1]}, but the run diverged there (null)")
    for e, norms in enumerate(h["grad_norms"]):  # per epoch: null (not tracked) or one norm per layer
        if norms is None:
            continue
        fault = (f"history.grad_norms[{e}] is not a list of {layers} layers' norms"
                 if not isinstance(norms, list) or len(norms) != layers
                 else _value_fault(f"history.grad_norms[{e}]", norms, 0, math.inf, True))
        if fault:
            faults.append(fault)
            break
    return [f for f in faults if f]


def _environment_faults(env: dict) -> list[str]:
    faults = [f"environment lacks {name!r}" for name in ENVIRONMENT if name not in env]
    faults += [f"environment has an unknown field {name!r}" for name in env if name not in ENVIRONMENT]
    for name, types in ENVIRONMENT.items():
        value = env.get(name)
        if name in env and (not isinstance(value, types) or isinstance(value, bool)):
            faults.append(f"environment.{name} has type {type(value).__name__}")
    if faults:
        return faults
    if not DEVICE.fullmatch(env["device"]):
        faults.append(f"environment.device {env['device']!r} is not cpu or cuda[:N]")
    if env["threads"] < 1 or (env["cpus"] is not None and env["cpus"] < 1):
        faults.append("environment.threads and environment.cpus must be at least 1")
    if not env["cpu"]:
        faults.append("environment.cpu is empty")
    if env["libraries"] is not None and not all(isinstance(v, str) for v in env["libraries"].values()):
        faults.append("environment.libraries holds a version that is not text")
    return faults


def _faults(record, stem: str) -> list[str]:
    """Everything wrong with one record stored under ``<stem>.json`` (empty if it is sound)."""
    if not isinstance(record, dict):
        return [f"a record is a JSON object, found {type(record).__name__}"]
    faults = [f"missing field {name!r}" for name in SCHEMA if name not in record]
    faults += [f"unknown field {name!r}" for name in record if name not in SCHEMA | OPTIONAL]
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
    canonical = config.to_dict()
    faults += [f"config.{name} is stored as {json.dumps(value)}, not as its config's {json.dumps(canonical[name])}"
               for name, value in record["config"].items() if json.dumps(value) != json.dumps(canonical[name])]
    key = config.key(record["engine_version"])  # a copy of another version's record fails here
    if key != record["key"]:
        faults.append(f"key {record['key']!r} is not the stored config's key {key!r}")
    if key != stem:
        faults.append(f"the stored config's key {key!r} is not the file name")
    faults += _history_faults(record["history"], config, record["diverged_epoch"])
    group = record["group"]
    if not all(isinstance(k, str) and KEY.fullmatch(k) for k in group) or len(set(group)) != len(group):
        faults.append("group is not a list of distinct run keys")
    elif record["key"] not in group or record["group_size"] != len(group):
        faults.append(f"group of {record['group_size']} does not list this key among {len(group)} keys")
    if not (_is_number(record["seconds"], 0) and _is_number(record["group_seconds"], 0)):
        faults.append("seconds and group_seconds must be numbers >= 0")
    try:
        datetime.fromisoformat(record["finished"])
    except ValueError:
        faults.append(f"finished {record['finished'][:40]!r} is not an ISO 8601 time")
    if not (SHA.fullmatch(record["data_sha256"]) or record["data_sha256"] == UNVERIFIED):
        faults.append(f"data_sha256 is neither a SHA-256 digest nor {UNVERIFIED!r}")
    faults += _environment_faults(record["environment"])
    images = MNIST_EVAL_IMAGES if record["data_sha256"] == MNIST_DIGEST else None  # else: as many as it keeps
    if "predictions" in record:
        p = record["predictions"]
        images = images or len(p)
        if len(p) != images or not set(map(type, p)) <= {int} or not set(p) <= set(range(N_CLASSES)):
            faults.append(f"predictions are not {images} digits 0 to 9")
    faults += _probability_faults(record, images)
    if not faults and record[DIGEST] != digest(record):
        faults.append(f"its content does not match its {DIGEST} (edited, or written in part)")
    return faults


def digest(record: dict) -> str:
    """The SHA-256 of a record's canonical JSON (sorted keys, no spaces), its own digest field left out."""
    canonical = json.dumps({k: v for k, v in record.items() if k != DIGEST}, sort_keys=True,
                           separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate(record, path: Path) -> dict:
    """``record`` if it is a sound record for ``path``; else ``StoreError`` naming the file and faults."""
    faults = _faults(record, path.stem)
    if faults:
        raise StoreError(f"{path}: {'; '.join(faults)}; {_restore(path)}")
    return record


FILE_KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device",
              stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def _regular_fault(path: Path, st: os.stat_result, limit: int) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        return f"{path}: not a regular file but {FILE_KINDS.get(stat.S_IFMT(st.st_mode), 'a special file')}; remove it"
    if st.st_size > limit:
        return f"{path}: {st.st_size:,} bytes, more than the {limit:,} such a file may have; remove it"
    return None


def open_regular(path: Path, limit: int) -> BinaryIO:
    """``path`` opened for reading if it is a regular file of at most ``limit`` bytes; else ``StoreError``
    (one line). Checked before reading, so a FIFO is never waited on nor a device read."""
    try:
        fault = _regular_fault(path, os.stat(path), limit)
        fd = None if fault else os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    fault = fault or _regular_fault(path, os.fstat(fd), limit)  # the file opened is the file checked
    if fault:
        if fd is not None:
            os.close(fd)
        raise StoreError(fault)
    return os.fdopen(fd, "rb")


def _restore(path: Path) -> str:
    """The fix for an unsound record file."""
    return f"restore it (git checkout -- {path}) or delete it and recompute it (python -m hw7 run NAME)"


def _finite(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"the number {text[:20]} is out of range")
    return x


def _constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse(data: bytes, path: Path, fix: str):
    """The JSON value of ``data`` read from ``path``: strict JSON (no NaN or Infinity, no number beyond
    a float's range), else ``StoreError`` naming the file and ``fix``."""
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_constant, parse_float=_finite)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StoreError(f"{path}: not readable JSON ({exc}); {fix}") from None


_read_cache: dict[Path, tuple[tuple[int, ...], dict]] = {}


def read(path: Path) -> dict:
    """Parse and validate one record file (treat the record as read-only: every reader gets the same dict).

    An unchanged file is parsed once per process: the dict is kept per (device, inode, size,
    modification and change time); a file changed within ``RACY_NS`` of being read is not kept, as a
    second change within its timestamps' resolution could leave them equal. So every new version
    of a file is validated.
    """
    now = time.time_ns()
    with open_regular(path, MAX_RECORD_BYTES) as f:
        st = os.fstat(f.fileno())
        version = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        kept = _read_cache.get(path)
        if kept is not None and kept[0] == version:
            return kept[1]
        data = f.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise StoreError(f"{path}: more than the {MAX_RECORD_BYTES:,} bytes a record may have; remove it")
    record = validate(parse(data, path, _restore(path)), path)
    if max(st.st_mtime_ns, st.st_ctime_ns) < now - RACY_NS:
        _read_cache[path] = (version, record)
    else:
        _read_cache.pop(path, None)
    return record


def load(config: RunConfig, root: Path | None = None) -> dict | None:
    """The stored record of ``config``, or None if it has not been run by this engine version (anything
    at its path that is not a sound record is a ``StoreError``)."""
    path = path_of(config, root)
    return read(path) if os.path.lexists(path) else None


def record_paths(root: Path | None = None) -> list[Path]:
    """Every record file (temporary files of an unfinished ``save`` excluded; stale ones removed)."""
    folder = runs_dir(root)
    for tmp in folder.glob(f"{TMP_PREFIX}*.json"):
        try:
            if time.time() - tmp.lstat().st_mtime > STALE_TMP_SECONDS:
                tmp.unlink()
        except OSError:  # its writer just renamed or removed it, or this user may not remove it
            pass
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(TMP_PREFIX))


def shared_mode() -> int:
    """The mode an ordinary new file gets here (0o666 less the umask), for files written through ``mkstemp``."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save(record: dict, root: Path | None = None, replace: bool = False) -> Path:
    """Write one run's record, with its ``content_sha256``, atomically (temp file, synced, then link or rename).

    A key's record is written once: if another process stored it meanwhile (trained
    in another grouping, say), ``FileExistsError`` and the stored one stays. Only
    ``replace=True`` (a migration of the store) overwrites.
    """
    record = {k: v for k, v in record.items() if k != DIGEST}
    record[DIGEST] = digest(record)
    path = runs_dir(root) / f"{record['key']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=".json")
    try:
        os.fchmod(fd, shared_mode())  # mkstemp's file is private; a stored result is for every reader
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and fails if the key is already stored
            os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fix(exc: OSError) -> str:
    """What the user can do about a failed write."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free space on its disk"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "make it writable for this user"
    return "fix that"


def check_writable(root: Path | None = None) -> None:
    """Before anything trains: ``StoreError`` (one line, naming the folder and the fix) unless this user
    can create files in the run store, the locks' folder and the checkpoints' folder."""
    base = root or RESULTS
    for folder in (runs_dir(root), base / "locks", base / "checkpoints"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            raise StoreError(f"{folder} is not writable ({exc.strerror or exc}); nothing was trained: "
                             f"{_fix(exc)} (or work in a copy of the project you can write) and run again") from None


def kept_path(keys: list[str], root: Path | None = None) -> Path:
    """Where a group's trained records wait to be stored (`reserve`, `store_kept`)."""
    return (root or RESULTS) / "checkpoints" / f"{group_id(keys)}.records.json"


def kept_bytes(configs: list[RunConfig], predictions: bool, probabilities: bool) -> int:
    """An upper bound on the size of a group's records as ``Room.keep`` writes them (compact JSON: at
    most 32 bytes a number, 2 a predicted digit, 27 an image's encoded probabilities)."""
    per = [4096 + len(json.dumps(c.to_dict())) + 19 * len(configs) + 32 * c.epochs * (6 + len(c.sizes))
           + MNIST_EVAL_IMAGES * (2 * predictions + 27 * probabilities) for c in configs]
    return sum(per)


class Room:
    """Disk space reserved for a group's records before it trains (``reserve``)."""

    def __init__(self, file: BinaryIO, size: int, path: Path, kept: Path):
        self.file, self.size, self.path, self.kept = file, size, path, kept

    def keep(self, records: list[dict]) -> Path:
        """Write ``records`` (each with its digest) into the reserved room, synced, and name it ``kept``.
        The rest of the room is filled with spaces (JSON's whitespace): it stays taken until they are stored."""
        data = json.dumps([r | {DIGEST: digest(r)} for r in records], separators=(",", ":"), allow_nan=False).encode()
        try:
            self.file.write(data + b" " * (self.size - len(data)))
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.path, self.kept)
        except OSError as exc:
            raise StoreError(f"{self.kept}: could not keep the {len(records)} runs just trained "
                             f"({exc.strerror or exc}); they are lost: {_fix(exc)} and run again") from None
        return self.kept


@contextlib.contextmanager
def reserve(keys: list[str], size: int, root: Path | None = None) -> Iterator[Room]:
    """Reserve ``size`` bytes in the checkpoints' folder for the records of the group of ``keys`` (held
    under its lock) before it trains: ``StoreError`` if there is no room. The room is released on
    leaving unless ``Room.keep`` filled it."""
    kept = kept_path(keys, root)
    path = kept.with_name(f"{group_id(keys)}.room")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot be created ({exc.strerror or exc}); nothing was trained: "
                         f"{_fix(exc)} and run again") from None
    file = os.fdopen(fd, "r+b")
    fault = _regular_fault(path, os.fstat(fd), math.inf)
    if fault:
        file.close()
        raise StoreError(fault)
    try:
        try:
            file.truncate(0)
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            raise StoreError(f"{path.parent}: no room for the records of {len(keys)} runs ({exc.strerror or exc}); "
                             f"nothing was trained: free {size / 2**20:.1f} MiB on its disk and run again") from None
        yield Room(file, size, path, kept)
    finally:
        if not file.closed:
            file.close()
            path.unlink(missing_ok=True)


class NotStored(StoreError):
    """Trained records could not be stored; the message says where they are kept meanwhile."""


def _kept_records(kept: Path) -> list[dict]:
    """The sound records of a kept file (``Room.keep``), all of the group it is named for; else ``StoreError``."""
    with open_regular(kept, MAX_RECORD_BYTES) as f:
        records = parse(f.read(MAX_RECORD_BYTES + 1), kept, "remove it")
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise StoreError(f"{kept}: not a list of run records")
    for r in records:
        faults = _faults(r, r.get("key"))
        if faults:
            raise StoreError(f"{kept}: run {r.get('key')}: {'; '.join(faults)}")
    if any(r["group"] != records[0]["group"] for r in records) or kept.name != kept_path(records[0]["group"]).name:
        raise StoreError(f"{kept}: its records were not trained as the group it is named for")
    return records


def store_kept(kept: Path, root: Path | None = None) -> int:
    """Store the records kept in ``kept`` (``Room.keep``; under their group's lock) and remove it; return
    how many were new (a record stored meanwhile by another process keeps the stored one). If storing
    fails, ``NotStored`` says where the records stay, for the next run to store."""
    records = _kept_records(kept)
    new = 0
    for r in records:
        try:
            save(r, root)
            new += 1
        except FileExistsError:  # stored by an earlier try of this file, or by another process
            if read(runs_dir(root) / f"{r['key']}.json")[DIGEST] != r[DIGEST]:
                print(f"run {r['key']} was stored meanwhile by another process; kept that one", file=sys.stderr)
        except OSError as exc:
            raise NotStored(f"{runs_dir(root)}: could not store run {r['key']} ({exc.strerror or exc}); the "
                            f"{len(records)} runs trained are kept in {kept}, and the next `python -m hw7 run` or "
                            f"`train` stores them without training: {_fix(exc)}") from None
    kept.unlink()
    return new


def store_all_kept(root: Path | None = None) -> None:
    """Store the records of every group that an earlier run trained but could not store (``store_kept``).
    A kept file that holds no sound records is removed (its runs are trained again), with one line."""
    files = sorted(((root or RESULTS) / "checkpoints").glob("*.records.json"))
    if files:
        check_writable(root)
    for kept in files:
        try:
            group = _kept_records(kept)[0]["group"]
        except StoreError as exc:
            with contextlib.suppress(OSError):
                kept.unlink()
            print(f"removed a file of trained runs that are not sound ({exc}); they will be trained again",
                  file=sys.stderr)
            continue
        with group_lock(group, root):
            if os.path.lexists(kept):  # else another process stored them meanwhile
                new = store_kept(kept, root)
                print(f"{new} runs trained earlier and kept in {kept} are stored now, not trained again",
                      file=sys.stderr)


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
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    try:
        fault = _regular_fault(path, os.fstat(fd), 64)
        if fault:
            raise StoreError(fault)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            print(f"waiting for process {holder or '?'}, which trains this group of {len(keys)} runs ({path})",
                  file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):  # the holder's pid, for the waiting message: not on a full disk
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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
