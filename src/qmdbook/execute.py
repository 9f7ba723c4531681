"""Execute a chapter as a notebook, the way Quarto's Jupyter engine does, with a cache.

The notebook mirrors Quarto's ``src/resources/jupyter/notebook.py``: a setup
cell (figure size, format and dpi, as ``lang/python/setup.py``), the chapter's
code cells in order, and at the place of every prose block that holds inline
``{python}`` expressions one cell that evaluates them through the kernel's
``user_expressions`` (``cell_execute_inline``), so an expression sees the
variables of the cells above it and no others.

The cache is jupyter-cache, keyed on the notebook's code (so prose edits do not
re-execute) and checked against the *content* of every project file the
chapter read while executing (modules, stored results): a Python audit hook in
the kernel records them, the last cell hashes them, and a cached notebook is
used only while those hashes are unchanged. This is ``freeze: auto`` with the
chapter's real inputs in place of its source file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import nbformat

from qmdbook.config import figure_options
from qmdbook.qmd import INLINE, Book, Cell, Chapter, Prose, prose_lines

ANSI = re.compile(r"\x1b\[[0-9;]*m")
INLINE_MIME = "application/x-qmdbook-inline+json"

# Quarto's lang/python/setup.py (figure options), plus the recorder of files read.
SETUP = """\
import os as _qb_os, sys as _qb_sys
_qb_root, _qb_read = _qb_os.getcwd(), set()  # the project (execute-dir: project)
def _qb_audit(event, args, _read=_qb_read, _os=_qb_os, _sys=_qb_sys):
    # files read and folders listed by path; an int is a file descriptor, not a path (shutil.rmtree
    # lists folders by os.scandir(fd)), and None lists the working directory
    if event not in ("open", "os.listdir", "os.scandir"):
        return
    try:
        path = args[0]
        if event == "open":
            mode, flags = args[1:]
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else flags & 3
            kind = None if writing else "file"
        else:
            path, kind = "." if path is None else path, "dir"
        if kind and not isinstance(path, int):
            _read.add((kind, _os.path.abspath(_os.fsdecode(path))))
    except Exception as exc:  # a recorder must not break the chapter's code; it says what it missed
        print(f"qmdbook: not recorded as read ({{event}} {{args!r}}): {{exc!r}}", file=_sys.stderr)
_qb_sys.addaudithook(_qb_audit)
def _qb_setup():  # a function: like Quarto's %reset, the chapter sees none of these names
    try:
        import matplotlib.pyplot as plt
        plt.rcParams["figure.figsize"] = ({fig_width}, {fig_height})
        plt.rcParams["figure.dpi"] = {fig_dpi}
        plt.rcParams["savefig.dpi"] = {fig_dpi}
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats({fig_format!r})
    except Exception:
        pass
_qb_setup()
def _qb_inline(expressions):
    # notebook.py cell_execute_inline: evaluate through the kernel's user_expressions
    from IPython import get_ipython
    from IPython.display import publish_display_data
    results = get_ipython().user_expressions({{str(i): e for i, e in enumerate(expressions)}})
    for i, e in enumerate(expressions):
        r = results[str(i)]
        if r["status"] == "error":
            raise Exception(f"[{{i}}] {{r['ename']}}: {{r['evalue']}}")
    publish_display_data({{{mime!r}: [{{"expression": e, "result": results[str(i)]}}
                                     for i, e in enumerate(expressions)]}})
"""
# The last cell: the project files the chapter read (the renderer hashes their content).
DEPS = "print(__import__('json').dumps(_qb_inputs(_qb_root)))"
DEPS_DEF = """
def _qb_inputs(root):
    import os, sys
    skip = tuple(os.path.realpath(p) + os.sep for p in {{sys.prefix, sys.base_prefix}})
    seen = set(_qb_read)
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if f:
            seen.add(("file", f))
    out = set()
    for kind, path in seen:
        path = os.path.realpath(path)
        if path.endswith(".pyc") and "__pycache__" in path:  # the source, not its bytecode
            head, name = os.path.split(os.path.dirname(path))[0], os.path.basename(path)
            path = os.path.join(head, name.split(".")[0] + ".py")
        rel = os.path.relpath(path, root)
        exists = os.path.isfile(path) if kind == "file" else os.path.isdir(path)
        if rel.startswith("..") or path.startswith(skip) or not exists or any(
                p.startswith(".") for p in rel.split(os.sep)):
            continue
        out.add(kind + ":" + rel)
    return sorted(out)
"""


# Chapters may execute side by side (``render_book``), each in its own kernel; jupyter-cache's store
# is one SQLite database, so its reads and writes take turns.
CACHE_LOCK = threading.Lock()


class ExecuteError(ValueError):
    """A cell or inline expression failed, or the kernel died."""


@dataclass
class Executed:
    """An executed chapter: outputs per code cell, inline results per prose block."""
    notebook: nbformat.NotebookNode
    code: dict[int, dict]  # id(Cell) -> notebook cell
    inline: dict[int, dict[str, dict]]  # id(Prose) -> {expression: user_expressions result}
    ran: bool


def inline_groups(chapter: Chapter) -> list[tuple[Prose, list[tuple[str, int]]]]:
    """Each prose block with its inline expressions (text, line), in order."""
    out = []
    for block in chapter.blocks:
        if isinstance(block, Prose):
            exprs = [(m.group(2).strip(), n) for n, line in prose_lines(block)
                     for m in INLINE.finditer(line)]
            if exprs:
                out.append((block, exprs))
    return out


def plan(chapter: Chapter) -> list[tuple[str, object]]:
    """The notebook's cells as ``(kind, block)``: setup, code/inline in order, deps."""
    groups = dict((id(b), e) for b, e in inline_groups(chapter))
    cells: list[tuple[str, object]] = [("setup", None)]
    for block in chapter.blocks:
        if isinstance(block, Cell) and block.options.get("eval", True) is not False:
            cells.append(("code", block))
        elif isinstance(block, Prose) and id(block) in groups:
            cells.append(("inline", (block, groups[id(block)])))
    cells.append(("deps", None))
    return cells


def notebook(book: Book, chapter: Chapter) -> nbformat.NotebookNode:
    """The chapter as a notebook (``#|`` lines left out, so captions do not key the cache)."""
    kernel = str(book.config.get("jupyter", "python3"))
    fig = {k.replace("-", "_"): v for k, v in figure_options(book).items()}
    source = []
    for kind, block in plan(chapter):
        if kind == "setup":
            source.append(SETUP.format(mime=INLINE_MIME, **fig) + DEPS_DEF.format())
        elif kind == "code":
            source.append(block.code)
        elif kind == "inline":
            source.append(f"_qb_inline({json.dumps([e for e, _ in block[1]], ensure_ascii=False)})")
        else:
            source.append(DEPS)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in source])
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    return nb


def inputs_digest(root: Path, inputs: list[str]) -> dict[str, str]:
    """Content hash of each recorded input: a file's bytes, a folder's listing."""
    out = {}
    for item in inputs:
        kind, rel = item.split(":", 1)
        path = root / rel
        digest = hashlib.sha256()
        if kind == "dir" and path.is_dir():
            digest.update("\n".join(sorted(os.listdir(path))).encode())
        elif kind == "file" and path.is_file():
            digest.update(path.read_bytes())
        else:
            digest.update(b"(missing)")
        out[item] = digest.hexdigest()
    return out


def recorded_inputs(nb: nbformat.NotebookNode) -> tuple[list[str], dict[str, str]]:
    """The inputs list printed by the last cell, and the digests stored with it."""
    text = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
    inputs = json.loads(text) if text.strip() else []
    return inputs, nb.metadata.get("qmdbook", {}).get("inputs", {})


def execute(book: Book, chapter: Chapter, cache_dir: Path, reuse: bool, log,
            timeout: int = 900) -> Executed:
    """The executed chapter: from the cache while its code and inputs are unchanged.

    A chapter without code cells or inline expressions starts no kernel (Quarto
    renders it with its markdown engine).
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    if plan(chapter) == [("setup", None), ("deps", None)]:
        return Executed(nbformat.v4.new_notebook(), {}, {}, ran=False)  # markdown engine: no kernel
    nb = notebook(book, chapter)
    rel = chapter.path.relative_to(book.root)
    if reuse:
        try:
            with CACHE_LOCK:
                cached = get_cache(cache_dir).get_cache_bundle(get_cache(cache_dir).match_cache_notebook(nb).pk).nb
            inputs, digests = recorded_inputs(cached)
            if digests == inputs_digest(book.root, inputs):
                return split(chapter, cached, ran=False)
            log(f"  {rel}: inputs changed since the cached execution")
        except KeyError:
            pass
    log(f"  executing {rel} ...")
    # ipykernel warns on every start that its local sockets are unencrypted: not about the book
    result = single_nb_execution(nb, cwd=str(book.root), timeout=timeout, allow_errors=False,
                                 extra_arguments=["--log-level=ERROR"])
    if result.err is not None:
        raise ExecuteError(failure_message(book, chapter, result.nb, result.err))
    inputs, _ = recorded_inputs(result.nb)
    result.nb.metadata["qmdbook"] = {"inputs": inputs_digest(book.root, inputs)}
    if reuse:
        with CACHE_LOCK:
            get_cache(cache_dir).cache_notebook_bundle(CacheBundleIn(result.nb, uri=str(chapter.path)),
                                                       check_validity=False, overwrite=True)
    return split(chapter, result.nb, ran=True)


def split(chapter: Chapter, nb: nbformat.NotebookNode, ran: bool) -> Executed:
    """Map notebook cells back to the chapter's code cells and prose blocks."""
    code, inline = {}, {}
    for (kind, block), cell in zip(plan(chapter), nb.cells):
        if kind == "code":
            code[id(block)] = cell
        elif kind == "inline":
            values = {}
            for out in cell.get("outputs", []):
                for item in out.get("data", {}).get(INLINE_MIME, []):
                    values[item["expression"]] = item["result"]
            inline[id(block[0])] = values
    return Executed(nb, code, inline, ran)


def failure_message(book: Book, chapter: Chapter, nb, err: Exception) -> str:
    """``file:line: cell failed: Error: message`` and the traceback, for a failing cell."""
    rel = chapter.path.relative_to(book.root)
    for (kind, block), cell in zip(plan(chapter), nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            trace = ANSI.sub("", "\n".join(out.get("traceback", [])))
            if kind == "inline":
                m = re.match(r"\[(\d+)\] (.*)", str(out.get("evalue", "")), re.S)
                expr, line = block[1][int(m.group(1))] if m else block[1][0]
                reason = m.group(2) if m else f"{out.ename}: {out.evalue}"
                return f"{rel}:{line}: inline expression failed ({expr}): {reason}"
            line = block.line if kind == "code" else 1
            return f"{rel}:{line}: cell failed: {out.ename}: {out.evalue}\n{trace}"
    return f"{rel}: execution failed: {err}"  # a timeout or a dead kernel

