"""Expanding the data: random distortions of whole batches, drawn per image, in torch.

``affine``: small random rotation, scaling, shear and shift of each image.
``elastic``: the affine distortion followed by an elastic one (Simard et al.
2003): a random displacement field per image, smoothed by a Gaussian and scaled.
Both are one ``F.affine_grid``/``F.grid_sample`` pass over the batch, so a new
distortion of every image at every epoch costs little next to the training step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hw7.config import AUGMENTS

MAX_ROTATION = 12.0  # degrees
MAX_SCALE = 0.10  # relative
MAX_SHEAR = 0.15
MAX_SHIFT = 2.5  # pixels
ELASTIC_SIGMA = 4.0  # pixels: smoothness of the displacement field
ELASTIC_ALPHA = 20.0  # pixels: its strength before smoothing (Simard et al. used 34, which bends 4s into Ys here)


def _uniform(n: int, bound: float, g: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=g, device=device) * 2 - 1) * bound


def affine_grid(n: int, g: torch.Generator, device) -> torch.Tensor:
    """Sampling grids [n, 28, 28, 2] of random small affine maps, one per image."""
    angle = _uniform(n, math.radians(MAX_ROTATION), g, device)
    scale = 1 + _uniform(n, MAX_SCALE, g, device)
    shear = _uniform(n, MAX_SHEAR, g, device)
    shift = _uniform(2 * n, MAX_SHIFT * 2 / 28, g, device).view(n, 2)  # grid units: 2 = 28 px
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    return F.affine_grid(theta, (n, 1, 28, 28), align_corners=False)


def _gaussian_kernel(sigma: float, device) -> torch.Tensor:
    r = int(3 * sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    k = torch.exp(-t * t / (2 * sigma * sigma))
    return k / k.sum()


def elastic_field(n: int, g: torch.Generator, device) -> torch.Tensor:
    """Smooth random displacements [n, 28, 28, 2] in grid units."""
    field = torch.rand(n * 2, 1, 28, 28, generator=g, device=device) * 2 - 1
    k = _gaussian_kernel(ELASTIC_SIGMA, device)
    pad = len(k) // 2
    field = F.conv2d(F.pad(field, (pad, pad, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    field = F.conv2d(F.pad(field, (0, 0, pad, pad), mode="reflect"), k.view(1, 1, -1, 1))
    # Simard et al.: uniform noise in [-1, 1] smoothed by a unit-sum Gaussian, times alpha
    # pixels; a pixel is 2/28 grid units. Typical displacement: about 0.8 pixels.
    return field.view(n, 2, 28, 28).permute(0, 2, 3, 1) * (ELASTIC_ALPHA * 2 / 28)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """A freshly distorted copy of a batch ``x`` [B, 784] (pixels stay in [0, 1])."""
    if kind not in AUGMENTS or kind == "none":
        raise ValueError(f"unknown augmentation {kind!r}; allowed: {AUGMENTS[1:]}")
    n = x.shape[0]
    grid = affine_grid(n, generator, x.device)
    if kind == "elastic":
        grid = grid + elastic_field(n, generator, x.device)
    out = F.grid_sample(x.view(n, 1, 28, 28), grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out.view(n, 784).clamp_(0.0, 1.0)
