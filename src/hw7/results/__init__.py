"""What is kept under ``results/``: the run store (``store``: one validated JSON record per run),
``sweep.train_many`` (train what is missing, store it), every named experiment (``experiments``),
the Optuna searches (``tune``), the checks of everything stored (``check``) and the back-filling
of the final models' probabilities (``backfill``).

May import ``hw7.engine``, ``hw7.rosenbrock``, ``hw7.config`` and ``hw7.data``; never the report.
"""
