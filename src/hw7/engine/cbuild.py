"""Compile a C source once per user and machine, keep the library in a cache, load it with ``ctypes``.

Why not ``torch.utils.cpp_extension.load_inline``: it needs a C++ compiler, the
PyTorch headers and ninja, and takes tens of seconds per build; our kernels are
plain C over raw float buffers, built here with the system's C compiler in well
under a second. The library's name is a hash of the source, the compiler and
its flags, so a changed kernel is rebuilt and an unchanged one is reused.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$XDG_CACHE_HOME/hw7``, else ``~/.cache/hw7``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hw7"


def compiler() -> str:
    """The C compiler: ``$CC``, else ``cc``."""
    return os.environ.get("CC", "cc")


def _compile(source: str, flags: list[str], path: Path) -> None:
    cc = compiler()
    if shutil.which(cc) is None:
        raise RuntimeError(f"no C compiler {cc!r} on PATH (install gcc or clang, or set CC)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        src, out = Path(tmp) / f"{path.stem}.c", Path(tmp) / path.name
        src.write_text(source)
        done = subprocess.run([cc, *flags, str(src), "-o", str(out), "-lm"], capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{cc} failed: {last}")
        os.replace(out, path)  # atomic: a concurrent process sees no half-written library


def load(name: str, source: str, flags: list[str], signatures: dict[str, list]) -> ctypes.CDLL:
    """The library built from ``source`` (compiled on first use), with ``signatures`` set (restype None).

    Raises ``RuntimeError`` (no compiler, or it failed) or ``OSError`` (the library does not load).
    """
    tag = hashlib.sha256("\n".join([source, compiler(), *flags, sys.platform]).encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{tag}.so"
    if not path.exists():
        _compile(source, flags, path)
    lib = ctypes.CDLL(str(path))  # CDLL, not PyDLL: a call releases the GIL, so threads can run kernels at once
    for fn, argtypes in signatures.items():
        getattr(lib, fn).argtypes, getattr(lib, fn).restype = argtypes, None
    return lib
