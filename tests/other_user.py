"""Commands run by a user who may not write the project, for the tests of read-only folders: a copy of
the project whose files and folders are read-only, and ``python -m hw7`` run in it as user ``nobody``
when the tests run as root (root writes anywhere, whatever the permissions), else as the current user."""

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "_book", ".qmdbook_cache", "__pycache__", ".pytest_cache",
                                    "data", "*.egg-info", "locks", "checkpoints")


@contextlib.contextmanager
def readonly_project():
    """A copy of the project (code, chapters, results) that no one but root may write."""
    top = Path(tempfile.mkdtemp(prefix="hw7-readonly-"))
    top.chmod(0o755)  # readable by nobody, as /tmp is
    copy = top / "project"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    for folder, _, files in os.walk(copy):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    try:
        yield copy
    finally:
        for folder, _, _ in os.walk(copy):
            os.chmod(folder, 0o755)
        shutil.rmtree(top)


def hw7_as_other_user(project: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m hw7 argv`` in ``project`` (its own src/), by a user without write access to it."""
    paths = dict.fromkeys([str(project / "src"), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    command = [sys.executable]
    if os.geteuid() == 0:
        command = next((c for c in python_commands() if runs(c, env)), None)
        if command is None:
            pytest.skip("no Python interpreter that user nobody can run with this project's packages "
                        "(the tests run as root, and root writes anywhere)")
    return subprocess.run([*command, "-m", "hw7", *argv], cwd=project, env=env, capture_output=True, text=True,
                          timeout=timeout)


def python_commands() -> list[list[str]]:
    """Commands that run an interpreter of this Python's version as user nobody (this one may live in
    root's home, out of nobody's reach)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    pythons = [sys.executable, os.path.realpath(sys.executable), shutil.which(version), f"/usr/bin/{version}"]
    runuser = shutil.which("runuser")
    return [[runuser, "-u", "nobody", "--", p] for p in dict.fromkeys(pythons) if p and runuser]


def runs(command: list[str], env: dict) -> bool:
    """Whether ``command`` starts this Python's version and imports the project's packages."""
    check = f"import sys, optuna, torch; assert sys.version_info[:2] == {tuple(sys.version_info[:2])}"
    return subprocess.run([*command, "-c", check], env=env, capture_output=True).returncode == 0
