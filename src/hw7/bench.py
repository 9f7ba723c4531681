"""Speed benchmarks (``make bench``): measured side by side in one run, printed as ratios.

Training: the assignment's way (torchvision ``Dataset`` with its per-sample
transform, ``DataLoader(batch_size=10)``, one ``Network`` with ``torch.optim.SGD``)
against ``hw7.sweep.fit`` training a sweep of 10 learning rates of the same
784-30-10 sigmoid network with the same SGD, for the same number of steps, both
extrapolated to 30 epochs (180,000 steps) per configuration. Peak memory of the
sweep is measured in a child process, so the baseline's memory does not count.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time

import torch

STEPS = 3000
RATES = tuple(10 ** (-4 + 4 * i / 9) for i in range(10))  # 10 learning rates, 1e-4 .. 1
FULL = 180_000  # optimizer steps in 30 epochs at batch 10


def assignment_style(steps: int) -> float:
    """Seconds per step of the assignment's loop (per-sample transform, DataLoader, torch.optim)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from hw7.data import ensure_mnist
    from hw7.nets import Network
    from hw7.training import make_optimizer

    root = ensure_mnist().parent.parent
    tf = transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x.view(-1))])
    loader = DataLoader(datasets.MNIST(str(root), train=True, transform=tf), batch_size=10, shuffle=True)
    torch.manual_seed(0)
    net = Network([784, 30, 10])
    opt = make_optimizer(net, "sgd", 0.001)
    start = None
    for i, (x, y) in enumerate(loader):
        if i == 100:  # warm-up excluded
            start = time.perf_counter()
        if i == 100 + steps:
            break
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def stacked(sizes: tuple[int, ...], rates, steps: int, queue=None) -> float:
    """Seconds per step of ``fit`` for all configs together (one epoch of ``steps`` batches)."""
    from hw7.config import RunConfig
    from hw7.data import load_mnist
    from hw7.sweep import fit

    torch.set_num_threads(1)
    m = load_mnist()
    configs = [RunConfig(sizes=sizes, lr=lr) for lr in rates]
    n = steps * 10
    x, y = m.train_x[:n], m.train_y[:n]
    start = time.perf_counter()
    fit(configs, x, y, x[:10], y[:10], epochs=1, progress=False)  # step cost; evaluation excluded
    seconds = (time.perf_counter() - start) / steps
    if queue is not None:
        queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20))
    return seconds


def in_child(sizes, rates, steps) -> tuple[float, float]:
    """(seconds per step, peak resident memory in GB) of a stacked run in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=stacked, args=(sizes, rates, steps, queue))
    p.start()
    result = queue.get()
    p.join()
    return result


def training() -> None:
    torch.set_num_threads(1)
    print(f"training benchmark: {STEPS} steps each, torch {torch.__version__}, 1 thread")
    base = assignment_style(STEPS)
    per_step, peak_gb = in_child((784, 30, 10), RATES, STEPS)
    per_config = per_step / len(RATES)
    print(f"  assignment-style loop, 1 config:     {base * 1e3:7.3f} ms/step -> {base * FULL:6.0f} s per 30-epoch config")
    print(f"  train_many, {len(RATES)} learning rates stacked: {per_step * 1e3:7.3f} ms/step -> "
          f"{per_config * FULL:6.1f} s per 30-epoch config")
    print(f"  speed-up per configuration: {base / per_config:.1f}x (goal >= 40x); "
          f"sweep peak memory {peak_gb:.2f} GB (goal <= 2 GB)")
    deep = (784,) + (30,) * 8 + (10,)
    for k in (1, 3):
        s, _ = in_child(deep, RATES[:k], STEPS)
        print(f"  deep 784-30x8-10, {k} stacked: {s * 1e3:.3f} ms/step -> {s * FULL / k:.1f} s per 30-epoch config")


def main(which: list[str] | tuple[str, ...] = ("descent", "training")) -> None:
    """Run the named benchmarks: ``descent`` (Problem 1) and ``training`` (the engine)."""
    for name in which:
        if name == "descent":
            from hw7.bench_descent import main as descent
            descent()
        elif name == "training":
            training()
        else:
            raise ValueError(f"unknown benchmark {name!r}; allowed: descent, training")
