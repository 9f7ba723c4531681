"""Each rule qmdbook mirrors from Quarto, pinned on a small fixture; each test names its source.

Sources are quarto-dev/quarto-cli files (src/...) and quarto.org pages.
"""

import re
import shutil
from pathlib import Path

import pytest

from qmdbook.config import CACHE_INLINE_ERROR, ConfigError
from qmdbook.crossref import number_book, resolve_refs
from qmdbook.inline import escaped_markdown, inline_value, mime_type, substitute
from qmdbook.qmd import load_book
from qmdbook.render import render_book

from .conftest import BOOK, FIXTURES

ROOT = Path(__file__).resolve().parents[2]


# --- execute: cache + inline expressions -----------------------------------------

def test_cache_with_inline_expressions_is_refused_with_quartos_message():
    """src/core/jupyter/jupyter-inline.ts, resolveUserExpressions: ``execute.cache`` true
    or "refresh" and an inline expression -> "Inline expression encountered (EXPR).
    Inline expressions cannot be used with Jupyter Cache." """
    with pytest.raises(ConfigError) as err:
        render_book(root=FIXTURES / "cache-inline", quiet=True, formats=())
    assert str(err.value) == ("index.qmd:7: Inline expression encountered (x + 1). "
                              "Inline expressions cannot be used with Jupyter Cache.")


@pytest.mark.parametrize("where", ["project", "format", "front matter"])
def test_cache_refresh_at_any_level_is_refused(tmp_path, where):
    """The same check with ``cache: refresh`` (jupyter-inline.ts) set in _quarto.yml's
    ``execute``, in a format, or in a chapter's front matter (options merge in that order)."""
    root = shutil.copytree(FIXTURES / "cache-inline", tmp_path / "b")
    yml = (root / "_quarto.yml").read_text().replace("  cache: true\n", "  freeze: auto\n")
    if where == "project":
        yml = yml.replace("  freeze: auto\n", "  freeze: auto\n  cache: refresh\n")
    elif where == "format":
        yml += "format:\n  html:\n    cache: refresh\n"
    else:
        qmd = root / "index.qmd"
        qmd.write_text("---\nexecute:\n  cache: refresh\n---\n\n" + qmd.read_text())
    (root / "_quarto.yml").write_text(yml)
    with pytest.raises(ConfigError, match=re.escape("Inline expressions cannot be used with "
                                                    "Jupyter Cache.")):
        render_book(root=root, quiet=True, formats=())


def test_the_book_of_436722e_is_refused(tmp_path):
    """The committed book of 436722e (``execute: cache: true`` and inline expressions), as
    Quarto 1.10 refused it: the first chapter with an inline expression stops the render."""
    root = tmp_path / "book"
    root.mkdir()
    shutil.copy(FIXTURES / "quarto-436722e.yml", root / "_quarto.yml")
    book = load_book(ROOT)
    for ch in book.chapters:
        dest = root / ch.path.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ch.path, dest)
    first = next(ch for ch in load_book(root).chapters if ch.inline_expressions())
    expr, line = first.inline_expressions()[0]
    with pytest.raises(ConfigError) as err:
        render_book(root=root, quiet=True, formats=())
    assert str(err.value) == (f"{first.path.relative_to(root)}:{line}: "
                              + CACHE_INLINE_ERROR.format(expr=expr))


def test_the_book_uses_freeze_not_cache():
    """quarto.org/docs/projects/code-execution.html: ``freeze: auto`` works with inline
    expressions; the book must not set ``cache`` anywhere Quarto reads it."""
    book = load_book(ROOT)
    assert book.config["execute"].get("freeze") == "auto"
    assert "cache" not in book.config["execute"]
    for fmt in book.config.get("format", {}).values():
        assert "cache" not in fmt and "cache" not in (fmt.get("execute") or {})


# --- inline values ------------------------------------------------------------------

def test_str_value_is_its_repr_unquoted_and_escaped():
    """jupyter-inline.ts asEscapedMarkdown: quotes stripped, backslashes doubled, then
    each of \\ ` * _ { } [ ] ( ) > # + , - . ! escaped (the class's ``+-.`` is a range);
    so a no-break space shows as its escape (quarto-cli issue 11291 shows the doubling)."""
    assert escaped_markdown("'3.2\\xa0×\\xa010⁻¹³'") == "3\\.2\\\\\\\\xa0×\\\\\\\\xa010⁻¹³"
    assert escaped_markdown("'a*b_c'") == "a\\*b\\_c"
    assert escaped_markdown('"100,000"') == "100\\,000"
    assert escaped_markdown("0.25") == "0.25"  # not quoted: as is


def test_mime_type_priority():
    """src/core/jupyter/display-data.ts displayDataMimeType: HTML output prefers text/html,
    other formats text/markdown, then images, text/plain last."""
    both = {"text/html": "<b>x</b>", "text/markdown": "**x**", "text/plain": "x"}
    assert mime_type(both, "html") == "text/html"
    assert mime_type(both, "typst") == "text/markdown"
    assert mime_type({"text/html": "<b>x</b>", "text/plain": "x"}, "typst") == "text/plain"
    assert mime_type({"text/html": "<table></table>", "text/plain": "x"}, "typst") == "text/html"
    assert mime_type({"image/png": "..", "text/plain": "x"}, "typst") == "image/png"


def test_inline_value_by_kind():
    """jupyter-inline.ts resolveUserExpressions: html -> raw html, latex -> raw tex,
    markdown as is, plain text escaped."""
    md = {"data": {"text/markdown": "**strong**", "text/plain": "<Markdown>"}}
    assert inline_value(md, "html") == inline_value(md, "typst") == "**strong**"
    html = {"data": {"text/html": "<b>h</b>", "text/plain": "<obj>"}}
    assert inline_value(html, "html") == "`<b>h</b>`{=html}"
    assert inline_value(html, "typst") == "<obj>"
    assert inline_value({"data": {"text/plain": "4"}}, "html") == "4"


def test_substitution_keeps_empty_values_and_backticked_expressions():
    """src/core/execute-inline.ts: the pattern ``(^|[^`])`{python}[ \\t]([^`]+)` `` (not
    after a backtick), and an empty result leaves the expression as written."""
    values = {"x": {"data": {"text/plain": "2"}}, '""': {"data": {"text/plain": "''"}}}
    assert substitute("a `{python} x` b", values, "html") == "a 2 b"
    assert substitute('e `{python} ""`', values, "html") == 'e `{python} ""`'
    assert substitute("``{python} x``", values, "html") == "``{python} x``"


def test_inline_values_in_a_rendered_chapter(rendered):
    """notebook.py cell_execute_inline: expressions are evaluated through the kernel's
    user_expressions where their prose stands, after the cells above it only."""
    _, _, html, pdf = rendered
    body = re.sub(r"\s+", " ", html)
    assert "x is 1 here" in body and "And 2 after the next cell" in body
    assert "A str: 3.2\\\\xa0×\\\\xa010⁻¹³;" in body  # the escape shows, as in Quarto
    assert "with Markdown characters: a*b_c;" in body
    assert "a Markdown object: <strong>strong</strong>;" in body
    assert "a float: 0.25;" in body
    assert "an object with HTML only: <b>html only</b>;" in body
    assert "an empty str: <code>{python} &quot;&quot;</code>" in body
    assert "Not evaluated after a backtick: <code>{python} x</code>" in body
    assert "html only" not in pdf  # typst output takes text/plain: the object's repr
    assert "an object with HTML only: OnlyHtml();" in re.sub(r"\s+", " ", pdf)


# --- cross-references ------------------------------------------------------------

def test_numbering_of_chapters_appendices_and_floats():
    """quarto.org/docs/books/book-crossrefs.html and book-structure.html: chapters 1, 2, ...,
    appendices A, B, ..., ``.unnumbered`` chapters without a number; figures, tables and
    sections numbered per chapter; a chapter's own label reads "Chapter"/"Appendix"."""
    nums = number_book(load_book(BOOK))
    assert nums.label["fig-wave"] == "Figure 1.1"
    assert nums.label["tbl-squares"] == "Table 1.1"
    assert nums.label["tbl-commands"] == "Table 2.1"  # a Markdown table: ": cap {#tbl-a}"
    assert nums.label["sec-waves"] == "Chapter 1"
    assert nums.label["sec-inline"] == "Chapter 2"
    assert nums.label["sec-waves-table"] == "Section 1.2"
    assert nums.label["sec-preface"] == "Section"  # unnumbered
    assert nums.label["fig-extra"] == "Figure A.1"  # appendix
    assert list(nums.chapter.values()) == ["", "1", "2", "", "A"]


def test_reference_forms():
    """quarto.org/docs/authoring/cross-references.html: ``@fig-a``, ``@Fig-a``,
    ``[-@fig-a]`` (number only), ``[Fig. @fig-a]`` (own prefix); none inside code."""
    nums = number_book(load_book(BOOK))
    assert resolve_refs("See @fig-wave.", nums, "x") == "See [Figure 1.1](#fig-wave)."
    assert resolve_refs("@Tbl-squares, `@fig-x`, a@b.c", nums, "x") == \
        "[Table 1.1](#tbl-squares), `@fig-x`, a@b.c"
    assert resolve_refs("[-@fig-wave], [Fig. @fig-wave], [@fig-wave]", nums, "x") == \
        "[1.1](#fig-wave), [Fig. 1.1](#fig-wave), [Figure 1.1](#fig-wave)"
    assert resolve_refs("as in @fig-wave", nums, "x", plain=True) == "as in Figure 1.1"


def test_markdown_table_label_is_numbered_and_linked(rendered):
    """quarto.org/docs/authoring/tables.html: ``: Caption {#tbl-a}`` labels a Markdown table."""
    _, _, html, _ = rendered
    assert re.search(r"<caption>Table 2.1: Commands. <span id=\"tbl-commands\"", html)
    assert '<a href="#tbl-commands">Table 2.1</a> lists a command' in html


# --- cells ----------------------------------------------------------------------

def test_code_fold_echo_include_and_asis(rendered):
    """quarto.org/docs/output-formats/html-code.html (``code-fold``, ``code-summary``) and
    quarto.org/docs/reference/cells/cells-jupyter.html (``echo``, ``include``,
    ``output: asis``): folded code in HTML; ``echo: false`` for typst shows no code."""
    _, _, html, pdf = rendered
    assert re.search(r'<details class="code-fold">\s*<summary>\s*Show the code\s*</summary>', html)
    assert "print(&quot;plain stdout line&quot;)" not in html  # echo: false
    assert "hidden = " not in html  # include: false
    assert "<strong>bold from asis</strong>" in html  # output: asis
    shown = re.sub(r"<[^>]+>", "", html)  # highlighted code is split into spans
    assert "fig, ax = plt.subplots" in shown and "fig, ax = plt.subplots" not in pdf


def test_asis_markdown_listing_keeps_double_dash(rendered):
    """``output: asis`` stdout is Markdown: a fenced listing becomes a code block, whose
    ``--`` stays two hyphens in both formats (code is never typographic)."""
    _, _, html, pdf = rendered
    assert re.search(r'<pre[^>]*><code[^>]*>.*def.*step.*# --lr 0.1', html, re.S)
    assert "–lr" not in html and "–trials" not in html and "–lr" not in pdf
    assert "# --lr 0.1" in pdf
    assert "--trials 50" in pdf and "tune problem2 --trials 50" in html
    # a code line wider than the text is set smaller, never wrapped (one line in the PDF)
    assert any("run_all(" in line and "quiet=False)" in line for line in pdf.splitlines())


def test_long_listing_breaks_across_pages(rendered):
    """A listing longer than a page continues on the next page (a code block is breakable,
    also when its lines are set smaller to fit the width)."""
    import pypdf

    _, result, _, _ = rendered
    pages = [p.extract_text() for p in pypdf.PdfReader(result.files["pdf"]).pages]
    first = next(i for i, t in enumerate(pages) if "# row 0" in t)
    last = next(i for i, t in enumerate(pages) if "# row 89" in t)
    assert last > first
    assert all(any(f"# row {i}" in line and f"third_argument_{i})" in line for t in pages
                   for line in t.splitlines()) for i in (0, 45, 89))  # each row on one line


def test_callouts(rendered):
    """quarto.org/docs/authoring/callouts.html: ``## Title``, ``title="..."``, or the
    kind as default title."""
    _, _, html, pdf = rendered
    for kind, title in (("note", "Why a sine"), ("tip", "A titled tip"), ("important", "Important")):
        assert re.search(rf'<div class="callout callout-{kind}">\s*<div class="callout-title">'
                         rf'\s*<p>{title}</p>', html), kind
    assert "A titled tip" in pdf and "Why a sine" in pdf


# --- math, citations, title ----------------------------------------------------------

def test_math(rendered):
    """quarto.org/docs/authoring/markdown-basics.html#equations: ``$...$`` and ``$$...$$``;
    ``html-math-method: mathml`` keeps the HTML self-contained; Typst renders its own math."""
    _, _, html, pdf = rendered
    assert html.count("<math") >= 4 and 'display="block"' in html
    assert "$" not in re.sub(r"<(script|style|pre|code)\b.*?</\1>", "", html, flags=re.S)
    assert "∇" in pdf


def test_citations_and_reference_list(rendered):
    """quarto.org/docs/authoring/footnotes-and-citations.html and books/book-structure.html:
    ``bibliography:`` + ``[@key]`` through Pandoc's citeproc; the list goes in the
    ``::: {#refs}`` div of references.qmd."""
    _, result, html, pdf = rendered
    assert "(Simard et al. 2003)" in re.sub(r"\s+", " ", html)
    refs = re.search(r'<div id="refs".*?</div>\s*</div>', html, re.S).group(0)
    assert "Best Practices for Convolutional Neural Networks" in refs
    text = re.sub(r"\s+", " ", pdf)
    assert "(Simard et al. 2003)" in text
    assert text.index("Best Practices for Convolutional") > text.index("References")
    assert not any("Citeproc" in d for d in result.diagnostics)


def test_title_fields_and_page_settings_come_from_quarto_yml(rendered):
    """quarto.org/docs/reference/projects/books.html (title, subtitle, author, date) and
    quarto.org/docs/reference/formats/typst.html (papersize, margin, fontsize)."""
    import pypdf

    _, result, html, pdf = rendered
    assert '<p class="subtitle">Every rule the renderer mirrors</p>' in html
    assert "Ada Lovelace, Analytical Engines" in html and "November 26, 2026" in html
    first = re.sub(r"\s+", " ", pdf.split("\n")[0:8].__str__())
    assert "Fixture book" in first
    page = pypdf.PdfReader(result.files["pdf"]).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (420, 595)


def test_command_line_refuses_cache_with_inline_expressions():
    """``python -m qmdbook render`` (what ``python -m hw7 render`` calls) exits non-zero with
    Quarto's message, before executing anything."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "qmdbook", "--root", str(FIXTURES / "cache-inline"),
                           "render"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: index.qmd:7: Inline expression encountered (x + 1). "
                                   "Inline expressions cannot be used with Jupyter Cache.")
