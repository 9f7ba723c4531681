"""Render the whole real book through qmdbook (HTML and PDF) and check the result.

Uses the project's jupyter cache (cold in CI, so every chapter really executes)
and writes into a temporary folder, leaving _book/ alone.
"""

import re
import unicodedata
from pathlib import Path

import pytest

from qmdbook.crossref import number_book
from qmdbook.qmd import load_book
from qmdbook.render import render_book

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def book():
    return load_book(ROOT)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    result = render_book(root=ROOT, out_dir=tmp_path_factory.mktemp("book"), quiet=True)
    return result, result.files["html"].read_text(encoding="utf-8")


def plain(text: str) -> str:
    """Compare text the way a reader sees it: ligatures undone, whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text))


def test_no_stderr_warnings_or_errors_in_cells(rendered):
    result, html = rendered
    assert result.diagnostics == []
    assert not re.search(r'class="[^"]*cell-output-stderr', html)
    assert "Traceback" not in html


def test_every_chapter_is_present(book, rendered):
    _, html = rendered
    text = plain(re.sub(r"<[^>]+>", "", html))
    for ch in book.chapters:
        assert plain(ch.title) in text, ch.path.name


def test_every_figure_is_numbered_embedded_and_described(book, rendered):
    _, html = rendered
    nums = number_book(book)
    figures = [c for ch in book.chapters for c in ch.cells if c.label.startswith("fig-")]
    for cell in figures:
        m = re.search(rf'<(figure|div) id="{cell.label}".*?</\1>', html, re.S)
        assert m, f"{cell.label} is not in the HTML"
        assert 'src="data:image/png;base64,' in m.group(0), f"{cell.label} is not embedded"
        assert f"{nums.label[cell.label]}:" in m.group(0), f"{cell.label} has no number"
    for cell in (c for ch in book.chapters for c in ch.cells if c.label.startswith("tbl-")):
        assert f'id="{cell.label}"' in html and f"{nums.label[cell.label]}:" in html
    for img in re.findall(r"<img\b[^>]*>", html):
        assert re.search(r'\balt="[^"]+"', img), f"image without alt text: {img[:120]}"


def test_no_unresolved_references(rendered):
    _, html = rendered
    prose = re.sub(r"<(pre|code)\b.*?</\1>", "", html, flags=re.S)
    assert "??" not in prose
    assert not re.search(r"@(fig|tbl|sec)-", prose)


def test_pdf(book, rendered):
    pypdf = pytest.importorskip("pypdf")
    result, _ = rendered
    reader = pypdf.PdfReader(result.files["pdf"])
    assert len(reader.pages) >= len(book.chapters) + 2  # title page, contents
    text = plain(" ".join(page.extract_text() for page in reader.pages))
    assert plain(book.title) in text
    for ch in book.chapters:
        assert plain(ch.title) in text, ch.path.name


def test_inline_values_show_no_escapes(rendered):
    """Quarto inserts a ``str`` through its repr (an escaped no-break space shows as
    ``\\xa0``); every inline value of the book must come out as text in both outputs."""
    pypdf = pytest.importorskip("pypdf")
    result, html = rendered
    text = re.sub(r"<[^>]+>|data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", html)
    assert "\\xa0" not in text and "\\u00a0" not in text
    pdf = " ".join(p.extract_text() for p in pypdf.PdfReader(result.files["pdf"]).pages)
    assert "\\xa0" not in pdf
