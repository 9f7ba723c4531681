"""Code listings for the report's appendix, read from the package itself so they cannot drift.

A chapter cell with ``#| output: asis`` prints :func:`listing` (Python functions
and classes) or :func:`c_listing` (a function of a C source held in a module);
Quarto (and the project's own render path) then treats the printed text as
Markdown: a fenced code block headed by where it came from.
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


def c_listing(module, *names: str) -> str:
    """Fenced C blocks with the functions ``names`` of ``module.SOURCE`` (from the line that starts
    the definition to the closing brace in column 0), each headed by the module's file."""
    lines = module.SOURCE.splitlines()
    path = Path(inspect.getsourcefile(module)).resolve().relative_to(ROOT)
    blocks = []
    for name in names:
        start = next((i for i, line in enumerate(lines) if re.match(rf"\w[\w\s*]*\b{name}\(", line)), None)
        if start is None:
            raise ValueError(f"no C function {name!r} in {path}")
        end = next(i for i in range(start, len(lines)) if lines[i] == "}")
        while start > 0 and lines[start - 1].startswith(("/*", "   ")):  # the comment above it
            start -= 1
        source = "\n".join(lines[start:end + 1])
        blocks.append(f"`{path}`, C source of `{name}`:\n\n```c\n{source}\n```\n")
    return "\n".join(blocks)
