"""The compiled epoch (engine version 2): same equations as torch, numbers fixed by the code alone."""

import pytest
import torch

from hw7.config import RunConfig
from hw7.data import MNIST
from hw7.engine import epoch_kernel, fused, trainer
from hw7.engine.stacked import StackedAdam, StackedMLP, StackedSGD
from hw7.results import store, sweep
from tests.engine.test_engine import reference_recipe_params


@pytest.fixture(scope="module")
def small(mnist):
    """500 training images (50 steps per epoch at batch 10) and 500 test images."""
    return MNIST(mnist.train_x[:500], mnist.train_y[:500], mnist.test_x[:500], mnist.test_y[:500], mnist.root)


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def test_scope_and_engine_versions():
    """Narrow nets without dropout or augmentation train here (version 2); the rest through torch ops (1)."""
    assert epoch_kernel.handles(RunConfig()) and store.engine_version(RunConfig()) == 2
    assert epoch_kernel.handles(RunConfig(sizes=(784,) + (30,) * 8 + (10,), max_norm=2.0))
    for other in [RunConfig(sizes=(784, 65, 10)), RunConfig(dropout=0.1), RunConfig(input_dropout=0.2),
                  RunConfig(augment="elastic")]:
        assert not epoch_kernel.handles(other) and store.engine_version(other) == 1
    assert RunConfig().key(1) != store.key_of(RunConfig()) == RunConfig().key(2)


@pytest.mark.parametrize("sizes, activation, optimizer, batch", [
    ((784, 30, 30, 10), "tanh", "sgd", 10), ((784, 30, 30, 10), "relu", "adam", 10),
    ((784, 20, 10), "sigmoid", "adam", 32)])  # 500 images: the last batch of an epoch has 20
def test_matches_plain_pytorch(small, sizes, activation, optimizer, batch):
    """Deeper and other activations than the engine test's: equal to nn.Linear + autograd + torch.optim
    (within rounding) after 5 epochs, with a warm-up and cosine schedule and per-config max-norm bounds."""
    base = RunConfig(sizes=sizes, activation=activation, optimizer=optimizer, momentum=0.9, weight_decay=1e-4,
                     schedule="cosine", warmup_epochs=1, epochs=5, lr=0.02 if optimizer == "sgd" else 2e-3,
                     batch_size=batch)
    configs = [base.replace(seed=1), base.replace(seed=2, max_norm=1.0)]
    model, hist, diverged = trainer.fit(configs, small.train_x, small.train_y, small.test_x, small.test_y,
                                      progress=False)
    assert diverged == [None, None]
    for k, c in enumerate(configs):
        stacked = [t[k] for pair in zip(model.W, model.b) for t in pair]
        for ours, ref in zip(stacked, reference_recipe_params(c, small, 5)):
            torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    hidden = [w[1].norm(dim=1).max() for w in model.W[:-1]]
    assert all(n <= 1.0 + 1e-5 for n in hidden) and hidden[0] >= 1.0 - 1e-4  # the bound holds and binds


def test_a_run_does_not_depend_on_its_stack_or_threads(small):
    """A config trained alone, in a stack of three, and split over two threads: the same bits."""
    configs = [RunConfig(lr=lr, seed=s, epochs=2) for s, lr in enumerate((0.1, 0.03, 1.0))]
    runs, default = [], torch.get_num_threads()
    for group, threads in [(configs, 1), (configs, 2), (configs[1:2], 1)]:
        torch.set_num_threads(threads)
        try:
            model, hist, _ = trainer.fit(group, small.train_x, small.train_y, small.test_x, small.test_y,
                                       progress=False)
        finally:
            torch.set_num_threads(default)
        k = group.index(configs[1])
        runs.append((torch.cat([w[k].reshape(-1) for w in model.W]), hist[k]["train_loss"], hist[k]["grad_ratio"]))
    for weights, loss, ratio in runs[1:]:
        assert torch.equal(bits(weights), bits(runs[0][0])) and loss == runs[0][1] and ratio == runs[0][2]


def test_numbers_do_not_depend_on_compiler_flags(small, tmp_path, monkeypatch):
    """Built without optimization or vector instructions, the kernel computes the same bits: every
    rounding is written in the source (fmaf, a fixed lane tree, our own exp)."""
    configs = [RunConfig(lr=0.1, epochs=1), RunConfig(optimizer="adam", lr=1e-3, epochs=1)]

    def one_epoch(c):
        model = StackedMLP([c])
        opt = StackedSGD(model, [c]) if c.optimizer == "sgd" else StackedAdam(model, [c])
        order = torch.randperm(500, generator=torch.Generator().manual_seed(0))
        loss, norms, ratio = epoch_kernel.train_epoch(model, opt, [c], small.train_x, small.train_y, order, [c.lr])
        return model.theta.clone(), loss, norms

    default = [one_epoch(c) for c in configs]
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(fused, "flags", lambda: ["-O0", "-fPIC", "-shared", "-ffp-contract=off"])
    plain = [one_epoch(c) for c in configs]
    assert list(tmp_path.glob("hw7/epoch-*.so"))  # really a second build
    for (t1, l1, n1), (t2, l2, n2) in zip(default, plain):
        assert torch.equal(bits(t1), bits(t2)) and torch.equal(l1, l2) and torch.equal(n1, n2)


def test_without_a_compiler_narrow_runs_say_how_to_fix_it(small, tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.warns(fused.FallbackWarning), \
            pytest.raises(RuntimeError, match="no C compiler 'no-such-compiler'.*Install a C compiler"):
        trainer.fit([RunConfig(epochs=1)], small.train_x, small.train_y, small.test_x, small.test_y, progress=False)


def test_compiled_epoch_checks_its_tensors(small):
    x = small.train_x.to(torch.float64)
    with pytest.raises(ValueError, match="contiguous torch.float32 CPU"):
        trainer.fit([RunConfig(epochs=1)], x, small.train_y, small.test_x, small.test_y, progress=False)


def test_narrow_runs_train_on_the_cpu_whatever_the_device(small, monkeypatch, capsys, tmp_path):
    """Asked for a GPU, a narrow network still trains through the compiled epoch, says so, and its
    record names the CPU."""
    monkeypatch.setattr(sweep, "resolve_device", lambda device: torch.device("cuda"))
    (record,) = sweep.train_group([RunConfig(epochs=1)], small, device="cuda", progress=False, root=tmp_path)
    assert "784-30-10 trains through the compiled epoch, on the CPU (not cuda)" in capsys.readouterr().err
    assert record["environment"]["device"] == "cpu" and record["engine_version"] == 2
