"""Code listings for the report's appendix, read from the package's files so they cannot drift.

A chapter cell with ``#| output: asis`` prints :func:`listing` (Python functions
and classes, found by name in a module's source) or :func:`c_listing` (functions
of a C source file); Quarto (and the project's own render path) then treats the
printed text as Markdown: a fenced code block headed by where it came from.

The sources are read and parsed (``ast``), never imported: the modules listed
import torch, which would cost the appendix a second for nothing it shows.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

from hw7 import PROJECT_ROOT

ROOT = PROJECT_ROOT


def source_file(module: str) -> Path:
    """The ``.py`` file of ``module`` (a dotted name), found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(f"no Python source for module {module!r}")
    return Path(spec.origin).resolve()


def _fence(source: str) -> str:
    """A fence the source cannot close: one backtick longer than its longest run of backticks."""
    return "`" * max(3, max((len(m) for m in re.findall(r"`+", source)), default=0) + 1)


def _definition(tree: ast.Module, qualname: str, path: Path) -> ast.AST:
    scope: list[ast.stmt] = tree.body
    node = None
    for part in qualname.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            raise ValueError(f"no function or class {qualname!r} in {path.relative_to(ROOT)}")
        scope = node.body
    return node


def listing(module: str, *names: str) -> str:
    """Fenced Python blocks with the source of each function or class ``names`` (``Class.method``
    for a method) of ``module``, each headed by its file and line range (relative to the repository)."""
    path = source_file(module)
    text = path.read_text(encoding="utf-8")
    lines, tree = text.splitlines(), ast.parse(text)
    blocks = []
    for name in names:
        node = _definition(tree, name, path)
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        body = lines[first - 1:node.end_lineno]
        indent = min(len(line) - len(line.lstrip()) for line in body if line.strip())
        source = "\n".join(line[indent:] for line in body).rstrip()  # a method is shown unindented
        fence = _fence(source)
        blocks.append(f"`{path.relative_to(ROOT)}`, lines {first}–{node.end_lineno}:\n\n"
                      f"{fence}python\n{source}\n{fence}\n")
    return "\n".join(blocks)


def c_listing(path: str, *names: str) -> str:
    """Fenced C blocks with the functions ``names`` of the C source file ``path`` (relative to the
    repository; from the line that starts the definition, with the comment above it, to the closing
    brace in column 0), each headed by the file."""
    path = (ROOT / path).resolve()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for name in names:
        start = next((i for i, line in enumerate(lines) if re.match(rf"\w[\w\s*]*\b{name}\(", line)), None)
        if start is None:
            raise ValueError(f"no C function {name!r} in {path.relative_to(ROOT)}")
        end = next(i for i in range(start, len(lines)) if lines[i] == "}")
        while start > 0 and lines[start - 1].startswith(("/*", "   ")):  # the comment above it
            start -= 1
        source = "\n".join(lines[start:end + 1])
        blocks.append(f"`{path.relative_to(ROOT)}`, C source of `{name}`:\n\n```c\n{source}\n```\n")
    return "\n".join(blocks)
