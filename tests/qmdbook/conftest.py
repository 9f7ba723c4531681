"""The fixture book (tests/qmdbook/fixtures/book), rendered once per session."""

import shutil
from pathlib import Path

import pypdf
import pytest

from qmdbook.render import render_book

FIXTURES = Path(__file__).parent / "fixtures"
BOOK = FIXTURES / "book"
IGNORE = shutil.ignore_patterns(".qmdbook_cache", "_book")


def copy_book(dest: Path, src: Path = BOOK) -> Path:
    shutil.copytree(src, dest, ignore=IGNORE)
    return dest


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One execution cache for the edited copies: an unedited chapter executes once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def book_dir(tmp_path):
    """A private copy of the fixture book (the tests edit it)."""
    return copy_book(tmp_path / "book")


@pytest.fixture
def render_copy(book_dir, shared_cache):
    """``render_book`` on ``book_dir`` with the shared cache."""
    def render(**kw):
        return render_book(root=book_dir, cache_dir=shared_cache, quiet=True, **kw)
    return render


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    """``(root, Rendered, html text, pdf text)`` of the fixture book."""
    root = copy_book(tmp_path_factory.mktemp("fixture") / "book")
    result = render_book(root=root, quiet=True)
    pdf = "\n".join(p.extract_text() for p in pypdf.PdfReader(result.files["pdf"]).pages)
    return root, result, result.files["html"].read_text(encoding="utf-8"), pdf
