"""Read a Quarto book: ``_quarto.yml`` and its ``.qmd`` chapters.

Quarto has no Python API and Pandoc does not know ``{python}`` cells, ``#|``
options or inline ``{python}`` expressions, so this small parser splits a
chapter into prose blocks and code cells (Quarto's documented syntax) and the
rest is left to Pandoc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The cell options the render path implements (Quarto's names and meanings).
CELL_OPTIONS = frozenset({
    "label", "fig-cap", "fig-alt", "tbl-cap", "echo", "eval", "output", "include",
    "warning", "layout-ncol", "code-summary", "code-fold",
})
REF_KINDS = ("fig", "tbl", "sec")
# Cell options that are Markdown, with cross references (``@fig-a``) resolved.
CAPTIONS = ("fig-cap", "tbl-cap")
CELL_OPEN = re.compile(r"^```+\s*\{python\b[^}]*\}\s*$")
FENCE = re.compile(r"^(```+|~~~+)")
OPTION = re.compile(r"^#\|\s(\s*)([A-Za-z][\w-]*):(?:\s+(.*)|\s*)$")
OPTION_LIKE = re.compile(r"^#\s*\|")
# Quarto's pattern (src/core/execute-inline.ts): not after a backtick, one space or tab.
INLINE = re.compile(r"(^|[^`])`\{python\}[ \t]([^`]+)`")
# ``@fig-a``, ``@Fig-a``; a label may not end in ``-`` or ``.`` (sentence punctuation).
REF = re.compile(r"(?<![\w@`])@([Ff]ig|[Tt]bl|[Ss]ec)-([\w-]*\w)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*(?:\{([^}]*)\})?\s*$")


class QmdError(ValueError):
    """A problem in a book source, with the file and line it is on."""


@dataclass
class Cell:
    """A ``{python}`` code cell: code without its ``#|`` lines, and its options."""
    code: str
    options: dict
    line: int  # 1-based line of the opening fence in the .qmd

    @property
    def label(self) -> str:
        return str(self.options.get("label", ""))


@dataclass
class Prose:
    """Markdown between cells.

    A per-format view (``qmdbook.conditional``) drops lines: ``numbers`` then
    holds the source line of each line of ``text``, and ``origin`` the block
    as written (whose inline values were computed when it was executed).
    """
    text: str
    line: int
    numbers: list[int] | None = None
    origin: Prose | None = None

    def numbered(self) -> list[tuple[int, str]]:
        """``(source line, text)`` of every line."""
        lines = self.text.splitlines()
        return list(zip(self.numbers if self.numbers is not None
                        else range(self.line, self.line + len(lines)), lines))


@dataclass
class Chapter:
    path: Path
    meta: dict
    blocks: list[Prose | Cell]
    appendix: bool = False
    notes: list[str] = field(default_factory=list)  # warnings of a per-format view

    @property
    def cells(self) -> list[Cell]:
        return [b for b in self.blocks if isinstance(b, Cell)]

    @property
    def title(self) -> str:
        """Front-matter title, else the first level-1 heading's text."""
        if self.meta.get("title"):
            return str(self.meta["title"])
        for _, level, text, _ in headings(self):
            if level == 1:
                return text
        return self.path.stem

    def inline_expressions(self) -> list[tuple[str, int]]:
        """``(expr, line)`` of every inline ``{python}`` expression, in order."""
        out = []
        for block in self.blocks:
            if isinstance(block, Prose):
                for i, line in prose_lines(block):
                    out += [(m.group(2).strip(), i) for m in INLINE.finditer(line)]
        return out


@dataclass
class Book:
    root: Path
    config: dict
    chapters: list[Chapter] = field(default_factory=list)

    @property
    def title(self) -> str:
        return str(self.config.get("book", {}).get("title", "Book"))

    @property
    def output_name(self) -> str:
        return str(self.config.get("book", {}).get("output-file", "book"))


def chapter_files(config: dict) -> list[tuple[str, bool]]:
    """``(path, is_appendix)`` for the book's chapters then appendices (parts flattened)."""
    book = config.get("book", {})

    def flat(items) -> list[str]:
        out = []
        for item in items or []:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict):  # a part: {part: ..., chapters: [...]}
                out += ([item["href"]] if "href" in item else []) + flat(item.get("chapters"))
        return out

    return [(p, False) for p in flat(book.get("chapters"))] + \
           [(p, True) for p in flat(book.get("appendices"))]


def load_book(root: Path | str = ".") -> Book:
    """Parse ``_quarto.yml`` and every chapter it lists."""
    root = Path(root).resolve()
    config = yaml.safe_load((root / "_quarto.yml").read_text(encoding="utf-8")) or {}
    book = Book(root, config)
    for rel, appendix in chapter_files(config):
        chapter = parse_qmd(root / rel)
        chapter.appendix = appendix
        book.chapters.append(chapter)
    return book


def parse_qmd(path: Path | str, text: str | None = None) -> Chapter:
    """Split a ``.qmd`` into front matter, prose blocks and code cells."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if text is None else text
    lines = text.splitlines()
    meta: dict = {}
    start = 0
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is None:
            raise QmdError(f"{path}:1: front matter is not closed with ---")
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
        start = end + 1

    blocks: list[Prose | Cell] = []
    prose: list[str] = []
    prose_start = start + 1
    i = start
    fence = None  # the fence of a non-executed code block in prose
    while i < len(lines):
        line = lines[i]
        if fence is None and CELL_OPEN.match(line):
            if re.search(r"\bcontent-(visible|hidden)\b", line):
                raise QmdError(f"{path}:{i + 1}: a conditional class on a code cell is not "
                               "supported; put the cell in a ::: {.content-visible ...} div")
            if prose:
                blocks.append(Prose("\n".join(prose), prose_start))
            opener = re.match(r"^`+", line).group(0)
            j = i + 1
            while j < len(lines) and lines[j].rstrip() != opener:
                j += 1
            if j == len(lines):
                raise QmdError(f"{path}:{i + 1}: code cell is not closed")
            blocks.append(parse_cell(path, lines[i + 1:j], i + 1))
            prose, prose_start, i = [], j + 2, j + 1
            continue
        m = FENCE.match(line)
        if m and (fence is None or line.strip() == fence):
            fence = m.group(1) if fence is None else None
        prose.append(line)
        i += 1
    if prose:
        blocks.append(Prose("\n".join(prose), prose_start))
    return Chapter(path, meta, blocks)


def parse_cell(path: Path, body: list[str], line: int) -> Cell:
    """Read a cell's leading ``#| key: value`` lines (YAML values) and check the keys."""
    options: dict = {}
    n = 0
    for n, text in enumerate(body):
        if not OPTION_LIKE.match(text):
            break
        where = f"{path}:{line + 1 + n}"
        m = OPTION.match(text)
        if not m or m.group(1):
            raise QmdError(f"{where}: cell option must be written `#| key: value`, got {text!r}")
        key, value = m.group(2), m.group(3)
        if key not in CELL_OPTIONS:
            raise QmdError(f"{where}: unknown cell option {key!r} "
                           f"(known: {', '.join(sorted(CELL_OPTIONS))})")
        try:
            options[key] = yaml.safe_load(value) if value else None
        except yaml.YAMLError as exc:
            raise QmdError(f"{where}: cannot read the value of {key!r}: {exc}") from None
    else:
        n = len(body)
    return Cell("\n".join(body[n:]).strip("\n"), options, line)


def option_problems(text: str) -> list[tuple[int, str]]:
    """Misspelt option lines (``#|key``, ``# | key``) anywhere in cells, for the linter.

    Unlike ``parse_cell`` this also looks below the first code line, where a
    misplaced option is silently ignored by Quarto.
    """
    problems = []
    in_cell = False
    for n, line in enumerate(text.splitlines(), 1):
        if CELL_OPEN.match(line):
            in_cell = True
        elif in_cell and line.startswith("```"):
            in_cell = False
        elif in_cell and OPTION_LIKE.match(line):
            m = OPTION.match(line)
            if not m or m.group(1):
                problems.append((n, f"option must be written `#| key: value`: {line!r}"))
            elif m.group(2) not in CELL_OPTIONS:
                problems.append((n, f"unknown cell option {m.group(2)!r}"))
    return problems


def prose_lines(block: Prose):
    """``(line number, text)`` of a prose block's lines outside fenced code blocks."""
    fence = None
    for n, line in block.numbered():
        m = FENCE.match(line)
        if m and (fence is None or line.strip() == fence):
            fence = m.group(1) if fence is None else None
            continue
        if fence is None:
            yield n, line


def headings(chapter: Chapter):
    """``(line, level, text, attributes)`` of every ATX heading outside code."""
    for block in chapter.blocks:
        if isinstance(block, Prose):
            for n, line in prose_lines(block):
                m = HEADING.match(line)
                if m:
                    yield n, len(m.group(1)), m.group(2), m.group(3) or ""


def references(chapter: Chapter) -> list[tuple[str, int]]:
    """``(label, line)`` of every ``@fig-``/``@tbl-``/``@sec-`` reference.

    In the prose and in figure and table captions (``fig-cap``, ``tbl-cap``,
    where Quarto resolves them too); a caption's line is its cell's fence.
    """
    out = []
    for block in chapter.blocks:
        if isinstance(block, Prose):
            texts = [(n, line) for n, line in prose_lines(block)]
        else:
            texts = [(block.line, str(block.options[k])) for k in CAPTIONS if block.options.get(k)]
        for n, line in texts:
            line = re.sub(r"`[^`]*`", "", line)  # not inside code spans
            out += [(f"{m.group(1).lower()}-{m.group(2)}", n) for m in REF.finditer(line)]
    return out


def section_ids(chapter: Chapter) -> list[str]:
    """The ``#sec-…`` ids of the chapter's headings."""
    return [m for *_, attrs in headings(chapter) for m in re.findall(r"#(sec-[\w-]+)", attrs)]
