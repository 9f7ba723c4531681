"""Training one group of stacked configs on in-memory tensors: ``fit``, the one training loop.

The batch order, the evaluation and the gradient statistics are the assignment's
(`hw7.engine.training` is its loop as written); the configs of a group share one
stream of mini-batches and train as one stacked model, through the compiled epoch
for narrow networks (`hw7.engine.epoch_kernel`) or stacked torch ops otherwise
(`hw7.engine.stacked`). Nothing here knows about the run store: `hw7.results.sweep`
decides what to train and stores what ``fit`` returns.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Callable

import numpy
import torch
import torch.nn.functional as F
from tqdm import tqdm  # not tqdm.auto: no notebook widgets; disable=None silences it off a TTY

from hw7.config import DEVICES, RunConfig, lr_at
from hw7.data import MNIST, split_validation
from hw7.engine import cbuild, checkpoint as hw7_checkpoint, epoch_kernel
from hw7.engine.augment import augment_batch
from hw7.engine.runs import HISTORY_KEYS, finite_or_none, key_of
from hw7.engine.stacked import StackedAdam, StackedEMA, StackedMLP, StackedSGD

N_TRAIN_ACC = 10_000  # training accuracy is measured on this many training images each epoch


def epoch_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """The permutation ``DataLoader(shuffle=True, generator=g)`` yields for one epoch.

    Per epoch the loader's iterator draws a worker base seed from the generator,
    then its ``RandomSampler`` draws ``randperm(n)`` and, once exhausted, one more
    ``randperm(n)`` that it slices to nothing. We draw the same, so a config trained
    here sees exactly the batches ``training.train`` sees with that loader.
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    perm = torch.randperm(n, generator=generator)
    torch.randperm(n, generator=generator)
    return perm


def split_for(config: RunConfig, mnist: MNIST) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, eval_x, eval_y): all 60k vs test, or 50k vs the held-out 10k."""
    if config.eval_on == "test":
        return mnist.train_x, mnist.train_y, mnist.test_x, mnist.test_y
    fit, val = split_validation()
    return mnist.train_x[fit], mnist.train_y[fit], mnist.train_x[val], mnist.train_y[val]


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows of it."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def math_libraries() -> dict[str, str]:
    """What computes the numbers besides our own code: torch's build, its BLAS (MKL), oneDNN and the
    vector instructions its kernels use here, numpy's BLAS, and the C compiler of the compiled kernels."""
    config = torch.__config__.show()
    libraries = {"torch": torch.__version__, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                 "torch_blas": re.search(r"BLAS_INFO=(\w+)", config).group(1) if "BLAS_INFO=" in config else "none"}
    for name, pattern in (("mkl", r"Math Kernel Library Version (.+?) for"), ("onednn", r"MKL-DNN (v[\d.]+)")):
        found = re.search(pattern, config)
        libraries[name] = found.group(1).strip() if found else "none"
    blas = numpy.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    libraries["numpy_blas"] = f"{blas.get('name', '?')} {blas.get('version', '?')} (numpy {numpy.__version__})"
    try:
        cc = subprocess.run([cbuild.compiler(), "--version"], capture_output=True, text=True, timeout=10)
        libraries["cc"] = (cc.stdout.splitlines() or ["?"])[0]
    except (OSError, subprocess.TimeoutExpired):
        libraries["cc"] = "none"
    return libraries


def environment(device: torch.device) -> dict:
    """Where a run was computed: what its numbers can depend on (`hw7.results.check` compares them bitwise
    only on the same CPU model and libraries)."""
    return {"torch": torch.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "device": str(device), "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "cpu": cpu_model(), "libraries": dict(math_libraries())}


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda`` or ``auto``; ``ValueError`` (one line) for anything else or a missing GPU."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; allowed: {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA GPU is available here; use --device cpu (or auto)")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def torch_epoch(model: StackedMLP, opt: StackedSGD | StackedAdam, train_x: torch.Tensor, train_y: torch.Tensor,
                onehot_all: torch.Tensor, order: torch.Tensor, neg_lr: torch.Tensor, track_grads: bool,
                aug_gen: torch.Generator, ema: StackedEMA | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One epoch through the stacked torch ops (engine version 1): per config the sums over steps of
    the batch loss [K], of each layer's weight-gradient norm [L, K] and of their first-to-last ratio [K].
    With ``ema`` the weight average is updated after every step."""
    c0, K, L, dev = model.configs[0], model.K, len(model.W), train_x.device
    loss_sum = torch.zeros(K, device=dev)
    ratio_sum, norm_sum = torch.zeros(K, device=dev), torch.zeros(L, K, device=dev)
    # the epoch's data in batch order, copied once: each batch is then a view
    xs, ys, hots = (t.index_select(0, order).split(c0.batch_size) for t in (train_x, train_y, onehot_all))
    for x, y, onehot in zip(xs, ys, hots):
        if c0.augment != "none":
            x = augment_batch(x, c0.augment, aug_gen)
        loss_sum += model.loss_and_grad(x, y, onehot)
        if track_grads:
            norms = model.weight_grad_norms()
            norm_sum += norms
            ratio_sum += norms[0] / norms[-1]
        opt.step(neg_lr)
        model.apply_max_norm_()  # nothing when max_norm is 0 (off)
        if ema is not None:
            ema.update()
    return loss_sum, norm_sum, ratio_sum


def fit(configs: list[RunConfig], train_x: torch.Tensor, train_y: torch.Tensor,
        eval_x: torch.Tensor, eval_y: torch.Tensor, epochs: int | None = None,
        track_grads: bool = True, progress: bool | None = None,
        on_epoch: Callable[[int, list[dict]], bool] | None = None,
        checkpoint: Path | None = None, checkpoint_every: float = hw7_checkpoint.EVERY,
        ) -> tuple[StackedMLP, list[dict], list]:
    """Train configs of one group together on the given tensors (all on one device).

    Each epoch is one call of the compiled epoch for narrow networks
    (`hw7.engine.epoch_kernel.handles`; CPU only), else `torch_epoch`. Returns the model, one history per config and, per config, the epoch its
    training loss became non-finite (None if never). A diverged config stops
    updating (learning rate 0) and its history ends there; the others go on.
    ``on_epoch(epoch, histories)`` is called after each epoch; returning True
    stops training (how a tuner prunes a trial). With ``checkpoint`` the state is
    saved there at the end of an epoch once ``checkpoint_every`` seconds have
    passed, and training resumes from it if it exists (see `hw7.engine.checkpoint`).
    """
    if len({c.group_key() for c in configs}) != 1:
        raise ValueError("configs trained together need equal group_key(); use train_many")
    dev = train_x.device
    c0, K = configs[0], len(configs)
    compiled = epoch_kernel.handles(c0)
    if compiled and dev.type != "cpu":
        raise ValueError(f"{'-'.join(map(str, c0.sizes))} trains through the compiled epoch, on the CPU; "
                         f"its data is on {dev}")
    onehot_all = F.one_hot(train_y, 10).float()
    model = StackedMLP(configs, dev)
    opt = (StackedSGD if c0.optimizer == "sgd" else StackedAdam)(model, configs)
    ema = StackedEMA(model, c0.ema) if c0.ema else None
    order_gen = torch.Generator().manual_seed(c0.data_seed)
    aug_gen = torch.Generator(device=dev).manual_seed(c0.data_seed + 1)
    alive, diverged = [True] * K, [None] * K
    hist = [{m: [] for m in HISTORY_KEYS} for _ in configs]
    n_epochs = epochs or c0.epochs
    keys, first = [key_of(c) for c in configs] if checkpoint is not None else [], 0  # name the checkpoint
    state = hw7_checkpoint.load(checkpoint, keys, n_epochs) if checkpoint is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        order_gen.set_state(state["order_gen"])
        aug_gen.set_state(state["aug_gen"].to(aug_gen.get_state().device))
        first, alive, diverged, hist = state["epoch"], state["alive"], state["diverged"], state["hist"]
        if ema is not None:
            ema.load_state_dict(state["ema"])
    saved_at = time.monotonic()
    bar = tqdm(total=n_epochs, initial=first, disable=None if progress is None else not progress, leave=False,
               desc=f"{K}×{'-'.join(map(str, c0.sizes))} {c0.optimizer}")
    for epoch in range(first, n_epochs):
        start = time.perf_counter()
        lrs = [lr_at(c, epoch) * a for c, a in zip(configs, alive)]  # per config; 0 once diverged
        order = epoch_order(len(train_y), order_gen)
        n_b = -(-len(order) // c0.batch_size)
        if compiled:
            loss_sum, norm_sum, ratio_sum = epoch_kernel.train_epoch(model, opt, configs, train_x, train_y, order,
                                                                     lrs, track_grads)
        else:
            loss_sum, norm_sum, ratio_sum = torch_epoch(model, opt, train_x, train_y, onehot_all, order.to(dev),
                                                        torch.tensor([-lr for lr in lrs]), track_grads, aug_gen, ema)
        with ema.swapped() if ema is not None else contextlib.nullcontext():  # the average is what is measured
            eval_loss, eval_acc = model.evaluate(eval_x, eval_y)
            _, train_acc = model.evaluate(train_x[:N_TRAIN_ACC], train_y[:N_TRAIN_ACC])
        seconds = time.perf_counter() - start
        for k in (k for k in range(K) if alive[k]):
            h = hist[k]
            h["train_loss"].append(finite_or_none(loss_sum[k] / n_b))
            h["train_acc"].append(finite_or_none(train_acc[k]))
            h["eval_loss"].append(finite_or_none(eval_loss[k]))
            h["eval_acc"].append(finite_or_none(eval_acc[k]))
            h["grad_ratio"].append(finite_or_none(ratio_sum[k] / n_b) if track_grads else None)
            h["grad_norms"].append([finite_or_none(v) for v in norm_sum[:, k] / n_b]
                                   if track_grads else None)
            h["seconds"].append(seconds)
            if not torch.isfinite(loss_sum[k]):
                diverged[k], alive[k] = epoch, False
        if checkpoint is not None and time.monotonic() - saved_at >= checkpoint_every:
            hw7_checkpoint.save(checkpoint, {
                "keys": keys, "epochs": n_epochs, "epoch": epoch + 1, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "order_gen": order_gen.get_state(),
                "aug_gen": aug_gen.get_state().cpu(), "alive": alive, "diverged": diverged, "hist": hist}
                | ({"ema": ema.state_dict()} if ema is not None else {}))
            saved_at = time.monotonic()
        bar.update(1)
        bar.set_postfix(best_acc=f"{float(eval_acc.nan_to_num(0).max()):.4f}")
        if not any(alive) or (on_epoch is not None and on_epoch(epoch, hist)):
            break
    bar.close()
    if ema is not None:  # the final model is the average
        model.theta.copy_(ema.theta)
    return model, hist, diverged


def memory_needed(configs: list[RunConfig], n_train: int, n_eval: int, chunk: int = 10_000) -> int:
    """Bytes a group needs beyond the loaded data set, an estimate from above (float32 throughout).

    Counted in parameter-sized buffers: parameters and gradients, the optimizer's state
    (SGD: momentum and the per-element learning rate; Adam: two moments, scratch and
    learning rate) plus, for K > 1 configs, their per-element hyperparameters, and one
    network built for initialization. Then the training step's activations (value,
    dropout mask, gradient and derivative per hidden unit, K configs × the batch; with input
    dropout also each config's mask and dropped-out input), the
    evaluation pass (two consecutive layers' outputs for a chunk of images, K configs)
    and the epoch's shuffled copy of the training data. Within about 1.2× of the peak
    measured for 784-20000-10 (SGD and Adam).
    """
    c0, K = configs[0], len(configs)
    widths = c0.sizes[1:]
    params = K * c0.n_params
    buffers = (2 + (2 if c0.optimizer == "sgd" else 4) + (0 if K == 1 else 2 if c0.optimizer == "sgd" else 5)
               + (1 if c0.ema else 0))
    step = 4 * c0.batch_size * K * sum(widths) + (2 * c0.batch_size * K * 784 if c0.input_dropout else 0)
    evaluation = min(chunk, max(n_eval, N_TRAIN_ACC)) * K * max(a + b for a, b in zip(widths, widths[1:] + (0,)))
    data = n_train * (784 + 10) + (n_train + n_eval) * 784 * (c0.eval_on == "val")
    return 4 * (buffers * params + c0.n_params + step + evaluation + data)


def memory_available(device: torch.device) -> int:
    """Bytes free for a new allocation: the GPU's free memory, or the system's ``MemAvailable``."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    with open("/proc/meminfo") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["MemAvailable"].split()[0]) * 1024


def check_memory(configs: list[RunConfig], device: torch.device, n_train: int, n_eval: int) -> None:
    """Refuse, before allocating anything, a group this machine cannot hold."""
    need, have = memory_needed(configs, n_train, n_eval), memory_available(device)
    if need > have:
        raise ValueError(f"{len(configs)} × {'-'.join(map(str, configs[0].sizes))} needs about "
                         f"{need / 2**30:.1f} GiB to train, but only {have / 2**30:.1f} GiB of {device.type} "
                         "memory is available; use narrower layers, fewer configs per group (--max-group) "
                         "or a larger machine")
