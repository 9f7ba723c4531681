"""Static checks of every chapter listed in _quarto.yml (and of the fixture book).

Quarto silently ignores a misspelt option and renders a missing reference as
"??"; these checks catch both before anything is executed.
"""

import re
from pathlib import Path

import pytest

from qmdbook.crossref import number_book
from qmdbook.qmd import load_book, option_problems, references

ROOT = Path(__file__).resolve().parents[1]
BOOKS = [ROOT, ROOT / "tests" / "qmdbook" / "fixtures" / "book"]
# A cell plots when, at top level, it makes a figure, shows one or ends with one.
PLOTS = re.compile(r"^(?:[\w, ]+=\s*)?[\w.]*\b(?:subplots|figure)\(|^plt\.show\(|"
                   r"^(?:display\()?fig\w*\)?\s*$", re.M)


def chapters() -> list:
    return [pytest.param(book, ch, id=str(ch.path.relative_to(ROOT)))
            for book in map(load_book, BOOKS) for ch in book.chapters]


@pytest.mark.parametrize("book, chapter", chapters())
def test_option_spelling(book, chapter):
    assert option_problems(chapter.path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("book, chapter", chapters())
def test_figures_and_tables_are_labelled_and_captioned(book, chapter):
    for cell in chapter.cells:
        shown = cell.options.get("include") is not False and cell.options.get("output") is not False
        where = f"{chapter.path.name}:{cell.line}"
        if shown and PLOTS.search(cell.code):
            assert cell.label.startswith("fig-"), f"{where}: a plotting cell needs a fig- label"
        if cell.label.startswith("fig-"):
            assert cell.options.get("fig-cap"), f"{where}: {cell.label} has no fig-cap"
            assert cell.options.get("fig-alt"), f"{where}: {cell.label} has no fig-alt"
        if cell.label.startswith("tbl-"):
            assert cell.options.get("tbl-cap"), f"{where}: {cell.label} has no tbl-cap"
        assert "fig-cap" not in cell.options or cell.label.startswith("fig-"), where
        assert "tbl-cap" not in cell.options or cell.label.startswith("tbl-"), where


@pytest.mark.parametrize("root", BOOKS, ids=["book", "fixture"])
def test_references(root):
    book = load_book(root)
    targets = number_book(book).label
    referenced = set()
    for ch in book.chapters:
        for label, line in references(ch):
            assert label in targets, f"{ch.path.name}:{line}: @{label} has no target"
            referenced.add(label)
    labels = [c.label for ch in book.chapters for c in ch.cells if c.label]
    assert len(labels) == len(set(labels)), "duplicate cell labels"
    unreferenced = [x for x in labels if x.startswith(("fig-", "tbl-")) and x not in referenced]
    assert unreferenced == [], "every figure and table must be referred to in the text"


def test_lint_catches_misspelt_options():
    text = "```{python}\n#|label: fig-a\n# | fig-cap: x\n#| colour: red\n#| echo: false\n```\n"
    assert [n for n, _ in option_problems(text)] == [2, 3, 4]


PART = re.compile(r"^## \(([a-z])\)", re.M)


@pytest.mark.parametrize("chapter", [ch for ch in load_book(ROOT).chapters if ch.path.parent.name == "problems"],
                         ids=lambda ch: ch.path.name)
def test_each_part_opens_with_its_answer(chapter):
    """Every lettered part starts with an answer callout, before any shown code or figure
    (hidden set-up cells, ``include: false``, may come first)."""
    text = re.sub(r"```\{python\}\n#\| include: false\n.*?```\n", "",
                  chapter.path.read_text(encoding="utf-8"), flags=re.S)
    parts = PART.split(text)[1:]
    assert parts, f"{chapter.path.name} has no lettered parts"
    for letter, body in zip(parts[::2], parts[1::2]):
        before_code = body.split("```{python}", 1)[0]
        assert "::: {.callout-note}\n## Answer" in before_code, f"part ({letter}) opens without an answer"


def test_inline_numbers_are_computed():
    """No result typed by hand: every number after 'accuracy' or 'ratio' in a problem
    chapter's prose comes from an inline expression."""
    typed = re.compile(r"(?:accuracy|ratio) (?:of |is |reaches )?0\.\d{3}")
    for ch in load_book(ROOT).chapters:
        prose = re.sub(r"```\{python\}.*?```", "", ch.path.read_text(encoding="utf-8"), flags=re.S)
        assert not typed.search(prose), f"{ch.path.name}: {typed.search(prose).group()}"


# An inline integer at the start of a line, followed by "." or ")", becomes "60) ..." before Pandoc
# parses the page (Quarto, like our path, substitutes inline values into the Markdown first), and
# inside a list item Pandoc reads that as a new numbered list.
LIST_MARKER = re.compile(r"^\s*`\{python\} m\.(?:count|steps)\([^`]*`[.)](?:\s|$)", re.M)


def test_no_inline_integer_can_start_a_numbered_list():
    for ch in load_book(ROOT).chapters:
        found = LIST_MARKER.search(ch.path.read_text(encoding="utf-8"))
        assert not found, f"{ch.path.name}: {found.group().strip()!r} starts a line; move a word before it"


def test_the_list_marker_rule_catches_what_broke_a_paragraph():
    assert LIST_MARKER.search("  warm-up\n  `{python} m.count(P.warmup)`) raises the")
    assert not LIST_MARKER.search("  `{python} m.fixed(P.val)`. The next")
