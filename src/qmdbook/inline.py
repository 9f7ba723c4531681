"""How an inline ``{python}`` value and a cell's display data become Markdown.

Mirrors Quarto: the MIME type is chosen by ``displayDataMimeType``
(``src/core/jupyter/display-data.ts``) and an inline value is inserted by
``resolveUserExpressions`` (``src/core/jupyter/jupyter-inline.ts``):
``text/html`` as raw HTML, ``text/latex`` as raw TeX, ``text/markdown`` as
Markdown, anything else (``text/plain``, a ``str``'s repr) through
``asEscapedMarkdown``: quotes stripped, backslashes doubled, Markdown
punctuation escaped -- so a ``str`` holding ``\\xa0`` shows its escape.
"""

from __future__ import annotations

import re

from qmdbook.qmd import INLINE

HTML_FIRST = ["application/vnd.jupyter.widget-state+json", "application/vnd.jupyter.widget-view+json",
              "application/javascript", "text/html"]
IMAGES = ["image/svg+xml", "image/png", "image/jpeg"]
# asEscapedMarkdown's character class [\\`*_{}\[\]()>#+-.!]: "+-." is a range, so "," too.
ESCAPED = re.compile(r"([\\`*_{}\[\]()>#+,\-.!])")


def mime_type(data: dict, fmt: str) -> str | None:
    """The MIME type Quarto picks from ``data`` for ``fmt`` ("html", "typst", "latex")."""
    order = ["text/markdown", *IMAGES]
    if fmt == "html":
        order = HTML_FIRST + order + HTML_FIRST
    elif fmt == "latex":
        order += ["text/latex", "application/pdf"]
    if has_html_table(data) and "text/html" not in order:
        order.append("text/html")
    order.append("text/plain")
    return next((m for m in order if m in data), None)


def has_html_table(data: dict) -> bool:
    html = text_of(data.get("text/html", "")).lower()
    return "<table" in html and "</table" in html


def text_of(value) -> str:
    return "".join(map(str, value)) if isinstance(value, list) else str(value)


def escaped_markdown(s: str) -> str:
    """Quarto's ``asEscapedMarkdown``: a quoted repr unquoted and escaped, else as is."""
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return ESCAPED.sub(r"\\\1", s[1:-1].replace("\\", "\\\\"))
    return s


def inline_value(result: dict, fmt: str) -> str | None:
    """Markdown for one ``user_expressions`` result; None leaves the expression as written."""
    data = result.get("data", {})
    mime = mime_type(data, fmt)
    if mime is None:
        return None
    text = text_of(data[mime])
    if mime == "text/html":
        return f"`{text}`{{=html}}"
    if mime == "text/latex":
        return f"`{text}`{{=tex}}"
    if mime == "text/markdown":
        return text
    return escaped_markdown(text)


def substitute(line: str, values: dict[str, dict], fmt: str) -> str:
    """Replace the inline expressions of one line (``executeInlineCodeHandler``).

    An expression whose value is empty, or that has no value, stays as written,
    as in ``src/core/execute-inline.ts`` (``if (result) ... else return match``).
    """
    def one(m: re.Match) -> str:
        result = values.get(m.group(2).strip())
        value = inline_value(result, fmt) if result else None
        return m.group(1) + value if value else m.group(0)

    return INLINE.sub(one, line)
