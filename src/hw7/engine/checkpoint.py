"""Checkpoints of a group in training, so a stopped long run resumes where it was.

One file per group (``results/checkpoints/<group id>.pt``, not committed: the caller names it,
`hw7.results.store.checkpoint_path`), written
atomically (temporary file + rename) at the end of an epoch once ``every`` seconds
have passed since the last one. It holds everything the next epoch depends on: the
stacked parameters, the optimizer's state, the mini-batch order and augmentation
generators, the dropout generators, which configs are still alive, and the
histories so far; so a resumed run's numbers are bitwise the uninterrupted ones.
It is read with ``torch.load(weights_only=True)``: tensors and plain data only, and
resumed only if it is a regular file whose content belongs to the group (its keys,
epochs and every entry's type and size); anything else is ignored, with one line.
A checkpoint that cannot be written (a full disk) is skipped with one line: training goes on.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import tempfile
from pathlib import Path

import torch

from hw7.config import RunConfig
from hw7.engine.runs import HISTORY_KEYS

EVERY = 300.0  # seconds between checkpoints
TMP_PREFIX = ".tmp-"  # a checkpoint being written (never read back)
GENERATOR_STATES = (torch.Generator().get_state().numel(), 16)  # bytes of a CPU and of a CUDA generator's state


def save(path: Path, state: dict) -> None:
    """Write ``state`` atomically: a killed process leaves the previous checkpoint intact. If it cannot
    be written, say so in one line and keep the previous one."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=".pt")
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch's writer may report a failed write as a RuntimeError
        reason = getattr(exc, "strerror", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        print(f"could not save the checkpoint {path} ({reason}); training goes on without it",
              file=sys.stderr, flush=True)
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def _tensor(x, dtype: torch.dtype, numel: int | None = None, dim: int | None = None) -> bool:
    return (isinstance(x, torch.Tensor) and x.dtype == dtype and (numel is None or x.numel() == numel)
            and (dim is None or x.dim() == dim))


def _fault(state, keys: list[str], epochs: int, configs: list[RunConfig] | None) -> str | None:
    """Why ``state`` is not this group's checkpoint (None if it is): every entry `hw7.engine.trainer.fit`
    resumes from, with its type and size (the parameters' count is checked when ``configs`` are given)."""
    if not isinstance(state, dict):
        return f"it holds a {type(state).__name__}, not a checkpoint"
    if state.get("keys") != list(keys) or state.get("epochs") != epochs:
        return "it belongs to another group of runs"
    K, epoch = len(keys), state.get("epoch")
    if not (isinstance(epoch, int) and 1 <= epoch <= epochs):
        return f"its epoch {epoch!r} is not one of {epochs}"
    alive, diverged, hist = state.get("alive"), state.get("diverged"), state.get("hist")
    if not (isinstance(alive, list) and len(alive) == K and all(isinstance(a, bool) for a in alive)
            and isinstance(diverged, list) and len(diverged) == K
            and all(d is None or (isinstance(d, int) and 0 <= d < epoch) for d in diverged)):
        return "its alive and diverged lists are not one entry per run"
    if not (isinstance(hist, list) and len(hist) == K and all(
            isinstance(h, dict) and set(h) == set(HISTORY_KEYS)
            and all(isinstance(v, list) and len(v) == (epoch if d is None else d + 1) for v in h.values())
            for h, d in zip(hist, diverged))):
        return "its histories are not one per run, of its epochs"
    model, opt, ema = state.get("model"), state.get("optimizer"), state.get("ema")
    if not (isinstance(model, dict) and _tensor(model.get("theta"), torch.float32, dim=1)):
        return "it holds no parameters"
    n = model["theta"].numel()
    if n % K or (configs is not None and n != K * configs[0].n_params):
        return f"its {n} parameters are not those of this group"
    gens = model.get("dropout_gens")
    if not (_tensor(gens, torch.uint8, dim=2) and gens.shape[0] == K and gens.shape[1] in GENERATOR_STATES):
        return "its dropout generators are not one per run"
    running = model.get("running")
    widths = None if configs is None else [w for w in configs[0].sizes[1:-1] for _ in (0, 1) if configs[0].batch_norm]
    if not (isinstance(running, list) and all(_tensor(t, torch.float32, dim=2) and t.shape[0] == K for t in running)
            and (widths is None or [t.shape[1] for t in running] == widths)):
        return "its batch-norm statistics are not those of this group"
    if not (isinstance(opt, dict) and opt and all(
            _tensor(v, torch.float32, n) if name != "t" else _tensor(v, torch.int64, 1) for name, v in opt.items())):
        return "its optimizer state does not match its parameters"
    if configs is not None and (ema is None) != (configs[0].ema == 0):
        return "it does not hold the weight average this group keeps" if ema is None else "it holds a weight average"
    if ema is not None and not (isinstance(ema, dict) and _tensor(ema.get("theta"), torch.float32, n)
                                and _tensor(ema.get("n"), torch.int64, 1)):
        return "its weight average does not match its parameters"
    for name in ("order_gen", "aug_gen"):
        if not _tensor(state.get(name), torch.uint8, dim=1) or state[name].numel() not in GENERATOR_STATES:
            return f"its {name} is not a generator's state"
    return None


def load(path: Path, keys: list[str], epochs: int, configs: list[RunConfig] | None = None) -> dict | None:
    """The checkpoint of exactly this group and epoch count, or None: a missing file silently, anything
    else that is not this group's checkpoint (`_fault`: a stale, foreign or garbled file, a FIFO) with
    one line saying it was ignored. Never waits on a FIFO; with ``configs``, a file far larger than
    their checkpoint is not read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        fault = f"it cannot be read ({exc.strerror or exc})"
    else:
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            limit = 32 * len(keys) * configs[0].n_params + 2**26 if configs else None
            if not stat.S_ISREG(st.st_mode):
                fault = "it is not a regular file"
            elif limit is not None and st.st_size > limit:
                fault = f"its {st.st_size:,} bytes are far more than this group's checkpoint holds"
            else:
                try:
                    state = torch.load(io.BytesIO(f.read()), weights_only=True)
                    fault = _fault(state, keys, epochs, configs)
                except Exception as exc:  # whatever torch cannot unpickle: start over rather than fail
                    fault = f"torch cannot read it ({type(exc).__name__})"
    if fault:
        print(f"ignored the checkpoint {path}: {fault}; training from the start", file=sys.stderr, flush=True)
        return None
    return state


def remove(path: Path) -> None:
    """Remove a group's checkpoint (if it is a file: a directory in its place is left, and ignored)."""
    if os.path.lexists(path) and not os.path.isdir(path):
        path.unlink()
