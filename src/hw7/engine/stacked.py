"""K copies of one dense network trained together, each with its own hyperparameters.

The engine of the wide and regularized networks (engine version 1; narrow
networks without dropout train through `hw7.engine.epoch_kernel`, which also uses this
class's parameter layout, initialization and evaluation). Why stacking: at small
sizes the cost of a training step is per-operation overhead (autograd,
optimizer bookkeeping), not arithmetic. So we train K configurations that share
a shape and a stream of mini-batches as one stacked model: the first layer of all K is one matrix product
``[B, 784] @ [784, K*H]``, later layers are batched products over K, and the
backward pass is written out by hand (three products per layer), which avoids
autograd's overhead. ``torch.optim`` cannot hold a different learning rate per
stacked model, so the SGD and Adam updates are written here too, following
torch's own update equations (the tests check both against ``torch.optim``).

All parameters live in one flat buffer, layer by layer (``W_0`` of all K configs,
then ``b_0`` of all K, ...), so each layer's stacked weight is a contiguous view
and one optimizer update covers every parameter of every config. On the CPU that
update is one fused pass (`hw7.engine.fused`), with the torch ops below as the fallback
that it reproduces bit for bit.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import torch

from hw7.config import RunConfig
from hw7.engine import fused
from hw7.engine.nets import Network


class StackedMLP:
    """Parameters, forward and hand-written backward of K networks of one shape."""

    def __init__(self, configs: list[RunConfig], device: torch.device | str = "cpu"):
        c0 = configs[0]
        self.configs = configs
        self.K, self.sizes, self.activation = len(configs), c0.sizes, c0.activation
        self.dropout, self.input_dropout = c0.dropout, c0.input_dropout
        # max-norm bound per config (0: off): one value when shared, else per config
        norms = [c.max_norm for c in configs]
        self.max_norm = norms[0] if len(set(norms)) == 1 else norms
        K, shapes = self.K, list(zip(c0.sizes[1:], c0.sizes[:-1]))
        # per config: W_0, b_0, (with batch norm: its scale and shift), W_1, ...; each block holds all K configs
        self.batch_norm = c0.batch_norm
        normed = [c0.batch_norm and l < len(shapes) - 1 for l in range(len(shapes))]
        self.block_sizes = [size for (o, i), bn in zip(shapes, normed) for size in ((o * i, o) + (o, o) * bn)]
        n = K * sum(self.block_sizes)
        self.theta, self.grad = torch.empty(n, device=device), torch.zeros(n, device=device)
        self.W, self.b, self.gW, self.gb, off = [], [], [], [], 0
        self.gamma, self.beta, self.g_gamma, self.g_beta, self.running = [], [], [], [], []
        for (o, i), bn in zip(shapes, normed):
            for buf, views in ((self.theta, self.W), (self.grad, self.gW)):
                views.append(buf[off:off + K * o * i].view(K, o, i))
            off += K * o * i
            vectors = ((self.b, self.gb),) + ((self.gamma, self.g_gamma), (self.beta, self.g_beta)) * bn
            for values, grads in vectors:
                values.append(self.theta[off:off + K * o].view(K, o))
                grads.append(self.grad[off:off + K * o].view(K, o))
                off += K * o
            if bn:  # nn.BatchNorm1d's initial scale 1, shift 0, running mean 0 and variance 1
                self.gamma[-1].fill_(1.0)
                self.beta[-1].fill_(0.0)
                self.running.append((torch.zeros(K, o, device=device), torch.ones(K, o, device=device)))
        nets: dict[tuple, Network] = {}  # a sweep's configs share seeds: one network per seed
        for k, c in enumerate(configs):
            if (c.seed, c.init) not in nets:
                # the same initial weights as torch.manual_seed(seed); Network(...) trained alone. Only the CPU
                # generator: seeding CUDA's too (what torch.manual_seed adds) costs 0.7 ms per call without a GPU
                torch.default_generator.manual_seed(c.seed)
                nets[c.seed, c.init] = Network(c.sizes, c.activation, c.init)
            for l, layer in enumerate(nets[c.seed, c.init].layers):
                self.W[l][k] = layer.weight.detach().to(device)
                self.b[l][k] = layer.bias.detach().to(device)
        self.dropout_gens = [torch.Generator().manual_seed(c.seed) for c in configs]
        # the flat buffer as segments of one config each (layer by layer, W then b, config by config):
        # the fused optimizer step reads per-config hyperparameters per segment
        # views the training step uses every step, made once (same strides: the same kernels run)
        self.W0_t = self.W[0].view(K * c0.sizes[1], -1).t()  # [784, K*H0]
        self.gW0 = self.gW[0].view(K * c0.sizes[1], -1)
        self.W_t = [w.transpose(1, 2) for w in self.W]
        self.b_row = [b.unsqueeze(1) for b in self.b]
        self.gW_flat = [g.view(K, -1) for g in self.gW]
        lengths = torch.tensor(self.block_sizes).repeat_interleave(K)
        self.seg_start = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)])
        self.seg_config = torch.arange(K, dtype=torch.int32).repeat(len(self.block_sizes))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What a checkpoint needs: the parameters, the dropout generators' states and (batch norm)
        the running statistics."""
        return {"theta": self.theta.detach().cpu().clone(),
                "dropout_gens": torch.stack([g.get_state() for g in self.dropout_gens]),
                "running": [t.cpu().clone() for pair in self.running for t in pair]}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        self.theta.copy_(d["theta"])
        for t, saved in zip((t for pair in self.running for t in pair), d.get("running", [])):
            t.copy_(saved)
        for g, state in zip(self.dropout_gens, d["dropout_gens"]):
            g.set_state(state.clone())  # a row of the stacked states is a view; set_state needs its own storage

    def per_config(self, values: list[float]) -> float | torch.Tensor:
        """A plain float when every config has the same value (cheaper updates, bitwise the
        same result), else one value per element of the flat buffer (``expand``)."""
        return float(values[0]) if len(set(values)) == 1 else self.expand(values)

    def expand(self, values) -> torch.Tensor:
        """Per-config values [K] to one value per element of the flat parameter buffer.

        (Built block by block with ``expand``: advanced indexing with a
        per-element index is ten times slower on the CPU.)
        """
        v = torch.as_tensor(values, dtype=torch.float32, device=self.theta.device)
        return torch.cat([v[:, None].expand(self.K, n).reshape(-1) for n in self.block_sizes])

    # -- activations ------------------------------------------------------
    def _act_(self, z: torch.Tensor) -> torch.Tensor:
        if self.activation == "sigmoid":
            return z.sigmoid_()
        if self.activation == "relu":
            return z.relu_()
        return z.tanh_()

    def _act_grad(self, h: torch.Tensor) -> torch.Tensor:
        """Derivative of the activation, from its output."""
        if self.activation == "sigmoid":
            return h - h * h
        if self.activation == "relu":
            return (h > 0).to(h.dtype)
        return 1 - h * h

    def _dropout_mask(self, shape: tuple[int, int], p: float) -> torch.Tensor:
        """Inverted-dropout masks [K, B, H] for dropout probability ``p``, each config from its
        own generator (so a config's run does not depend on which others share its stack).
        Each training step draws the input mask first (with input dropout), then one per hidden layer."""
        keep = 1.0 - p
        masks = [torch.bernoulli(torch.full(shape, keep), generator=g) for g in self.dropout_gens]
        return torch.stack(masks).to(self.theta.device) / keep

    # -- forward / backward ------------------------------------------------
    def forward(self, x: torch.Tensor, train: bool = False) -> tuple[torch.Tensor, list]:
        """Logits [K, B, 10] for a shared batch x [B, 784]; also what backward needs."""
        K, B, L = self.K, x.shape[0], len(self.W)
        in_mask = self._dropout_mask(x.shape, self.input_dropout) if train and self.input_dropout else None
        if in_mask is None:  # all K configs see the same input: one product for the first layer
            z = torch.addmm(self.b[0].view(-1), x, self.W0_t)
            z = z.view(B, K, -1).transpose(0, 1)  # [K, B, H0]
        else:  # each config its own dropped-out input [K, B, 784]
            z = torch.baddbmm(self.b_row[0], x * in_mask, self.W_t[0])
        # per layer: (its input before dropout: x or an activation output, mask or None,
        # the batch norm's normalized values and inverse deviation before that activation, or None)
        saved = [(x, in_mask, None)]
        for l in range(1, L + 1):
            if l == L:
                return z, saved
            norm = None
            if self.batch_norm:
                z, norm = self._batch_norm(z, l - 1, train)
            h = self._act_(z)
            mask = self._dropout_mask(h.shape[1:], self.dropout) if train and self.dropout else None
            saved.append((h, mask, norm))
            h_in = h * mask if mask is not None else h
            z = torch.baddbmm(self.b_row[l], h_in, self.W_t[l])
        return z, saved

    def loss_and_grad(self, x: torch.Tensor, y: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        """Cross-entropy per config [K]; fills ``self.grad`` with its gradient."""
        B, L = x.shape[0], len(self.W)
        logits, saved = self.forward(x, train=True)
        logp = logits.log_softmax(-1)
        loss = -(logp * onehot).sum(-1).mean(1)
        dz = logp.exp_().sub_(onehot).div_(B)  # d loss / d logits
        for l in range(L - 1, 0, -1):
            h, mask, norm = saved[l]
            h_in = h * mask if mask is not None else h
            torch.bmm(dz.transpose(1, 2), h_in, out=self.gW[l])
            torch.sum(dz, 1, out=self.gb[l])
            dh = torch.bmm(dz, self.W[l])
            if mask is not None:
                dh.mul_(mask)
            dz = dh.mul_(self._act_grad(h))
            if norm is not None:
                dz = self._batch_norm_grad(dz, l - 1, *norm)
        in_mask = saved[0][1]
        if in_mask is not None:
            torch.bmm(dz.transpose(1, 2), x * in_mask, out=self.gW[0])
            torch.sum(dz, 1, out=self.gb[0])
        else:
            dz0 = dz.transpose(0, 1).reshape(B, -1)  # [B, K*H0], matching the fused first layer
            torch.mm(dz0.t(), x, out=self.gW0)
            torch.sum(dz0, 0, out=self.gb[0].view(-1))
        for j in range(len(self.running)):
            # batch norm removes any constant: the bias of a normalized layer has gradient 0 (up to
            # rounding, which Adam would blow up into steps of size lr). It starts at 0 and stays
            # there, as nn.Linear(bias=False) would.
            self.gb[j].zero_()
        return loss

    # -- batch normalization (nn.BatchNorm1d: eps 1e-5, momentum 0.1) ------------
    def _batch_norm(self, z: torch.Tensor, j: int, train: bool) -> tuple[torch.Tensor, tuple]:
        """Hidden layer j's pre-activations z [K, B, H] normalized over the batch (in training; the
        running statistics in evaluation), scaled and shifted per config; also what the gradient needs."""
        mean, var = self.running[j]
        if train:
            B = z.shape[1]
            batch_var, batch_mean = torch.var_mean(z, 1, correction=0)
            mean.mul_(0.9).add_(batch_mean, alpha=0.1)  # the running variance is the unbiased one
            var.mul_(0.9).add_(batch_var * (B / (B - 1)), alpha=0.1)
            mean, var = batch_mean, batch_var
        inv = (var + 1e-5).rsqrt_().unsqueeze(1)
        zhat = (z - mean.unsqueeze(1)).mul_(inv)
        return torch.addcmul(self.beta[j].unsqueeze(1), zhat, self.gamma[j].unsqueeze(1)), (zhat, inv)

    def _batch_norm_grad(self, dy: torch.Tensor, j: int, zhat: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        """The gradient of the loss at hidden layer j's pre-activations, from that at the batch norm's
        output; fills the gradients of its scale and shift."""
        torch.sum(dy * zhat, 1, out=self.g_gamma[j])
        torch.sum(dy, 1, out=self.g_beta[j])
        d = dy * self.gamma[j].unsqueeze(1)  # d loss / d zhat
        centered = d - d.mean(1, keepdim=True) - zhat * (d * zhat).mean(1, keepdim=True)
        return centered.mul_(inv)

    @torch.no_grad()
    def apply_max_norm_(self) -> None:
        """Rescale each hidden unit's incoming weights (a row of a hidden layer's W, not the
        output layer's) to norm <= the config's ``max_norm``, as ``torch.renorm(W, 2, 0, c)``
        does (that op, on the rows of all configs at once when they share the bound)."""
        if not self.max_norm:
            return
        for w in self.W[:-1]:
            if isinstance(self.max_norm, float):
                w.view(-1, w.shape[-1]).renorm_(2, 0, self.max_norm)
                continue
            for k, c in enumerate(self.max_norm):
                if c:
                    w[k].renorm_(2, 0, c)

    def weight_grad_norms(self) -> torch.Tensor:
        """[L, K]: norm of each layer's weight gradient, per config."""
        return torch.stack([g.norm(dim=1) for g in self.gW_flat])

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy and accuracy per config, [K] each."""
        loss = torch.zeros(self.K, device=x.device)
        correct = torch.zeros(self.K, device=x.device)
        for xs, ys in zip(x.split(chunk), y.split(chunk)):
            logits, _ = self.forward(xs)
            loss += torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), ys.expand(self.K, -1), reduction="none").sum(1)
            correct += (logits.argmax(-1) == ys).sum(1)
        return loss / len(y), correct / len(y)


def axpy_(y: torch.Tensor, x: torch.Tensor, a: float | torch.Tensor) -> torch.Tensor:
    """y += a * x, for a scalar or per-element ``a``."""
    return y.add_(x, alpha=a) if isinstance(a, float) else y.addcmul_(x, a)


_verified: dict[int, bool] = {}  # id of a loaded kernel library -> it reproduced the torch ops on this machine


def fused_kernel():
    """`hw7.engine.fused.kernels`, used only once it has reproduced the torch ops bit for bit on this machine.

    The kernel copies the roundings of ATen's CPU kernels as built for x86 with
    AVX2 or AVX-512 (fused multiply-adds); elsewhere ATen may round otherwise,
    so each process checks a few steps of every update variant before using it.
    """
    lib = fused.kernels()
    if lib is None:
        return None
    if id(lib) not in _verified:
        _verified[id(lib)] = False  # meanwhile the check's reference optimizers get the torch ops
        _verified[id(lib)] = _reproduces_torch_ops(lib)
        if not _verified[id(lib)]:
            warnings.warn("the fused optimizer step rounds differently from torch's ops on this machine; "
                          "using the torch ops: same results, slower", fused.FallbackWarning, stacklevel=2)
    return lib if _verified[id(lib)] else None


def _reproduces_torch_ops(lib) -> bool:
    """Three steps of every update variant, fused kernel vs torch ops, on a small stack: bit for bit equal?"""
    base = RunConfig(sizes=(784, 3, 10), epochs=1)
    groups = [[base.replace(momentum=m, weight_decay=w, seed=i) for i, (m, w) in enumerate([(0.8, 1e-5), (0.5, 1e-3), (0.9, 0.0)])],
              [base.replace(nesterov=False, momentum=m, seed=i) for i, m in enumerate((0.0, 0.9))],
              [base.replace(optimizer="adam", seed=i) for i in range(2)],
              [base.replace(optimizer="adam", betas=b, weight_decay=w, seed=i)
               for i, (b, w) in enumerate([((0.9, 0.999), 1e-5), ((0.3, 0.4), 0.0)])]]
    gen = torch.Generator().manual_seed(0)
    for configs in groups:
        pair = []
        for kernel in (None, lib):
            model = StackedMLP(configs)
            opt = (StackedSGD if configs[0].optimizer == "sgd" else StackedAdam)(model, configs)
            opt.kernel = kernel
            pair.append((model, opt))
        neg_lr = -torch.rand(len(configs), generator=gen)
        for _ in range(3):
            g = torch.randn(pair[0][0].grad.shape, generator=gen)
            for model, opt in pair:
                model.grad.copy_(g)
                opt.step(neg_lr)
        (m1, o1), (m2, o2) = pair
        states = ["buf"] if configs[0].optimizer == "sgd" else ["m", "v"]
        for a, b in [(m1.theta, m2.theta)] + [(getattr(o1, s), getattr(o2, s)) for s in states]:
            if not torch.equal(a.view(torch.int32), b.view(torch.int32)):
                return False
    return True


class _StackedOptimizer:
    """What both optimizers share: the fused kernel (None: the torch ops) and the learning-rate argument."""

    def __init__(self, model: StackedMLP):
        self.model = model
        on_cpu = model.theta.device.type == "cpu" and model.theta.dtype == torch.float32  # what the kernel reads
        self.kernel = fused_kernel() if on_cpu else None
        self._expanded: tuple[torch.Tensor, int, torch.Tensor] | None = None  # the fallback's per-element rates

    def lr_argument(self, neg_lr: torch.Tensor) -> tuple[int, int]:
        """(address, per element?) of ``neg_lr``: one value per config [K] or per element of the buffer."""
        per_element = neg_lr.numel() == self.model.theta.numel()
        if not (per_element or neg_lr.numel() == self.model.K) or neg_lr.dtype != torch.float32 \
                or not neg_lr.is_contiguous() or neg_lr.device.type != "cpu":
            raise ValueError(f"neg_lr must be a contiguous float32 CPU tensor of {self.model.K} values "
                             f"or one per parameter, got {neg_lr.dtype} {tuple(neg_lr.shape)}")
        return neg_lr.data_ptr(), int(per_element)

    def per_element_lr(self, neg_lr: torch.Tensor) -> torch.Tensor:
        """``neg_lr`` per element (expanded once per tensor, not once per step)."""
        if neg_lr.numel() == self.model.theta.numel():
            return neg_lr
        cached = self._expanded  # holds neg_lr itself, so its identity cannot pass to a new tensor
        if cached is None or cached[0] is not neg_lr or cached[1] != neg_lr._version:
            self._expanded = cached = neg_lr, neg_lr._version, self.model.expand(neg_lr)
        return cached[2]

    def segments(self) -> tuple[int, int, int]:
        """The kernel's view of the buffer: addresses of segment starts and configs, segment count."""
        m = self.model
        return m.seg_start.data_ptr(), m.seg_config.data_ptr(), m.seg_config.numel()


class StackedSGD(_StackedOptimizer):
    """``torch.optim.SGD`` (momentum, Nesterov, L2 weight decay) with per-config hyperparameters.

    ``step(neg_lr)`` takes minus the learning rate, per config [K] or per element.
    """

    def __init__(self, model: StackedMLP, configs: list[RunConfig]):
        super().__init__(model)
        self.nesterov = configs[0].nesterov
        self.momentum = model.per_config([c.momentum for c in configs])
        self.weight_decay = model.per_config([c.weight_decay for c in configs])
        self.hyper = torch.tensor([[c.momentum for c in configs], [c.weight_decay for c in configs]])
        self.buf = torch.zeros_like(model.theta)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"buf": self.buf.cpu().clone()}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        self.buf.copy_(d["buf"])

    def step(self, neg_lr: torch.Tensor) -> None:
        p, g = self.model.theta, self.model.grad
        if self.kernel is not None:
            lr, per_element = self.lr_argument(neg_lr)
            self.kernel.hw7_sgd(p.data_ptr(), g.data_ptr(), self.buf.data_ptr(), *self.segments(), lr, per_element,
                                self.hyper[0].data_ptr(), self.hyper[1].data_ptr(), int(self.nesterov))
            return
        axpy_(g, p, self.weight_decay)
        self.buf.mul_(self.momentum).add_(g)  # torch starts the buffer at g: the same as 0 * m + g
        if self.nesterov:
            axpy_(g, self.buf, self.momentum)
        else:
            g.copy_(self.buf)
        p.addcmul_(g, self.per_element_lr(neg_lr))


class StackedAdam(_StackedOptimizer):
    """``torch.optim.Adam`` (L2 weight decay, bias correction, eps outside the root) per config, or
    ``torch.optim.AdamW`` (optimizer "adamw": the weights shrink by ``1 - lr * weight_decay`` before
    the Adam step, and the gradient gets no L2 term).

    ``step(neg_lr)`` takes minus the learning rate, per config [K] or (Adam only) per element.
    """

    def __init__(self, model: StackedMLP, configs: list[RunConfig]):
        super().__init__(model)
        self.t, self.eps = 0, 1e-8
        self.betas = [c.betas for c in configs]
        self.shared_betas = len(set(self.betas)) == 1  # then the bias corrections are plain scalars
        self.one_minus_beta1 = model.per_config([1 - b1 for b1, _ in self.betas])
        self.one_minus_beta2 = model.per_config([1 - b2 for _, b2 in self.betas])
        self.decoupled = [c.weight_decay for c in configs] if configs[0].optimizer == "adamw" else None
        l2 = [0.0] * len(configs) if self.decoupled else [c.weight_decay for c in configs]
        self.weight_decay = model.per_config(l2)
        self.hyper = torch.tensor([l2, [1 - b1 for b1, _ in self.betas], [1 - b2 for _, b2 in self.betas]])
        self.m, self.v = torch.zeros_like(model.theta), torch.zeros_like(model.theta)
        self.scratch = torch.empty_like(model.theta)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"m": self.m.cpu().clone(), "v": self.v.cpu().clone(), "t": torch.tensor(self.t)}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        self.m.copy_(d["m"])
        self.v.copy_(d["v"])
        self.t = int(d["t"])

    def decay_(self, neg_lr: torch.Tensor) -> None:
        """AdamW's decoupled decay, ``p *= 1 - lr * weight_decay``, the factor per config computed in
        double as torch computes it, then applied in float32."""
        if neg_lr.numel() != self.model.K:
            raise ValueError("AdamW's decoupled weight decay takes one learning rate per config")
        factors = [1 + float(lr) * wd for lr, wd in zip(neg_lr, self.decoupled)]
        self.model.theta.mul_(self.model.per_config(factors))

    def step(self, neg_lr: torch.Tensor) -> None:
        p, g, s = self.model.theta, self.model.grad, self.scratch
        if self.decoupled:
            self.decay_(neg_lr)
        self.t += 1
        bc1 = [1 - b1 ** self.t for b1, _ in self.betas]
        bc2_sqrt = [math.sqrt(1 - b2 ** self.t) for _, b2 in self.betas]
        if self.kernel is not None:
            lr, per_element = self.lr_argument(neg_lr)
            # shared betas: p -= lr * ((1 / bc1) * (m / denom)); else p -= lr * (m / (denom * bc1))
            corr = torch.tensor([bc2_sqrt, [1 / b for b in bc1] if self.shared_betas else bc1])
            h, segments = self.hyper, self.segments()
            self.kernel.hw7_adam_moments(p.data_ptr(), g.data_ptr(), self.m.data_ptr(), self.v.data_ptr(), *segments,
                                         h[0].data_ptr(), h[1].data_ptr(), h[2].data_ptr())
            torch.sqrt(self.v, out=s)
            self.kernel.hw7_adam_update(p.data_ptr(), self.m.data_ptr(), s.data_ptr(), *segments, lr, per_element,
                                        corr[0].data_ptr(), corr[1].data_ptr(), self.eps, int(self.shared_betas))
            return
        neg_lr = self.per_element_lr(neg_lr)
        axpy_(g, p, self.weight_decay)
        self.m.lerp_(g, self.one_minus_beta1)
        self.v.lerp_(torch.mul(g, g, out=s), self.one_minus_beta2)
        if self.shared_betas:
            torch.sqrt(self.v, out=s).div_(bc2_sqrt[0]).add_(self.eps)
            p.addcmul_(torch.div(self.m, s, out=s), neg_lr, value=1 / bc1[0])
        else:
            torch.sqrt(self.v, out=s).div_(self.model.expand(bc2_sqrt)).add_(self.eps)
            s.mul_(self.model.expand(bc1))
            p.addcmul_(torch.div(self.m, s, out=s), neg_lr)  # p -= lr / bc1 * m / denom


class StackedEMA:
    """An exponential moving average of the stacked weights, as
    ``torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay))``: the first
    update copies the weights, each later one moves the average toward them by ``1 - decay``
    (``lerp``). Updated after every optimizer step; ``swapped()`` puts the average in the model's
    place (to evaluate it) and back. Batch norm's running statistics are not averaged: the average
    is evaluated with the trained network's (``AveragedModel(use_buffers=False)``)."""

    def __init__(self, model: StackedMLP, decay: float):
        self.model, self.decay, self.n = model, decay, 0
        self.theta = torch.zeros_like(model.theta)

    @torch.no_grad()
    def update(self) -> None:
        if self.n == 0:
            self.theta.copy_(self.model.theta)
        else:
            self.theta.lerp_(self.model.theta, 1 - self.decay)
        self.n += 1

    @contextlib.contextmanager
    def swapped(self):
        """The model holds the average inside the block (its own weights are restored after it)."""
        own = self.model.theta.clone()
        self.model.theta.copy_(self.theta)
        try:
            yield
        finally:
            self.model.theta.copy_(own)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"theta": self.theta.cpu().clone(), "n": torch.tensor(self.n)}

    def load_state_dict(self, d: dict[str, torch.Tensor]) -> None:
        self.theta.copy_(d["theta"])
        self.n = int(d["n"])
