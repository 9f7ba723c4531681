"""The assignment's dense network, with the activation and initialization as arguments."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hw7.config import ACTIVATIONS, INITS

ACTIVATION_FNS = {"sigmoid": torch.sigmoid, "relu": F.relu, "tanh": torch.tanh}


def init_weight(weight: torch.Tensor, init: str) -> None:
    """Initialize one layer's weight in place, as the assignment does."""
    if init == "xavier_normal":
        nn.init.xavier_normal_(weight)
    elif init == "kaiming_normal":
        nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
    elif init == "kaiming_uniform":
        nn.init.kaiming_uniform_(weight, mode="fan_out", nonlinearity="relu")
    else:
        raise ValueError(f"unknown init {init!r}; allowed: {INITS}")


class Network(nn.Module):
    """Dense layers ``sizes[0] -> ... -> sizes[-1]``; activation on every hidden layer, linear output.

    Weights are initialized layer by layer in order (Xavier normal by default),
    biases to zero, so ``torch.manual_seed(s); Network(sizes)`` is reproducible
    and is what the stacked trainer (`hw7.engine.stacked`) starts from too.
    """

    def __init__(self, sizes, activation: str = "sigmoid", init: str = "xavier_normal",
                 dropout: float = 0.0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; allowed: {ACTIVATIONS}")
        if len(sizes) < 2 or any(int(s) <= 0 for s in sizes):
            raise ValueError(f"invalid sizes {sizes!r}: need at least two positive layer sizes")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"invalid dropout {dropout!r}: must be in [0, 1)")
        self.sizes = list(sizes)
        self.num_layers = len(sizes)
        self.activation = activation
        self.dropout = dropout
        self.layers = nn.ModuleList()
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layer = nn.Linear(n_in, n_out)
            init_weight(layer.weight, init)
            nn.init.zeros_(layer.bias)
            self.layers.append(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = ACTIVATION_FNS[self.activation]
        for layer in self.layers[:-1]:
            x = act(layer(x))
            if self.dropout:
                x = F.dropout(x, self.dropout, self.training)
        return self.layers[-1](x)
