"""The torch-ops engine on a CUDA GPU agrees with the same training on the CPU (run where a GPU exists).

Batch order and dropout masks are drawn on the CPU for both devices, so the two runs differ only in
how the GPU's kernels round; after a few hundred steps of smooth (tanh) networks that is far below
any real difference in the algorithm, such as a mask or a batch-norm statistic taken wrongly.
"""

import pytest
import torch

from hw7.config import RunConfig
from hw7.engine import trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def teacher_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [0, 1] and the digit a fixed random linear teacher gives each (no MNIST needed)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=g)
    return x, (x @ torch.randn(784, 10, generator=g)).argmax(1)


@pytest.mark.parametrize("recipe", [
    dict(optimizer="sgd", momentum=0.9, lr=0.02, max_norm=2.0),
    dict(optimizer="adamw", lr=2e-3, weight_decay=0.05, batch_norm=True, ema=0.9),
], ids=["sgd-maxnorm", "adamw-batchnorm-ema"])
def test_cuda_matches_cpu(recipe):
    base = RunConfig(sizes=(784, 128, 64, 10), activation="tanh", input_dropout=0.2, dropout=0.3,
                     schedule="cosine", warmup_epochs=1, epochs=3, batch_size=50, **recipe)
    configs = [base.replace(seed=1), base.replace(seed=2, lr=base.lr / 2)]
    x, y = teacher_data(5000)
    runs = {}
    for device in ("cpu", "cuda"):
        tensors = [t.to(device) for t in (x[:4000], y[:4000], x[4000:], y[4000:])]
        model, hist, diverged = trainer.fit(configs, *tensors, progress=False)
        assert diverged == [None, None]
        runs[device] = ([t.cpu() for t in model.W + model.b], hist)
    (w_cpu, h_cpu), (w_gpu, h_gpu) = runs["cpu"], runs["cuda"]
    for a, b in zip(w_cpu, w_gpu):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4)
    for a, b in zip(h_cpu, h_gpu):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-3)
        assert b["eval_acc"] == pytest.approx(a["eval_acc"], abs=3e-3)  # a few of 1,000 images may flip
