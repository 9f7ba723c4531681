"""Code listings for the report's appendix, read from the package itself so they cannot drift.

A chapter cell with ``#| output: asis`` prints :func:`listing`; Quarto (and the
project's own render path) then treats the printed text as Markdown: a fenced
Python code block headed by the file and lines it came from.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def listing(*objects) -> str:
    """Fenced Python blocks with the source of each function or class, each headed by its
    file and line range (relative to the repository)."""
    blocks = []
    for obj in objects:
        lines, first = inspect.getsourcelines(obj)
        source = textwrap.dedent("".join(lines)).rstrip()  # a method is shown unindented
        path = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT)
        longest = max((len(m) for m in re.findall(r"`+", source)), default=0)
        fence = "`" * max(3, longest + 1)  # a fence the source cannot close
        blocks.append(f"`{path}`, lines {first}–{first + len(lines) - 1}:\n\n{fence}python\n{source}\n{fence}\n")
    return "\n".join(blocks)
