"""A training epoch of narrow stacked networks in one compiled call (engine version 2).

What it is for: the report's learning-rate sweeps and deep networks are
784-30-10 and 784-30×8-10 nets trained at batch 10, 180,000 steps per run. At
that size a step is a few hundred small operations, and with torch ops their
per-call overhead, not arithmetic, is the cost. Here one C function runs a
whole epoch for a range of stacked configs: forward pass, softmax
cross-entropy, backward pass, the gradient norms the report plots, and the SGD
or Adam update fused with the weight gradient (each weight's gradient is formed
in registers and applied at once, never stored). Threads split the configs.

Why hand-written C and not ``torch.compile``: a compiled graph is still
launched from Python once per step (6,000 launches an epoch, each with its
guards and tensor bookkeeping), Inductor hands the matrix products to MKL
rather than fusing the weight gradient into the update, and when the previous
engine was tuned a compiled training step was slower than the hand-written
stacked one. A C loop over the whole epoch has none of that overhead. Why not
MKL for the first layer's products: a GEMM's summation order depends on the
matrix width, i.e. on how many configs share the stack, and on the thread count.

Numbers: every sum has a fixed order written in the code (dot products in
16 lanes, each a chain of fused multiply-adds over the inputs, lanes added as a
fixed tree; weight gradients summed over the batch in order), so a config's
run does not depend on which configs share its stack, on the thread count or
on the vector width the compiler picks (``fmaf`` is exact rounding everywhere;
``-ffp-contract=off`` keeps the compiler from adding its own; ``exp`` is
written out here). Only the C library's ``logf`` (once per image) and
``tanhf`` may round differently on another machine. A chunk of 16 pixels that
is zero in every image of a batch is skipped: its terms are exact zeros (for
finite weights; a config stops at its first non-finite loss). The equations are torch's (``nn.Linear``, ``cross_entropy``,
``torch.optim.SGD`` and ``Adam``), and the tests check the results against
them; the roundings are not theirs, which is why these runs carry their own
engine version.

Scope (`handles`): hidden layers at most ``MAX_WIDTH`` wide, SGD or Adam, no
dropout, batch norm, augmentation or weight average (fields a stacked group
shares), on the CPU; max-norm bounds are
applied (they may differ within a group). Wider layers are left to MKL's GEMM
(faster there, and there the per-call overhead no longer matters), as are the
regularized recipes. Without a C compiler these configs cannot be trained (a
clear error says so); their stored results still load.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from hw7.config import ACTIVATIONS, RunConfig
from hw7.engine import cbuild, fused
from hw7.engine.runs import COMPILED_ENGINE_VERSION, MAX_COMPILED_WIDTH, compiled

ENGINE_VERSION, MAX_WIDTH = COMPILED_ENGINE_VERSION, MAX_COMPILED_WIDTH
handles = compiled  # whether a config trains through this kernel (and so under ``ENGINE_VERSION``)

SOURCE = (Path(__file__).with_name("epoch_kernel.c")).read_text()  # the kernel, compiled by `hw7.engine.cbuild`

_P, _N, _INT = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
_SIGNATURE = [_P, _N, _N, _N, _N, _P, _P, _P, _P, _P, _P, _N, _N, _INT, _INT, _INT,
              _P, _P, _P, _P, _P, _P, _N, _INT, _P, _P, _P]
_loaded: dict[str, ctypes.CDLL] = {}


def kernel() -> ctypes.CDLL:
    """The compiled epoch (built on first use, then cached); ``RuntimeError`` naming the fix if it cannot be built.

    Built with the fused step's flags (`hw7.engine.fused`: ATen's vector instruction set, no
    contraction beyond the explicit ``fmaf``) at ``-O2``; the instruction set and the
    optimization level change speed, not numbers.
    """
    flags = [f if f != "-O3" else "-O2" for f in fused.flags()]  # -O3 spills the blocked sums: 20x slower
    key = "\n".join([cbuild.compiler(), *flags, str(cbuild.cache_dir())])
    if key not in _loaded:
        try:
            lib = cbuild.load("epoch", SOURCE, flags, {"hw7_epoch": _SIGNATURE})
        except (OSError, RuntimeError) as e:
            raise RuntimeError(f"narrow networks (hidden layers <= {MAX_WIDTH} units, no dropout) train through a "
                               f"compiled epoch, which could not be built: {e}. Install a C compiler (gcc or "
                               "clang; on macOS `xcode-select --install`) or set CC; stored runs load without it") from e
        lib.hw7_epoch.restype = ctypes.c_int
        _loaded[key] = lib
    return _loaded[key]


def _ptr(t: torch.Tensor | None, dtype: torch.dtype) -> int | None:
    if t is None:
        return None
    if t.dtype != dtype or not t.is_contiguous() or t.device.type != "cpu":
        raise ValueError(f"the compiled epoch needs contiguous {dtype} CPU tensors, got {t.dtype} on {t.device}")
    return t.data_ptr()


def train_epoch(model, opt, configs: list[RunConfig], x: torch.Tensor, y: torch.Tensor, order: torch.Tensor,
                lrs: list[float], track: bool = True, threads: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One epoch of a `hw7.engine.stacked.StackedMLP` and its `StackedSGD`/`StackedAdam` state, in place.

    ``lrs``: each config's learning rate this epoch (0: skip the config, e.g. after it
    diverged). Batches are ``order`` cut into ``batch_size`` pieces, as ``fit`` cuts them.
    Returns, per config, the sum over steps of the batch loss (NaN once non-finite)
    [K], of each layer's weight-gradient norm [L, K] and of the first-to-last ratio
    of those norms [K], as float32 like the torch path's sums. ``threads``
    (default: torch's thread count) split the configs; the numbers do not depend on it.
    """
    c0, K, L = configs[0], model.K, len(model.W)
    lib = kernel()
    adam = c0.optimizer == "adam"
    dims = torch.tensor(c0.sizes, dtype=torch.int64)
    hyper = {name: torch.tensor(v, dtype=torch.float32) for name, v in [
        ("neg_lr", [-lr for lr in lrs]), ("momentum", [c.momentum for c in configs]),
        ("wd", [c.weight_decay for c in configs]), ("b1", [c.betas[0] for c in configs]),
        ("b2", [c.betas[1] for c in configs]), ("max_norm", [c.max_norm for c in configs])]}
    s1, s2 = (opt.m, opt.v) if adam else (opt.buf, None)
    x, y, order = x.contiguous(), y.contiguous(), order.contiguous()
    loss = torch.zeros(K, dtype=torch.float64)
    norms, ratio = torch.zeros(L, K, dtype=torch.float64), torch.zeros(K, dtype=torch.float64)
    n = len(order)
    t0 = opt.t if adam else 0

    def run(k0: int, k1: int) -> int:
        return lib.hw7_epoch(_ptr(dims, torch.int64), L, K, k0, k1, _ptr(model.theta, torch.float32),
                             _ptr(s1, torch.float32), _ptr(s2, torch.float32), _ptr(x, torch.float32),
                             _ptr(y, torch.int64), _ptr(order, torch.int64), n, c0.batch_size,
                             ACTIVATIONS.index(c0.activation), int(adam), int(c0.nesterov),
                             *(_ptr(hyper[h], torch.float32) for h in ("neg_lr", "momentum", "wd", "b1", "b2", "max_norm")),
                             t0, int(track), _ptr(loss, torch.float64), _ptr(norms, torch.float64),
                             _ptr(ratio, torch.float64))

    T = max(1, min(K, threads or torch.get_num_threads()))
    bounds = [K * i // T for i in range(T + 1)]
    if T == 1:
        codes = [run(0, K)]
    else:
        with ThreadPoolExecutor(T) as pool:
            codes = list(pool.map(run, bounds[:-1], bounds[1:]))
    if any(codes):
        raise MemoryError("the compiled epoch could not allocate its scratch memory")
    if adam:
        opt.t += -(-n // c0.batch_size)
    return loss.float(), norms.float(), ratio.float()
