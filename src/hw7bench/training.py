"""Speed benchmarks (``make bench``): every path measured side by side in one run, printed as ratios.

Training, all on the assignment's 784-30-10 sigmoid network at batch 10 with its
SGD (Nesterov momentum 0.8, weight decay 1e-5), in milliseconds per optimizer
step per configuration:

- the assignment's loop: torchvision ``Dataset`` with its per-sample transform,
  ``DataLoader(batch_size=10, shuffle=True)``, one ``Network``, ``torch.optim.SGD``;
- the same network and optimizer with the data as in-memory tensors;
- PyTorch's model-ensembling recipe: ``torch.func.stack_module_state`` of K = 8
  networks, ``vmap(functional_call)``, ``torch.optim.SGD`` on the stacked parameters;
- ``hw7.engine.trainer.fit`` (what ``train_many`` runs per group) at K = 11, the group the
  report's learning-rate sweeps train (11 rates per seed), and at K = 8, the
  recipe's K;

plus Adam through ``fit`` at K = 11 and the deep 784-30×8-10 network alone (K = 1,
as the report trains it). ``fit`` trains these narrow networks through the
compiled epoch (`hw7.engine.epoch_kernel`); its times include building the stacked
model and optimizer in every repetition, which a real 180,000-step run pays once. Each path runs a few hundred steps per repetition; the
paths take turns within a repetition (so a change in the machine's load hits all
of them alike) and the medians over repetitions are printed, at one thread and
at the machine's default thread count. Peak memory of a K = 11 sweep is measured
in a child process, so the other paths' memory does not count.
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import os
import resource
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

STEPS = 300  # optimizer steps per path per repetition
REPEATS = 5
WARMUP = 50
FULL = 180_000  # optimizer steps in 30 epochs at batch 10
SGD = dict(lr=0.001, momentum=0.8, nesterov=True, weight_decay=1e-5)
DEEP = (784,) + (30,) * 8 + (10,)


def rates(k: int) -> list[float]:
    """k log-spaced learning rates, 1e-3 .. 1 (as a sweep would stack them)."""
    return [10 ** (-3 + 3 * i / max(k - 1, 1)) for i in range(k)]


def assignment_loop() -> Callable[[int], None]:
    """The assignment's loop; the loader's iterator persists across calls (a new epoch when exhausted)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from hw7.data import ensure_mnist
    from hw7.engine.nets import Network

    root = ensure_mnist().parent.parent
    tf = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x.view(-1))])
    loader = DataLoader(datasets.MNIST(str(root), train=True, transform=tf), batch_size=10, shuffle=True)
    torch.manual_seed(0)
    net = Network([784, 30, 10])
    opt = torch.optim.SGD(net.parameters(), **SGD)
    batches = iter(loader)

    def run(steps: int) -> None:
        nonlocal batches
        for _ in range(steps):
            try:
                x, y = next(batches)
            except StopIteration:
                batches = iter(loader)
                x, y = next(batches)
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    return run


def in_memory(x: torch.Tensor, y: torch.Tensor) -> Callable[[int], None]:
    """The same network and optimizer, batches as views of tensors already in memory."""
    from hw7.engine.nets import Network

    torch.manual_seed(0)
    net = Network([784, 30, 10])
    opt = torch.optim.SGD(net.parameters(), **SGD)
    xs, ys = x.split(10), y.split(10)

    def run(steps: int) -> None:
        for i in range(steps):
            opt.zero_grad()
            F.cross_entropy(net(xs[i]), ys[i]).backward()
            opt.step()
    return run


def vmap_recipe(x: torch.Tensor, y: torch.Tensor, k: int = 8) -> Callable[[int], None]:
    """PyTorch's model-ensembling recipe (``torch.func``), k networks sharing each batch."""
    from torch.func import functional_call, stack_module_state, vmap

    from hw7.engine.nets import Network

    torch.manual_seed(0)
    nets = [Network([784, 30, 10]) for _ in range(k)]
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")
    opt = torch.optim.SGD(params.values(), **SGD)
    forward = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)), in_dims=(0, 0, None))
    xs, ys = x.split(10), y.split(10)

    def run(steps: int) -> None:
        for i in range(steps):
            opt.zero_grad()
            logits = forward(params, buffers, xs[i])  # [k, B, 10]
            # the sum of the k networks' mean losses: each network gets its own gradient
            loss = F.cross_entropy(logits.reshape(-1, 10), ys[i].repeat(k), reduction="sum") / len(ys[i])
            loss.backward()
            opt.step()
    return run


def engine(x: torch.Tensor, y: torch.Tensor, k: int, sizes=(784, 30, 10), optimizer: str = "sgd") -> Callable[[int], None]:
    """``hw7.engine.trainer.fit`` on ``steps`` batches: k configs (one learning rate each) as one stacked model."""
    from hw7.config import RunConfig
    from hw7.engine import trainer

    scale = 0.01 if optimizer == "adam" else 1.0
    configs = [RunConfig(sizes=sizes, optimizer=optimizer, lr=lr * scale, epochs=1) for lr in rates(k)]

    def run(steps: int) -> None:
        """One epoch of ``steps`` batches. The end-of-epoch evaluation runs on 10 images: a real
        epoch (6,000 steps) spreads its 20,000 evaluated images thin, a 300-step one would not."""
        n = steps * 10
        train_acc_images, trainer.N_TRAIN_ACC = trainer.N_TRAIN_ACC, 10
        try:
            trainer.fit(configs, x[:n], y[:n], x[:10], y[:10], progress=False)
        finally:
            trainer.N_TRAIN_ACC = train_acc_images
    return run


PATHS = [  # (label, configs per step, factory(x, y))
    ("assignment's loop: Dataset + DataLoader(10) + torch.optim", 1, lambda x, y: assignment_loop()),
    ("same network, in-memory tensors + torch.optim", 1, in_memory),
    ("vmap ensembling recipe (torch.func) + torch.optim", 8, lambda x, y: vmap_recipe(x, y, 8)),
    ("hw7 trainer.fit (train_many), 8 learning rates", 8, lambda x, y: engine(x, y, 8)),
    ("hw7 trainer.fit (train_many), 11 learning rates", 11, lambda x, y: engine(x, y, 11)),
    ("hw7 trainer.fit, Adam, 11 learning rates", 11, lambda x, y: engine(x, y, 11, optimizer="adam")),
    ("hw7 trainer.fit, deep 784-30x8-10, 1 config", 1, lambda x, y: engine(x, y, 1, sizes=DEEP)),
]
BASELINE, RECIPE, TARGET = 0, 2, 4  # rows the ratios refer to


def measure(threads: int, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Median seconds per optimizer step of every path (all configs of the step together)."""
    torch.set_num_threads(threads)
    runs = [factory(x, y) for _, _, factory in PATHS]
    for run in runs:
        run(WARMUP)
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(REPEATS):
        for run, t in zip(runs, times):
            start = time.perf_counter()
            run(STEPS)
            t.append((time.perf_counter() - start) / STEPS)
    return [statistics.median(t) for t in times]


def peak_memory_gb(queue) -> None:
    """In a child process: peak resident memory of fit on a K = 11 sweep."""
    from hw7.data import load_mnist

    torch.set_num_threads(1)
    m = load_mnist()
    engine(m.train_x, m.train_y, 11)(STEPS)
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)


def training() -> None:
    from hw7.data import load_mnist
    from hw7.engine.stacked import fused_kernel

    default = torch.get_num_threads()
    kernel = "fused C kernel" if fused_kernel() is not None else "torch ops (fallback: see the warning above)"
    m = load_mnist()
    order = torch.randperm(len(m.train_y), generator=torch.Generator().manual_seed(0))
    x, y = m.train_x[order], m.train_y[order]  # shuffled once, as a loader would
    load = os.getloadavg()[0]
    print(f"training benchmark: torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"{os.cpu_count()} CPUs, stacked optimizer step: {kernel}")
    print(f"784-30-10 sigmoid unless noted, batch 10, SGD Nesterov 0.8, weight decay 1e-5; "
          f"medians of {REPEATS} interleaved repetitions of {STEPS} steps")
    results = {t: measure(t, x, y) for t in sorted({1, default})}
    busy = max(load, os.getloadavg()[0]) > 0.5 * (os.cpu_count() or 1)
    print(f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
          + (": other work was running, so the timings are inflated and the ratios uncertain" if busy else "") + "\n")
    head = "".join(f" | {f'{t} thread' + ('s' if t > 1 else ''):>26s}" for t in results)
    print(f"{'path':55s} {'K':>3s}{head}")
    print(f"{'':55s} {'':>3s}" + " | ms/step/config   speed-up" * len(results))
    for i, (label, k, _) in enumerate(PATHS):
        cells = ""
        for per_step in results.values():
            per_config = per_step[i] / k
            cells += f" | {per_config * 1e3:14.4f} {per_step[BASELINE] / per_config:9.1f}x"
        print(f"{label:55s} {k:3d}{cells}")
    for t, per_step in results.items():
        base, recipe, ours = per_step[BASELINE], per_step[RECIPE] / 8, per_step[TARGET] / 11
        print(f"\n{t} thread{'s' if t > 1 else ''}: train_many (K = 11) per configuration is {base / ours:.1f}x the "
              f"assignment's loop (goal >= 40x) and {recipe / ours:.1f}x the vmap recipe (goal >= 8x); "
              f"30 epochs: {base * FULL:.0f} s in the assignment's loop, {ours * FULL:.1f} s per config stacked, "
              f"{per_step[-1] * FULL:.1f} s for the deep network")
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=peak_memory_gb, args=(queue,))
    child.start()
    peak = queue.get()
    child.join()
    print(f"peak memory of a K = 11 sweep (own process, MNIST in memory): {peak:.2f} GB (goal <= 2 GB)")
