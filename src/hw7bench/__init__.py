"""Speed benchmarks of the homework package ``hw7`` (``make bench``): a tool, not part of the homework.

``training``: the ways of training the assignment's network side by side (the
assignment's loop, in-memory tensors, PyTorch's ensembling recipe, ``train_many``);
``descent``: the vectorized Rosenbrock optimizers against a plain loop.
"""
