"""The Quarto-free render path on the fixture book (tests/fixtures/book)."""

import re
import shutil
from pathlib import Path

import pytest

from hw7.qmd import QmdError, load_book, parse_qmd, references
from hw7.render import RenderError, escape_brackets, number_book, render_book, resolve_refs

FIXTURE = Path(__file__).parent / "fixtures" / "book"


@pytest.fixture
def book_dir(tmp_path):
    """A private copy of the fixture book (the tests edit it and cache into it)."""
    shutil.copytree(FIXTURE, tmp_path / "book", ignore=shutil.ignore_patterns(".jupyter_cache", "_book"))
    return tmp_path / "book"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("fixture") / "book"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns(".jupyter_cache", "_book"))
    result = render_book(root=root, quiet=True)
    return root, result, result.files["html"].read_text(encoding="utf-8")


def test_book_order_and_titles():
    book = load_book(FIXTURE)
    assert book.title == "Fixture book" and book.output_name == "fixture"
    assert [c.path.name for c in book.chapters] == ["index.qmd", "waves.qmd", "extra.qmd"]
    assert [c.appendix for c in book.chapters] == [False, False, True]
    assert [c.title for c in book.chapters] == ["Preface", "Waves", "Extra material"]


def test_cells_options_and_inline_expressions():
    ch = parse_qmd(FIXTURE / "chapters" / "waves.qmd")
    fig = next(c for c in ch.cells if c.label == "fig-wave")
    assert fig.options["fig-cap"] == "A sine wave, $y = \\sin x$."  # a quoted YAML string
    assert fig.code.startswith("fig, ax") and "#|" not in fig.code
    assert fig.line == 17  # the opening fence
    assert next(c for c in ch.cells if c.options.get("echo") is False).options == {"echo": False}
    assert [e for e, _ in ch.inline_expressions()][1] == "n"
    assert ("fig-wave", 15) in references(ch)
    assert ("fig-wave", 36) in references(ch)  # in tbl-squares' caption (cell fence line)


def test_numbering():
    nums = number_book(load_book(FIXTURE))
    assert nums.label["fig-wave"] == "Figure 1.1"
    assert nums.label["tbl-squares"] == "Table 1.1"
    assert nums.label["sec-waves"] == "Chapter 1"
    assert nums.label["sec-waves-table"] == "Section 1.2"
    assert nums.label["sec-preface"] == "Section"  # unnumbered
    assert nums.label["fig-extra"] == "Figure A.1"  # appendix
    assert list(nums.chapter.values()) == ["", "1", "A"]


def test_resolve_refs():
    nums = number_book(load_book(FIXTURE))
    assert resolve_refs("See @fig-wave.", nums, "x") == "See [Figure 1.1](#fig-wave)."
    assert resolve_refs("@Tbl-squares, `@fig-x`, a@b.c", nums, "x") == \
        "[Table 1.1](#tbl-squares), `@fig-x`, a@b.c"
    with pytest.raises(RenderError, match=r"here:3: unresolved reference @fig-nope"):
        resolve_refs("@fig-nope", nums, "here:3")
    # Quarto's bracketed forms: number only, own prefix, plain; plain text for alt text
    assert resolve_refs("[-@fig-wave], [Fig. @fig-wave], [@fig-wave]", nums, "x") == \
        "[1.1](#fig-wave), [Fig. 1.1](#fig-wave), [Figure 1.1](#fig-wave)"
    assert resolve_refs("as in @fig-wave", nums, "x", plain=True) == "as in Figure 1.1"
    with pytest.raises(RenderError, match=r"unresolved reference @fig-nope"):
        resolve_refs("[-@fig-nope]", nums, "x")


def test_escape_brackets():
    assert escape_brackets("in [0, 1) and [2, 3]") == r"in \[0, 1) and [2, 3]"
    assert escape_brackets("a ] b, [Figure 1.1](#fig-a)") == r"a \] b, [Figure 1.1](#fig-a)"
    assert escape_brackets("math $[0, 1)$, code `x[`") == "math $[0, 1)$, code `x[`"


def test_unknown_or_misspelt_option_is_an_error(tmp_path):
    for line in ("#| colour: red", "#|label: fig-a", "# | label: fig-a"):
        with pytest.raises(QmdError, match=r"x.qmd:3: "):
            parse_qmd(tmp_path / "x.qmd", f"Text\n```{{python}}\n{line}\n1\n```\n")


def test_unresolved_reference_stops_render(book_dir):
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text() + "\nSee @fig-missing.\n")
    with pytest.raises(RenderError, match=r"chapters/extra.qmd:\d+: unresolved reference @fig-missing"):
        render_book(root=book_dir, quiet=True)


def test_unresolved_reference_in_a_caption_stops_render(book_dir):
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text().replace("compare @tbl-squares", "compare @tbl-nope"))
    with pytest.raises(RenderError, match=r"chapters/extra.qmd:17: unresolved reference @tbl-nope"):
        render_book(root=book_dir, quiet=True, formats=())


def test_failing_cell_reports_chapter_line_and_exception(book_dir):
    path = book_dir / "chapters" / "extra.qmd"
    text = path.read_text()
    path.write_text(text + "\nMore.\n\n\n\n```{python}\nx = 1 / 0\n```\n")
    line = text.count("\n") + 6  # the appended cell's fence
    with pytest.raises(RenderError) as err:
        render_book(root=book_dir, quiet=True, formats=())
    assert f"chapters/extra.qmd:{line}: cell failed: ZeroDivisionError" in str(err.value)


def test_stderr_and_warnings_are_shown_and_reported(book_dir):
    path = book_dir / "chapters" / "extra.qmd"
    path.write_text(path.read_text() + "\n```{python}\nimport warnings\n"
                    "warnings.warn('careful')\n```\n")
    result = render_book(root=book_dir, quiet=True, formats=("html",))
    assert len(result.diagnostics) == 1 and "UserWarning: careful" in result.diagnostics[0]
    assert 'class="cell-output-stderr"' in result.files["html"].read_text()


def test_html(rendered):
    root, result, html = rendered
    assert result.diagnostics == []
    assert 'id="fig-wave"' in html and "data:image/png;base64," in html
    assert "Figure 1.1: A sine wave" in html and html.count("data:image/png") == 2
    assert '<a href="#fig-wave">Figure 1.1</a>' in html
    assert '<a href="#sec-waves-table">Section 1.2</a>' in html
    assert "<caption>Table 1.1: Squares" in html and ">25</td>" in html
    assert 'class="callout callout-note"' in html and "Why a sine" in html
    assert "two plus two is 4" in html and "lists 5 squares" in html
    assert "<strong>bold from asis</strong>" in html
    assert "plain stdout line" in html and "not shown" not in html
    assert "<math" in html and "<details" in html  # MathML; folded code
    assert "@fig" not in html and "??" not in html
    # references in captions and Quarto's bracketed forms are resolved; other @names are text
    assert re.search(r'<figure id="fig-extra">.*<figcaption[^>]*>Figure A.1: Values in \[0, 1\) '
                     r'against <a href="#fig-wave">Figure 1.1</a>; compare '
                     r'<a href="#tbl-squares">Table 1.1</a>.</figcaption>', html, re.S)
    assert 'alt="A short rising line, as in Figure 1.1."' in html
    assert 'not drawn in <a href="#fig-wave">Figure 1.1</a>.</caption>' in html
    assert 'wave <a href="#fig-wave">1.1</a> and <a href="#fig-wave">Fig. 1.1</a>' in html
    assert "a handle like @someone" in html and 'class="citation"' not in html


def test_pdf(rendered):
    pypdf = pytest.importorskip("pypdf")
    _, result, _ = rendered
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(result.files["pdf"]).pages)
    for expected in ("Fixture book", "Waves", "Figure 1.1", "Table 1.1", "Why a sine",
                     "a handle like @someone", "Figure A.1: Values in [0, 1) against Figure 1.1",
                     "wave 1.1 and Fig. 1.1"):
        assert expected in re.sub(r"\s+", " ", text)
    assert "x = 1" not in text  # code is not in the PDF


def test_second_render_and_prose_edit_hit_the_cache(rendered):
    root, first, _ = rendered
    assert set(first.executed) == {"index.qmd", "chapters/waves.qmd", "chapters/extra.qmd"}
    path = root / "chapters" / "waves.qmd"
    path.write_text(path.read_text().replace("Intro paragraph", "Edited intro paragraph"))
    again = render_book(root=root, quiet=True, formats=("html",))
    assert again.executed == []
    assert "Edited intro paragraph" in again.files["html"].read_text()
