"""``preview``'s web server and render loop, and Ctrl-C during a render: one-line errors, no tracebacks."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from qmdbook.__main__ import main
from qmdbook.serve import serve


def book(root, chapters: dict[str, str]):
    """A book of the given chapters (file name: text) at ``root``."""
    root.mkdir()
    listed = "".join(f"    - {name}\n" for name in chapters)
    (root / "_quarto.yml").write_text(f"project:\n  type: book\n\nbook:\n  title: T\n  chapters:\n{listed}\n"
                                      "jupyter: python3\n\nexecute:\n  freeze: auto\n")
    for name, text in chapters.items():
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("port, message", [
    (99999, "--port 99999 is not a port number; fix: give one from 1024 to 65535 (0: any free one)"),
    (-1, "--port -1 is not a port number; fix: give one from 1024 to 65535 (0: any free one)"),
])
def test_a_port_that_is_no_port_is_one_line_error(port, message, tmp_path):
    root = book(tmp_path / "b", {"index.qmd": "# Preface\n\nText.\n"})
    with pytest.raises(SystemExit) as exit_:
        main(["--root", str(root), "preview", "--port", str(port)])
    assert exit_.value.code == f"error: {message}"


def test_a_port_in_use_is_one_line_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ValueError) as error:
            serve(tmp_path, port)
    assert str(error.value) == (f"cannot serve on 127.0.0.1:{port} (Address already in use); fix: --port another "
                                "port, or 0 for any free one")


def request(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        return s.recv(200).split(b"\r\n")[0]


def test_malformed_requests_get_400_and_log_no_traceback(tmp_path, capfd):
    (tmp_path / "a.html").write_text("<html><body>a</body></html>")
    server = serve(tmp_path, 0)
    port = server.server_address[1]
    try:
        assert request(port, b"GET /a.html HTTP/1.0\r\n\r\n") == b"HTTP/1.0 200 OK"
        for path in (b"/a%00.html", b"/x%00", b"/" + b"x" * 5000 + b".html", b"/" + b"x" * 5000):
            for method in (b"GET", b"HEAD"):
                assert request(port, method + b" " + path + b" HTTP/1.0\r\n\r\n") == b"HTTP/1.0 400 Bad request path"
        assert request(port, b"GET /missing.html HTTP/1.0\r\n\r\n") == b"HTTP/1.0 404 File not found"
    finally:
        server.shutdown()
    assert capfd.readouterr().err == ""


def wait_for(condition, what: str, timeout: float = 60):
    end = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > end:
            raise TimeoutError(f"no {what} in {timeout} s")
        time.sleep(0.2)
    return found


def test_preview_on_port_0_serves_on_the_port_it_names_and_outlives_a_chapter_moved_away(tmp_path):
    root = book(tmp_path / "b", {"index.qmd": "# Preface\n\nText.\n", "two.qmd": "# Two\n\nMore.\n"})
    err = tmp_path / "stderr"
    with open(err, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "qmdbook", "--root", str(root), "preview", "--port", "0"],
                                stderr=f, text=True)
    try:
        url, port = wait_for(lambda: re.search(r"serving (http://127\.0\.0\.1:(\d+)/\S+)", err.read_text()),
                             "URL").groups()
        assert int(port) != 0

        def version() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/__qmdbook_version", timeout=5) as r:
                return r.read().decode()

        first = wait_for(lambda: version() != "0" and version(), "render")
        (root / "two.qmd").rename(tmp_path / "two.qmd")  # as git checkout does: away, then back
        wait_for(lambda: "No such file" in err.read_text(), "error line")
        (tmp_path / "two.qmd").rename(root / "two.qmd")
        wait_for(lambda: version() != first, "render after the chapter came back")
        assert proc.poll() is None
        with urllib.request.urlopen(url, timeout=5) as r:
            assert b"More." in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert "Traceback" not in err.read_text()
    assert err.read_text().count("No such file") == 1  # said once, not every second


def test_ctrl_c_during_a_cold_render_stops_its_kernels_and_says_one_line(tmp_path):
    started = tmp_path / "kernels"
    started.mkdir()
    slow = f"```{{python}}\nimport os, time\nopen(os.path.join({str(started)!r}, str(os.getpid())), 'w').close()\n" \
           "time.sleep(120)\n```\n"
    root = book(tmp_path / "b", {"index.qmd": "# One\n\n" + slow, "two.qmd": "# Two\n\n" + slow})
    proc = subprocess.Popen([sys.executable, "-m", "qmdbook", "--root", str(root), "render", "--to", "html"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal's
    try:
        kernels = wait_for(lambda: [int(p.name) for p in started.iterdir()], "kernel")
        time.sleep(0.5)  # both chapters' kernels, where there are two cores
        kernels = [int(p.name) for p in started.iterdir()]
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.splitlines()[-1] == "interrupted", err
    assert "Traceback" not in err and time.monotonic() - start < 15
    for pid in kernels:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the kernel is gone
