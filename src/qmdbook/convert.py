"""The assembled Markdown to one self-contained HTML file and to a PDF (Pandoc, Typst).

Settings come from ``_quarto.yml``: the book's title fields (``book: title,
subtitle, author, date, abstract``), ``bibliography``/``csl`` (Pandoc's citeproc
in both formats; the list goes where a ``::: {#refs}`` div is, else at the end),
``format: html:`` (``toc-depth``, ``html-math-method``, ``fontsize``) and
``format: typst:`` (``papersize``, ``margin``, ``fontsize``, ``mainfont``,
``toc``, ``toc-depth``, ``columns``). The PDF takes Quarto's route since 1.4:
Pandoc's Typst writer, then the ``typst`` compiler.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from qmdbook import config
from qmdbook.qmd import Book

RESOURCES = Path(__file__).parent / "resources"
# Pandoc Markdown as Quarto reads it (citations on: ``@key`` is a citation).
MARKDOWN = "markdown"


class ConvertError(ValueError):
    """Pandoc or Typst failed."""


def pandoc(markdown: str, to: str, args: list[str], work: Path) -> tuple[str, list[str]]:
    """Run Pandoc; return its output and its warnings (one string each)."""
    import pypandoc

    # --columns: pipe tables keep natural column widths instead of widths from dash counts
    cmd = [pypandoc.get_pandoc_path(), f"--from={MARKDOWN}", f"--to={to}", "--standalone",
           "--wrap=none", "--columns=1000", f"--resource-path={work}", *args]
    proc = subprocess.run(cmd, input=markdown, capture_output=True, text=True, cwd=work)
    if proc.returncode != 0:
        raise ConvertError(f"pandoc --to={to} failed: {proc.stderr.strip()}")
    warnings = [w.strip() for w in re.split(r"(?m)^(?=\[WARNING\])", proc.stderr) if w.strip()]
    return proc.stdout, warnings


def book_field(book: Book, key: str):
    """A title field: under ``book:`` in ``_quarto.yml``, else at its top level."""
    return (book.config.get("book") or {}).get(key, book.config.get(key))


def book_date(book: Book) -> str | None:
    """``date`` as Quarto shows it: ``today``/``last-modified`` and ISO dates in the long form."""
    value = book_field(book, "date")
    if value in (None, ""):
        return None
    if value == "today":
        value = dt.date.today()
    elif value == "last-modified":
        value = dt.date.fromtimestamp(max(c.path.stat().st_mtime for c in book.chapters))
    elif isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.date):
        return f"{value:%B} {value.day}, {value.year}"
    return str(value)


def authors(book: Book) -> list[dict]:
    """``author``: a name, a list of names, or Quarto's ``{name, affiliation, email}`` records."""
    value = book_field(book, "author")
    items = value if isinstance(value, list) else [value] if value else []
    out = []
    for a in items:
        if isinstance(a, dict):
            name = a.get("name")
            name = " ".join(str(name[k]) for k in ("given", "family") if k in name) \
                if isinstance(name, dict) else str(name or "")
            aff = a.get("affiliation") or a.get("affiliations") or ""
            if isinstance(aff, list):
                aff = ", ".join(x.get("name", "") if isinstance(x, dict) else str(x) for x in aff)
            out.append({"name": name, "affiliation": str(aff.get("name", "") if isinstance(aff, dict)
                                                        else aff)})
        else:
            out.append({"name": str(a), "affiliation": ""})
    return out


def metadata(book: Book, fmt: str) -> dict:
    """Pandoc metadata for ``fmt``: title fields, bibliography, the format's page settings."""
    meta: dict = {"title": book.title, "lang": book.config.get("lang", "en")}
    for key in ("subtitle", "abstract"):
        if book_field(book, key):
            meta[key] = str(book_field(book, key))
    if book_date(book):
        meta["date"] = book_date(book)
    if authors(book):
        meta["author"] = [a["name"] + (f", {a['affiliation']}" if a["affiliation"] else "")
                          for a in authors(book)]
    for key in ("bibliography", "csl"):  # files, relative to the project
        value = book.config.get(key)
        if value:
            meta[key] = [str(book.root / v) for v in value] if isinstance(value, list) \
                else str(book.root / value)
    for key in ("link-citations", "reference-section-title"):
        if key in book.config:
            meta[key] = book.config[key]
    opts = config.format_options(book, fmt)
    if fmt == "typst":
        for key in ("papersize", "margin", "fontsize", "mainfont", "columns", "section-numbering"):
            if key in opts:
                meta[key] = opts[key]
    return meta


def common_args(book: Book, fmt: str, work: Path) -> list[str]:
    """Metadata, citeproc and the table of contents (``toc``, ``toc-depth``) for ``fmt``."""
    meta = work / f"meta-{fmt}.yaml"
    meta.write_text(yaml.safe_dump(metadata(book, fmt), allow_unicode=True), encoding="utf-8")
    args = [f"--metadata-file={meta}", "--citeproc"]
    # The HTML sidebar is the book's navigation: always there, as in a Quarto book.
    if fmt == "html" or config.option(book, fmt, "toc", False):
        args += ["--toc", f"--toc-depth={config.option(book, fmt, 'toc-depth', 3)}"]
    return args


def write_html(book: Book, markdown: str, out: Path, work: Path) -> list[str]:
    """One self-contained HTML file: images as data URIs, math as MathML, a chapter sidebar."""
    method = config.option(book, "html", "html-math-method", "mathml")
    method = method.get("method") if isinstance(method, dict) else method
    if method != "mathml":
        raise config.ConfigError(f"_quarto.yml: html-math-method: {method} needs the network; "
                                 "a self-contained book uses html-math-method: mathml")
    css = work / "book.css"
    css_text = (RESOURCES / "book.css").read_text(encoding="utf-8")
    size = config.option(book, "html", "fontsize")
    if size:
        css_text = f":root {{ --qb-fontsize: {size}; }}\n" + css_text
    css.write_text(css_text, encoding="utf-8")
    args = [*common_args(book, "html", work), "--mathml", "--embed-resources",
            f"--css={css}", f"--template={RESOURCES / 'book.html'}",
            f"--include-after-body={RESOURCES / 'sidebar.html'}", "--syntax-highlighting=pygments",
            "--section-divs=false", f"--output={out}"]
    _, warnings = pandoc(markdown, "html5", args, work)
    return warnings


def typst_string(text: str) -> str:
    """A Typst string literal in content brackets (no markup inside)."""
    return f"#{json.dumps(text, ensure_ascii=False)}"


def typst_title_page(book: Book) -> str:
    """A title page from the book's fields (Pandoc's template has a title block only)."""
    lines = ["#page(footer: none)[", "#v(28%)",
             f"#text(size: 26pt, weight: \"bold\")[{typst_string(book.title)}]"]
    if book_field(book, "subtitle"):
        lines += ["#v(0.6em)", f"#text(size: 14pt)[{typst_string(str(book_field(book, 'subtitle')))}]"]
    lines += ["#v(2em)", "#line(length: 40%, stroke: 0.6pt)", "#v(1em)"]
    for a in authors(book):
        lines.append(f"#text(size: 12pt)[{typst_string(a['name'])}] \\")
        if a["affiliation"]:
            lines.append(f"#text(size: 10pt)[{typst_string(a['affiliation'])}] \\")
    if book_date(book):
        lines += ["#v(0.6em)", f"#text(size: 11pt)[{typst_string(book_date(book))}]"]
    if book_field(book, "abstract"):
        lines += ["#v(2em)", f"#block(width: 85%)[#set par(justify: true)\n"
                             f"{typst_string(str(book_field(book, 'abstract')))}]"]
    return "\n".join(lines + ["]"])


def write_pdf(book: Book, markdown: str, out: Path, work: Path) -> list[str]:
    """PDF through Pandoc's Typst writer and the ``typst`` compiler (Quarto's route since 1.4)."""
    import typst

    header = work / "header.typ"
    header.write_text((RESOURCES / "book.typ").read_text(encoding="utf-8")
                      + f"#set document(title: {json.dumps(book.title)})\n", encoding="utf-8")
    before = work / "title.typ"
    before.write_text(typst_title_page(book), encoding="utf-8")
    source, warnings = pandoc(markdown, "typst", [
        *common_args(book, "typst", work), f"--include-before-body={before}",
        f"--include-in-header={header}",
        "-V", f"page-numbering={config.option(book, 'typst', 'page-numbering', '1')}",
        "--metadata", "title=", "--metadata", "subtitle=", "--metadata", "author=",
        "--metadata", "date=", "--metadata", "abstract="], work)
    typ = work / "book.typ"
    typ.write_text(source, encoding="utf-8")
    try:
        typst.compile(str(typ), output=str(out), root=str(work))
    except Exception as exc:  # typst reports the .typ line; keep the source to look at
        kept = out.with_suffix(".typ")
        shutil.copy(typ, kept)
        raise ConvertError(f"typst failed on {kept}: {exc}") from None
    return warnings
