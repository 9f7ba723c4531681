"""Figure captions and descriptions agree with the data where the data fixes what they say.

A figure's ``fig-cap`` and ``fig-alt`` are cell options: fixed text, which a Jupyter cell
cannot compute in Quarto (inline ``{python}`` expressions are not evaluated there). So the
learning-rate panels' text states no count of panels, and these checks fail if it states a
count or a span of learning rates that the experiment's configs contradict.
"""

import math
import re

import pytest

from hw7 import PROJECT_ROOT
from hw7.results.experiments import SGD_RATES, experiment
from qmdbook.qmd import load_book

ROOT = PROJECT_ROOT
# The figures drawn by `hw7.report.mnist_figures.fig_learning_curves` (one panel per learning rate) and
# the experiment each draws.
LEARNING_RATE_PANELS = {"fig-sgd-curves": "p2-sgd", "fig-adam-curves": "p2-adam"}
NUMBER_WORDS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
SPOKEN = r"10 to the minus \d+|\d+(?:\.\d+)?"  # how the descriptions write a rate: 10 to the minus 4, 0.5, 10


def spoken_value(text: str) -> float:
    """The number a description writes as ``10 to the minus 4`` or ``0.5``."""
    power = re.fullmatch(r"10 to the minus (\d+)", text)
    return 10.0 ** -int(power.group(1)) if power else float(text)


def panel_faults(text: str, rates: list[float]) -> list[str]:
    """What ``text`` says about the panels (how many; the span of learning rates) that ``rates`` contradict."""
    faults = []
    for word in re.findall(r"\b(\w+) (?:small )?panels\b", text, re.I):
        n = int(word) if word.isdigit() else NUMBER_WORDS.get(word.lower())
        if n is not None and n != len(rates):
            faults.append(f"{word!r} panels, but {len(rates)} learning rates")
    for lo, hi in re.findall(rf"learning rate from ({SPOKEN}) to ({SPOKEN})\b", text):
        if not (math.isclose(spoken_value(lo), min(rates)) and math.isclose(spoken_value(hi), max(rates))):
            faults.append(f"learning rates from {lo} to {hi}, but from {min(rates):g} to {max(rates):g}")
    return faults


def figure_cells() -> dict:
    """label -> cell, for every figure cell of the book."""
    return {c.label: c for ch in load_book(ROOT).chapters for c in ch.cells if c.label.startswith("fig-")}


def test_every_learning_rate_panel_figure_is_checked():
    drawn = {label for label, c in figure_cells().items() if "fig_learning_curves(" in c.code}
    assert drawn == set(LEARNING_RATE_PANELS)


@pytest.mark.parametrize("label", LEARNING_RATE_PANELS)
def test_learning_rate_panels_text_agrees_with_the_data(label):
    cell = figure_cells()[label]
    rates = sorted({c.lr for c in experiment(LEARNING_RATE_PANELS[label])})
    for option in ("fig-cap", "fig-alt"):
        assert panel_faults(str(cell.options[option]), rates) == [], f"{label} {option}"


def test_panel_faults_catch_a_stale_count_and_span():
    """After adding a learning rate (the issue's 0.05) the old "Eleven small panels" is caught and
    the current wording still holds; a rate beyond the stated span is caught too."""
    old = "Eleven small panels of test accuracy against epoch, one per learning rate from 10 to the minus 4 to 10."
    now = str(figure_cells()["fig-sgd-curves"].options["fig-alt"])
    assert panel_faults(old, list(SGD_RATES)) == []
    assert panel_faults(old, [*SGD_RATES, 0.05]) == ["'Eleven' panels, but 12 learning rates"]
    assert panel_faults(now, [*SGD_RATES, 0.05]) == []
    assert panel_faults(now, [*SGD_RATES, 30.0]) == ["learning rates from 10 to the minus 4 to 10, but from 0.0001 to 30"]
