"""The book's settings as Quarto reads them from ``_quarto.yml`` and front matter.

Every format setting the renderer uses (paper, margins, font size, table of
contents, numbering, code folding, figure size) comes from here, so that
``_quarto.yml`` is the one place a format is configured.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from qmdbook.qmd import Book, Chapter

# Output suffix -> Quarto format name (the PDF is Quarto's Typst format).
FORMATS = {"html": "html", "pdf": "typst"}
# Quarto's defaults for the figure options (quarto.org/docs/reference/formats/html.html,
# .../typst.html: "fig-width", "fig-height", "fig-format", "fig-dpi").
FIG_DEFAULTS = {"html": {"fig-width": 7, "fig-height": 5, "fig-format": "retina", "fig-dpi": 96},
                "typst": {"fig-width": 5.5, "fig-height": 3.5, "fig-format": "png", "fig-dpi": 96}}
# Quarto's message, src/core/jupyter/jupyter-inline.ts (resolveUserExpressions).
CACHE_INLINE_ERROR = ("Inline expression encountered ({expr}). "
                      "Inline expressions cannot be used with Jupyter Cache.")


class ConfigError(ValueError):
    """A setting in ``_quarto.yml`` that the book cannot be rendered with."""


def format_options(book: Book, fmt: str) -> dict:
    """``format: <fmt>:`` of ``_quarto.yml`` (``html: default`` counts as empty)."""
    formats = book.config.get("format") or {}
    if isinstance(formats, str):
        formats = {formats: {}}
    opts = formats.get(fmt)
    return opts if isinstance(opts, dict) else {}


def listed_formats(book: Book) -> list[str]:
    """The formats ``_quarto.yml`` lists, in order (Quarto renders them all, the first by default)."""
    formats = book.config.get("format") or {"html": {}}
    return [formats] if isinstance(formats, str) else list(formats)


def option(book: Book, fmt: str, key: str, default=None, chapter: Chapter | None = None):
    """An option as Quarto merges it: front matter, then the format, then ``execute:``.

    Execution options (``echo``, ``cache``, ``freeze``...) may be written at any
    of these levels, plain or under ``execute:``.
    """
    fmt_opts = format_options(book, fmt)
    layers = []
    if chapter is not None:
        layers += [chapter.meta, chapter.meta.get("execute") or {}]
    layers += [fmt_opts, fmt_opts.get("execute") or {}, book.config.get("execute") or {}]
    for layer in layers:
        if isinstance(layer, dict) and key in layer:
            return layer[key]
    return default


def metadata(book: Book, fmt: str, chapter: Chapter | None = None) -> dict:
    """A document's metadata as Quarto merges it: ``_quarto.yml``, the format, the front matter.

    Objects merge key by key (``mergeConfigs``); the later layer wins a plain value.
    """
    def merge(a: dict, b: dict) -> dict:
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    project = {k: v for k, v in book.config.items() if k != "format"}
    return merge(merge(project, format_options(book, fmt)),
                 chapter.meta if chapter is not None else {})


def active_profiles(book: Book, environ=None) -> tuple[str, ...]:
    """The active project profiles, as ``initializeProfileConfig`` (src/project/project-profile.ts).

    ``QUARTO_PROFILE`` (split on spaces and commas, ``readProfile``), else
    ``profile: default:`` of ``_quarto.yml``; then the first profile of each
    ``profile: group:`` none of whose members is active. Quarto merges
    ``_quarto-<profile>.yml`` into the configuration; qmdbook does not, so such
    a file is refused rather than silently left out.
    """
    environ = os.environ if environ is None else environ
    config = book.config.get("profile") if isinstance(book.config.get("profile"), dict) else {}
    value = environ.get("QUARTO_PROFILE", "")
    if not value:
        default = config.get("default")
        value = ",".join(map(str, default)) if isinstance(default, list) else \
            default if isinstance(default, str) else ""
    active = re.split(r"[ ,]+", value) if value else []
    group = config.get("group")
    groups = [] if not isinstance(group, list) else [group] if all(
        isinstance(g, str) for g in group) else [g for g in group if isinstance(g, list)] \
        if all(isinstance(g, list) for g in group) else []
    for members in groups:
        if members and not any(m in active for m in members):
            active.append(members[0])
    for name in active:
        for ext in (".yml", ".yaml"):
            if (Path(book.root) / f"_quarto-{name}{ext}").is_file():
                raise ConfigError(f"_quarto-{name}{ext}: profile {name!r} is active and Quarto "
                                  "would merge this file into _quarto.yml; qmdbook does not")
    return tuple(active)


def figure_options(book: Book) -> dict:
    """``fig-width``/``fig-height``/``fig-format``/``fig-dpi`` of the first listed format.

    The chapters are executed once for all formats (Quarto executes per format),
    so the first format in ``_quarto.yml`` -- Quarto's default format -- sets them.
    """
    fmt = listed_formats(book)[0]
    defaults = FIG_DEFAULTS.get(fmt, FIG_DEFAULTS["html"])
    return {k: option(book, fmt, k, v) for k, v in defaults.items()}


def check_cache_and_inline(book: Book) -> None:
    """Refuse ``cache: true`` (or ``refresh``) with inline expressions, as Quarto does.

    Quarto raises this when it meets the first inline expression of a document
    whose merged ``execute.cache`` is ``true`` or ``"refresh"``
    (``src/core/jupyter/jupyter-inline.ts``); the message is Quarto's, led by
    the file and line.
    """
    for fmt in listed_formats(book):
        for ch in book.chapters:
            cache = option(book, fmt, "cache", None, ch)
            expressions = ch.inline_expressions()
            if expressions and (cache is True or cache == "refresh"):
                expr, line = expressions[0]
                raise ConfigError(f"{ch.path.relative_to(book.root)}:{line}: "
                                  + CACHE_INLINE_ERROR.format(expr=expr))


@dataclass(frozen=True)
class Freeze:
    """``execute: freeze``: whether a chapter's stored execution may be reused."""
    reuse: bool  # auto: reuse while the chapter's inputs are unchanged; false: always execute

    @classmethod
    def of(cls, book: Book) -> Freeze:
        value = (book.config.get("execute") or {}).get("freeze", False)
        if value not in ("auto", False):
            raise ConfigError(f"_quarto.yml: execute: freeze: {value!r} is not supported by "
                              "qmdbook; use auto (re-execute a chapter when its inputs change) "
                              "or false")
        return cls(reuse=value == "auto")
