"""The training engine: config validation, the stacked trainer against torch.optim, the run store."""

import hashlib
import json
import math

import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, TensorDataset

from hw7.config import ADDED_FIELDS, RunConfig, lr_at
from hw7.data import MNIST
from hw7.engine import runs as engines, trainer
from hw7.engine.nets import Network
from hw7.engine.stacked import StackedSGD
from hw7.engine.training import make_optimizer, make_scheduler, train
from hw7.results import store, sweep


@pytest.fixture(scope="module")
def small(mnist):
    """500 training images (50 steps per epoch at batch 10) and 500 test images."""
    return MNIST(mnist.train_x[:500], mnist.train_y[:500], mnist.test_x[:500], mnist.test_y[:500], mnist.root)


# -- configs -------------------------------------------------------------------
@pytest.mark.parametrize("field, value, message", [
    ("sizes", (784, 0, 10), "sizes"),
    ("sizes", (100, 10), "784"),
    ("activation", "softplus", "activation.*sigmoid"),
    ("init", "orthogonal", "init.*xavier_normal"),
    ("optimizer", "rmsprop", "optimizer.*sgd"),
    ("lr", 0.0, "lr"),
    ("lr", -1e-3, "lr"),
    ("batch_size", 0, "batch_size"),
    ("schedule", "exp", "schedule"),
    ("dropout", 1.0, "dropout"),
    ("input_dropout", 1.0, r"input_dropout=1\.0: in \[0, 1\)"),
    ("input_dropout", -0.1, r"input_dropout=-0\.1: in \[0, 1\)"),
    ("max_norm", -1.0, r"max_norm=-1\.0: must be >= 0 and finite \(0: off\)"),
    ("max_norm", math.inf, r"max_norm=inf: must be >= 0 and finite"),
    ("ema", 1.0, r"ema=1\.0: in \[0, 1\) \(0: off\)"),
    ("ema", -0.5, r"ema=-0\.5: in \[0, 1\)"),
    ("warmup_epochs", -1, r"warmup_epochs=-1: in \[0, epochs\) = \[0, 30\)"),
    ("warmup_epochs", 30, r"warmup_epochs=30: in \[0, epochs\) = \[0, 30\)"),
    ("warmup_epochs", 2, r"warmup_epochs=2: a warm-up needs --schedule cosine"),
])
def test_invalid_config_names_field(field, value, message):
    with pytest.raises(ValueError, match=message) as error:
        RunConfig(**{field: value})
    assert "\n" not in str(error.value)  # one line


def test_added_fields_leave_keys_unchanged():
    """A field added later is hashed only away from its default, so keys stored before it existed stay."""
    c = RunConfig(sizes=(784, 100, 10), lr=0.1)
    d = c.to_dict()
    del d["extra"]
    for name in ADDED_FIELDS:
        del d[name]
    before = hashlib.sha256(json.dumps({"config": d, "engine": 1}, sort_keys=True).encode()).hexdigest()[:16]
    assert c.key(1) == before  # the key formula of the engine before these fields
    changed = [c.replace(input_dropout=0.2), c.replace(max_norm=3.0),
               c.replace(schedule="cosine", warmup_epochs=2), c.replace(ema=0.999)]
    assert len({c.key(1)} | {x.key(1) for x in changed}) == 1 + len(changed)
    assert c.replace(max_norm=3).key(1) == c.replace(max_norm=3.0).key(1)  # an int and a float: one run
    assert RunConfig.from_dict(json.loads(c.replace(max_norm=3.0).to_json())) == c.replace(max_norm=3.0)


def test_frame_fills_added_fields_of_older_records():
    """A record written before the added fields existed reads as their defaults, beside a new one."""
    history = {m: [0.5] for m in store.HISTORY_KEYS}
    old = {f: v for f, v in RunConfig(epochs=1).to_dict().items() if f not in ("input_dropout", "max_norm")}
    records = [{"key": "a", "config": old, "history": history, "diverged_epoch": None, "group_size": 1},
               {"key": "b", "config": RunConfig(epochs=1, max_norm=3.0).to_dict(), "history": history,
                "diverged_epoch": None, "group_size": 1}]
    df = store.frame(records)
    assert df["max_norm"].tolist() == [0.0, 3.0] and df["input_dropout"].tolist() == [0.0, 0.0]


def test_every_committed_record_recomputes_its_key():
    """Every record in results/runs/ (written before the added fields existed) still has its key."""
    paths = store.record_paths()
    assert paths, "no committed records"
    for path in paths:
        record = json.loads(path.read_text())
        assert RunConfig.from_dict(record["config"]).key(record["engine_version"]) == record["key"] == path.stem


def test_config_roundtrip_and_keys():
    c = RunConfig(sizes=[784, 64, 10], betas=[0.8, 0.99], lr=0.01)
    back = RunConfig.from_dict(json.loads(c.to_json()))
    assert back == c and back.key(1) == c.key(1)
    assert c.key(1) != c.key(2)  # the engine version is part of the key
    assert c.key(1) != c.replace(lr=0.02).key(1)
    assert c.group_key() == c.replace(lr=0.02, seed=5).group_key()  # per-config fields
    assert c.group_key() != c.replace(batch_size=20).group_key()
    with pytest.raises(ValueError, match="unknown config fields"):
        RunConfig.from_dict({"learning_rate": 0.1})


def test_network_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        Network([784, 10], activation="gelu")
    with pytest.raises(ValueError, match="init"):
        Network([784, 10], init="ones")
    net = Network([784, 30, 10], "relu", "kaiming_uniform")
    assert all(float(layer.bias.detach().abs().sum()) == 0 for layer in net.layers)
    assert net(torch.zeros(2, 784)).shape == (2, 10)


# -- stacked trainer vs torch.optim ----------------------------------------------
def reference_params(c: RunConfig, data: MNIST, epochs: int) -> list[torch.Tensor]:
    """One config alone: Network + torch.optim + torch's scheduler, batches from a seeded DataLoader."""
    torch.manual_seed(c.seed)
    net = Network(c.sizes, c.activation, c.init)
    opt = make_optimizer(net, c.optimizer, c.lr, c.momentum, c.nesterov, c.betas, c.weight_decay)
    sched = make_scheduler(opt, c.schedule, c.step_size, c.gamma, c.epochs)
    loader = DataLoader(TensorDataset(data.train_x, data.train_y), batch_size=c.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(c.data_seed))
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        if sched:
            sched.step()
    return [t.detach() for layer in net.layers for t in (layer.weight, layer.bias)]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_stacked_matches_torch_optim(small, optimizer):
    """Three configs trained together equal each trained alone, after 250 steps, with StepLR."""
    base = RunConfig(optimizer=optimizer, schedule="step", step_size=2, gamma=0.5, epochs=5)
    if optimizer == "sgd":
        configs = [base.replace(lr=0.05, momentum=0.8, weight_decay=1e-5, seed=1),
                   base.replace(lr=0.02, momentum=0.5, weight_decay=1e-3, seed=2),
                   base.replace(lr=0.1, momentum=0.9, weight_decay=0.0, seed=3)]
    else:
        configs = [base.replace(lr=0.003, betas=(0.9, 0.999), weight_decay=1e-5, seed=1),
                   base.replace(lr=0.001, betas=(0.8, 0.99), weight_decay=1e-3, seed=2),
                   base.replace(lr=0.002, betas=(0.95, 0.9), weight_decay=0.0, seed=3)]
    model, hist, diverged = trainer.fit(configs, small.train_x, small.train_y, small.test_x, small.test_y,
                                      progress=False)
    assert diverged == [None] * 3 and len(hist[0]["train_loss"]) == 5
    for k, c in enumerate(configs):
        stacked = [t[k] for pair in zip(model.W, model.b) for t in pair]
        for ours, ref in zip(stacked, reference_params(c, small, 5)):
            torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def reference_recipe_params(c: RunConfig, data: MNIST, epochs: int) -> list[torch.Tensor]:
    """One config alone in plain PyTorch: nn.Linear layers, autograd, ``torch.optim`` (SGD with Nesterov,
    Adam, AdamW), torch's warm-up and cosine schedulers, ``torch.renorm`` of the hidden layers after every
    step, input and hidden dropout with the masks the stacked engine draws (one generator seeded with
    the config's seed; per step the input mask, then one mask per hidden layer), and with ``ema`` the
    weights of ``AveragedModel(get_ema_multi_avg_fn)`` updated after every step."""
    torch.manual_seed(c.seed)
    net = Network(c.sizes, c.activation, c.init)
    opt = make_optimizer(net, c.optimizer, c.lr, c.momentum, c.nesterov, c.betas, c.weight_decay)
    sched = make_scheduler(opt, c.schedule, c.step_size, c.gamma, c.epochs, c.warmup_epochs)
    loader = DataLoader(TensorDataset(data.train_x, data.train_y), batch_size=c.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(c.data_seed))
    masks = torch.Generator().manual_seed(c.seed)
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[c.activation]
    average = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(c.ema)) if c.ema else None

    def drop(h: torch.Tensor, p: float) -> torch.Tensor:
        return h * (torch.bernoulli(torch.full(h.shape, 1 - p), generator=masks) / (1 - p)) if p else h

    for _ in range(epochs):
        for x, y in loader:
            h = drop(x, c.input_dropout)
            for layer in net.layers[:-1]:
                h = drop(act(layer(h)), c.dropout)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net.layers[-1](h), y).backward()
            opt.step()
            if c.max_norm:
                with torch.no_grad():
                    for layer in net.layers[:-1]:
                        layer.weight.copy_(torch.renorm(layer.weight, 2, 0, c.max_norm))
            if average is not None:
                average.update_parameters(net)
        sched.step()
    final = average.module if average is not None else net
    return [t.detach() for layer in final.layers for t in (layer.weight, layer.bias)]


@pytest.mark.parametrize("lrs, bounds", [((0.03, 0.02, 0.01), (0.0, 1.0, 1.5)), ((0.03, 0.01), (1.2, 1.2))],
                         ids=["per-config", "shared"])
def test_recipe_matches_plain_pytorch(small, lrs, bounds):
    """The dropout recipe (input and hidden dropout, max-norm, warm-up then cosine, Nesterov SGD) stacked
    equals each config trained alone in plain PyTorch, after 250 steps; the bounds are active.

    tanh, not ReLU, and learning rates up to 0.03: a ReLU whose input lies within rounding of 0, or
    a larger rate with dropout on 500 images, turns a last-bit difference into a different run within
    250 steps (the reference itself, with its initial weights changed by 1e-7 relative, moves by 0.3 at
    lr 0.1); here that change moves the reference's weights by about 1e-6, as does the stacked engine.
    """
    base = RunConfig(sizes=(784, 32, 16, 10), activation="tanh", input_dropout=0.2, dropout=0.3, momentum=0.9,
                     weight_decay=1e-5, schedule="cosine", warmup_epochs=2, epochs=5)
    configs = [base.replace(lr=lr, max_norm=c, seed=k + 1) for k, (lr, c) in enumerate(zip(lrs, bounds))]
    model, hist, diverged = trainer.fit(configs, small.train_x, small.train_y, small.test_x, small.test_y,
                                      progress=False)
    assert diverged == [None] * len(configs) and len(hist[0]["train_loss"]) == 5
    for k, c in enumerate(configs):
        stacked = [t[k] for pair in zip(model.W, model.b) for t in pair]
        for ours, ref in zip(stacked, reference_recipe_params(c, small, 5)):
            torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
        norms = [w[k].norm(dim=1).max() for w in model.W[:-1]]
        if c.max_norm:  # every hidden unit within its bound, and the first layer's at it
            assert all(n <= c.max_norm * (1 + 1e-5) for n in norms) and norms[0] >= c.max_norm * (1 - 1e-4)
        else:  # unbounded, each hidden layer grows past the others' bounds
            assert all(n > max(bounds) for n in norms)


def test_adamw_and_weight_average_match_plain_pytorch(small):
    """AdamW (decoupled decay, per-config rates and decays) with dropout and an average of the weights,
    stacked, equals each config alone with torch.optim.AdamW and AveragedModel after 250 steps; the final
    model and the measured accuracy are the average's."""
    base = RunConfig(sizes=(784, 32, 16, 10), activation="tanh", optimizer="adamw", betas=(0.9, 0.99),
                     dropout=0.2, input_dropout=0.1, schedule="cosine", epochs=5, ema=0.95)
    configs = [base.replace(lr=2e-3, weight_decay=0.05, seed=1), base.replace(lr=1e-3, weight_decay=0.01, seed=2)]
    model, hist, diverged = trainer.fit(configs, small.train_x, small.train_y, small.test_x, small.test_y,
                                      progress=False)
    assert diverged == [None, None]
    for k, c in enumerate(configs):
        ref = reference_recipe_params(c, small, 5)
        stacked = [t[k] for pair in zip(model.W, model.b) for t in pair]
        for ours, theirs in zip(stacked, ref):
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)
        net = Network(c.sizes, c.activation)
        for layer, (w, b) in zip(net.layers, zip(ref[::2], ref[1::2])):
            layer.weight.data, layer.bias.data = w, b
        accuracy = (net(small.test_x).argmax(1) == small.test_y).float().mean()
        assert hist[k]["eval_acc"][-1] == pytest.approx(float(accuracy), abs=1e-6)
    plain = trainer.fit([configs[0].replace(ema=0.0)], small.train_x, small.train_y, small.test_x, small.test_y,
                      progress=False)[0]
    assert not torch.equal(plain.W[0][0], model.W[0][0])  # the average is not the last weights


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_batch_norm_matches_plain_pytorch(small, optimizer):
    """Batch norm (with input and hidden dropout, max-norm, an average of the weights) stacked equals each
    config alone as nn.Linear (no bias in effect) -> nn.BatchNorm1d -> activation -> dropout with autograd
    and torch.optim, after 250 steps: weights, scales and shifts, running statistics, and the evaluated
    accuracy."""
    base = RunConfig(sizes=(784, 32, 16, 10), activation="relu", init="kaiming_uniform", batch_norm=True,
                     optimizer=optimizer, momentum=0.9, input_dropout=0.1, dropout=0.2, max_norm=3.0,
                     schedule="cosine", warmup_epochs=1, epochs=5, batch_size=20, ema=0.9)
    lrs = (0.02, 0.01) if optimizer == "sgd" else (2e-3, 1e-3)
    configs = [base.replace(lr=lr, weight_decay=wd, seed=k + 1) for k, (lr, wd) in enumerate(zip(lrs, (1e-4, 0.05)))]
    model, hist, diverged = trainer.fit(configs, small.train_x, small.train_y, small.test_x, small.test_y,
                                      progress=False)
    assert diverged == [None, None] and model.batch_norm
    for k, c in enumerate(configs):
        torch.manual_seed(c.seed)
        net = Network(c.sizes, c.activation, c.init)
        norms = torch.nn.ModuleList(torch.nn.BatchNorm1d(o) for o in c.sizes[1:-1])
        for layer in net.layers[:-1]:  # the normalized layers' biases stay 0 (as bias=False)
            layer.bias.requires_grad_(False)
        both = torch.nn.ModuleList([net, norms])
        opt = make_optimizer(both, c.optimizer, c.lr, c.momentum, c.nesterov, c.betas, c.weight_decay)
        sched = make_scheduler(opt, c.schedule, c.step_size, c.gamma, c.epochs, c.warmup_epochs)
        average = AveragedModel(both, multi_avg_fn=get_ema_multi_avg_fn(c.ema), use_buffers=False)
        loader = DataLoader(TensorDataset(small.train_x, small.train_y), batch_size=c.batch_size, shuffle=True,
                            generator=torch.Generator().manual_seed(c.data_seed))
        masks = torch.Generator().manual_seed(c.seed)

        def drop(h, p):
            return h * (torch.bernoulli(torch.full(h.shape, 1 - p), generator=masks) / (1 - p))

        for _ in range(c.epochs):
            for x, y in loader:
                h = drop(x, c.input_dropout)
                for layer, norm in zip(net.layers[:-1], norms):
                    h = drop(torch.relu(norm(layer(h))), c.dropout)
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net.layers[-1](h), y).backward()
                opt.step()
                with torch.no_grad():
                    for layer in net.layers[:-1]:
                        layer.weight.copy_(torch.renorm(layer.weight, 2, 0, c.max_norm))
                average.update_parameters(both)
            sched.step()
        ref_net, ref_norms = average.module
        ours = [t[k] for pair in zip(model.W, model.b) for t in pair] + \
               [t[k] for pair in zip(model.gamma, model.beta) for t in pair] + \
               [t[k] for pair in model.running for t in pair]
        theirs = [t.detach() for layer in ref_net.layers for t in (layer.weight, layer.bias)] + \
                 [t.detach() for n in ref_norms for t in (n.weight, n.bias)] + \
                 [t for n in norms for t in (n.running_mean, n.running_var)]  # the trained net's statistics
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        ref_norms.load_state_dict({**ref_norms.state_dict(), **{
            f"{i}.{name}": getattr(n, name) for i, n in enumerate(norms) for name in ("running_mean", "running_var")}})
        ref_norms.eval()
        h = small.test_x
        for layer, norm in zip(ref_net.layers[:-1], ref_norms):
            h = torch.relu(norm(layer(h)))
        accuracy = (ref_net.layers[-1](h).argmax(1) == small.test_y).float().mean()
        assert hist[k]["eval_acc"][-1] == pytest.approx(float(accuracy), abs=1e-6)


def test_max_norm_renorms_hidden_rows_only():
    """Rows of hidden layers over the bound are scaled to it (as torch.renorm); the output layer and a
    config without a bound are untouched."""
    from hw7.engine.stacked import StackedMLP

    configs = [RunConfig(sizes=(784, 20, 12, 10), max_norm=c, seed=k) for k, c in enumerate((0.0, 0.5, 2.0))]
    model = StackedMLP(configs)
    model.theta.mul_(3.0)
    before = [w.clone() for w in model.W]
    model.apply_max_norm_()
    for k, c in enumerate(configs):
        assert torch.equal(model.W[-1][k], before[-1][k])
        for w, old in zip(model.W[:-1], before[:-1]):
            expected = torch.renorm(old[k], 2, 0, c.max_norm) if c.max_norm else old[k]
            torch.testing.assert_close(w[k], expected, rtol=1e-6, atol=0)
    assert (before[0][1].norm(dim=1) > 0.5).all()  # the bound was active
    off = StackedMLP([RunConfig(sizes=(784, 20, 10))])
    theta = off.theta.clone()
    off.apply_max_norm_()
    assert torch.equal(off.theta, theta)


def test_input_dropout_masks(mnist):
    """Masks keep 1 - p of the pixels, scaled by 1 / (1 - p); a config's masks depend on its seed only
    (not on its stack-mates), are drawn afresh each step, and evaluation uses none."""
    from hw7.engine.stacked import StackedMLP

    x = mnist.train_x[:200]
    c = RunConfig(sizes=(784, 16, 10), input_dropout=0.2, dropout=0.5, seed=7)
    model = StackedMLP([c.replace(seed=3), c])
    _, saved = model.forward(x, train=True)
    mask = saved[0][1]
    assert mask.shape == (2, 200, 784)
    assert mask.unique().tolist() == pytest.approx([0.0, 1 / 0.8])
    assert (mask > 0).float().mean().item() == pytest.approx(0.8, abs=0.01)
    assert not torch.equal(mask[0], mask[1])
    alone = StackedMLP([c])
    assert torch.equal(alone.forward(x, train=True)[1][0][1][0], mask[1])  # the same as in the stack
    assert not torch.equal(alone.forward(x, train=True)[1][0][1][0], mask[1])  # the next step's mask is new
    assert model.forward(x)[1][0][1] is None
    assert RunConfig(sizes=(784, 16, 10)).input_dropout == 0 and StackedMLP([RunConfig()]).forward(x, train=True)[1][0][1] is None


def test_train_with_dataloader_agrees_with_stacked(small):
    """The assignment-style train() and the stacked path give the same per-epoch results."""
    configs = [RunConfig(lr=0.05, epochs=2, seed=s) for s in (0, 1)]
    _, hist, _ = trainer.fit(configs, small.train_x, small.train_y, small.test_x, small.test_y, progress=False)
    for c, h in zip(configs, hist):
        torch.manual_seed(c.seed)
        loader = DataLoader(TensorDataset(small.train_x, small.train_y), batch_size=10, shuffle=True,
                            generator=torch.Generator().manual_seed(c.data_seed))
        ref = train(Network(c.sizes), loader, epochs=2, eta=c.lr, test_data=(small.test_x, small.test_y))
        for key in ("train_loss", "eval_loss", "eval_acc", "grad_ratio"):
            assert ref[key] == pytest.approx(h[key], rel=1e-4), key
        assert ref["grad_norms"][1] == pytest.approx(h["grad_norms"][1], rel=1e-4)


def test_divergence_is_recorded_and_others_continue(small):
    ok = RunConfig(sizes=(784, 30, 10), activation="relu", init="kaiming_uniform", lr=0.01, epochs=3)
    bad = ok.replace(lr=1e4, seed=1)
    _, hist, diverged = trainer.fit([ok, bad], small.train_x, small.train_y, small.test_x, small.test_y,
                                  progress=False)
    _, alone, _ = trainer.fit([ok], small.train_x, small.train_y, small.test_x, small.test_y, progress=False)
    assert diverged[0] is None and diverged[1] is not None
    assert len(hist[1]["train_loss"]) == diverged[1] + 1 and hist[1]["train_loss"][-1] is None
    assert hist[0]["eval_acc"] == pytest.approx(alone[0]["eval_acc"], abs=1e-6)


def test_lr_schedules():
    c = RunConfig(lr=1.0, schedule="step", step_size=2, gamma=0.5, epochs=10)
    assert [lr_at(c, e) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    cos = c.replace(schedule="cosine")
    assert lr_at(cos, 0) == 1.0 and lr_at(cos, 5) == pytest.approx(0.5) and lr_at(cos, 10) < 1e-12


def test_cosine_warmup():
    """Linear warm-up to lr over W epochs, then the cosine over the rest; W = 0 is the plain cosine."""
    c = RunConfig(lr=0.1, schedule="cosine", warmup_epochs=3, epochs=11)
    assert [lr_at(c, e) for e in range(4)] == pytest.approx([0.025, 0.05, 0.075, 0.1], rel=1e-15)
    assert lr_at(c, 7) == pytest.approx(0.05, rel=1e-12)  # half-way through the 8 cosine epochs
    assert lr_at(c, 11) < 1e-15
    plain = c.replace(warmup_epochs=0)
    assert [lr_at(plain, e) for e in range(11)] == [0.1 * 0.5 * (1 + math.cos(math.pi * e / 11)) for e in range(11)]
    # the same rates as torch's schedulers, which the reference trainer uses
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=c.lr)
    sched = make_scheduler(opt, "cosine", epochs=c.epochs, warmup_epochs=c.warmup_epochs)
    for e in range(c.epochs):
        assert opt.param_groups[0]["lr"] == pytest.approx(lr_at(c, e), rel=1e-12, abs=1e-15)
        opt.step()
        sched.step()


# -- run store -------------------------------------------------------------------
def test_store_trains_missing_only_and_resumes(small, tmp_path, monkeypatch):
    configs = [RunConfig(lr=lr, epochs=1, batch_size=50) for lr in (0.1, 0.2)]
    calls = []
    real = sweep.train_group
    monkeypatch.setattr(sweep, "train_group", lambda group, *a, **k: calls.append(len(group)) or real(group, *a, **k))
    first = sweep.train_many(configs[:1], small, root=tmp_path, progress=False)
    both = sweep.train_many(configs, small, root=tmp_path, progress=False)
    # the second call trained only the missing config (a narrow network's training does not depend on
    # its stack); the stored one was kept, and the new record names the one config it was trained with
    assert calls == [1, 1]
    assert both[0] == first[0] and both[1]["group"] == [store.key_of(configs[1])]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        f"{store.key_of(c)}.json" for c in configs)  # no temp files left
    df = store.frame(both)
    assert len(df) == 2 and set(df["lr"]) == {0.1, 0.2} and df["eval_acc"].between(0, 1).all()
    with pytest.raises(RuntimeError, match="not in the store"):
        sweep.train_many([configs[0].replace(lr=0.3)], small, root=tmp_path, train_missing=False)


def test_store_writes_atomically(tmp_path, monkeypatch):
    record = {"key": "abc", "engine_version": engines.TORCH_ENGINE_VERSION, "x": 1}
    store.save(record, tmp_path)

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken_dump)
    with pytest.raises(OSError):
        store.save(dict(record, x=2), tmp_path, replace=True)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["abc.json"]
    assert json.loads((tmp_path / "runs" / "abc.json").read_text())["x"] == 1
    monkeypatch.undo()
    with pytest.raises(FileExistsError):  # a key is stored once: the first writer wins
        store.save(dict(record, x=3), tmp_path)
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["abc.json"]
    assert json.loads((tmp_path / "runs" / "abc.json").read_text())["x"] == 1


def test_stored_run_integrity(mnist):
    """Re-train a stored run's whole group for one epoch: its first-epoch numbers come back.

    Same thread count as when it was stored (the summation order of the matrix
    products depends on it). Exact on the machine that stored it; the tolerance
    allows another processor's rounding and is far below what a change in the
    training semantics produces. Learning rates above 0.3 are chaotic (a rounding
    difference grows to a different run within an epoch), so they are not compared.
    """
    records = [r for r in store.all_records() if r["config"]["sizes"] == [784, 30, 10]]
    if not records:
        pytest.skip("no stored 784-30-10 run yet")
    record = min(records, key=lambda r: (r["group_size"], r["key"]))
    by_key = {r["key"]: r for r in store.all_records()}
    group = [RunConfig.from_dict(by_key[k]["config"]) for k in record["group"]]
    threads = torch.get_num_threads()
    torch.set_num_threads(record["environment"]["threads"])
    try:
        fresh = {r["key"]: r for r in sweep.train_group(group, mnist, epochs=1, progress=False)}
    finally:
        torch.set_num_threads(threads)
    compared = 0
    for config, key in zip(group, record["group"]):
        if config.lr > 0.3:
            continue
        stored, again = by_key[key]["history"], fresh[key]["history"]
        assert again["train_loss"][0] == pytest.approx(stored["train_loss"][0], rel=1e-4)
        assert again["eval_acc"][0] == pytest.approx(stored["eval_acc"][0], abs=1e-3)
        assert again["grad_ratio"][0] == pytest.approx(stored["grad_ratio"][0], rel=1e-4)
        compared += 1
    assert compared >= 1


# -- fused optimizer step ------------------------------------------------------------
def _optimizer_pair(configs, fused_kernel: bool):
    from hw7.engine.stacked import StackedAdam, StackedMLP, StackedSGD

    model = StackedMLP(configs)
    opt = (StackedSGD if configs[0].optimizer == "sgd" else StackedAdam)(model, configs)
    if not fused_kernel:
        opt.kernel = None
    return model, opt


def assert_same_steps(first, second, neg_lr: torch.Tensor, gen: torch.Generator, steps: int = 5) -> None:
    """Both (model, optimizer) pairs take the same random gradients: parameters and state bit for bit equal."""
    (m1, o1), (m2, o2) = first, second
    for _ in range(steps):
        g = torch.randn(m1.grad.shape, generator=gen) * 0.1
        m1.grad.copy_(g)
        m2.grad.copy_(g)
        o1.step(neg_lr)
        o2.step(neg_lr)
    states = ["buf"] if isinstance(o1, StackedSGD) else ["m", "v"]
    for a, b in [(m1.theta, m2.theta)] + [(getattr(o1, s), getattr(o2, s)) for s in states]:
        assert torch.equal(a.view(torch.int32), b.view(torch.int32))


@pytest.mark.parametrize("configs", [
    [RunConfig(lr=lr) for lr in (0.01, 0.1, 0.5)],  # shared momentum and weight decay
    [RunConfig(lr=0.05, momentum=m, weight_decay=w, seed=i) for i, (m, w) in enumerate([(0.8, 1e-5), (0.5, 1e-3), (0.9, 0.0)])],
    [RunConfig(nesterov=False, momentum=m, lr=0.1, seed=i) for i, m in enumerate((0.0, 0.9))],
    [RunConfig(optimizer="adam", lr=lr) for lr in (1e-3, 1e-2)],  # shared betas
    [RunConfig(optimizer="adam", lr=1e-3, betas=b, weight_decay=w, seed=i)
     for i, (b, w) in enumerate([((0.9, 0.999), 1e-5), ((0.8, 0.99), 1e-3), ((0.3, 0.4), 0.0)])],  # lerp weights >= 0.5
    [RunConfig(optimizer="adam", sizes=(784, 30, 30, 10), lr=1e-3)],
], ids=["sgd-shared", "sgd-per-config", "sgd-plain", "adam-shared", "adam-per-config", "adam-deep"])
@pytest.mark.parametrize("lr_shape", ["per-config", "per-element"])
def test_fused_step_equals_torch_ops_bitwise(configs, lr_shape):
    """The C kernel reproduces the torch ops' roundings exactly (the stored runs depend on it)."""
    from hw7.engine import fused

    if fused.kernels() is None:
        pytest.skip("no C compiler: the fused kernel is not built here")
    (m1, o1), (m2, o2) = _optimizer_pair(configs, True), _optimizer_pair(configs, False)
    gen = torch.Generator().manual_seed(0)
    neg_lr = torch.tensor([-c.lr for c in configs])
    if lr_shape == "per-element":
        neg_lr = m1.expand(neg_lr)
    assert_same_steps((m1, o1), (m2, o2), neg_lr, gen)


def test_fused_adamw_step_equals_torch_ops_bitwise():
    """AdamW through the fused kernel (no L2 term, the decay as a torch multiply) and through torch ops."""
    from hw7.engine.stacked import fused_kernel

    if fused_kernel() is None:
        pytest.skip("no C compiler: the fused kernel is not built here")
    configs = [RunConfig(optimizer="adamw", lr=1e-3, weight_decay=w, seed=i) for i, w in enumerate((0.05, 0.0))]
    (m1, o1), (m2, o2) = _optimizer_pair(configs, True), _optimizer_pair(configs, False)
    assert o1.kernel is not None and o2.kernel is None
    neg_lr, gen = torch.tensor([-1e-3, -3e-3]), torch.Generator().manual_seed(0)
    assert_same_steps((m1, o1), (m2, o2), neg_lr, gen)
    with pytest.raises(ValueError, match="one learning rate per config"):
        o1.step(torch.full_like(m1.theta, -1e-3))


def test_fused_step_falls_back_without_compiler(small, tmp_path, monkeypatch):
    """No C compiler: one clear warning, then the torch ops give the same numbers (a recipe with dropout,
    which the stacked torch ops train)."""
    from hw7.engine import fused

    configs = [RunConfig(lr=lr, dropout=0.1, epochs=1) for lr in (0.05, 0.2)]
    _, with_kernel, _ = trainer.fit(configs, small.train_x, small.train_y, small.test_x, small.test_y, progress=False)
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.warns(fused.FallbackWarning, match="no C compiler 'no-such-compiler'.*same results, slower"):
        assert fused.kernels() is None
    _, without, _ = trainer.fit(configs, small.train_x, small.train_y, small.test_x, small.test_y, progress=False)
    for a, b in zip(with_kernel, without):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_fused_kernel_that_rounds_otherwise_is_not_used(tmp_path, monkeypatch):
    """A kernel built to contract a * b + c everywhere fails the per-process check: torch ops instead."""
    from hw7.engine import fused, stacked

    if fused.kernels() is None:
        pytest.skip("no C compiler: the fused kernel is not built here")
    contracting = [f.replace("-ffp-contract=off", "-ffp-contract=fast") for f in fused.flags()]
    monkeypatch.setattr(fused, "flags", lambda: contracting)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fused.kernels() is not None
    with pytest.warns(fused.FallbackWarning, match="rounds differently"):
        assert stacked.fused_kernel() is None


def test_optimizer_rejects_bad_learning_rates():
    model, opt = _optimizer_pair([RunConfig(lr=0.1), RunConfig(lr=0.2)], True)
    if opt.kernel is None:
        pytest.skip("no C compiler: the fused kernel is not built here")
    with pytest.raises(ValueError, match="neg_lr must be .* 2 values or one per parameter"):
        opt.step(torch.tensor([-0.1, -0.2, -0.3]))


def test_bench_paths_run(mnist, monkeypatch):
    """Every path of ``make bench`` trains (a smoke test: two steps each, nothing timed or compared)."""
    from hw7bench import training as bench

    monkeypatch.setattr(bench, "STEPS", 2)
    monkeypatch.setattr(bench, "REPEATS", 1)
    monkeypatch.setattr(bench, "WARMUP", 1)
    threads = torch.get_num_threads()
    try:
        seconds = bench.measure(1, mnist.train_x[:100], mnist.train_y[:100])
    finally:
        torch.set_num_threads(threads)
    assert len(seconds) == len(bench.PATHS) and all(s > 0 for s in seconds)


def test_bench_command_line_names_the_benchmarks(capsys):
    """``make bench`` (``python -m hw7bench``, no names) runs both benchmarks; named ones run in the
    order given; an unknown name is a usage error that lists the benchmarks."""
    from hw7bench.__main__ import parse

    assert parse([]) == ["descent", "training"]
    assert parse(["training", "descent"]) == ["training", "descent"]
    with pytest.raises(SystemExit) as exit:
        parse(["speed"])
    assert exit.value.code == 2
    assert "unknown benchmark 'speed'; choose from descent, training" in capsys.readouterr().err
