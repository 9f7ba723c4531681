"""Homework 7, reproduced: the code the book's chapters import.

The package is split by role, and imports run one way only (a test builds the
graph from the source and fails on a circle or an upward import):

- ``rosenbrock``: Problem 1, the surfaces, the three optimizers and their stored sweeps (numpy only);
- ``config``, ``data``: a training run as a frozen dataclass, and MNIST;
- ``engine``: training networks (the assignment's loop, the stacked and compiled engines, their C kernels);
- ``results``: what is stored under ``results/`` (run store, experiments, searches, checks);
- ``report``: the book's numbers, tables and figures, read from the stored results;
- ``__main__``: the command line, which may use all of them.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the book: results/, figures/, data/ live here
