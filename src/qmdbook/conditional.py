"""Quarto's conditional content: ``.content-visible`` and ``.content-hidden``, per format.

Mirrors quarto-cli ``src/resources/filters/customnodes/content-hidden.lua`` and
``src/resources/pandoc/datadir/_format.lua`` (quarto.org/docs/authoring/conditional.html):

* a div (``::: {.content-visible when-format="html"}``), a span
  (``[text]{.content-hidden when-format="typst"}``) or a non-executable code
  block (```` ```{.python .content-visible ...} ````) is conditional;
* its conditions are ``when-``/``unless-`` ``format``, ``meta`` and ``profile``;
  they match when every one given holds (``propertiesMatch``); a value is one
  string, never split; a div's condition given several times matches if any
  of its values does, while a span or code block reads only the first value
  (Pandoc's ``el.attributes[key]``);
* ``content-visible`` shows the element when they match, ``content-hidden``
  when they do not;
* a shown div is unwrapped (its content stays, the div goes); a shown span or
  code block stays without the conditional class and the format and profile
  conditions (``clearHiddenVisibleAttributes``: the meta ones stay); a hidden
  element goes entirely.

Quarto clears a hidden div's content when it reads the document, before any
other filter (the ``ConditionalBlock`` constructor), and spans and code blocks
in its first filter stage: what a format hides is neither numbered nor
searched for reference targets there. ``view`` gives that per-format chapter;
the chapter as written is what executes (Quarto executes the notebook once,
then filters), so a cell in hidden content still runs.

Pandoc reads a fenced div only at column 0 and where a block may start (not
inside a paragraph), and a div is closed by the next bare fence; the view
follows these rules for the divs it removes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qmdbook import config
from qmdbook.qmd import FENCE, HEADING, Book, Cell, Chapter, Prose, QmdError

CLASSES = ("content-visible", "content-hidden")
CONDITIONS = ("when-meta", "unless-meta", "when-format", "unless-format",
              "when-profile", "unless-profile")
# clearHiddenVisibleAttributes: what a shown span or code block loses (the meta conditions stay).
CLEARED = ("unless-format", "when-format", "unless-profile", "when-profile")
# Quarto's format name -> Pandoc's FORMAT, which ``when-format`` is matched against.
PANDOC_FORMAT = {"html": "html", "typst": "typst", "pdf": "latex"}

# _format.lua
LATEX = {"latex", "beamer", "pdf"}
ODT = {"odt", "opendocument"}
EPUB = {"epub", "epub2", "epub3"}
HTML_SLIDES = {"s5", "dzslides", "slidy", "slideous", "revealjs"}
HTML = {"html", "html4", "html5"} | EPUB | HTML_SLIDES
MARKDOWN = {"markdown", "markdown_github", "markdown_mmd", "markdown_phpextra", "markdown_strict",
            "gfm", "commonmark", "commonmark_x", "markua"}
ASCIIDOC = {"asciidoc", "asciidoctor"}

# Pandoc's attribute syntax: ``{#id .class key=value key="value" key='value'}``.
ATTR_ITEM = re.compile(r"[ \t]*(?:#([\w:.-]+)|\.([\w:.-]+)|([\w:.-]+)="
                       r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s}]*)|(-)(?=[\s}]))""")
DIV_CLOSE = re.compile(r"^:{3,}[ \t]*$")
DIV_OPEN = re.compile(r"^:{3,}[ \t]*(\{.*\}|[^\s{}:]+)[ \t]*:*[ \t]*$")
INDENTED_CONDITIONAL = re.compile(r"^[ \t]+(:{3,}|```|~~~).*\bcontent-(visible|hidden)\b")
LIST_ITEM = re.compile(r"^[ \t]*([-*+]|\d+[.)]|#[.)])[ \t]")
SEPARATOR = object()  # where removed lines were: a block boundary


def is_format(to: str, fmt: str) -> bool:
    """``isFormat(to)`` of _format.lua with ``FORMAT == fmt``: the name, or one of its aliases."""
    if fmt == to:
        return True
    if to in ("latex", "pdf"):
        return fmt in LATEX
    if to in ODT:
        return fmt in ODT
    if "epub" in to:  # to:match 'epub'
        return fmt in EPUB
    if to == "html":
        return fmt in HTML
    if to == "html:js":
        return fmt in HTML and fmt not in EPUB
    if to == "markdown":
        return fmt in MARKDOWN
    if to in ASCIIDOC:
        return fmt in ASCIIDOC
    return False


@dataclass
class Context:
    """What the conditions are matched against in one format of one chapter."""
    fmt: str  # Pandoc's FORMAT: "html", "typst"
    meta: dict = field(default_factory=dict)  # the document's merged metadata
    profiles: tuple[str, ...] = ()


def meta_true(key: str, meta: dict) -> bool:
    """``check_meta``: the dotted key names a boolean ``true`` in the metadata."""
    value = meta
    for part in [p for p in key.split(".") if p]:  # Quarto's split(v, "."): no empty fields
        if not isinstance(value, dict):
            return False
        value = value.get(part)
    return value is True


def properties_match(props: dict[str, str | list[str]], ctx: Context) -> bool:
    """``propertiesMatch``: every condition given holds (``unless-`` ones negated)."""
    checks = {"meta": lambda v: meta_true(v, ctx.meta),
              "format": lambda v: is_format(v, ctx.fmt),
              "profile": lambda v: v in ctx.profiles}
    match = True
    for key in CONDITIONS:
        if key in props:
            kind, check = key.startswith("unless-"), checks[key.split("-", 1)[1]]
            values = props[key] if isinstance(props[key], list) else [props[key]]
            match = match and (kind != any(check(v) for v in values))
    return match


@dataclass
class Attr:
    """A Pandoc attribute block: identifier, classes, key-value pairs (in order, repeats kept)."""
    ident: str = ""
    classes: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def conditional(self) -> bool:
        return any(c in CLASSES for c in self.classes)

    def shown(self, ctx: Context, every_value: bool) -> bool:
        """Whether the element shows: ``is_visible`` (divs: every value of a repeated
        condition) or ``handleHiddenVisible`` (spans, code blocks: the first value)."""
        props: dict[str, list[str]] = {}
        for k, v in self.pairs:
            if k in CONDITIONS and (every_value or k not in props):
                props.setdefault(k, []).append(v)
        match = properties_match(props, ctx)
        return match if "content-visible" in self.classes else not match

    def cleared(self) -> Attr:
        """``clearHiddenVisibleAttributes``: without the classes and the format/profile keys."""
        return Attr(self.ident, [c for c in self.classes if c not in CLASSES],
                    [(k, v) for k, v in self.pairs if k not in CLEARED])

    def markdown(self) -> str:
        items = ([f"#{self.ident}"] if self.ident else []) + [f".{c}" for c in self.classes]
        items += [k + '="' + re.sub(r'(["\\\\])', r"\\\1", v) + '"' for k, v in self.pairs]
        return "{" + " ".join(items) + "}"


def parse_attr(text: str, start: int = 0) -> tuple[Attr, int] | None:
    """The attribute block at ``text[start] == "{"`` and the index after its ``}``; None if
    Pandoc would not read one there."""
    if text[start:start + 1] != "{":
        return None
    attr, i = Attr(), start + 1
    while True:
        close = re.compile(r"[ \t]*\}").match(text, i)
        if close:
            return attr, close.end()
        m = ATTR_ITEM.match(text, i)
        if not m or m.end() == i:
            return None
        if m.group(1):
            attr.ident = m.group(1)
        elif m.group(2):
            attr.classes.append(m.group(2))
        elif m.group(3):
            value = m.group(4)
            if value[:1] in ('"', "'"):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            attr.pairs.append((m.group(3), value))
        else:
            attr.classes.append("unnumbered")
        i = m.end()
        if i < len(text) and text[i] not in " \t}":
            return None


def div_open(line: str) -> Attr | None:
    """A fenced div's opening line (``::: {attrs}`` or ``::: class``), else None."""
    m = DIV_OPEN.match(line)
    if not m:
        return None
    spec = m.group(1)
    if not spec.startswith("{"):
        return Attr(classes=[spec])
    parsed = parse_attr(spec)
    return parsed[0] if parsed and parsed[1] == len(spec) else None


def code_open(line: str, fence: str) -> tuple[str, Attr] | None:
    """A fenced code block's language word and attributes (```` ```lang {attrs} ````)."""
    rest = line[len(fence):].strip()
    if not rest:
        return None
    lang = ""
    if not rest.startswith("{"):
        lang, _, rest = rest.partition(" ")
        rest = rest.strip()
        if not rest:
            return lang, Attr()
    parsed = parse_attr(rest)
    return (lang, parsed[0]) if parsed and parsed[1] == len(rest) else None


def spans(text: str) -> list[tuple[int, int, int, Attr]]:
    """Every conditional span ``[...]{...}``: (index of ``[``, of ``]``, after ``}``, attributes).

    Code spans, math, escapes and image brackets are skipped as Pandoc reads them.
    """
    found, stack, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "`":
            run = re.match(r"`+", text[i:]).group(0)
            close = re.compile(r"(?<!`)" + run + r"(?!`)").search(text, i + len(run))
            i = close.end() if close else i + len(run)
            continue
        if c == "$":
            m = re.compile(r"\$\$.+?\$\$|\$(?=\S)(?:[^$\\]|\\.)+?(?<=\S)\$(?!\d)", re.S).match(text, i)
            if m:
                i = m.end()
                continue
        if c == "[":
            stack.append((i, text[i - 1:i] == "!"))
        elif c == "]" and stack:
            start, image = stack.pop()
            parsed = None if image else parse_attr(text, i + 1)
            if parsed and parsed[0].conditional:
                found.append((start, i, parsed[1], parsed[0]))
        i += 1
    return found


def transform_spans(text: str, ctx: Context) -> str:
    """Conditional spans shown (their attributes cleared) or removed (their line breaks kept,
    so the lines keep their numbers)."""
    out, pos = [], 0
    for start, close, end, attr in sorted(spans(text), key=lambda s: s[0]):
        if start < pos:  # inside a span handled already
            continue
        out.append(text[pos:start])
        if attr.shown(ctx, every_value=False):
            out.append(f"[{transform_spans(text[start + 1:close], ctx)}]{attr.cleared().markdown()}")
        else:
            out.append("\n" * text.count("\n", start, end))
        pos = end
    return "".join(out) + text[pos:]


def context(book: Book, chapter: Chapter, fmt: str) -> Context:
    """The chapter's conditions in Quarto format ``fmt`` ("html", "typst")."""
    return Context(PANDOC_FORMAT.get(fmt, fmt), config.metadata(book, fmt, chapter),
                   config.active_profiles(book))


def view(book: Book, chapter: Chapter, fmt: str) -> Chapter:
    """The chapter as Quarto's filters see it in ``fmt``: see ``chapter_view``."""
    return chapter_view(chapter, context(book, chapter, fmt),
                        str(chapter.path.relative_to(book.root)))


def chapter_view(chapter: Chapter, ctx: Context, name: str | None = None) -> Chapter:
    """The chapter without what ``ctx`` hides: shown divs unwrapped, hidden ones removed with
    their cells, conditional spans and code blocks resolved. Prose keeps its source line numbers;
    the cells are the chapter's own (their execution is shared by every format)."""
    name = name or str(chapter.path)
    out = Chapter(chapter.path, chapter.meta, [], chapter.appendix)
    stack: list[tuple[bool | None, int]] = []  # open divs: (shown, or None if not conditional; line)
    prev = "start"  # what the last source line was, for Pandoc's "a div starts a block" rule

    def hidden() -> bool:
        return any(shown is False for shown, _ in stack)

    for block in chapter.blocks:
        if isinstance(block, Cell):
            if not hidden():
                out.blocks.append(block)
            prev = "start"  # a cell's output is a block of its own
            continue
        items: list[tuple[int, object, bool]] = []  # (line, text or SEPARATOR, in code)
        code = None  # the fence of the code block we are in
        drop_code = False
        for n, line in block.numbered():
            if code is not None:
                items.append((n, SEPARATOR if drop_code else line, True))
                if line.strip() == code:
                    code, prev = None, "block"
                continue
            m = FENCE.match(line)
            if m:
                code, drop_code = m.group(1), hidden()
                info = code_open(line, code)
                if info and info[1].conditional and not drop_code:
                    lang, attr = info
                    if attr.shown(ctx, every_value=False):
                        attr = attr.cleared()
                        attr.classes[:0] = [lang] if lang else []
                        line = code + (attr.markdown() if attr.ident or attr.classes or attr.pairs
                                       else "")
                    else:
                        drop_code = True
                items.append((n, SEPARATOR if drop_code else line, True))
                continue
            if DIV_CLOSE.match(line) and stack:
                shown, _ = stack.pop()
                items.append((n, line if shown is None and not hidden() else SEPARATOR, False))
                prev = "block"
                continue
            attr = div_open(line)
            if attr is not None and prev != "text":
                if attr.conditional:
                    refuse_ambiguous(attr, f"{name}:{n}")
                    stack.append((attr.shown(ctx, every_value=True), n))
                    items.append((n, SEPARATOR, False))
                else:
                    items.append((n, SEPARATOR if hidden() else line, False))
                    stack.append((None, n))
                prev = "block"
                continue
            if attr is not None and attr.conditional:
                out.notes.append(f"{name}:{n}: this ::: line follows a paragraph line, so Pandoc "
                                 "reads it as text, not as a conditional div: put a blank line "
                                 "before it")
            if INDENTED_CONDITIONAL.match(line):
                raise QmdError(f"{name}:{n}: qmdbook handles conditional divs and code blocks at "
                               "the start of a line only (not inside a list or a block quote)")
            items.append((n, SEPARATOR if hidden() else line, False))
            prev = ("blank" if not line.strip() else
                    "block" if HEADING.match(line) or re.match(r"^(\||<!--.*-->\s*$)", line)
                    else "text")
        out.blocks.append(prose_view(block, items, ctx))
    for shown, line in stack:
        if shown is not None:
            out.notes.append(f"{name}:{line}: conditional div not closed (Pandoc closes it at the "
                             "end of the chapter)")
    return out


def refuse_ambiguous(attr: Attr, where: str) -> None:
    """A conditional div that is also a callout or a float: Quarto's result depends on the
    order of the classes and its version (the first class with a handler wins)."""
    if any(c.startswith("callout") for c in attr.classes) or \
            re.match(r"(fig|tbl)-", attr.ident):
        raise QmdError(f"{where}: a conditional div that is also a callout or a figure/table: "
                       "put the callout or float inside the conditional div")


def prose_view(block: Prose, items: list[tuple[int, object, bool]], ctx: Context) -> Prose:
    """The kept lines of a prose block, one blank line where lines were removed (the removed div
    or code block was a block of its own), conditional spans resolved."""
    kept: list[tuple[int, str, bool]] = []
    i = 0
    while i < len(items):
        n, text, in_code = items[i]
        if text is not SEPARATOR and (in_code or text.strip()):
            kept.append((n, text, in_code))
            i += 1
            continue
        j, removed = i, False  # a run of blank and removed lines
        while j < len(items) and (items[j][1] is SEPARATOR or
                                  (not items[j][2] and not items[j][1].strip())):
            removed = removed or items[j][1] is SEPARATOR
            j += 1
        blanks = [(m, t, c) for m, t, c in items[i:j] if t is not SEPARATOR]
        if not removed:
            kept += blanks
        elif kept and j < len(items):  # between two kept lines: keep them apart
            before = next((t for _, t, c in reversed(kept) if t.strip()), "")
            after = items[j][1]
            if isinstance(after, str) and LIST_ITEM.match(after) and \
                    (LIST_ITEM.match(before) or before[:1] in " \t"):
                # a list on each side: Pandoc's way to keep two lists apart
                kept += [(n, "", False), (n, "<!-- -->", False)]
            kept.append((blanks[0][0] if blanks else n, "", False))
        i = j
    lines: list[tuple[int, str]] = []
    k = 0
    while k < len(kept):  # spans, paragraph by paragraph, outside code
        if kept[k][2] or not kept[k][1].strip():
            lines.append(kept[k][:2])
            k += 1
            continue
        end = k
        while end < len(kept) and not kept[end][2] and kept[end][1].strip():
            end += 1
        new = transform_spans("\n".join(t for _, t, _ in kept[k:end]), ctx).split("\n")
        for (n, old, _), line in zip(kept[k:end], new):
            if line != old:  # a span went: no blank line (a paragraph break), no new hard break
                if not line.strip():
                    continue
                if line.endswith("  ") and not old.endswith("  "):
                    line = line.rstrip()
            lines.append((n, line))
        k = end
    return Prose("".join(t + "\n" for _, t in lines), lines[0][0] if lines else block.line,
                 [n for n, _ in lines], block.origin or block)
