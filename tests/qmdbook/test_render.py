"""The render path end to end on the fixture book: reading, numbering, errors, cache."""

import re
from pathlib import Path

import pytest

from qmdbook.assemble import AssemblyError
from qmdbook.crossref import RefError, escape_brackets, number_book, resolve_refs
from qmdbook.execute import ExecuteError
from qmdbook.qmd import QmdError, load_book, parse_qmd, references
from qmdbook.render import render_book

from .conftest import BOOK


def test_book_order_and_titles():
    book = load_book(BOOK)
    assert book.title == "Fixture book" and book.output_name == "fixture"
    assert [c.path.name for c in book.chapters] == ["index.qmd", "waves.qmd", "inline.qmd",
                                                    "references.qmd", "extra.qmd"]
    assert [c.appendix for c in book.chapters] == [False, False, False, False, True]
    assert [c.title for c in book.chapters] == ["Preface", "Waves", "Inline values", "References",
                                                "Extra material"]


def test_cells_options_and_inline_expressions():
    ch = parse_qmd(BOOK / "chapters" / "waves.qmd")
    fig = next(c for c in ch.cells if c.label == "fig-wave")
    assert fig.options["fig-cap"] == "A sine wave, $y = \\sin x$."  # a quoted YAML string
    assert fig.code.startswith("fig, ax") and "#|" not in fig.code
    assert fig.line == 17  # the opening fence
    assert next(c for c in ch.cells if c.options.get("echo") is False).options == {"echo": False}
    assert [e for e, _ in ch.inline_expressions()][1] == "n"
    assert ("fig-wave", 15) in references(ch)
    assert ("fig-wave", 36) in references(ch)  # in tbl-squares' caption (cell fence line)


def test_unknown_or_misspelt_option_is_an_error(tmp_path):
    for line in ("#| colour: red", "#|label: fig-a", "# | label: fig-a"):
        with pytest.raises(QmdError, match=r"x.qmd:3: "):
            parse_qmd(tmp_path / "x.qmd", f"Text\n```{{python}}\n{line}\n1\n```\n")


def test_escape_brackets():
    assert escape_brackets("in [0, 1) and [2, 3]") == r"in \[0, 1) and [2, 3]"
    assert escape_brackets("a ] b, [Figure 1.1](#fig-a)") == r"a \] b, [Figure 1.1](#fig-a)"
    assert escape_brackets("math $[0, 1)$, code `x[`") == "math $[0, 1)$, code `x[`"


def test_resolve_refs_errors():
    nums = number_book(load_book(BOOK))
    with pytest.raises(RefError, match=r"here:3: unresolved reference @fig-nope"):
        resolve_refs("@fig-nope", nums, "here:3")
    with pytest.raises(RefError, match=r"unresolved reference @fig-nope"):
        resolve_refs("[-@fig-nope]", nums, "x")


def test_unresolved_reference_stops_render(book_dir, render_copy):
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text() + "\nSee @fig-missing.\n")
    with pytest.raises(RefError, match=r"chapters/extra.qmd:\d+: unresolved reference @fig-missing"):
        render_copy()


def test_unresolved_reference_in_a_caption_stops_render(book_dir, render_copy):
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text().replace("compare @tbl-squares", "compare @tbl-nope"))
    with pytest.raises(RefError, match=r"chapters/extra.qmd:17: unresolved reference @tbl-nope"):
        render_copy(formats=())


def test_failing_cell_and_inline_expression_report_their_line(book_dir, render_copy):
    path = book_dir / "chapters" / "extra.qmd"
    text = path.read_text()
    path.write_text(text + "\nMore.\n\n\n\n```{python}\nx = 1 / 0\n```\n")
    line = text.count("\n") + 6  # the appended cell's fence
    with pytest.raises(ExecuteError) as err:
        render_copy(formats=())
    assert f"chapters/extra.qmd:{line}: cell failed: ZeroDivisionError" in str(err.value)
    path.write_text(text + "\nA value: `{python} undefined_name`.\n")
    with pytest.raises(ExecuteError, match=r"chapters/extra.qmd:\d+: inline expression failed "
                                           r"\(undefined_name\): NameError"):
        render_copy(formats=())


def test_stderr_and_warnings_are_shown_and_reported(book_dir, render_copy):
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text() + "\n```{python}\nimport warnings\n"
                    "warnings.warn('careful')\n```\n")
    result = render_copy(formats=("html", "pdf"))
    assert len(result.diagnostics) == 1 and "UserWarning: careful" in result.diagnostics[0]
    assert 'class="cell-output-stderr"' in result.files["html"].read_text()


def test_diagnostics_of_every_format_are_kept(book_dir, render_copy):
    """A Pandoc warning of each format is reported (not only the last format's)."""
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text() + "\nA handle like @nobody is a citation.\n")
    result = render_copy(formats=("html", "pdf"))
    found = [d for d in result.diagnostics if "nobody" in d]
    assert [d.split(":", 1)[0] for d in found] == ["html", "pdf"], result.diagnostics


def test_missing_image_is_an_error(book_dir, render_copy):
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text() + "\n![A picture](nowhere.png)\n")
    with pytest.raises(AssemblyError, match=r"chapters/extra.qmd:\d+: image not found: nowhere.png"):
        render_copy(formats=("html",))


def test_figure_cell_that_draws_nothing_is_an_error(book_dir, render_copy):
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text().replace("ax.plot([0, 0.5, 0.9])\nfig", "plt.close(fig)"))
    with pytest.raises(AssemblyError, match=r"chapters/extra.qmd:17: fig-extra draws no figure"):
        render_copy(formats=("html",))


def test_html(rendered):
    root, result, html, _ = rendered
    assert result.diagnostics == []
    assert 'id="fig-wave"' in html and "data:image/png;base64," in html
    assert "Figure 1.1: A sine wave" in html and html.count("data:image/png") == 2
    assert '<a href="#fig-wave">Figure 1.1</a>' in html
    assert '<a href="#sec-waves-table">Section 1.2</a>' in html
    assert "<caption>Table 1.1: Squares" in html and ">25</td>" in html
    assert "two plus two is 4" in html and "lists 5 squares" in html
    assert "<strong>bold from asis</strong>" in html
    assert "plain stdout line" in html and "not shown" not in html
    assert "@fig" not in html and "??" not in html
    # references in captions and Quarto's bracketed forms are resolved
    assert re.search(r'<figure id="fig-extra">.*<figcaption[^>]*>Figure A.1: Values in \[0, 1\) '
                     r'against <a href="#fig-wave">Figure 1.1</a>; compare '
                     r'<a href="#tbl-squares">Table 1.1</a>.</figcaption>', html, re.S)
    assert 'alt="A short rising line, as in Figure 1.1."' in html
    assert 'not drawn in <a href="#fig-wave">Figure 1.1</a>.</caption>' in html
    assert 'wave <a href="#fig-wave">1.1</a> and <a href="#fig-wave">Fig. 1.1</a>' in html
    assert "a handle like @someone" in html


def test_html_is_one_file_with_a_book_sidebar(rendered):
    _, _, html, _ = rendered
    assert not re.search(r'<(img|script|link)\b[^>]*\b(src|href)="(?!data:|#)', html)
    nav = re.search(r'<nav id="sidebar".*?</nav>', html, re.S).group(0)
    entries = [re.sub(r"<[^>]+>", "", t).strip() for t in re.findall(r"<a [^>]*>(.*?)</a>", nav)]
    assert entries == ["Fixture book", "Preface", "1 Waves", "1.1 A figure", "1.2 A table",
                       "2 Inline values", "References", "A Extra material"]
    assert re.search(r'id="toc-sec-waves">.*?</a>\s*<ul>', nav, re.S)  # sections under chapters
    assert "position: fixed" in html and "getBoundingClientRect" in html  # follows scrolling


def test_pdf(rendered):
    _, result, _, pdf = rendered
    text = re.sub(r"\s+", " ", pdf)
    for expected in ("Fixture book", "Waves", "Figure 1.1", "Table 1.1", "Why a sine",
                     "a handle like @someone", "Figure A.1: Values in [0, 1) against Figure 1.1",
                     "wave 1.1 and Fig. 1.1"):
        assert expected in text
    assert "x = 1" not in text  # format: typst: echo: false


def test_prose_edit_hits_the_cache_and_a_results_edit_does_not(rendered):
    """``freeze: auto``, with the chapter's inputs in place of its source: prose edits
    reuse the execution; a file the chapter read, edited in place (same size), re-executes."""
    root, first, _, _ = rendered
    assert set(first.executed) == {"index.qmd", "chapters/waves.qmd", "chapters/inline.qmd",
                                   "chapters/extra.qmd"}  # references.qmd has no code
    path = root / "chapters" / "waves.qmd"
    path.write_text(path.read_text().replace("Intro paragraph", "Edited intro paragraph"))
    data = root / "data.txt"
    data.write_text("5")
    path.write_text(path.read_text().replace("n = 5", "n = int(open('data.txt').read())"))
    again = render_book(root=root, quiet=True, formats=("html",))
    assert again.executed == ["chapters/waves.qmd"]  # its code changed
    again = render_book(root=root, quiet=True, formats=("html",))
    assert again.executed == [] and "Edited intro paragraph" in again.files["html"].read_text()
    data.write_text("4")  # same size, new content
    again = render_book(root=root, quiet=True, formats=("html",))
    assert again.executed == ["chapters/waves.qmd"] and "lists 4 squares" in \
        again.files["html"].read_text()


def test_qmdbook_imports_nothing_from_the_homework():
    """The renderer is a tool beside the homework package, not part of it."""
    import qmdbook

    sources = Path(qmdbook.__file__).parent.glob("*.py")
    assert not [p.name for p in sources if re.search(r"^\s*(from|import)\s+hw7\b",
                                                      p.read_text(encoding="utf-8"), re.M)]
