"""Quarto's cross-references in a book: numbering and ``@label`` resolution.

Mirrors quarto.org/docs/books/book-crossrefs.html and
quarto.org/docs/authoring/cross-references.html: chapters are numbered 1, 2, ...
and appendices A, B, ... (a chapter whose title is ``.unnumbered`` gets no
number); figures, tables and sections are numbered within their chapter
("Figure 2.1", "Table A.1", "Section 2.3"); ``@sec-`` of a chapter's own title
reads "Chapter 2" / "Appendix A"; ``@Fig-a`` and ``@fig-a`` both read
"Figure"; ``[-@fig-a]`` gives the number alone and ``[Fig. @fig-a]`` replaces
the prefix. An unknown label is an error (Quarto prints "?@fig-a" and warns).

Numbering is per format: what a format hides (``qmdbook.conditional``) is
removed before Quarto numbers anything, so it takes no number there and a
reference to it does not resolve there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from qmdbook import conditional, config
from qmdbook.qmd import REF, Book, Chapter, Prose, headings, prose_lines, references

KIND_NAMES = {"fig": "Figure", "tbl": "Table"}
# Quarto's callout syntax: ``::: {.callout-note}`` (quarto.org/docs/authoring/callouts.html).
CALLOUT = re.compile(r"^:::+\s*\{?\s*\.?callout-(note|tip|warning|important|caution)\b([^}]*)\}?\s*$")


# A figure or table labelled in Markdown (quarto.org/docs/authoring/cross-references.html).
PROSE_LABEL = re.compile(r"\{#((?:fig|tbl)-[\w-]*\w)[^}]*\}\s*$")


class RefError(ValueError):
    """A reference without a target."""


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


def number_book(book: Book, fmt: str | None = None) -> Numbers:
    """Number chapters, their headings (to depth 3), figures and tables in Quarto format ``fmt``.

    Without ``fmt``, the chapters as written (every conditional content counted).
    """
    nums = Numbers()
    main = appendix = 0
    for ch in book.chapters:
        if fmt is not None:
            ch = conditional.view(book, ch, fmt)
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
        for label in float_labels(ch):  # in document order, cells and Markdown alike
            kind = label.split("-", 1)[0]
            count[kind] += 1
            prefix = f"{number}." if number else ""
            nums.label[label] = f"{KIND_NAMES[kind]} {prefix}{count[kind]}"
    return nums


def float_labels(chapter: Chapter) -> list[str]:
    """``fig-``/``tbl-`` labels in order: cell labels, ``![..](..){#fig-a}``, ``: cap {#tbl-a}``."""
    out = []
    for block in chapter.blocks:
        if isinstance(block, Prose):
            for _, line in prose_lines(block):
                m = PROSE_LABEL.search(line)
                if m and (line.lstrip().startswith("![") or line.startswith(": ")):
                    out.append(m.group(1))
        elif block.label.split("-", 1)[0] in KIND_NAMES:
            out.append(block.label)
    return out


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
            raise RefError(f"{where}: unresolved reference @{label}")
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


def check_references(book: Book, formats=()) -> None:
    """Fail on any ``@fig-``/``@tbl-``/``@sec-`` reference without a target, before executing.

    Checked in each of ``formats`` (Quarto format names; default: every format qmdbook
    renders): a reference shown in a format whose target that format hides does not
    resolve there (Quarto warns "Unable to resolve crossref" and prints "?@fig-a").
    """
    written = number_book(book).label
    for fmt in formats or tuple(config.FORMATS.values()):
        nums = number_book(book, fmt)
        for ch in book.chapters:
            for label, line in references(conditional.view(book, ch, fmt)):
                if label in nums.label:
                    continue
                where = f"{ch.path.relative_to(book.root)}:{line}"
                if label not in written:
                    raise RefError(f"{where}: unresolved reference @{label}")
                raise RefError(f"{where}: unresolved reference @{label} in format {fmt}: its "
                               f"target is hidden in {fmt} (conditional content), so make the "
                               "reference conditional too (Quarto would print ?@" + label + ")")
