"""Problem 1: the Rosenbrock function (and the assignment's printed variant), the three optimizers
of the assignment vectorized over learning rates (``descent``), and their sweeps computed once and
stored in ``results/problem1.npz`` (``runs``).

Numpy only: may import nothing else of ``hw7`` but ``hw7`` itself (the project root).
"""
