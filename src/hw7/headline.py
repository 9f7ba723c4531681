"""The index page's summary: one row per answered part, every number computed here.

Problem 1's runs are recomputed (six single runs, about a second); the MNIST
rows are read from the run store and the searches. A part whose stored results
do not exist yet is left out rather than shown with a placeholder.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hw7 import descent, summaries as S
from hw7.rosenbrock_plots import sci
from hw7.surfaces import rosenbrock_grad

START, STEPS = (-4.0, -2.0), 100_000


def _p1(method: str, eta: float) -> descent.Descent:
    return descent.run(method, rosenbrock_grad, START, STEPS, eta, record="error")


def _steps(res: descent.Descent, tol: float) -> str:
    n = int(descent.steps_to(res.error, tol))
    return f"{n:,}" if n >= 0 else "never"


def _err(res: descent.Descent) -> str:
    """Distance to (1, 1) after the last step."""
    return sci(float(res.error[-1]))


def problem1_rows() -> list[dict]:
    gd4, mom4, adam4 = (_p1(m, 1e-4) for m in ("gd", "momentum", "adam"))
    mom3, adam3, adam2 = _p1("momentum", 1e-3), _p1("adam", 1e-3), _p1("adam", 1e-2)
    return [
        {"part": "1 (b)", "question": "η = 10⁻⁴: speed and final accuracy",
         "answer": f"momentum is fastest and most accurate (error {_err(mom4)}, 10⁻⁶ after {_steps(mom4, 1e-6)} "
                   f"steps); ADAM ends at {_err(adam4)}, gradient descent at {_err(gd4)}"},
        {"part": "1 (c)", "question": "η = 10⁻³: which works",
         "answer": f"momentum diverges at step {int(mom3.diverged_at)}; ADAM reaches 10⁻⁶ "
                   f"after {_steps(adam3, 1e-6)} steps"},
        {"part": "1 (d)", "question": "ADAM 10⁻² vs momentum 10⁻⁴",
         "answer": f"ADAM is within 10⁻³ after {_steps(adam2, 1e-3)} steps (momentum {_steps(mom4, 1e-3)}) "
                   f"but stalls at {_err(adam2)}; momentum ends at {_err(mom4)}"},
    ]


def _acc(df: pd.DataFrame) -> str:
    last = S.final(df)["eval_acc"]
    return S.pm(last.mean(), last.std(), 4)


def mnist_rows() -> list[dict]:
    sgd_by, adam_by = S.by(S.runs("p2-sgd", train_missing=False)), S.by(S.runs("p2-adam", train_missing=False))
    base, best_sgd, best_adam = sgd_by.set_index("lr").loc[0.001], S.best(sgd_by), S.best(adam_by)
    sig, relu = S.runs("p3-sigmoid", train_missing=False), S.runs("p3-relu", train_missing=False)
    rows = [
        {"part": "2 (a)", "question": "the assignment's configuration; best SGD learning rate",
         "answer": f"{S.pm(base['mean'], base['sd'])} at η = 0.001; best η = {best_sgd['lr']:g}: "
                   f"{S.pm(best_sgd['mean'], best_sgd['sd'])}"},
        {"part": "2 (b)", "question": "ADAM's best learning rate",
         "answer": f"η = {best_adam['lr']:g}: {S.pm(best_adam['mean'], best_adam['sd'])}"},
    ]
    for name, part, label in (("p2-best", "2 (c)", "tuned one hidden layer"),
                              ("p2-best-expanded", "2 (c)", "tuned one hidden layer, expanded data")):
        if S.stored(name):
            rows.append({"part": part, "question": label, "answer": _acc(S.runs(name, train_missing=False))})
    rows += [
        {"part": "3 (a)", "question": "deep sigmoid net: gradient ratio, accuracy",
         "answer": f"ratio {sci(float(np.mean(sig['grad_ratio'])))}; accuracy {_acc(sig)}"},
        {"part": "3 (b)", "question": "deep ReLU + Kaiming: gradient ratio, accuracy",
         "answer": f"ratio {np.mean(relu['grad_ratio']):.2f}; accuracy {_acc(relu)}"},
    ]
    for name, label in (("p3-best", "tuned deep dense net"), ("p3-best-expanded", "tuned deep dense net, expanded data")):
        if S.stored(name):
            rows.append({"part": "3 (c)", "question": label, "answer": _acc(S.runs(name, train_missing=False))})
    return rows


def headline_table() -> pd.DataFrame:
    """Part, question, and the answer's numbers, for every part with results."""
    return pd.DataFrame(problem1_rows() + mnist_rows())
