"""The stacked SGD and Adam updates as one pass over memory: a small C kernel, compiled on first use.

Why hand-written C: the update of K stacked configs written as torch ops is four
to six passes over the whole parameter buffer (each a separate kernel, megabytes
read and written per step), which costs more than the training step's two
matrix products. One loop that reads each parameter, gradient and state once is
about three times faster for SGD (at K = 11 on one thread: ≈ 150 µs → ≈ 50 µs per
step; Adam ≈ 420 µs → ≈ 300 µs, most of it the square root kept below). ``torch.compile`` cannot produce that loop with the
same numbers: ATen's CPU kernels round ``a + alpha * b``, ``addcmul`` and
``lerp`` once (a fused multiply-add, in the vectorized body and the scalar tail
alike) but ``x.mul_(m).add_(g)`` twice, while Inductor's C++ backend has no
fused multiply-add (it lowers ``fma`` only for GPUs) and its one switch,
``-ffp-contract``, either rounds every product separately or contracts all of
them. The stored runs must stay bit for bit what the unfused engine computed, so
the kernel below writes every rounding explicitly (``fmaf`` where ATen fuses,
separate operations where it does not) and is compiled with
``-ffp-contract=off``. ATen's ``sqrt`` is MKL's vector square root, which is not
always the correctly rounded one, so Adam's update is two passes around a
``torch.sqrt``. Those roundings are ATen's on x86 with AVX2 or AVX-512; so that
no other platform silently gets other numbers, `hw7.engine.stacked.fused_kernel` uses
the kernel only after it reproduced the torch ops bit for bit in the running
process, and the tests check it bit for bit too.

The C source is compiled with the system's C compiler (``$CC``, else ``cc``)
into a per-user cache the first time it is needed (well under a second, see
`hw7.engine.cbuild`) and loaded with ``ctypes``. Where no compiler works, `kernels`
says so once and returns None, and the optimizers fall back to the torch ops:
same numbers, slower. Each parameter buffer is a list of segments (one per layer, tensor and
config, see ``StackedMLP``), so per-config hyperparameters are scalars here, not
per-element tensors.
"""

from __future__ import annotations

import ctypes
import platform
import warnings
from pathlib import Path

import torch

from hw7.engine import cbuild

SOURCE = (Path(__file__).with_name("fused.c")).read_text()  # the kernel, compiled by `hw7.engine.cbuild`

# Pointers are passed as addresses (``tensor.data_ptr()``): contiguous float32 / int64 / int32 CPU tensors.
_P, _N, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
_SIGNATURES = {
    "hw7_sgd": [_P, _P, _P, _P, _P, _N, _P, _INT, _P, _P, _INT],
    "hw7_adam_moments": [_P, _P, _P, _P, _P, _P, _N, _P, _P, _P],
    "hw7_adam_update": [_P, _P, _P, _P, _P, _N, _P, _INT, _P, _P, ctypes.c_float, _INT],
}
_loaded: dict[str, ctypes.CDLL | None] = {}


class FallbackWarning(UserWarning):
    """The fused kernel is unavailable; the unfused torch ops are used (same numbers, slower)."""


def flags() -> list[str]:
    """Optimize for the instruction set ATen itself uses here; never contract a * b + c on our own."""
    flags = ["-O3", "-fPIC", "-shared", "-ffp-contract=off", "-fno-math-errno"]
    capability = torch.backends.cpu.get_cpu_capability()
    if platform.machine() in ("x86_64", "AMD64"):
        flags += {"AVX512": ["-march=x86-64-v4"], "AVX2": ["-march=x86-64-v3"]}.get(capability, [])
    return flags


def kernels() -> ctypes.CDLL | None:
    """The compiled kernels (compiled on first use, then cached), or None with one warning."""
    key = "\n".join([cbuild.compiler(), *flags(), str(cbuild.cache_dir())])
    if key in _loaded:
        return _loaded[key]
    try:
        lib = cbuild.load("fused", SOURCE, flags(), _SIGNATURES)
    except (OSError, RuntimeError) as e:
        warnings.warn(f"fused optimizer step unavailable ({e}); using unfused torch ops: "
                      "same results, slower", FallbackWarning, stacklevel=2)
        lib = None
    _loaded[key] = lib
    return lib
