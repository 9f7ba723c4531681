"""Training networks on MNIST: the assignment's ``Network`` and loop (``nets``, ``training``), the
stacked torch-ops engine (``stacked``, its fused optimizer step ``fused`` + ``fused.c``), the compiled
epoch for narrow networks (``epoch_kernel`` + ``epoch_kernel.c``, built by ``cbuild``), distortions
(``augment``), checkpoints, and ``trainer.fit``, the one loop that trains a group of configs.
``runs`` says, without torch, which engine trains a config and under which key it is stored.

May import ``hw7.config`` and ``hw7.data``; knows nothing of the run store or the report.
"""
