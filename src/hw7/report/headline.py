"""The index page's summary: one row per answered part, every number read from `hw7.report.findings`.

The chapters' answer boxes read the same findings objects, so the two cannot disagree.
"""

from __future__ import annotations

import pandas as pd

from hw7.report.findings.common import Accuracy, Tuned
from hw7.report.findings.problem1 import Descent1, problem1
from hw7.report.findings.problem2 import problem2
from hw7.report.findings.problem3 import problem3
from hw7.report.formatting import count, fixed, listing, pm, rate, sci, steps


def _acc(a: Accuracy) -> str:
    return pm(a.mean, a.sd)


def _seeds(test: Accuracy, committee: float | None) -> str:
    """The single networks' accuracy over seeds, then (where stored) the committee of those seeds."""
    return _acc(test) + ("" if committee is None else f"; committee of the seeds {fixed(committee)}")


def _tuned(net: Tuned) -> str:
    return _seeds(net.test, net.committee)


def _settled(r: Descent1) -> str:
    """The level an oscillating run settles at (median) and its band (10th–90th percentile)."""
    return f"about {sci(r.settled)} ({sci(r.band[0])} – {sci(r.band[1])})"


def problem1_rows() -> list[dict]:
    p = problem1()
    gd, mom, adam = p.b["gd"], p.b["momentum"], p.b["adam"]
    return [
        {"part": "1 (b)", "question": "η = 10⁻⁴: speed and final accuracy",
         "answer": f"momentum is fastest and most accurate: within 10⁻⁶ of (1, 1) after {steps(mom.steps[1e-6])} "
                   f"steps, {sci(mom.final_error)} at the end; ADAM oscillates {_settled(adam)}; "
                   f"gradient descent ends at {sci(gd.final_error)}"},
        {"part": "1 (c)", "question": "η = 10⁻³: which works",
         "answer": f"ADAM: within 10⁻³ after {steps(p.c['adam'].steps[1e-3])} steps, then oscillates "
                   f"{_settled(p.c['adam'])}; momentum diverges (step {p.c['momentum'].diverged_at})"},
        {"part": "1 (d)", "question": "ADAM at 10⁻² against momentum at 10⁻⁴",
         "answer": f"ADAM is within 10⁻³ after {steps(p.d['adam'].steps[1e-3])} steps (momentum "
                   f"{steps(mom.steps[1e-3])}) but oscillates {_settled(p.d['adam'])}; "
                   f"momentum ends at {sci(mom.final_error)}"},
    ]


def mnist_rows() -> list[dict]:
    p2, p3 = problem2(), problem3()
    tied = [rate(lr) for lr in p2.adam_tied]
    return [
        {"part": "2 (a)", "question": "the assignment's configuration; the best SGD learning rate",
         "answer": f"{_acc(p2.baseline)} at η = {rate(0.001)}; best η = {rate(p2.sgd_best_lr)}: {_acc(p2.sgd_best)}"},
        {"part": "2 (b)", "question": "ADAM's best learning rate",
         "answer": f"η = {listing(tied)}, tied within the seeds' noise; best mean {_acc(p2.adam_best)} "
                   f"at η = {rate(p2.adam_best_lr)}"},
        {"part": "2 (c)", "question": "tuned one hidden layer", "answer": _tuned(p2.tuned)},
        {"part": "2 (c)", "question": "tuned one hidden layer, expanded data", "answer": _tuned(p2.expanded)},
        {"part": "2 (c)", "question": f"one hidden layer with batch norm and AdamW, {p2.batchnorm.config.epochs} epochs",
         "answer": _tuned(p2.batchnorm)},
        *({"part": "2 (c)", "question": f"one hidden layer of {count(n.config.sizes[1])} units with dropout and "
                                        f"max-norm, expanded data, {n.config.epochs} epochs",
           "answer": _tuned(n)} for n in (p2.maxnorm_expanded, p2.maxnorm_wide)),
        {"part": "3 (a)", "question": "deep sigmoid net: gradient ratio, accuracy",
         "answer": f"ratio {sci(p3.ratio_sigmoid.first, 3)} (first epoch) to {sci(p3.ratio_sigmoid.last, 3)} (last); "
                   f"accuracy {_acc(p3.sigmoid)}"},
        {"part": "3 (b)", "question": "deep ReLU net, Kaiming init: gradient ratio, accuracy",
         "answer": f"ratio {sci(p3.ratio_relu.first, 3)} (first epoch) to {sci(p3.ratio_relu.last, 3)} (last); "
                   f"accuracy {_acc(p3.relu)}"},
        {"part": "3 (c)", "question": "tuned deep dense net", "answer": _tuned(p3.tuned)},
        {"part": "3 (c)", "question": "tuned deep dense net, expanded data", "answer": _tuned(p3.expanded)},
        {"part": "3 (c)", "question": f"deep dense net with batch norm and AdamW, {p3.batchnorm_long.epochs} epochs, "
                                      "chosen on validation",
         "answer": _seeds(p3.batchnorm_long_test, p3.batchnorm_long_committee)},
        {"part": "3 (c)", "question": f"deep dense net with batch norm and AdamW, expanded data, "
                                      f"{p3.batchnorm_expanded.config.epochs} epochs",
         "answer": _tuned(p3.batchnorm_expanded)},
        {"part": "3 (c)", "question": "depth alone with the tuned one-hidden-layer recipe: "
                                      + listing([str(len(a.hidden)) for a in p3.depth])
                                      + " hidden layers, equal parameters, trained alike",
         "answer": "; ".join(_acc(a.test) for a in p3.depth)},
        {"part": "3 (c)", "question": "depth alone with batch norm and AdamW: "
                                      + listing([str(len(a.hidden)) for a in p3.batchnorm_depth])
                                      + " hidden layers, equal parameters, trained alike",
         "answer": "; ".join(_acc(a.test) for a in p3.batchnorm_depth)},
    ]


def headline_table() -> pd.DataFrame:
    """Part, question, and the answer's numbers, for every part (text, formatted)."""
    return pd.DataFrame(problem1_rows() + mnist_rows())
