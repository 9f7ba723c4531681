import pytest
import torch

from hw7.engine.augment import augment_batch


@pytest.mark.parametrize("kind", ["affine", "elastic"])
def test_augment_shapes_range_and_per_image_randomness(mnist, kind):
    x = mnist.train_x[:1].repeat(64, 1)  # 64 copies of the same digit
    out = augment_batch(x, kind, torch.Generator().manual_seed(0))
    assert out.shape == (64, 784) and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.equal(out, x)
    # every copy is distorted differently
    distinct = {tuple(row.round(decimals=4).tolist()) for row in out}
    assert len(distinct) == 64
    # small distortions: the digit keeps most of its ink and stays close to the original
    ink = out.sum(1) / x.sum(1)
    assert ink.min() > 0.5 and ink.max() < 1.6  # scaling (±10%) and elastic stretching change the ink
    assert ((out - x).abs().mean(1) < 0.25).all()
    # a seed fixes the draws
    again = augment_batch(x, kind, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_augment_rejects_unknown_kind():
    with pytest.raises(ValueError, match="allowed"):
        augment_batch(torch.zeros(2, 784), "mixup", torch.Generator())
