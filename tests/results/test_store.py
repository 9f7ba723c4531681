"""The run store under hostile conditions: a folder the user cannot write, a full disk, edited or
unsound records, special and huge files, and records computed on another CPU."""

import contextlib
import errno
import functools
import hashlib
import json
import math
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
from pathlib import Path

import pytest

from hw7.config import RunConfig
from hw7.engine import checkpoint
from hw7.results import check as hw7_check, store, sweep
from hw7.results.check import Report, check, reproduce
from tests.results.test_results import counting, narrow_sweep, numbers, small  # noqa: F401 (a fixture)

COMMITTED = sorted(store.record_paths())


@functools.cache
def committed() -> Path:
    """The committed record of p2-best's seed 0 (it keeps its predictions and probabilities)."""
    from hw7.results.experiments import experiment

    return store.path_of(next(c for c in experiment("p2-best") if c.seed == 0))


def copy_records(paths: list[Path], root: Path) -> Path:
    (root / "runs").mkdir(parents=True, exist_ok=True)
    for p in paths:
        shutil.copy(p, root / "runs" / p.name)
    return root / "runs"


def redigest(record: dict) -> None:
    """Give an edited record the digest of its new content (SHA-256 of its canonical JSON): a deliberate edit."""
    content = {k: v for k, v in record.items() if k != "content_sha256"}
    record["content_sha256"] = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"))
                                              .encode()).hexdigest()


def one_line_fault(report: Report, path: Path) -> str:
    assert len(report.faults) == 1, report.faults
    assert report.faults[0].startswith(str(path)) and "\n" not in report.faults[0]
    return report.faults[0]


# -- a folder the user cannot write -------------------------------------------------------
@pytest.fixture()
def world_readable():
    """A folder every user can read (pytest's own tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="hw7-store-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder)


def as_other_user(fn) -> tuple[int, str]:
    """``fn()`` in a forked child run as ``nobody`` (root bypasses permissions), or as this user
    where it is not root: its exit code (1 if it raised) and what it returned or raised, as text."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read)
        code = 0
        try:
            signal.alarm(120)  # a child that trains instead of refusing is stopped
            if os.geteuid() == 0:
                nobody = pwd.getpwnam("nobody")
                os.setgroups([])
                os.setgid(nobody.pw_gid)
                os.setuid(nobody.pw_uid)
            message = repr(fn())
        except BaseException as exc:  # noqa: BLE001 (whatever it is, the parent reports it)
            message, code = f"{type(exc).__name__}: {exc}", 1
        os.write(write, message.encode())
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as f:
        out = f.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), out


@pytest.mark.parametrize("folder", ["runs", "locks", "checkpoints"])
def test_a_folder_the_user_cannot_write_is_refused_before_training(small, world_readable, monkeypatch, folder):
    """`run` as a user who may not write results/runs/ (or its locks or checkpoints) stops at once
    with one line naming the folder and the fix; nothing is trained."""
    (world_readable / folder).mkdir(mode=0o555)
    (world_readable / folder).chmod(0o555)  # read and enter, no write: for everyone but root

    def training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(sweep, "train_group", training)
    code, out = as_other_user(lambda: sweep.train_many(narrow_sweep()[:2], small, root=world_readable,
                                                       progress=False))
    assert code == 1, out
    assert out == (f"StoreError: {world_readable / folder} is not writable (Permission denied); nothing was "
                   "trained: make it writable for this user (or work in a copy of the project you can write) "
                   "and run again")


def test_a_user_who_cannot_write_the_store_can_check_it(world_readable):
    """`check` on a read-only store holding a stale temporary file (which it removes where it may)."""
    runs = copy_records(COMMITTED[:3], world_readable)
    stale = runs / ".tmp-killed.json"
    stale.write_text('{"key": ')
    os.utime(stale, (0, 0))
    runs.chmod(0o555)
    code, out = as_other_user(lambda: (check(world_readable).faults, len(store.all_records(world_readable))))
    assert (code, out) == (0, "([], 3)")


# -- a full disk ----------------------------------------------------------------------------
@pytest.fixture()
def small_disk(tmp_path):
    """A real 4 MiB filesystem (tmpfs), mounted here: needs root."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=True)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte, with one file."""
    filler = folder / "filler"
    chunk = 1 << 20
    with open(filler, "wb", buffering=0) as f:
        while chunk:
            try:
                f.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                chunk //= 2
    return filler


def test_runs_trained_when_the_disk_filled_are_kept_and_stored_by_the_next_run(small, tmp_path, small_disk,
                                                                               monkeypatch):
    """The disk fills while a group trains: storing its records fails, one line says where they are
    kept; once there is room, the next call stores them without training, bitwise as trained."""
    configs = narrow_sweep()[:2]
    keys = [store.key_of(c) for c in configs]
    reference = sweep.train_many(configs, small, root=tmp_path / "reference", progress=False)
    real = sweep.train_group

    def train_then_fill(*args, **kwargs):
        records = real(*args, **kwargs)
        fill(small_disk)  # another process, say, takes the last byte while the group trains
        return records

    monkeypatch.setattr(sweep, "train_group", train_then_fill)
    with pytest.raises(store.NotStored) as err:
        sweep.train_many(configs, small, root=small_disk, progress=False)
    kept = store.kept_path(keys, small_disk)
    assert str(err.value) == (f"{small_disk / 'runs'}: could not store run {keys[0]} (No space left on device); the "
                              f"2 runs trained are kept in {kept}, and the next `python -m hw7 run` or `train` stores "
                              "them without training: free space on its disk")
    assert kept.is_file() and list((small_disk / "runs").iterdir()) == []
    (small_disk / "filler").unlink()
    trained = counting(monkeypatch)
    records = sweep.train_many(configs, small, root=small_disk, progress=False)
    assert trained == [] and not kept.exists()
    assert [numbers(r) for r in records] == [numbers(r) for r in reference]


def test_a_full_disk_is_refused_before_training(small, small_disk, monkeypatch):
    fill(small_disk)
    trained = counting(monkeypatch)
    with pytest.raises(store.StoreError, match=rf"^{small_disk / 'checkpoints'}: no room for the records of 2 runs "
                                               r"\(No space left on device\); nothing was trained: free 0\.\d MiB"):
        sweep.train_many(narrow_sweep()[:2], small, root=small_disk, progress=False)
    assert trained == []


def test_a_checkpoint_that_cannot_be_written_is_skipped(small_disk, capsys):
    """Training goes on (one line) and the previous checkpoint stays whole."""
    import torch

    path = small_disk / "checkpoints" / "group.pt"
    checkpoint.save(path, {"epoch": 1})
    fill(small_disk)
    checkpoint.save(path, {"epoch": 2, "weights": torch.zeros(1 << 20)})
    assert capsys.readouterr().err == (f"could not save the checkpoint {path} (No space left on device); "
                                       "training goes on without it\n")
    assert sorted(p.name for p in path.parent.iterdir()) == ["group.pt"]
    assert torch.load(path, weights_only=True) == {"epoch": 1}


# -- an edited record -----------------------------------------------------------------------
def test_an_edited_record_fails_its_digest(tmp_path):
    """p2-best's final accuracy edited from 0.9845 to 0.9999: a number in range, in a sound record,
    but not the one it was stored with."""
    path = copy_records([committed()], tmp_path) / committed().name
    record = json.loads(path.read_text())
    final = record["history"]["eval_acc"][-1]
    assert f"{final:.4f}" != "0.9999"
    path.write_text(path.read_text().replace(json.dumps(final), "0.9999"))
    with pytest.raises(store.StoreError, match="its content does not match its content_sha256"):
        store.read(path)
    fault = one_line_fault(check(tmp_path), path)
    assert fault.endswith(f"restore it (git checkout -- {path}) or delete it and recompute it (python -m hw7 run NAME)")


def test_every_committed_record_keeps_its_digest_and_cpu():
    """The migration: every record carries the digest of its content and the CPU it was computed on."""
    for path in COMMITTED:
        record = json.loads(path.read_text())
        digest = record.get("content_sha256")
        redigest(record)
        assert digest == record["content_sha256"], path
        if record["finished"] < "2026-12-08":  # trained before records named their CPU: all on the AMD EPYC
            assert record["environment"]["cpu"].startswith("AMD EPYC (recorded afterwards") and \
                record["environment"]["libraries"] is None, path
        else:
            assert "recorded afterwards" not in record["environment"]["cpu"] and record["environment"]["libraries"]


def test_every_new_version_of_a_file_is_validated(tmp_path, monkeypatch):
    """An unchanged file is parsed once, but an edit that keeps its size and inode and even restores its
    modification time is read again (its change time differs); and a file changed just now is read
    again anyway, as its timestamps may not tell a second change within their resolution."""
    path = copy_records([committed()], tmp_path) / committed().name
    assert store.read(path) is not store.read(path)  # changed just now: read again
    monkeypatch.setattr(store, "RACY_NS", -10**18)  # as if it had been written long ago
    first = store.read(path)
    assert store.read(path) is first
    before = os.stat(path)
    text = path.read_text()
    final = json.dumps(json.loads(text)["history"]["eval_acc"][-1])
    edited = text.replace(final, final[:-1] + str((int(final[-1]) + 1) % 10))
    assert len(edited) == len(text)
    with open(path, "r+") as f:  # in place: the same inode
        f.write(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_ino == before.st_ino and os.stat(path).st_mtime_ns == before.st_mtime_ns
    with pytest.raises(store.StoreError, match="content_sha256"):
        store.read(path)


# -- unsound values ----------------------------------------------------------------------------
def edit(field: str, value):
    """A tampering that sets ``field`` (dotted: ``history.eval_acc.29``) to ``value``."""
    def apply(record):
        *parents, last = field.split(".")
        target = record
        for name in parents:
            target = target[int(name)] if isinstance(target, list) else target[name]
        if value is DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return apply


DELETE = object()


@pytest.mark.parametrize("tamper, fault", [
    (edit("history.eval_acc.29", 1.7), r"history.eval_acc\[29\] is 1.7, not a number in \[0, 1\]"),
    (edit("history.train_loss.0", -0.5), r"history.train_loss\[0\] is -0.5, not a number in \[0, inf\]"),
    (edit("history.eval_loss.3", "0.1"), r"history.eval_loss\[3\] is \"0.1\", not a number in \[0, inf\] or null"),
    (edit("history.grad_ratio.2", -1.0), r"history.grad_ratio\[2\] is -1.0"),
    (edit("history.grad_norms.4", [0.1]), r"history.grad_norms\[4\] is not a list of 2 layers' norms"),
    (edit("history.grad_norms.5.1", -0.1), r"history.grad_norms\[5\]\[1\] is -0.1, not a number in \[0, inf\]"),
    (edit("history.seconds.0", -3.0), r"history.seconds\[0\] is -3.0"),
    (edit("predictions.17", 42), "predictions are not 10000 digits 0 to 9"),
    (edit("predictions.17", 4.0), "predictions are not 10000 digits 0 to 9"),
    (lambda r: r["predictions"].pop(), "predictions are not 10000 digits 0 to 9"),
    (edit("environment.threads", DELETE), "environment lacks 'threads'"),
    (edit("environment.threads", "1"), "environment.threads has type str"),
    (edit("environment.cpu", ""), "environment.cpu is empty"),
    (edit("environment.device", "tpu"), "environment.device 'tpu' is not cpu or cuda"),
    (edit("diverged_epoch", 99), "diverged_epoch 99 is not an epoch of 30"),
    (edit("seconds", -1.0), "seconds and group_seconds must be numbers >= 0"),
    (edit("finished", "yesterday"), "finished 'yesterday' is not an ISO 8601 time"),
    (edit("data_sha256", "abc"), "data_sha256 is neither a SHA-256 digest nor 'unverified'"),
    (edit("note", "hand-edited"), "unknown field 'note'"),
    (lambda r: r["group"].append(r["key"]), "group is not a list of distinct run keys"),
    (edit("config.sizes", [784, 800.5, 10]), r"config.sizes is stored as \[784, 800.5, 10\], not as its config's"),
])
def test_unsound_values_are_refused_with_their_file(tmp_path, tamper, fault):
    """Deliberate edits that recompute the digest: each value out of its range or type is still refused,
    with one line naming the file, the field and the fix (`check` reports it; it never raises)."""
    path = copy_records([committed()], tmp_path) / committed().name
    record = json.loads(path.read_text())
    tamper(record)
    redigest(record)
    path.write_text(json.dumps(record))
    with pytest.raises(store.StoreError, match=fault):
        store.read(path)
    one_line_fault(check(tmp_path), path)


@pytest.mark.parametrize("text, fault", [
    ("NaN", "NaN is not a JSON number"), ("Infinity", "Infinity is not a JSON number"),
    ("-Infinity", "-Infinity is not a JSON number"), ("1e999", "the number 1e999 is out of range"),
])
def test_non_finite_numbers_are_refused(tmp_path, text, fault):
    """JSON has no NaN or infinity (the store writes null), though Python's parser would take them."""
    path = copy_records([committed()], tmp_path) / committed().name
    record = json.loads(path.read_text())
    final = json.dumps(record["history"]["eval_loss"][-1])
    path.write_text(path.read_text().replace(final, text))
    with pytest.raises(store.StoreError, match=f"not readable JSON \\({fault}\\)"):
        store.read(path)
    one_line_fault(check(tmp_path), path)


def test_deeply_nested_json_is_refused(tmp_path):
    path = tmp_path / "runs" / "0123456789abcdef.json"
    path.parent.mkdir()
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(store.StoreError, match="not readable JSON"):
        store.read(path)


# -- special and huge files ------------------------------------------------------------------
@contextlib.contextmanager
def deadline(seconds: int):
    """Fail, instead of hanging, if the block takes longer (a FIFO's open waits for a writer)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def make_special(kind: str, path: Path) -> str:
    """Make a ``kind`` of file at ``path``; return what the store calls it."""
    if kind == "fifo":
        os.mkfifo(path)
        return "not a regular file but a FIFO"
    if kind == "directory":
        path.mkdir()
        return "not a regular file but a directory"
    if kind == "device":
        path.symlink_to("/dev/zero")
        return "not a regular file but a character device"
    if kind == "socket":  # bound under a short name (a socket's path has at most 107 bytes), then moved
        short = Path(tempfile.mkdtemp(dir="/tmp")) / "s"
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(short))
        short.rename(path)
        short.parent.rmdir()
        return "not a regular file but a socket"
    if kind == "huge":
        with open(path, "wb") as f:
            f.truncate(store.MAX_RECORD_BYTES + 1)  # sparse: takes no room
        return f"{store.MAX_RECORD_BYTES + 1:,} bytes, more than the {store.MAX_RECORD_BYTES:,}"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))  # a picture named .json
    return "not readable JSON"


KINDS = ["fifo", "directory", "device", "socket", "huge", "binary"]


@pytest.mark.parametrize("kind", KINDS)
def test_special_and_huge_record_files_are_refused_at_once(tmp_path, kind):
    """`check` and `train` (which loads the record of its config) answer with one line at once."""
    config = RunConfig(lr=0.123)
    path = store.path_of(config, tmp_path)
    path.parent.mkdir(parents=True)
    what = make_special(kind, path)
    with deadline(20):
        assert what in one_line_fault(check(tmp_path), path)
        with pytest.raises(store.StoreError, match=f"^{path}: .*{what}"):
            store.load(config, tmp_path)


@pytest.mark.parametrize("name", ["optuna/problem2.log", "problem1.npz"])
def test_a_fifo_among_the_other_results_is_refused_at_once(tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    os.mkfifo(path)
    with deadline(20):
        report = check(tmp_path)
    (fault,) = report.faults
    assert fault.startswith(str(path)) and ("FIFO" in fault or "not a regular file" in fault) and "\n" not in fault


@pytest.mark.parametrize("kind", ["garbage", "list", "foreign", "wrong size", "fifo"])
def test_a_checkpoint_that_is_not_the_groups_is_ignored(small, tmp_path, monkeypatch, capsys, kind):
    """A file at the group's checkpoint path that is garbled, foreign (another group's), of another
    shape or not a file: one line says it was ignored, and the group trains from the start, bitwise
    as if it had not been there."""
    import torch

    configs = [RunConfig(epochs=3, batch_size=50, lr=lr, dropout=0.1) for lr in (0.1, 0.03)]
    keys = [store.key_of(c) for c in configs]
    whole = sweep.train_many(configs, small, root=tmp_path / "a", progress=False)
    path = store.checkpoint_path(keys, tmp_path / "b")
    path.parent.mkdir(parents=True)
    if kind in ("foreign", "wrong size"):  # a real checkpoint, stopped after epoch 1
        group = configs if kind == "wrong size" else [c.replace(lr=5 * c.lr) for c in configs]
        real = checkpoint.save

        def save_then_stop(where, state):
            real(where, state)
            raise KeyboardInterrupt

        monkeypatch.setattr(checkpoint, "save", save_then_stop)
        with pytest.raises(KeyboardInterrupt):
            sweep.train_many(group, small, root=tmp_path / "c", progress=False, checkpoint_every=0)
        monkeypatch.undo()
        state = torch.load(store.checkpoint_path([store.key_of(c) for c in group], tmp_path / "c"), weights_only=True)
        if kind == "wrong size":
            state["model"]["theta"] = state["model"]["theta"][:-1]
        torch.save(state, path)
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "list":
        torch.save([1, 2, 3], path)
    else:
        os.mkfifo(path)
    capsys.readouterr()
    with deadline(120):
        again = sweep.train_many(configs, small, root=tmp_path / "b", progress=False)
    err = capsys.readouterr().err
    assert err.startswith(f"ignored the checkpoint {path}: ") and err.endswith("; training from the start\n"), err
    assert err.count("\n") == 1 and [numbers(r) for r in again] == [numbers(r) for r in whole]


# -- another CPU -------------------------------------------------------------------------------
def test_environment_names_the_cpu_model_and_math_libraries():
    import torch

    from hw7.engine.trainer import environment

    env = environment(torch.device("cpu"))
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    assert env["cpu"] == (models[0] if models else env["processor"])
    assert env["libraries"]["torch"] == torch.__version__
    assert set(env["libraries"]) == {"torch", "torch_cpu_capability", "torch_blas", "mkl", "onednn", "numpy_blas",
                                     "cc"}
    assert store._environment_faults(env) == []


def last_bit(x: float) -> float:
    """``x`` (a float32 metric) with its last bit changed."""
    import numpy as np

    return float(np.nextafter(np.float32(x), np.float32(math.inf)))


def as_if_from(cpu: str, record: dict, root: Path, **history) -> None:
    """Store ``record`` again as computed on ``cpu`` (libraries unknown), with ``history`` values changed."""
    changed = {m: list(v) for m, v in record["history"].items()} | history
    store.save(record | {"environment": record["environment"] | {"cpu": cpu, "libraries": None},
                         "history": changed}, root, replace=True)


def test_records_of_another_cpu_are_compared_within_a_tolerance(small, tmp_path):
    """Three seeds of one config (the compiled epoch), stored as if computed on another CPU: a last-bit
    difference (what another CPU's evaluation products give) passes within the tolerance, a change as
    large as the spread between seeds (ten times the compiled epoch's tolerance) is a fault naming the
    metric; on this CPU the last bit counts."""
    configs = [RunConfig(epochs=1, batch_size=50, lr=0.1, seed=s, data_seed=s) for s in (0, 1, 2)]
    records = sweep.train_many(configs, small, root=tmp_path, progress=False)
    a, b, c = records
    as_if_from("Another CPU", a, tmp_path, eval_loss=[last_bit(a["history"]["eval_loss"][0])])
    as_if_from("Another CPU", b, tmp_path)
    report = Report()
    reproduce(store.all_records(tmp_path), report, small, root=tmp_path)
    assert report.faults == [] and (report.reproduced, report.tolerated) == (1, 2)
    assert 0 < report.worst < 1 and report.elsewhere == {"Another CPU"}

    spread = statistics.stdev(r["history"]["train_loss"][0] for r in records)  # a change of seed's
    as_if_from("Another CPU", b, tmp_path, train_loss=[b["history"]["train_loss"][0] + spread])
    store.save(c | {"history": c["history"] | {"eval_loss": [last_bit(c["history"]["eval_loss"][0])]}},
               tmp_path, replace=True)
    report = Report()
    reproduce(store.all_records(tmp_path), report, small, root=tmp_path)
    assert report.tolerated == 1 and len(report.faults) == 2
    beyond, bitwise = sorted(report.faults, key=lambda f: "beyond" not in f)
    assert beyond.startswith(f"{store.path_of(configs[1], tmp_path)}: first epoch differs beyond tolerance "
                             "(computed on Another CPU, compared on ") and "train_loss" in beyond
    assert bitwise.startswith(f"{store.path_of(configs[2], tmp_path)}: first epoch does not reproduce bitwise")


def test_the_tolerance_scales_with_the_seed_spread_of_each_engine():
    """On the committed records: a tenth of the spread between seeds for the compiled epoch, four times it
    for the torch-ops engine (whose first epoch on another CPU differs as much as a change of seed)."""
    records = store.all_records()
    tolerance = hw7_check.tolerances(records)
    by_setting = {}
    for r in records:
        c = dict(r["config"], seed=0, data_seed=0)
        by_setting.setdefault(json.dumps(c, sort_keys=True), []).append(r)
    compared = 0
    for group in by_setting.values():
        if len(group) < 3:
            continue
        values = [r["history"]["train_loss"][0] for r in group]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        fraction = hw7_check.SPREAD_FRACTION[group[0]["engine_version"]]
        for r in group:
            floor = hw7_check.FLOOR * r["history"]["train_loss"][0]
            assert tolerance[r["key"]]["train_loss"] == pytest.approx(max(fraction * sd, floor))
            compared += 1
    assert compared > 60


def test_a_stored_record_is_readable_by_every_user_the_umask_allows(tmp_path):
    """save writes through mkstemp, whose file is private (0600): a record must get the mode of an ordinary
    new file, or another user (a reviewer, CI as another account) cannot read the results."""
    record = json.loads(COMMITTED[0].read_text())
    old = os.umask(0o022)
    try:
        path = store.save(record, tmp_path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
