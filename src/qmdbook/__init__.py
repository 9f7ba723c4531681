"""qmdbook: render a Quarto book (Jupyter, Python) without Quarto, following Quarto's rules.

Modules by job: ``qmd`` (read ``_quarto.yml`` and the chapters), ``config``
(settings as Quarto merges them), ``execute`` (run chapters, cache),
``inline`` (inline values and display data as Quarto inserts them),
``conditional`` (``.content-visible``/``.content-hidden`` per format),
``crossref`` (numbering per format, ``@label``), ``assemble`` (Pandoc Markdown per
format), ``convert`` (HTML, Typst/PDF), ``render`` (the whole book),
``serve`` (report and live preview). Every error is a ``ValueError`` that
names the file and line at fault.
"""

from qmdbook.render import Rendered, render_book

__all__ = ["Rendered", "render_book"]
