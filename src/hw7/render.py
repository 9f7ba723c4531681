"""Render the book without Quarto: jupyter-cache + nbclient, Pandoc, Typst.

``render_book`` executes every chapter as a notebook (cached by jupyter-cache,
so only code edits re-execute), turns the outputs into Pandoc Markdown with
Quarto's numbering and cross references, and converts it with Pandoc to one
self-contained HTML file and, through Pandoc's Typst writer and the ``typst``
compiler, to one PDF. ``report`` and ``preview`` prefer Quarto when installed.
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import nbformat

from hw7.qmd import (INLINE, REF, Book, Cell, Chapter, Prose, QmdError, headings, load_book,
                     prose_lines, references)

ROOT = Path(__file__).resolve().parents[2]
PAGE_WIDTH_IN = 6.5  # hw7.style.WIDTH: the text width figures are drawn for
KIND_NAMES = {"fig": "Figure", "tbl": "Table"}
CALLOUT = re.compile(r"^:::+\s*\{?\s*\.?callout-(note|tip|warning|important|caution)\b[^}]*\}?\s*$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Constant first cell: figures become image/png display data even when
# MPLBACKEND=Agg (CI) or hw7.style selects Agg -- what Quarto's setup cell does.
SETUP = ('from matplotlib_inline.backend_inline import set_matplotlib_formats\n'
         'set_matplotlib_formats("png", dpi=200)')
# One extra cell per inline expression, after the chapter's cells, so that a
# failing expression is reported at its own line.
INLINE_CELL = ('__hw7_value = ({expr})\n'
               'print(__hw7_value.data if type(__hw7_value).__name__ == "Markdown" '
               'else __hw7_value, end="")')


class RenderError(ValueError):
    """A render stopped: failing cell, bad option, unresolved reference."""


@dataclass
class Rendered:
    """What ``render_book`` made, and every problem seen in cell outputs."""
    files: dict[str, Path] = field(default_factory=dict)
    diagnostics: list[str] = field(default_factory=list)  # stderr, warnings, unlabelled figures
    executed: list[str] = field(default_factory=list)  # chapters run (not from the cache)


def log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


# --- execution -------------------------------------------------------------

def inputs_digest(root: Path) -> str:
    """A digest of what chapters read besides their own code: the package's source
    (contents) and the stored results (names and sizes).

    It goes into every chapter's first cell, so jupyter-cache, which keys on the
    notebook's code alone, re-executes the chapters when either changes.
    """
    import hashlib

    digest = hashlib.sha256()
    for p in sorted((root / "src" / "hw7").glob("*.py")):
        digest.update(p.name.encode() + p.read_bytes())
    results = sorted((root / "results").rglob("*")) if (root / "results").is_dir() else []
    for p in (p for p in results if p.is_file()):
        digest.update(f"{p.relative_to(root)} {p.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def notebook(book: Book, chapter: Chapter) -> nbformat.NotebookNode:
    """The chapter's code as a notebook: setup, evaluated cells, inline expressions.

    ``#|`` lines are left out and nothing position-dependent is stored, so
    jupyter-cache's hash (code + kernelspec) ignores captions and prose.
    """
    kernel = str(book.config.get("jupyter", "python3"))
    code = [SETUP + f"\n# package and stored results: {inputs_digest(book.root)}"]
    code += [c.code for c in chapter.cells if c.options.get("eval", True) is not False]
    code += [INLINE_CELL.format(expr=e) for e, _ in chapter.inline_expressions()]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code])
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    return nb


def execute(book: Book, chapter: Chapter, cache_dir: Path, quiet: bool = False,
            timeout: int = 900) -> tuple[nbformat.NotebookNode, bool]:
    """Executed notebook of a chapter from jupyter-cache, running it on a miss.

    Returns ``(notebook, ran)``. The kernel's working directory is the project
    root (``execute-dir: project``). A failing cell raises ``RenderError``
    naming the chapter, the cell's line in the .qmd and the exception.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    cache = get_cache(cache_dir)
    nb = notebook(book, chapter)
    try:
        return cache.merge_match_into_notebook(nb)[1], False
    except KeyError:
        pass
    rel = chapter.path.relative_to(book.root)
    log(f"  executing {rel} ...", quiet)
    # The kernel's own log level is raised: ipykernel warns on every start that its local
    # TCP sockets are unencrypted, which says nothing about the chapter.
    result = single_nb_execution(nb, cwd=str(book.root), timeout=timeout, allow_errors=False,
                                 extra_arguments=["--log-level=ERROR"])
    if result.err is not None:
        raise RenderError(failure_message(chapter, rel, result.nb, result.err))
    cache.cache_notebook_bundle(CacheBundleIn(result.nb, uri=str(chapter.path)),
                                check_validity=False, overwrite=True)
    return result.nb, True


def cell_lines(chapter: Chapter) -> list[int]:
    """The .qmd line of each notebook cell (setup cell: line 1)."""
    return [1] + [c.line for c in chapter.cells if c.options.get("eval", True) is not False] \
        + [n for _, n in chapter.inline_expressions()]


def failure_message(chapter: Chapter, rel: Path, nb, err: Exception) -> str:
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                lines = cell_lines(chapter)
                trace = ANSI.sub("", "\n".join(out.traceback))
                n_inline = len(chapter.inline_expressions())
                what = "inline expression" if index >= len(lines) - n_inline else "cell"
                return f"{rel}:{lines[index]}: {what} failed: {out.ename}: {out.evalue}\n{trace}"
    return f"{rel}: execution failed: {err}"  # a timeout or a dead kernel


# --- numbering and references ---------------------------------------------

@dataclass
class Numbers:
    """Quarto's book numbering: chapters 1, 2, …, appendices A, B, …; figures per chapter."""
    chapter: dict[Path, str] = field(default_factory=dict)  # "" when unnumbered
    heading: dict[tuple[Path, int], str] = field(default_factory=dict)  # (file, line) -> "2.1"
    label: dict[str, str] = field(default_factory=dict)  # "fig-a" -> "Figure 2.1"


def callout_titles(chapter: Chapter) -> set[int]:
    """Lines of the ``## Title`` headings that open callouts (not sections)."""
    out, prev = set(), ""
    for block in chapter.blocks:
        if isinstance(block, Prose):
            for n, line in prose_lines(block):
                if line.startswith("#") and CALLOUT.match(prev):
                    out.add(n)
                if line.strip():
                    prev = line
    return out


def number_book(book: Book) -> Numbers:
    """Number chapters, their headings (to depth 3), figures and tables."""
    nums = Numbers()
    main = appendix = 0
    for ch in book.chapters:
        skip = callout_titles(ch)
        heads = [h for h in headings(ch) if h[0] not in skip]
        unnumbered = any(lvl == 1 and re.search(r"\.unnumbered|(^|\s)-(\s|$)", attrs)
                         for _, lvl, _, attrs in heads)
        if unnumbered:
            number = ""
        elif ch.appendix:
            appendix += 1
            number = chr(ord("A") + appendix - 1)
        else:
            main += 1
            number = str(main)
        nums.chapter[ch.path] = number
        counters = [0, 0, 0]
        for line, level, _, attrs in heads:
            if level == 1:
                num, kind = number, ("Appendix" if ch.appendix else "Chapter")
            elif level <= 3 and number:
                counters[level - 1] += 1
                counters[level:] = [0] * (3 - level)
                num, kind = ".".join([number] + [str(c) for c in counters[1:level]]), "Section"
            else:
                num, kind = "", "Section"
            nums.heading[(ch.path, line)] = num
            for sec in re.findall(r"#(sec-[\w-]+)", attrs):
                nums.label[sec] = f"{kind} {num}".strip() if num else "Section"
        count = {"fig": 0, "tbl": 0}
        for cell in ch.cells:
            kind = cell.label.split("-", 1)[0]
            if kind in count:
                count[kind] += 1
                prefix = f"{number}." if number else ""
                nums.label[cell.label] = f"{KIND_NAMES[kind]} {prefix}{count[kind]}"
    return nums


# Quarto's bracketed forms: ``[-@fig-a]`` (number only), ``[Fig. @fig-a]`` (own prefix).
BRACKET_REF = re.compile(r"\[([^\[\]@]*?)(-?)" + REF.pattern.removeprefix(r"(?<![\w@`])") + r"\]")


def resolve_refs(line: str, nums: Numbers, where: str, plain: bool = False) -> str:
    """Replace ``@fig-a`` by ``[Figure 2.1](#fig-a)`` outside code spans; unknown labels fail.

    Also Quarto's ``[-@fig-a]`` ("2.1") and ``[Fig. @fig-a]`` ("Fig. 2.1").
    ``plain`` gives the text without the link (for alt text). Every ``@label``
    that Pandoc would otherwise read as a citation is resolved here or fails.
    """
    def target(kind: str, name: str) -> tuple[str, str]:
        label = f"{kind.lower()}-{name}"
        if label not in nums.label:
            raise RenderError(f"{where}: unresolved reference @{label}")
        return label, nums.label[label]

    def link(text: str, label: str) -> str:
        return text if plain else f"[{text}](#{label})"

    def bracketed(m: re.Match) -> str:
        label, text = target(m.group(3), m.group(4))
        if m.group(1).strip() or m.group(2):  # own prefix or none: keep only the number
            number = text.split(" ", 1)[1] if " " in text else ""
            text = f"{m.group(1)}{number}".strip()
        return link(text, label)

    def one(m: re.Match) -> str:
        label, text = target(m.group(1), m.group(2))
        return link(text, label)

    parts = re.split(r"(`[^`]*`)", line)
    return "".join(p if p.startswith("`") else REF.sub(one, BRACKET_REF.sub(bracketed, p))
                   for p in parts)


def escape_brackets(text: str) -> str:
    """Escape unmatched ``[``/``]`` (``[0, 1)``) outside math and code.

    A caption is the text of an image link, where an unmatched bracket ends
    the link early and Pandoc drops the figure to plain text.
    """
    out, opened = [], []
    for piece in re.split(r"(`[^`]*`|\$[^$]+\$|\\.)", text):
        if piece[:1] in ("`", "$") or piece.startswith("\\"):
            out.append(piece)
            continue
        chars = list(piece)
        for i, c in enumerate(chars):
            if c == "[":
                opened.append((len(out), i))
            elif c == "]":
                if opened:
                    opened.pop()
                else:
                    chars[i] = "\\]"
        out.append(chars)
    for k, i in opened:
        out[k][i] = "\\["
    return "".join(p if isinstance(p, str) else "".join(p) for p in out)


def caption_markdown(text, nums: Numbers, where: str) -> str:
    """A ``fig-cap``/``tbl-cap`` as Markdown: brackets made safe, references resolved."""
    return resolve_refs(escape_brackets(str(text)), nums, where)


# --- Markdown assembly ------------------------------------------------------

def typst_text(text: str) -> str:
    """Escape plain text for Typst markup (callout titles are written as raw Typst)."""
    return re.sub(r"([\\#\[\]*_$@<>`~=/+-])", r"\\\1", text)


def callouts(lines: list[str], fmt: str) -> list[str]:
    """Turn ``::: {.callout-KIND}`` + ``## Title`` into a styled box for ``fmt``.

    Pandoc keeps the div for HTML (styled by CSS); for Typst the body is wrapped
    in raw ``#callout(...)[…]`` (defined in TYPST_HEADER), as Quarto does.
    """
    out: list[str] = []
    stack: list[str | None] = []  # per open div: closing replacement, None if not a callout
    i = 0
    while i < len(lines):
        line = lines[i]
        m = CALLOUT.match(line)
        if m:
            kind, title = m.group(1), m.group(1).capitalize()
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and lines[j].startswith("#"):
                title = re.sub(r"^#+\s*|\s*\{[^}]*\}\s*$", "", lines[j])
                i = j
            if fmt == "html":
                out += [f"::: {{.callout .callout-{kind}}}", "::: callout-title", title, ":::", ""]
                stack.append(":::")
            else:
                out += ["```{=typst}", f'#callout("{kind}", [{typst_text(title)}])[', "```", ""]
                stack.append("\n```{=typst}\n]\n```\n")
        elif re.match(r"^:::+\s*$", line) and stack:
            out += stack.pop().split("\n")
        else:
            if re.match(r"^:::+\s*\S", line):
                stack.append(line.split()[0])
            out.append(line)
        i += 1
    return out


def prose_markdown(block: Prose, chapter: Chapter, rel: Path, nums: Numbers, fmt: str,
                   inline: list[str]) -> str:
    """A prose block with numbered headings, resolved references and inline values."""
    skip = callout_titles(chapter)
    code_lines = set(range(block.line, block.line + block.text.count("\n") + 1))
    code_lines -= {n for n, _ in prose_lines(block)}
    lines = []
    for n, line in enumerate(block.text.splitlines(), block.line):
        if n not in code_lines:
            line = resolve_refs(line, nums, f"{rel}:{n}")
            line = INLINE.sub(lambda m: inline.pop(0), line)
            num = nums.heading.get((chapter.path, n))
            if num and n not in skip:
                line = re.sub(r"^(#+)\s+", rf"\1 [{num}]{{.number}} ", line)
        lines.append(line)
    return "\n".join(callouts(lines, fmt))


def image_file(data: str, folder: Path, name: str) -> tuple[Path, float]:
    """Write a PNG output to ``folder``; return its path and its width in % of the page.

    The width comes from the PNG's own dpi (written by matplotlib), so a figure
    drawn at the page width fills it and a narrower one keeps its proportion.
    """
    from PIL import Image

    raw = base64.b64decode(data)
    path = folder / f"{name}.png"
    path.write_bytes(raw)
    with Image.open(io.BytesIO(raw)) as im:
        dpi = (im.info.get("dpi") or (100, 100))[0] or 100
        width_in = im.width / dpi
    pct = 100.0 if width_in >= 0.85 * PAGE_WIDTH_IN else round(100 * width_in / PAGE_WIDTH_IN, 1)
    return path, pct


def cell_markdown(cell: Cell, nb_cell, chapter: Chapter, rel: Path, nums: Numbers, fmt: str,
                  folder: Path, diagnostics: list[str]) -> str:
    """Code (folded, HTML only), outputs, figure and table captions of one cell."""
    opts, where = cell.options, f"{rel}:{cell.line}"
    if opts.get("include") is False:
        return ""
    parts = []
    if fmt == "html" and opts.get("echo", True) is not False:
        summary = opts.get("code-summary", "Code")
        parts.append(f'<details class="code-fold">\n<summary>{summary}</summary>\n\n'
                     f"```python\n{cell.code}\n```\n\n</details>")
    if nb_cell is None or opts.get("output") is False:
        return "\n\n".join(parts)
    asis = opts.get("output") == "asis"
    label = cell.label
    images, tables, pngs = [], [], []
    for k, out in enumerate(nb_cell.get("outputs", [])):
        if out.output_type == "stream":
            if out.name == "stderr":
                if opts.get("warning") is False:
                    continue
                diagnostics.append(f"{where}: stderr: {out.text.strip()}")
            cls = "cell-output-stderr" if out.name == "stderr" else "cell-output"
            parts.append(out.text if asis and out.name == "stdout"
                         else f"```{{.{cls}}}\n{out.text.rstrip()}\n```")
        elif out.output_type in ("display_data", "execute_result"):
            data = out.get("data", {})
            if "text/markdown" in data:
                (tables if label.startswith("tbl-") else parts).append(data["text/markdown"])
            elif "image/png" in data:
                # the inline backend's end-of-cell flush repeats a figure the cell
                # also returned (``fig`` as last line): show it once
                if any(data["image/png"] == seen for seen in pngs):
                    continue
                pngs.append(data["image/png"])
                images.append(image_file(data["image/png"], folder, f"{chapter.path.stem}-"
                                         f"{label or 'cell-' + str(cell.line)}-{k}"))
            elif "text/plain" in data:
                text = data["text/plain"]
                parts.append(text if asis else f"```{{.cell-output}}\n{text}\n```")
    if images:
        parts.append(figure_markdown(cell, images, nums, where, diagnostics))
    if tables:
        caption = opts.get("tbl-cap")
        cap = f"\n\n: {nums.label[label]}: {caption_markdown(caption, nums, where)}" \
            if caption else ""
        parts.append(f"::: {{#{label} .table-wrap}}\n" + "\n\n".join(tables).rstrip() + cap + "\n:::")
    elif label.startswith("tbl-"):
        diagnostics.append(f"{where}: {label} shows no Markdown table (use Markdown(df.to_markdown()))")
    return "\n\n".join(parts)


def figure_markdown(cell: Cell, images: list[tuple[Path, float]], nums: Numbers, where: str,
                    diagnostics: list[str]) -> str:
    """One numbered figure (Pandoc implicit figure), or a grid for ``layout-ncol``."""
    label, opts = cell.label, cell.options
    if not label.startswith("fig-"):
        diagnostics.append(f"{where}: a figure without a fig- label (not numbered)")
    caption = caption_markdown(opts.get("fig-cap") or "", nums, where)
    if label in nums.label:
        caption = f"{nums.label[label]}: {caption}"
    alt = resolve_refs(str(opts.get("fig-alt") or opts.get("fig-cap") or ""), nums, where,
                       plain=True).replace('"', "&quot;")
    if not opts.get("fig-alt"):
        diagnostics.append(f"{where}: figure without fig-alt")
    ident = f"#{label} " if label.startswith("fig-") else ""
    if len(images) == 1:
        path, pct = images[0]
        return f'![{caption}]({path.name}){{{ident}alt="{alt}" width={pct}%}}'
    ncol = int(opts.get("layout-ncol", 1))
    width = round(100 / ncol - 1.5, 1)
    row = " ".join(f'![]({p.name}){{alt="{alt}" width={width}%}}' for p, _ in images)
    return f"::: {{{ident}.figure-grid}}\n{row}\n\n::: figure-caption\n{caption}\n:::\n:::"


def chapter_markdown(book: Book, chapter: Chapter, nb, nums: Numbers, fmt: str,
                     folder: Path, diagnostics: list[str]) -> str:
    """Pandoc Markdown for one chapter in ``fmt`` ("html" or "typst")."""
    rel = chapter.path.relative_to(book.root)
    code_cells = iter(nb.cells[1:])  # after the setup cell
    n_inline = len(chapter.inline_expressions())
    inline_cells = nb.cells[len(nb.cells) - n_inline:] if n_inline else []
    inline = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream"
                      and o.name == "stdout") for c in inline_cells]
    parts = []
    if chapter.meta.get("title"):
        parts.append(f"# [{nums.chapter[chapter.path]}]{{.number}} {chapter.meta['title']}"
                     if nums.chapter[chapter.path] else f"# {chapter.meta['title']}")
    for block in chapter.blocks:
        if isinstance(block, Prose):
            parts.append(prose_markdown(block, chapter, rel, nums, fmt, inline))
        else:
            evaluated = block.options.get("eval", True) is not False
            parts.append(cell_markdown(block, next(code_cells) if evaluated else None, chapter,
                                       rel, nums, fmt, folder, diagnostics))
    return "\n\n".join(p for p in parts if p.strip())


# --- conversion -------------------------------------------------------------

HTML_CSS = """
html { font-size: 17px; }
body { max-width: 46rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; color: #1f2328;
  font-family: "Source Serif Pro", "Iowan Old Style", Charter, Georgia, serif; line-height: 1.55;
  hyphens: auto; }
h1, h2, h3, h4, .title, #TOC, figcaption, caption, .figure-caption, .callout-title, table, summary {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
h1 { font-size: 1.7rem; margin-top: 3.5rem; padding-top: 1rem; border-top: 1px solid #d0d7de; }
h1.title { border: 0; margin-top: 0; font-size: 2.1rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; } h3 { font-size: 1.1rem; }
span.number { color: #57606a; margin-right: .35em; }
a { color: #0b5cad; text-decoration: none; } a:hover { text-decoration: underline; }
#TOC { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem 1.2rem;
  font-size: .9rem; } #TOC ul { padding-left: 1.2rem; } #TOC > ul { padding-left: .2rem; }
#TOC li { list-style: none; }
figure, .figure-grid { margin: 1.5rem 0; text-align: center; }
figure img, .figure-grid img { max-width: 100%; height: auto; }
figcaption, .figure-caption, caption { font-size: .88rem; color: #424a53; text-align: left;
  margin-top: .4rem; }
caption { caption-side: top; margin-bottom: .4rem; }
.table-wrap { overflow-x: auto; margin: 1.5rem 0; }
table { border-collapse: collapse; margin: 0 auto; min-width: 55%; font-size: .88rem;
  font-variant-numeric: tabular-nums; }
thead th { border-bottom: 2px solid #1f2328; } th, td { padding: .3rem .6rem; }
td { white-space: normal; } /* numbers keep together through no-break spaces; a wide table scrolls */
tbody tr:nth-child(odd) { background: #f6f8fa; } tbody tr:last-child td { border-bottom: 1px solid #1f2328; }
pre, code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: .82rem; }
pre { background: #f6f8fa; padding: .7rem .9rem; border-radius: 6px; overflow-x: auto; }
pre.cell-output { background: #fff; border: 1px solid #d0d7de; }
pre.cell-output-stderr { background: #fff5f5; border: 1px solid #d1242f; }
details.code-fold { margin: .8rem 0 .3rem; }
details.code-fold summary { cursor: pointer; color: #57606a; font-size: .85rem; }
.callout { border: 1px solid #d0d7de; border-left: 5px solid var(--c); border-radius: 6px;
  padding: .2rem 1rem .4rem; margin: 1.4rem 0; background: color-mix(in srgb, var(--c) 6%, white); }
.callout-title { font-weight: 600; color: var(--c); margin: .5rem 0 .2rem; }
.callout-note { --c: #0969da; } .callout-tip { --c: #1a7f37; } .callout-warning { --c: #9a6700; }
.callout-important { --c: #cf222e; } .callout-caution { --c: #bc4c00; }
math[display="block"] { margin: 1rem 0; overflow-x: auto; }
"""

TYPST_HEADER = r"""
#set text(font: ("Libertinus Serif", "New Computer Modern"), size: 10.5pt)
#set par(justify: true, leading: 0.62em)
#show raw: set text(font: "DejaVu Sans Mono", size: 8.5pt)
#show link: set text(fill: rgb("#0b5cad"))
#set page(footer: context if here().page() > 1 { align(center, text(size: 9pt, counter(page).display())) })
// Captions already carry Quarto-style numbers ("Figure 1.2: ...").
#set figure(numbering: none, gap: 0.8em)
#show figure.caption: it => align(left, text(size: 9pt, fill: rgb("#424a53"), it.body))
#show figure: set block(breakable: false, above: 1.4em, below: 1.4em)
#set table(stroke: (x, y) => (top: if y == 0 { 1pt } else if y == 1 { 0.6pt } else { 0pt },
                               bottom: 1pt), fill: (x, y) => if calc.odd(y) { rgb("#f6f8fa") },
           inset: (x: 5.5pt, y: 4pt))
// Natural (auto) column widths; when a wide table is squeezed, words wrap whole.
#show table: set text(size: 9pt, number-type: "lining", hyphenate: false)
#show table: set par(justify: false)
#show raw.where(block: true): block.with(fill: rgb("#f6f8fa"), inset: 7pt, radius: 2pt, width: 100%)
#show heading.where(level: 1): it => { pagebreak(weak: true); v(2.5em); text(size: 20pt, it); v(1em) }
#show heading.where(level: 2): set text(size: 13pt)
#show heading.where(level: 3): set text(size: 11pt)
#show outline.entry.where(level: 1): set text(weight: "bold")
#let callout-colors = (note: rgb("#0969da"), tip: rgb("#1a7f37"), warning: rgb("#9a6700"),
                       important: rgb("#cf222e"), caution: rgb("#bc4c00"))
#let callout(kind, title, body) = {
  let c = callout-colors.at(kind)
  block(width: 100%, fill: c.lighten(94%), stroke: (left: 3pt + c, rest: 0.5pt + c.lighten(60%)),
        radius: 3pt, inset: (x: 10pt, y: 8pt), above: 1.2em, below: 1.2em, breakable: true)[
    #text(weight: "bold", fill: c, title)
    #v(-0.3em)
    #body
  ]
}
"""


# Pandoc Markdown without citations: the book has no bibliography, cross
# references are resolved before Pandoc, and any other ``@name`` (a handle, a
# decorator) is text -- as a citation it became Typst's ``#cite`` and failed the
# PDF ("the document does not contain a bibliography").
MARKDOWN = "markdown-citations"


def pandoc(markdown: str, fmt: str, out: Path | None, args: list[str]) -> str:
    import pypandoc

    # --columns: pipe tables (DataFrame.to_markdown) keep natural column widths
    # instead of widths from their dash counts, which squeeze a short first column
    extra = ["--standalone", "--wrap=none", "--columns=1000", *args]
    if out is None:
        return pypandoc.convert_text(markdown, fmt, format=MARKDOWN, extra_args=extra)
    pypandoc.convert_text(markdown, fmt, format=MARKDOWN, extra_args=extra, outputfile=str(out))
    return ""


def metadata_args(book: Book) -> list[str]:
    info = book.config.get("book", {})
    args = ["--metadata", f"title={book.title}"]
    for key in ("subtitle", "date"):
        if info.get(key):
            args += ["--metadata", f"{key}={info[key]}"]
    authors = info.get("author")
    for a in authors if isinstance(authors, list) else [authors] if authors else []:
        args += ["--metadata", f"author={a}"]
    return args


def write_html(book: Book, markdown: str, out: Path, work: Path) -> None:
    """One self-contained HTML file: images as data URIs, math as MathML, a TOC."""
    css = work / "book.css"
    css.write_text(HTML_CSS, encoding="utf-8")
    pandoc(markdown, "html5", out, [*metadata_args(book), "--toc", "--toc-depth=2", "--mathml",
                                    "--embed-resources", f"--css={css}",
                                    f"--resource-path={work}", "--syntax-highlighting=pygments",
                                    "--metadata", "document-css=false"])


def typst_title_page(book: Book) -> str:
    """A title page (the default template's title is a small heading on page 1)."""
    info = book.config.get("book", {})
    lines = ["#v(28%)",
             f"#text(size: 26pt, weight: \"bold\")[{typst_text(book.title)}]"]
    if info.get("subtitle"):
        lines += ["#v(0.6em)", f"#text(size: 14pt)[{typst_text(str(info['subtitle']))}]"]
    lines += ["#v(2em)", "#line(length: 40%, stroke: 0.6pt)", "#v(1em)"]
    for key in ("author", "date"):
        if info.get(key):
            lines.append(f"#text(size: 11pt)[{typst_text(str(info[key]))}] \\")
    return "\n".join(lines + ["#pagebreak()"])


def write_pdf(book: Book, markdown: str, out: Path, work: Path) -> None:
    """PDF through Pandoc's Typst writer and the ``typst`` compiler (Quarto's route since 1.4)."""
    import typst

    header = work / "header.typ"
    header.write_text(TYPST_HEADER + f"#set document(title: {json.dumps(book.title)})\n",
                      encoding="utf-8")
    before = work / "title.typ"
    before.write_text(typst_title_page(book), encoding="utf-8")
    source = pandoc(markdown, "typst", None, [
        f"--include-before-body={before}", "--toc", "--toc-depth=2", f"--include-in-header={header}",
        "-V", "papersize=a4", "-V", "margin.x=2.4cm", "-V", "margin.y=2.5cm",
        "-V", "page-numbering=1", "-V", "fontsize=10.5pt"])
    typ = work / "book.typ"
    typ.write_text(source, encoding="utf-8")
    try:
        typst.compile(str(typ), output=str(out), root=str(work))
    except Exception as exc:  # typst reports the .typ line; keep the source to look at
        kept = out.with_suffix(".typ")
        shutil.copy(typ, kept)
        raise RenderError(f"typst failed on {kept}: {exc}") from None


def render_book(formats: tuple[str, ...] = ("html", "pdf"), root: Path | str = ROOT,
                out_dir: Path | str | None = None, cache_dir: Path | str | None = None,
                quiet: bool = False) -> Rendered:
    """Execute (cached), number, cross-reference and convert the book without Quarto.

    Writes ``<out_dir>/<book.output-file>.html`` and ``.pdf`` (default
    ``_book/``); the jupyter cache is ``.jupyter_cache/`` in the project.
    """
    start = time.perf_counter()
    book = load_book(root)
    out_dir = Path(out_dir) if out_dir else book.root / book.config.get("project", {}).get(
        "output-dir", "_book")
    cache_dir = Path(cache_dir) if cache_dir else book.root / ".jupyter_cache"
    out_dir.mkdir(parents=True, exist_ok=True)
    check_references(book)
    nums = number_book(book)
    result = Rendered()
    notebooks = []
    for ch in book.chapters:
        rel = ch.path.relative_to(book.root)
        t = time.perf_counter()
        nb, ran = execute(book, ch, cache_dir, quiet)
        if ran:
            result.executed.append(str(rel))
        log(f"{rel}: {'executed' if ran else 'from cache'} ({time.perf_counter() - t:.1f} s)", quiet)
        notebooks.append(nb)
    with tempfile.TemporaryDirectory(prefix="hw7-render-") as tmp:
        work = Path(tmp)
        for fmt in formats:
            diagnostics: list[str] = []
            md = "\n\n".join(chapter_markdown(book, ch, nb, nums, "html" if fmt == "html" else
                                              "typst", work, diagnostics)
                             for ch, nb in zip(book.chapters, notebooks))
            out = out_dir / f"{book.output_name}.{fmt}"
            (write_html if fmt == "html" else write_pdf)(book, md, out, work)
            result.files[fmt] = out
            result.diagnostics = diagnostics
            log(f"wrote {out}", quiet)
    for d in result.diagnostics:
        log(f"warning: {d}", quiet)
    log(f"rendered in {time.perf_counter() - start:.1f} s", quiet)
    return result


def check_references(book: Book) -> None:
    """Fail on any ``@fig-``/``@tbl-``/``@sec-`` reference without a target, before executing."""
    nums = number_book(book)
    for ch in book.chapters:
        for label, line in references(ch):
            if label not in nums.label:
                raise RenderError(f"{ch.path.relative_to(book.root)}:{line}: "
                                  f"unresolved reference @{label}")


# --- commands ---------------------------------------------------------------

def report() -> None:
    """Render the book with Quarto when ``quarto`` is on PATH, else with ``render_book``."""
    if shutil.which("quarto"):
        print("engine: Quarto (quarto render)", file=sys.stderr)
        subprocess.run(["quarto", "render"], cwd=ROOT, check=True)
    else:
        print("engine: hw7.render (jupyter-cache + Pandoc + Typst; Quarto not found)",
              file=sys.stderr)
        render_book(formats=("html", "pdf"))  # errors are ValueErrors: the CLI prints them


def preview(port: int = 4848) -> None:
    """``quarto preview`` if installed; else render, serve ``_book/`` and re-render on save."""
    if shutil.which("quarto"):
        subprocess.run(["quarto", "preview", "--port", str(port)], cwd=ROOT, check=True)
        return
    book = load_book(ROOT)
    out_dir = ROOT / book.config.get("project", {}).get("output-dir", "_book")
    out_dir.mkdir(exist_ok=True)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(out_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"serving http://127.0.0.1:{port}/{book.output_name}.html (Ctrl-C to stop)",
          file=sys.stderr)

    def sources() -> dict[Path, float]:
        paths = [ROOT / "_quarto.yml", *ROOT.glob("*.qmd"), *ROOT.glob("problems/*.qmd")]
        return {p: p.stat().st_mtime for p in paths if p.exists()}

    seen: dict[Path, float] = {}
    try:
        while True:
            now = sources()
            if now != seen:
                seen = now
                try:  # HTML only: the PDF is for `make report`
                    render_book(formats=("html",))
                except (RenderError, QmdError) as exc:
                    print(f"error: {exc}", file=sys.stderr)
            time.sleep(1.0)
    except KeyboardInterrupt:
        server.shutdown()
