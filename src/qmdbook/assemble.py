"""One chapter as Pandoc Markdown for one format, from its source and its executed cells.

The cell rules follow Quarto (quarto.org/docs/reference/cells/cells-jupyter.html,
quarto.org/docs/output-formats/html-code.html): ``include: false`` shows
nothing; ``echo: false`` hides the code; ``output: false`` hides the outputs;
``output: asis`` passes stdout through as Markdown; ``code-fold`` folds the
code in HTML behind ``code-summary``; a ``fig-`` label makes the cell's
image(s) one numbered figure with ``fig-cap`` and ``fig-alt`` (``layout-ncol``
side by side); a ``tbl-`` label makes its Markdown table one numbered table
with ``tbl-cap``. Callouts are quarto.org/docs/authoring/callouts.html.
The chapter is first reduced to what the format shows (``qmdbook.conditional``).
"""

from __future__ import annotations

import base64
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from qmdbook import conditional, config
from qmdbook.crossref import (CALLOUT, PROSE_LABEL, Numbers, callout_titles, caption_markdown,
                              resolve_refs)
from qmdbook.execute import Executed
from qmdbook.inline import mime_type, substitute, text_of
from qmdbook.qmd import Book, Cell, Chapter, Prose, prose_lines

# Markdown images in prose: ``![alt](path)``.
PROSE_IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)")


class AssemblyError(ValueError):
    """A chapter cannot be shown as written: a missing image, an empty figure cell."""


@dataclass
class Target:
    """What the assembly of one format needs besides the chapter."""
    book: Book
    fmt: str  # Quarto's format name: "html" or "typst"
    nums: Numbers
    folder: Path  # where images are written for Pandoc
    diagnostics: list[str] = field(default_factory=list)

    def option(self, key: str, default=None, chapter: Chapter | None = None):
        return config.option(self.book, self.fmt, key, default, chapter)


def typst_text(text: str) -> str:
    """Escape plain text for Typst markup (callout titles are written as raw Typst)."""
    return re.sub(r"([\\#\[\]*_$@<>`~=/+-])", r"\\\1", text)


def callouts(lines: list[str], fmt: str) -> list[str]:
    """Turn ``::: {.callout-KIND}`` with a ``## Title`` or ``title="..."`` into a box.

    The default title is the kind ("Note", "Tip", ...), as in Quarto. Pandoc keeps
    the div for HTML (styled by CSS); for Typst the body is wrapped in raw
    ``#callout(...)[...]`` (defined in the Typst header), as Quarto does.
    """
    out: list[str] = []
    stack: list[str] = []  # per open div: its closing lines
    i = 0
    while i < len(lines):
        line = lines[i]
        m = CALLOUT.match(line)
        if m:
            kind = m.group(1)
            attr = re.search(r'title="([^"]*)"', m.group(2) or "")
            title = attr.group(1) if attr else kind.capitalize()
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if not attr and j < len(lines) and lines[j].startswith("#"):
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


def prose_markdown(block: Prose, chapter: Chapter, t: Target, values: dict[str, dict]) -> str:
    """A prose block: numbered headings, resolved references, inline values, images checked."""
    rel = chapter.path.relative_to(t.book.root)
    skip = callout_titles(chapter)
    outside = {n for n, _ in prose_lines(block)}
    lines = []
    for n, line in block.numbered():
        if n in outside:
            line = resolve_refs(line, t.nums, f"{rel}:{n}")
            line = substitute(line, values, t.fmt)
            line = PROSE_IMAGE.sub(lambda m: m.group(1) + prose_image(m.group(2), chapter, t,
                                                                      f"{rel}:{n}"), line)
            line = prose_float(line, t)
            num = t.nums.heading.get((chapter.path, n))
            if num and n not in skip and t.option("number-sections", True, chapter):
                line = re.sub(r"^(#+)\s+", rf"\1 [{num}]{{.number}} ", line)
        lines.append(line)
    return "\n".join(callouts(lines, t.fmt))


def prose_float(line: str, t: Target) -> str:
    """Number a Markdown figure (``![cap](x.png){#fig-a}``) or table caption (``: cap {#tbl-a}``)."""
    m = PROSE_LABEL.search(line)
    if not m or m.group(1) not in t.nums.label:
        return line
    number = t.nums.label[m.group(1)]
    if line.startswith(": "):  # the caption keeps an anchor for the links to it
        return f": {number}: {line[2:m.start()].strip()} []{{#{m.group(1)}}}"
    return re.sub(r"!\[", f"![{number}: ", line, count=1)


def prose_image(src: str, chapter: Chapter, t: Target, where: str) -> str:
    """Copy an image the prose shows next to the Markdown; a missing one is an error."""
    if re.match(r"^[a-z]+:", src):  # a URL or data URI
        return src
    path = (chapter.path.parent / src).resolve()
    if not path.is_file():
        raise AssemblyError(f"{where}: image not found: {src} (looked for {path})")
    name = f"img-{abs(hash(str(path))):x}{path.suffix}"
    shutil.copyfile(path, t.folder / name)
    return name


def image_file(data: str, t: Target, name: str) -> tuple[Path, float]:
    """Write a PNG output; return its path and its width in % of the text width.

    The width comes from the PNG's own dpi (written by matplotlib) against the
    format's ``fig-width``, so a figure drawn at that width fills the column and
    a narrower one keeps its proportion.
    """
    from PIL import Image

    raw = base64.b64decode(data)
    path = t.folder / f"{name}.png"
    path.write_bytes(raw)
    with Image.open(io.BytesIO(raw)) as im:
        dpi = (im.info.get("dpi") or (96, 96))[0] or 96
        width_in = im.width / dpi
    page = float(t.option("fig-width", config.FIG_DEFAULTS.get(t.fmt, {}).get("fig-width", 7)))
    pct = 100.0 if width_in >= 0.85 * page else round(100 * width_in / page, 1)
    return path, pct


def code_markdown(cell: Cell, chapter: Chapter, t: Target) -> str:
    """The cell's code, folded in HTML when ``code-fold`` says so; "" when ``echo`` is false."""
    if cell.options.get("echo", t.option("echo", True, chapter)) is False:
        return ""
    code = f"```python\n{cell.code}\n```"
    fold = cell.options.get("code-fold", t.option("code-fold", False, chapter))
    if t.fmt != "html" or fold not in (True, "show"):  # code-fold is an HTML option
        return code
    summary = cell.options.get("code-summary", t.option("code-summary", "Code", chapter))
    opened = " open" if fold == "show" else ""
    return (f'<details class="code-fold"{opened}>\n<summary>{summary}</summary>\n\n'
            f"{code}\n\n</details>")


def cell_markdown(cell: Cell, nb_cell, chapter: Chapter, t: Target) -> str:
    """Code, outputs, and figure or table caption of one cell."""
    opts = cell.options
    where = f"{chapter.path.relative_to(t.book.root)}:{cell.line}"
    if opts.get("include") is False:
        return ""
    parts = [code_markdown(cell, chapter, t)]
    if nb_cell is None or opts.get("output") is False:
        return "\n\n".join(p for p in parts if p)
    asis = opts.get("output") == "asis"
    label = cell.label
    images, tables, pngs = [], [], []
    for k, out in enumerate(nb_cell.get("outputs", [])):
        if out.output_type == "stream":
            if out.name == "stderr":
                if opts.get("warning", t.option("warning", True, chapter)) is False:
                    continue
                t.diagnostics.append(f"{where}: stderr: {out.text.strip()}")
            cls = "cell-output-stderr" if out.name == "stderr" else "cell-output"
            parts.append(out.text if asis and out.name == "stdout"
                         else f"```{{.{cls}}}\n{out.text.rstrip()}\n```")
        elif out.output_type in ("display_data", "execute_result"):
            data = out.get("data", {})
            mime = mime_type(data, t.fmt)
            if mime == "text/markdown":
                (tables if label.startswith("tbl-") else parts).append(text_of(data[mime]))
            elif mime == "image/png":
                # the inline backend's end-of-cell flush repeats a figure the cell
                # also returned (``fig`` as last line): show it once
                if data[mime] in pngs:
                    continue
                pngs.append(data[mime])
                images.append(image_file(data[mime], t, f"{chapter.path.stem}-"
                                         f"{label or 'cell-' + str(cell.line)}-{k}"))
            elif mime == "text/html":
                parts.append(f"```{{=html}}\n{text_of(data[mime])}\n```" if t.fmt == "html"
                             else html_to_markdown(text_of(data[mime])))
            elif mime == "text/plain":
                text = text_of(data[mime])
                parts.append(text if asis else f"```{{.cell-output}}\n{text}\n```")
    if label.startswith("fig-") and not images:
        raise AssemblyError(f"{where}: {label} draws no figure (the cell shows no image)")
    if images:
        parts.append(figure_markdown(cell, images, t, where))
    if tables:
        caption = opts.get("tbl-cap")
        cap = f"\n\n: {t.nums.label[label]}: {caption_markdown(caption, t.nums, where)}" \
            if caption else ""
        parts.append(f"::: {{#{label} .table-wrap}}\n" + "\n\n".join(tables).rstrip() + cap + "\n:::")
    elif label.startswith("tbl-"):
        raise AssemblyError(f"{where}: {label} shows no Markdown table "
                            "(display one, e.g. Markdown(df.to_markdown()))")
    return "\n\n".join(p for p in parts if p)


def html_to_markdown(html: str) -> str:
    """An HTML table output for a non-HTML format (Quarto reads such tables into Pandoc)."""
    import pypandoc

    return pypandoc.convert_text(html, "markdown", format="html")


def figure_markdown(cell: Cell, images: list[tuple[Path, float]], t: Target, where: str) -> str:
    """One numbered figure (Pandoc implicit figure), or a grid for ``layout-ncol``."""
    label, opts = cell.label, cell.options
    if not label.startswith("fig-"):
        t.diagnostics.append(f"{where}: a figure without a fig- label (not numbered)")
    caption = caption_markdown(opts.get("fig-cap") or "", t.nums, where)
    if label in t.nums.label:
        caption = f"{t.nums.label[label]}: {caption}"
    alt = resolve_refs(str(opts.get("fig-alt") or opts.get("fig-cap") or ""), t.nums, where,
                       plain=True).replace('"', "&quot;")
    if not opts.get("fig-alt"):
        t.diagnostics.append(f"{where}: figure without fig-alt")
    ident = f"#{label} " if label.startswith("fig-") else ""
    if len(images) == 1:
        path, pct = images[0]
        return f'![{caption}]({path.name}){{{ident}alt="{alt}" width={pct}%}}'
    ncol = int(opts.get("layout-ncol", 1))
    width = round(100 / ncol - 1.5, 1)
    row = " ".join(f'![]({p.name}){{alt="{alt}" width={width}%}}' for p, _ in images)
    return f"::: {{{ident}.figure-grid}}\n{row}\n\n::: figure-caption\n{caption}\n:::\n:::"


def chapter_markdown(chapter: Chapter, executed: Executed, t: Target) -> str:
    """Pandoc Markdown for one chapter in the target's format (what the format hides left out)."""
    chapter = conditional.view(t.book, chapter, t.fmt)
    t.diagnostics += chapter.notes  # the same in every format: reported once
    parts = []
    if chapter.meta.get("title"):
        number = t.nums.chapter[chapter.path] if t.option("number-sections", True, chapter) else ""
        parts.append(f"# [{number}]{{.number}} {chapter.meta['title']}" if number
                     else f"# {chapter.meta['title']}")
    for block in chapter.blocks:
        if isinstance(block, Prose):
            values = executed.inline.get(id(block.origin or block), {})
            parts.append(prose_markdown(block, chapter, t, values))
        else:
            parts.append(cell_markdown(block, executed.code.get(id(block)), chapter, t))
    return "\n\n".join(p for p in parts if p.strip())
