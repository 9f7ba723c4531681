"""Quarto's conditional content (``.content-visible``/``.content-hidden``), rule by rule.

Sources: quarto-cli src/resources/filters/customnodes/content-hidden.lua
(``ConditionalBlock``, ``handleHiddenVisible``, ``propertiesMatch``,
``clearHiddenVisibleAttributes``), src/resources/pandoc/datadir/_format.lua
(``isFormat``), src/resources/filters/main.lua (filter order),
src/project/project-profile.ts and src/quarto-core/profile.ts (profiles), and
quarto.org/docs/authoring/conditional.html.
"""

import re
import shutil
from pathlib import Path

import pypdf
import pytest

from qmdbook import conditional
from qmdbook.conditional import Context, chapter_view, is_format
from qmdbook.config import ConfigError, active_profiles
from qmdbook.crossref import RefError, check_references, number_book
from qmdbook.qmd import Cell, QmdError, load_book, parse_qmd
from qmdbook.render import render_book

from .conftest import BOOK, FIXTURES, IGNORE

ROOT = Path(__file__).resolve().parents[2]
COND = FIXTURES / "conditional"
HTML, TYPST = Context("html"), Context("typst")


def shown(text: str, ctx: Context) -> str:
    """The prose of a one-block chapter as ``ctx`` shows it."""
    ch = chapter_view(parse_qmd(Path("x.qmd"), text), ctx)
    return "\n".join(t for b in ch.blocks if not isinstance(b, Cell) for _, t in b.numbered())


def words(text: str) -> list[str]:
    return re.findall(r"[A-Z][A-Z-]+", text)


# --- matching ----------------------------------------------------------------------------

@pytest.mark.parametrize("to, html, typst", [
    ("html", True, False), ("html:js", True, False), ("typst", False, True),
    ("pdf", False, False), ("latex", False, False),  # pdf/latex: FORMAT latex, beamer or pdf only
    ("html5", False, False),  # FORMAT is "html": no alias maps html5 back to it
    ("epub", False, False), ("markdown", False, False), ("revealjs", False, False),
])
def test_is_format_aliases(to, html, typst):
    """_format.lua isFormat: FORMAT == to, else the aliases ("pdf"/"latex" -> latex, beamer,
    pdf; "html" -> html, html4, html5, epub*, slides; "html:js" without epub); Typst has none."""
    assert is_format(to, "html") is html
    assert is_format(to, "typst") is typst
    assert is_format("html", "epub3") and not is_format("html:js", "epub3")
    assert is_format("pdf", "latex") and is_format("latex", "beamer")


def test_a_value_is_one_string_and_a_repeated_div_condition_is_a_list():
    """content-hidden.lua: the ConditionalBlock constructor collects a repeated condition
    into a list (check_property: any value); a value is not split on spaces or commas."""
    text = ('::: {.content-visible when-format="html" when-format="typst"}\nBOTH\n:::\n\n'
            '::: {.content-visible when-format="html typst"}\nNEVER\n:::\n\n'
            '::: {.content-visible when-format="html,typst"}\nNEVER-COMMA\n:::\n')
    assert words(shown(text, HTML)) == words(shown(text, TYPST)) == ["BOTH"]


def test_a_span_or_code_block_reads_the_first_of_a_repeated_condition():
    """content-hidden.lua handleHiddenVisible reads el.attributes[key]: Pandoc's reader keeps
    both pairs, the Lua lookup gives the first (checked with pandoc 3.9 and a Lua filter)."""
    text = '[FIRST-TYPST]{.content-visible when-format="typst" when-format="html"}\n'
    assert words(shown(text, HTML)) == []
    assert words(shown(text, TYPST)) == ["FIRST-TYPST"]


def test_conditions_combine_with_and():
    """content-hidden.lua propertiesMatch: every condition present must hold; unless-
    negates."""
    ctx = Context("html", {"extras": True})
    text = ('::: {.content-visible when-format="html" unless-meta="extras"}\nNO\n:::\n\n'
            '::: {.content-visible when-format="html" when-meta="extras"}\nYES\n:::\n')
    assert words(shown(text, ctx)) == ["YES"]


def test_when_meta_reads_a_boolean_by_dotted_key():
    """content-hidden.lua check_meta: split on ".", the value must be a boolean true (a
    string "true" is not)."""
    meta = {"book": {"extras": True}, "flag": "true", "off": False}
    ctx = Context("typst", meta)
    text = ('[A-MARK]{.content-visible when-meta="book.extras"}\n'
            '[B-MARK]{.content-visible when-meta="flag"}\n'
            '[C-MARK]{.content-visible unless-meta="off"}\n'
            '[D-MARK]{.content-visible when-meta="missing.key"}\n')
    assert words(shown(text, ctx)) == ["A-MARK", "C-MARK"]


def test_document_metadata_merges_project_format_and_front_matter(tmp_path):
    """content-hidden.lua get_meta reads the document's metadata (captured by main.lua's
    init-quarto-custom-meta-init): _quarto.yml, then the format's options, then the
    chapter's front matter, as Quarto merges them."""
    (tmp_path / "_quarto.yml").write_text(
        "book:\n  chapters: [index.qmd]\nextras:\n  shown: true\n"
        "format:\n  typst:\n    extras:\n      shown: false\n")
    (tmp_path / "index.qmd").write_text('# A\n\n[X-MARK]{.content-visible when-meta="extras.shown"}\n')
    book = load_book(tmp_path)
    ch = book.chapters[0]
    assert "X-MARK" in conditional.view(book, ch, "html").blocks[0].text
    assert "X-MARK" not in conditional.view(book, ch, "typst").blocks[0].text
    ch.meta = {"extras": {"shown": True}}
    assert "X-MARK" in conditional.view(book, ch, "typst").blocks[0].text


def test_profiles(tmp_path, monkeypatch):
    """project-profile.ts: QUARTO_PROFILE split on spaces and commas (profile.ts
    readProfile), else ``profile: default``; a group's first member when none is active;
    a _quarto-<profile>.yml (merged by Quarto, not by qmdbook) is refused."""
    (tmp_path / "_quarto.yml").write_text(
        "profile:\n  default: draft\n  group: [[basic, advanced]]\nbook:\n  chapters: [index.qmd]\n")
    (tmp_path / "index.qmd").write_text(
        '# A\n\n[DRAFT-MARK]{.content-visible when-profile="draft"}\n'
        '[FINAL-MARK]{.content-hidden unless-profile="final"}\n')
    book = load_book(tmp_path)
    assert active_profiles(book, {}) == ("draft", "basic")
    assert active_profiles(book, {"QUARTO_PROFILE": "final, advanced"}) == ("final", "advanced")
    monkeypatch.setenv("QUARTO_PROFILE", "final")
    assert words(conditional.view(book, book.chapters[0], "html").blocks[0].text) == ["FINAL-MARK"]
    monkeypatch.delenv("QUARTO_PROFILE")
    assert words(conditional.view(book, book.chapters[0], "html").blocks[0].text) == ["DRAFT-MARK"]
    (tmp_path / "_quarto-draft.yml").write_text("book:\n  title: Draft\n")
    with pytest.raises(ConfigError, match=r"_quarto-draft.yml: profile 'draft' is active"):
        active_profiles(book, {})


# --- what a shown or hidden element becomes ------------------------------------------------

def test_div_is_unwrapped_or_removed():
    """content-hidden.lua ConditionalBlock render: a shown div gives its content (the div,
    its id and other classes go); a hidden one gives nothing; is_visible: content-hidden is
    the negation. quarto.org/docs/authoring/conditional.html."""
    text = ('Before.\n\n::: {#going .aside .content-visible when-format="html"}\nHTML-MARK\n:::\n\n'
            '::: {.content-hidden when-format="html"}\nNOT-HTML-MARK\n:::\n\nAfter.\n')
    assert shown(text, HTML) == "Before.\n\nHTML-MARK\n\nAfter."
    assert shown(text, TYPST) == "Before.\n\nNOT-HTML-MARK\n\nAfter."


def test_span_keeps_its_element_without_the_conditions():
    """content-hidden.lua handleHiddenVisible + clearHiddenVisibleAttributes: a shown span
    stays a span without the conditional class and the format/profile conditions
    (when-meta/unless-meta are not cleared); a hidden span is removed."""
    ctx = Context("html", {"x": True})
    text = ('Text [in HTML]{.content-visible .note when-format="html"} '
            '[meta]{.content-visible when-meta="x"} [in PDF]{.content-visible when-format="pdf"}.\n')
    assert shown(text, ctx) == 'Text [in HTML]{.note} [meta]{when-meta="x"} .'
    # a span alone on its line leaves no blank line behind (the paragraph goes on)
    assert shown('A\n[PDF]{.content-visible when-format="typst"}\nB.\n', HTML) == "A\nB."


def test_non_executable_code_block():
    """Code blocks go through handleHiddenVisible too (quarto.org/docs/authoring/
    conditional.html: "conditions on non-executable code blocks")."""
    text = ('```{.python .content-visible when-format="html"}\n2 + 2\n```\n\n'
            "```python {.content-hidden when-format=\"html\" .numberLines}\n3 + 3\n```\n\nEnd.\n")
    assert shown(text, HTML) == "```{.python}\n2 + 2\n```\n\nEnd."
    assert shown(text, TYPST) == "```{.python .numberLines}\n3 + 3\n```\n\nEnd."


def test_nested_conditional_divs():
    """content-hidden.lua: a conditional div inside a shown one is decided on its own;
    inside a hidden one it is gone with its parent (the constructor clears the content)."""
    text = ('::: {.content-visible when-format="html"}\nOUTER-MARK\n\n'
            '::: {.content-hidden when-format="html"}\nNEVER-MARK\n:::\n\n'
            '::: {.content-visible unless-format="typst"}\nINNER-MARK\n:::\n:::\n\n'
            '::: {.content-hidden when-format="html"}\n::: {.content-visible when-format="typst"}\n'
            'TYPST-MARK\n:::\n:::\n')
    assert words(shown(text, HTML)) == ["OUTER-MARK", "INNER-MARK"]
    assert words(shown(text, TYPST)) == ["TYPST-MARK"]


def test_callouts_and_code_inside_a_hidden_div_go_with_it():
    """content-hidden.lua constructor (result.node.content = {}): hidden content is cleared
    whole, a callout, a code block with ::: in it, a heading."""
    text = ('::: {.content-hidden when-format="typst"}\n## Further\n\n::: {.callout-note}\nNOTE-MARK\n'
            ':::\n\n```\n:::\n```\n:::\n\nEND-MARK\n')
    assert shown(text, TYPST) == "END-MARK"
    assert words(shown(text, HTML)) == ["NOTE-MARK", "END-MARK"]


def test_a_fence_after_a_paragraph_line_is_text(tmp_path):
    """pandoc.org/MANUAL.html#divs-and-spans as pandoc 3.9 reads it (checked): a fenced
    div opens only at column 0 where a block starts; after a paragraph line the
    ::: line is text (Quarto shows it as is); qmdbook warns. A bare ::: closes the open
    div even right after a paragraph line."""
    text = ('Para.\n::: {.content-visible when-format="html"}\nSTAYS-MARK\n:::\n\n'
            '::: {.content-visible when-format="html"}\nHTML-MARK\n:::\nAFTER-MARK\n')
    ch = chapter_view(parse_qmd(tmp_path / "x.qmd", text), TYPST, "x.qmd")
    assert ch.blocks[0].text.rstrip("\n") == ('Para.\n::: {.content-visible when-format="html"}\nSTAYS-MARK\n'
                                 ':::\n\nAFTER-MARK')
    assert ch.notes == ["x.qmd:2: this ::: line follows a paragraph line, so Pandoc reads it as "
                        "text, not as a conditional div: put a blank line before it"]


def test_a_div_boundary_keeps_blocks_apart():
    """content-hidden.lua renders a shown div as its content blocks and a hidden one as
    none, in the AST: the blocks around stay apart, also two lists (in Markdown, Pandoc's
    <!-- --> separator, pandoc.org/MANUAL.html "ending a list")."""
    import pypandoc

    text = ('- a\n- b\n\n::: {.content-visible when-format="html"}\n- c\n:::\n- d\n\n'
            'Para one\n::: {.content-visible when-format="html"}\nNEVER\n:::\n')
    md = shown(text, HTML)
    html = pypandoc.convert_text(md, "html", format="markdown")
    assert html.count("<ul>") == 3 and "<p>a</p>" not in html


def test_ambiguous_and_nested_forms_are_refused(tmp_path):
    """Forms whose Quarto result qmdbook does not reproduce are refused: a conditional
    callout or float (the first class with a handler wins, src/resources/filters/ast/
    parse.lua), a conditional div or code block indented in a list, a conditional class
    on an executable cell."""
    with pytest.raises(QmdError, match=r"x.qmd:1: a conditional div that is also a callout"):
        shown('::: {.content-visible .callout-note when-format="html"}\nx\n:::\n', HTML)
    with pytest.raises(QmdError, match=r"x.qmd:2: qmdbook handles conditional divs and code "):
        shown('- item\n  ::: {.content-visible when-format="html"}\n  x\n  :::\n', HTML)
    with pytest.raises(QmdError, match=r"x.qmd:2: qmdbook handles conditional"):
        shown('- item\n  ```{.py .content-hidden when-format="html"}\n  x\n  ```\n', HTML)
    with pytest.raises(QmdError, match=r"x.qmd:1: a conditional class on a code cell"):
        shown('```{python .content-hidden when-format="html"}\n1\n```\n', HTML)


def test_content_without_conditions_passes_unchanged():
    """The chapters of the book and the fixture book that hold no conditional content: every
    format's view has the chapters' own text and lines, so they render exactly as before."""
    plain = 0
    for root in (ROOT, BOOK):
        book = load_book(root)
        for ch in book.chapters:
            if ".content-visible" in ch.path.read_text() or ".content-hidden" in ch.path.read_text():
                continue
            plain += 1
            for fmt in ("html", "typst"):
                v = conditional.view(book, ch, fmt)
                assert [b if isinstance(b, Cell) else b.numbered() for b in v.blocks] \
                    == [b if isinstance(b, Cell) else b.numbered() for b in ch.blocks]
                assert v.notes == []
    assert plain >= 5


# --- numbering and references per format ---------------------------------------------------

def test_numbering_is_per_format():
    """content-hidden.lua's constructor clears hidden content "before filters are run on
    document": crossref (main.lua: after quarto-pre) never sees it, and Pandoc numbers the
    sections after the filters. In the PDF the figures run 1.1, 1.2 without a gap."""
    book = load_book(COND)
    html, typst, written = number_book(book, "html"), number_book(book, "typst"), number_book(book)
    assert [html.label[k] for k in ("fig-first", "fig-extra", "fig-last")] == \
        ["Figure 1.1", "Figure 1.2", "Figure 1.3"]
    assert (typst.label["fig-first"], typst.label["fig-last"]) == ("Figure 1.1", "Figure 1.2")
    assert "fig-extra" not in typst.label and "sec-further" not in typst.label
    assert (html.label["sec-last"], typst.label["sec-last"]) == ("Section 1.3", "Section 1.2")
    assert written.label == html.label  # as written: everything counted


def test_reference_to_a_hidden_target_is_refused_in_that_format_only(tmp_path):
    """src/resources/filters/crossref/refs.lua: "Unable to resolve crossref @fig-extra" and
    "?@fig-extra" in the format that hides the figure (crossref runs after the hidden
    content is gone); qmdbook refuses it there, naming file, line and format."""
    root = shutil.copytree(COND, tmp_path / "b", ignore=IGNORE)
    qmd = root / "index.qmd"
    qmd.write_text(qmd.read_text().replace("@fig-last follows;", "@fig-last follows @fig-extra;"))
    line = next(i for i, t in enumerate(qmd.read_text().splitlines(), 1) if "follows @fig-extra" in t)
    book = load_book(root)
    check_references(book, ["html"])
    with pytest.raises(RefError) as err:
        check_references(book, ["typst"])
    assert str(err.value).startswith(f"index.qmd:{line}: unresolved reference @fig-extra in "
                                     "format typst: its target is hidden in typst")
    with pytest.raises(RefError, match=r"in format typst"):
        render_book(root=root, quiet=True, formats=("html", "pdf"))


def test_references_inside_hidden_content_need_no_target():
    """main.lua: pre-combined-hidden (content_hidden) and the parse-time clearing run before
    the crossref filters: the references in HTML-only content (@fig-extra, @sec-further)
    are gone from the PDF with their targets, nothing to resolve there."""
    check_references(load_book(COND), ["html", "typst"])


# --- rendered ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cond_rendered(tmp_path_factory):
    root = shutil.copytree(COND, tmp_path_factory.mktemp("cond") / "book", ignore=IGNORE)
    result = render_book(root=root, quiet=True)
    pdf = "\n".join(p.extract_text() for p in pypdf.PdfReader(result.files["pdf"]).pages)
    return result, result.files["html"].read_text(encoding="utf-8"), re.sub(r"\s+", " ", pdf)


def test_rendered_html_and_pdf(cond_rendered):
    """quarto.org/docs/authoring/conditional.html with content-hidden.lua, rendered: each
    format shows what it keeps, numbered on its own: the HTML-only figure is Figure
    1.2 in HTML and absent from the PDF, whose last figure is 1.2; the cell inside the
    HTML-only div executed once, for both (its side effect shows in both); spans and code
    blocks resolved; no conditional class or condition left in the output."""
    result, html, pdf = cond_rendered
    assert result.diagnostics == []
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert "Figure 1.2: Extra, in HTML only." in text and "Figure 1.3: Last, in both." in text
    assert '<a href="#fig-extra">Figure 1.2</a>' in html
    assert "Figure 1.2: Last, in both." in pdf and "Extra" not in pdf and "Figure 1.3" not in pdf
    assert "1.2 Going further" in text and "1.3 Last" in text
    assert "Going further" not in pdf and "1.2 Last" in pdf
    for out in (text, pdf):
        assert "the cell in HTML-only content ran in both formats: extra" in out
    assert "NESTED-HTML-MARK" in text and "SPAN-HTML-MARK" in text
    for mark in ("SPAN-TYPST-MARK", "SPAN-PDF-MARK", "CODE_TYPST_MARK", "LIST-HIDDEN-MARK"):
        assert mark not in text, mark
    assert "SPAN-TYPST-MARK" in pdf and "CODE_TYPST_MARK" in pdf
    for mark in ("NESTED-HTML-MARK", "SPAN-HTML-MARK", "SPAN-PDF-MARK", "LIST-HIDDEN-MARK"):
        assert mark not in pdf, mark
    assert not re.search(r"content-(visible|hidden)|when-format|:::", html + pdf)
