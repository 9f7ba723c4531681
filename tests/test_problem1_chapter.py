"""The Problem 1 chapter runs: its cells and inline expressions execute, its references resolve.

The chapter is executed the way a render does (cells in order, one namespace,
working directory = project root), without needing Quarto.
"""

import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "problems" / "1-optimizers.qmd"
CELL = re.compile(r"^```\{python\}\n(.*?)^```$", re.S | re.M)
INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
REF = re.compile(r"(?<![\w@`])@((?:fig|tbl)-[\w-]*\w)")
LABEL = re.compile(r"^#\| label: ((?:fig|tbl)-[\w-]+)\s*$", re.M)
OPTION = re.compile(r"^#\| ([\w-]+):", re.M)
ALLOWED = {"label", "fig-cap", "fig-alt", "tbl-cap", "echo", "output", "include", "warning", "layout-ncol"}


@pytest.fixture(scope="module")
def text() -> str:
    return CHAPTER.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def executed(text):
    """Run every cell, then every inline expression; return (namespace, inline values, seconds)."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        ns: dict = {}
        t = time.perf_counter()
        for code in CELL.findall(text):
            exec(compile(code, str(CHAPTER), "exec"), ns)
        values = [eval(expr, ns) for expr in INLINE.findall(CELL.sub("", text))]
        return ns, values, time.perf_counter() - t
    finally:
        os.chdir(cwd)


def test_chapter_executes_quickly(executed):
    _, values, seconds = executed
    assert values and all(str(v) for v in values)
    assert seconds < 30, f"chapter took {seconds:.1f} s"


def test_inline_values_are_text_not_reprs(executed):
    _, values, _ = executed
    for v in values:
        assert not isinstance(v, float), "format floats in the chapter (sci, f-strings)"


def test_references_and_labels_match(text):
    prose = CELL.sub("", text)
    refs = set(REF.findall(prose)) | set(REF.findall("\n".join(re.findall(r'#\| (?:fig|tbl)-cap: (.*)', text))))
    labels = LABEL.findall(text)
    assert len(labels) == len(set(labels)), "duplicate labels"
    assert refs == set(labels), (refs - set(labels), set(labels) - refs)


def test_cells_use_supported_options_and_figures_are_complete(text):
    for code in CELL.findall(text):
        opts = OPTION.findall(code)
        assert set(opts) <= ALLOWED, set(opts) - ALLOWED
        if "#| label: fig-" in code:
            assert {"fig-cap", "fig-alt"} <= set(opts)
        if "#| label: tbl-" in code:
            assert "tbl-cap" in opts


def test_starts_with_the_chapter_heading(text):
    assert text.startswith("# Problem 1: Optimizers in the Rosenbrock valley {#sec-problem1}\n")
    # Each lettered part opens with an answer callout before its evidence.
    for part in "abcd":
        section = text.split(f"## ({part})", 1)[1]
        assert section.split("\n```{python}", 1)[0].count("::: {.callout-note}") == 1


def test_figures_were_saved(executed):
    for name in ["typo", "contour", "b-paths", "b-errors", "c-paths", "c-errors",
                 "d-paths", "d-errors", "lr-map", "eps"]:
        assert (ROOT / "figures" / f"p1-{name}.png").is_file()
