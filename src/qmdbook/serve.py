"""``report`` and ``preview``: Quarto when installed, else the own render path.

``preview`` without Quarto renders the HTML, serves the output folder and
re-renders when a source file is saved; the page it serves reloads itself
after each render (as ``quarto preview`` does). The reload script is added
while serving, never written into the book's HTML file.
"""

from __future__ import annotations

import errno
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

from qmdbook.qmd import load_book
from qmdbook.render import render_book, writable

RELOAD = b"""<script>
(function () {
  var seen = null;
  setInterval(function () {
    fetch("/__qmdbook_version", {cache: "no-store"}).then(function (r) { return r.text(); })
      .then(function (v) { if (seen !== null && v !== seen) location.reload(); seen = v; })
      .catch(function () {});
  }, 700);
})();
</script>"""


def report(root: Path) -> None:
    """Render the book with Quarto when ``quarto`` is on PATH, else with ``render_book``."""
    if shutil.which("quarto"):
        print("engine: Quarto (quarto render)", file=sys.stderr)
        subprocess.run(["quarto", "render"], cwd=root, check=True)
    else:
        print("engine: qmdbook (nbclient + Pandoc + Typst; Quarto not found)", file=sys.stderr)
        render_book(formats=("html", "pdf"), root=root)


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, a render counter, and the reload script added to HTML pages."""
    version = "0"

    def parse_request(self) -> bool:
        """The request line; answered 400 if its path can name no file (a NUL byte, an overlong name)."""
        if not super().parse_request():
            return False
        try:
            os.stat(self.translate_path(self.path))
        except ValueError:  # a NUL byte
            return self.refuse()
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                return self.refuse()
        return True

    def refuse(self) -> bool:
        self.send_error(400, "Bad request path")
        return False

    def do_GET(self):
        if self.path.startswith("/__qmdbook_version"):
            return self.reply(self.version.encode(), "text/plain")
        path = Path(self.translate_path(self.path))
        if path.suffix == ".html" and path.is_file():
            body = path.read_bytes().replace(b"</body>", RELOAD + b"</body>", 1)
            return self.reply(body, "text/html; charset=utf-8")
        return super().do_GET()

    def reply(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # one line per request is noise in a preview
        pass


def sources(root: Path) -> dict[Path, float]:
    """``_quarto.yml`` and every chapter it lists, with their modification times."""
    paths = [root / "_quarto.yml", *(c.path for c in load_book(root).chapters)]
    return {p: p.stat().st_mtime for p in paths}


def serve(directory: Path, port: int, handler: type[Handler] = Handler) -> http.server.ThreadingHTTPServer:
    """Serve ``directory`` on ``127.0.0.1:port`` (0: a free port the system picks) from a thread."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port {port} is not a port number; fix: give one from 1024 to 65535 (0: any free one)")
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(directory)))
    except OSError as exc:
        raise ValueError(f"cannot serve on 127.0.0.1:{port} ({exc.strerror}); fix: --port another port, "
                         "or 0 for any free one") from None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def preview(root: Path, port: int = 4848) -> None:
    """``quarto preview`` if installed; else render, serve and re-render on save."""
    if shutil.which("quarto"):
        subprocess.run(["quarto", "preview", "--port", str(port)], cwd=root, check=True)
        return
    book = load_book(root)
    out_dir = book.root / book.config.get("project", {}).get("output-dir", "_book")
    writable(out_dir)
    handler = type("BookHandler", (Handler,), {})  # its version: this preview's
    server = serve(out_dir, port, handler)
    print(f"serving http://127.0.0.1:{server.server_address[1]}/{book.output_name}.html (Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    seen: dict[Path, float] = {}
    shown = None  # the error last printed, not repeated while it lasts
    try:
        while True:
            try:
                now = sources(book.root)
                if now != seen:
                    seen = now
                    render_book(formats=("html",), root=book.root)  # the PDF is for `make report`
                    handler.version = str(time.time())
                shown = None
            except (ValueError, OSError) as exc:  # a bad edit: say so and keep serving the last good page
                if isinstance(exc, FileNotFoundError):
                    seen = {}  # a file moved away for a moment (git checkout): tried again until it is back
                if str(exc) != shown:
                    print(f"error: {exc}", file=sys.stderr, flush=True)
                    shown = str(exc)
            time.sleep(1.0)
    except KeyboardInterrupt:
        server.shutdown()
