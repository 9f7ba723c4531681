"""Render a Quarto book without Quarto: execute, cross-reference, assemble, convert.

``render_book`` checks the book as Quarto would (settings Quarto refuses,
references without a target), executes every chapter (cached, see
``qmdbook.execute``), assembles Pandoc Markdown per format with Quarto's
numbering and inline values, and writes ``<output-dir>/<output-file>.html``
(one self-contained file) and ``.pdf``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from qmdbook import config
from qmdbook.assemble import Target, chapter_markdown
from qmdbook.convert import write_html, write_pdf
from qmdbook.crossref import check_references, number_book
from qmdbook.execute import execute
from qmdbook.qmd import load_book

WRITERS = {"html": write_html, "pdf": write_pdf}


def writable(folder: Path) -> None:
    """Create ``folder`` if needed and make sure this user can write in it, else a one-line ``ValueError``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise ValueError(f"cannot write {folder} ({exc.strerror}); fix: make it writable for this user, "
                         "or render a copy of the book that this user can write") from None


def stop_kernels(pool: ThreadPoolExecutor, futures: list[Future]) -> None:
    """After Ctrl-C: drop the chapters not started and end the kernels of those running (this process's
    child processes), so that their threads finish now rather than after their chapters."""
    import psutil  # a dependency of ipykernel

    pool.shutdown(wait=False, cancel_futures=True)
    while not all(f.done() for f in futures):
        for kernel in psutil.Process().children():
            kernel.terminate()
        time.sleep(0.1)


@dataclass
class Rendered:
    """What ``render_book`` made, and every problem seen on the way (all formats)."""
    files: dict[str, Path] = field(default_factory=dict)
    diagnostics: list[str] = field(default_factory=list)  # stderr, warnings, Pandoc warnings
    executed: list[str] = field(default_factory=list)  # chapters run (not from the cache)


def render_book(formats: tuple[str, ...] = ("html", "pdf"), root: Path | str = ".",
                out_dir: Path | str | None = None, cache_dir: Path | str | None = None,
                quiet: bool = False) -> Rendered:
    """Execute (cached), number, cross-reference and convert the book at ``root``.

    Writes ``<out_dir>/<book.output-file>.<fmt>`` (default ``project: output-dir``);
    the execution cache is ``.qmdbook_cache/`` in the project.
    """
    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    start = time.perf_counter()
    book = load_book(root)
    config.check_cache_and_inline(book)
    freeze = config.Freeze.of(book)
    out_dir = Path(out_dir) if out_dir else book.root / book.config.get("project", {}).get(
        "output-dir", "_book")
    cache_dir = Path(cache_dir) if cache_dir else book.root / ".qmdbook_cache"
    writable(out_dir)
    if freeze.reuse:
        writable(cache_dir)
    check_references(book, [config.FORMATS[fmt] for fmt in formats])
    result = Rendered()

    def run(ch):
        t = time.perf_counter()
        done = execute(book, ch, cache_dir, freeze.reuse, log)
        log(f"{ch.path.relative_to(book.root)}: {'executed' if done.ran else 'from cache'} "
            f"({time.perf_counter() - t:.1f} s)")
        return done

    # Each chapter runs in a kernel of its own, as in Quarto, and they share nothing but the files they
    # read: on a machine with several cores they execute side by side (the output is the same).
    with ThreadPoolExecutor(max_workers=max(1, min(len(book.chapters), os.cpu_count() or 1))) as pool:
        futures = [pool.submit(run, ch) for ch in book.chapters]
        try:
            executed = [f.result() for f in futures]
        except KeyboardInterrupt:
            stop_kernels(pool, futures)
            raise
    result.executed = [str(ch.path.relative_to(book.root)) for ch, done in zip(book.chapters, executed) if done.ran]
    with tempfile.TemporaryDirectory(prefix="qmdbook-") as tmp:
        work = Path(tmp)
        for fmt in formats:
            target = Target(book, config.FORMATS[fmt], number_book(book, config.FORMATS[fmt]), work)
            md = "\n\n".join(chapter_markdown(ch, done, target)
                             for ch, done in zip(book.chapters, executed))
            out = out_dir / f"{book.output_name}.{fmt}"
            warnings = WRITERS[fmt](book, md, out, work)
            for d in target.diagnostics + [f"{fmt}: pandoc: {w}" for w in warnings]:
                if d not in result.diagnostics:  # cell output is the same in every format
                    result.diagnostics.append(d)
            result.files[fmt] = out
            log(f"wrote {out}")
    for d in result.diagnostics:
        log(f"warning: {d}")
    log(f"rendered in {time.perf_counter() - start:.1f} s")
    return result
