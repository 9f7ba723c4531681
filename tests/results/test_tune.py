"""The Optuna search: trials on the validation split, stored in a journal file or a PostgreSQL
database that several worker processes extend at once, without losing or repeating trials."""

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from hw7.__main__ import main as cli
from hw7.config import RunConfig
from hw7.results import tune
from tests.results.tune_worker import GRACE, SUBSET, storage, tiny_space

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture
def pg_url():
    """A fresh, empty database on the test server that `scripts/with-postgres` starts (CI: .ci/run)."""
    url = os.environ.get("HW7_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI runs the PostgreSQL tests: HW7_TEST_PG_URL is not set (run them through "
                        "scripts/with-postgres, as .ci/run does)")
        pytest.skip("no PostgreSQL: run `scripts/with-postgres .venv/bin/python -m pytest tests/results/test_tune.py`")
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"hw7_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["journal", "postgresql"])
def shared(request, tmp_path, monkeypatch):
    """Where the tiny study lives: a journal file, or a PostgreSQL database."""
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    return str(tmp_path / "tiny.log") if request.param == "journal" else request.getfixturevalue("pg_url")


def worker(url: str, *args: str, epochs: int = 2) -> subprocess.Popen:
    """``python -m hw7 tune tiny --storage url …`` (see tests/results/tune_worker.py) as a process."""
    return subprocess.Popen([sys.executable, "-m", "tests.results.tune_worker", "tune", "tiny", "--storage", url, *args],
                            cwd=tune.RESULTS.parent, env={**os.environ, "HW7_TINY_EPOCHS": str(epochs)})


def trials_of(store: optuna.storages.BaseStorage) -> list[optuna.trial.FrozenTrial]:
    if "tiny" not in optuna.get_all_study_names(store):
        return []
    return optuna.load_study(study_name="tiny", storage=store).trials


def wait_for_trial(store: optuna.storages.BaseStorage, pid: int, timeout: float = 120) -> optuna.trial.FrozenTrial:
    """The running trial of worker ``pid``, once it has one."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for t in trials_of(store):
            if t.state == TrialState.RUNNING and t.user_attrs.get("worker", "").endswith(f":{pid}"):
                return t
        time.sleep(0.2)
    raise TimeoutError(f"worker {pid} started no trial in {timeout} s")


def test_two_worker_processes_share_one_study(mnist, shared):
    start = time.monotonic()
    assert worker(shared, "--trials", "6", "--workers", "2").wait(timeout=300) == 0
    seconds = time.monotonic() - start
    trials = trials_of(storage(shared))
    assert [t.number for t in trials] == list(range(6))  # every trial recorded once, none lost
    assert all(t.state in FINISHED for t in trials), [t.state for t in trials]
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # two processes ...
    assert len({t.user_attrs["sampler_seed"] for t in trials}) == 2  # ... each with its own seed ...
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 6  # ... so no parameter set twice
    print(f"two workers, 6 trials on {'postgresql' if '://' in shared else 'a journal'}: {seconds:.1f} s")


def test_a_killed_worker_s_trial_is_failed_by_the_heartbeat_check(mnist, pg_url, monkeypatch):
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    shared, store = pg_url, storage(pg_url)
    slow = worker(shared, "--trials", "1", epochs=1000)  # one long trial
    survivor = None
    try:
        victim = wait_for_trial(store, slow.pid)
        survivor = worker(shared, "--trials", "1000", "--timeout", str(5 * GRACE))  # short trials, for 20 s
        wait_for_trial(store, survivor.pid)
        os.kill(slow.pid, signal.SIGKILL)
        killed_at = time.time()
        slow.wait()
        assert survivor.wait(timeout=300) == 0  # the surviving worker went on ...
    finally:
        slow.kill()
        if survivor:
            survivor.kill()
    trials = trials_of(store)
    dead = trials[victim.number]
    assert dead.state == TrialState.FAIL  # ... and failed the dead worker's trial, after the grace period
    import psycopg
    with psycopg.connect(pg_url) as db:  # Optuna's table of the last heartbeat per trial
        last_beat = db.execute("SELECT heartbeat FROM trial_heartbeats WHERE trial_id = %s",
                               (dead._trial_id,)).fetchone()[0]
    assert (dead.datetime_complete - last_beat).total_seconds() > GRACE  # silent for the grace period
    failed_after = dead.datetime_complete.timestamp() - killed_at
    others = [t for t in trials if t.number != victim.number]
    assert len(others) >= 2 and all(t.state in FINISHED for t in others), [t.state for t in trials]
    assert [t.number for t in trials] == list(range(len(trials)))
    print(f"kill -9: trial {victim.number} failed {failed_after:.1f} s later; "
          f"states {[t.state.name for t in trials]}")


def test_a_resumed_search_does_not_repeat_trials(mnist, tmp_path, monkeypatch):
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    journal = str(tmp_path / "tiny.log")
    first = tune.search("tiny", trials=2, storage=storage(journal), subset=SUBSET, seed=0)
    params = [t.params for t in first.trials]
    config = tune.best_config(first)
    assert config.eval_on == "val"  # tuned on the validation split ...
    assert all(c.eval_on == "test" for c in tune.final_configs(first))  # ... evaluated on test after
    tune.search("tiny", trials=1, storage=storage(journal), subset=SUBSET)  # a fresh seed
    again = tune.search("tiny", trials=1, storage=storage(journal), subset=SUBSET, seed=0)  # the same seed
    assert [t.state for t in again.trials] == [TrialState.COMPLETE] * 4
    assert [t.params for t in again.trials[:2]] == params
    assert len({tuple(sorted(t.params.items())) for t in again.trials}) == 4
    assert len({t.user_attrs["sampler_seed"] for t in again.trials}) == 3
    assert all(0.0 < t.value <= 1.0 for t in again.trials)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_journal_trial_is_stale_once_its_heartbeats_stop(tmp_path, monkeypatch):
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    journal = storage(str(tmp_path / "tiny.log"))
    s = tune.study("tiny", journal)
    alive, dead = journal.create_new_trial(s._study_id), journal.create_new_trial(s._study_id)
    journal.record_heartbeat(alive)
    journal.set_trial_system_attr(dead, "heartbeat", time.time() - GRACE - 1)  # its last, GRACE + 1 s ago
    assert journal._get_stale_trial_ids(s._study_id) == [dead]
    optuna.storages.fail_stale_trials(s)
    assert [t.state for t in s.trials] == [TrialState.RUNNING, TrialState.FAIL]
    journal.record_heartbeat(dead)  # a worker that was only slow, not dead, carries on


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_trial_left_running_without_heartbeats_is_failed(tmp_path, monkeypatch):
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    journal = storage(str(tmp_path / "tiny.log"))
    s = tune.study("tiny", journal)
    left = optuna.trial.create_trial(state=TrialState.RUNNING)  # by a search killed before trials sent heartbeats
    left.datetime_start -= datetime.timedelta(seconds=GRACE + 1)
    journal.create_new_trial(s._study_id, template_trial=left)
    assert [t.state for t in s.trials] == [TrialState.RUNNING]
    optuna.storages.fail_stale_trials(s)
    assert [t.state for t in s.trials] == [TrialState.FAIL]


def test_unknown_study():
    with pytest.raises(ValueError, match="unknown study"):
        tune.search("problem9", trials=1)


@pytest.mark.parametrize("argv, message", [
    (["problem9"], "unknown study 'problem9'; known studies: problem2, problem3"),
    (["../../x/evil"], "unknown study '../../x/evil'"),
    (["problem2", "--storage", "foo://bar"], "--storage foo://bar: unknown database kind 'foo'"),
    (["problem2", "--storage", "postgresql://me:s3cret@127.0.0.1:1/hw7"],
     "cannot open the database 'hw7' on 127.0.0.1:1 (connection failed"),
    (["problem2", "--workers", "0"], "--workers must be at least 1"),
    (["problem2", "--storage", "postgresql://me:s3cret@db-host:99x/hw7"],
     "--storage postgresql://…: the port '99x' of host 'db-host' is not a number"),
    (["problem2", "--copy-to", "copy.log"], "no study 'problem2' to copy: its storage holds none"),
    (["problem2", "--storage", "/proc/version"], "/proc/version: not an Optuna journal"),
    (["problem2", "--storage", "/tmp"], "/tmp: a folder, not a journal file"),
])
def test_bad_tune_commands_get_one_line_and_create_nothing(argv, message, tmp_path, monkeypatch):
    monkeypatch.setattr(tune, "RESULTS", tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit:
        cli(["tune", *argv, "--trials", "0"])
    assert message in str(exit.value.code) and "\n" not in str(exit.value.code)
    assert "s3cret" not in str(exit.value.code)  # never the password
    assert list(tmp_path.rglob("*")) == []  # no journal, no folder, inside results/ or out


def test_trials_is_required(capsys, monkeypatch):
    monkeypatch.setattr(tune, "main", lambda args: pytest.fail("tuned"))
    with pytest.raises(SystemExit) as exit:
        cli(["tune", "problem2"])
    assert exit.value.code == 2 and "the following arguments are required: --trials" in capsys.readouterr().err


def test_trials_0_prints_the_progress_and_writes_nothing(tmp_path, capsys, monkeypatch):
    committed = tune.RESULTS / "optuna" / "problem3.log"  # a search with a trial left running
    monkeypatch.setattr(tune, "RESULTS", tmp_path / "results")
    cli(["tune", "problem2", "--trials", "0"])  # the default journal, which does not exist
    (tmp_path / "empty.log").touch()
    cli(["tune", "problem2", "--storage", str(tmp_path / "empty.log"), "--trials", "0"])
    assert capsys.readouterr().out == "problem2: 0 trials (none)\n" * 2
    assert [p.name for p in tmp_path.rglob("*")] == ["empty.log"] and (tmp_path / "empty.log").stat().st_size == 0
    journal = tmp_path / "problem3.log"
    journal.write_bytes(committed.read_bytes())
    digest = sha256(journal)
    cli(["tune", "problem3", "--storage", str(journal), "--trials", "0"])
    assert capsys.readouterr().out.startswith("problem3: ") and sha256(journal) == digest
    assert sorted(tmp_path.iterdir()) == [tmp_path / "empty.log", journal]  # no lock, no side file


@pytest.mark.parametrize("trials", ["0", "1"])
def test_a_storage_file_that_is_no_journal_is_refused_by_name(trials, tmp_path, monkeypatch):
    monkeypatch.setattr(tune, "search", lambda *a, **k: pytest.fail("searched"))
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(SystemExit) as exit:
        cli(["tune", "problem2", "--storage", str(text), "--trials", trials])
    assert str(exit.value.code) == (f"error: {text}: not an Optuna journal (its first line is no Optuna log entry); "
                                    "fix: --storage a journal file, or a new file to start one")
    assert text.read_text() == "hello\n"


@pytest.mark.parametrize("path, message", [("/tmp", "/tmp: a folder, not a journal file"),
                                           ("/proc/version", "/proc/version: not an Optuna journal")])
def test_a_storage_that_is_no_journal_file_is_refused_before_a_search(path, message, monkeypatch):
    monkeypatch.setattr(tune, "search", lambda *a, **k: pytest.fail("searched"))
    with pytest.raises(SystemExit) as exit_:
        cli(["tune", "problem2", "--storage", path, "--trials", "1"])
    assert str(exit_.value.code).startswith(f"error: {message}") and "\n" not in str(exit_.value.code)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_chapters_readers_agree_on_a_database_copy_of_a_search(pg_url, tmp_path, capsys):
    committed = tune.RESULTS / "optuna" / "problem2.log"
    digest = sha256(committed)
    cli(["tune", "problem2", "--trials", "0", "--copy-to", pg_url])  # the committed search into the database
    exported = tmp_path / "problem2.log"
    cli(["tune", "problem2", "--storage", pg_url, "--trials", "0", "--copy-to", str(exported)])  # and back
    assert "problem2: 20 trials (11 complete, 9 pruned)" in capsys.readouterr().out
    assert sha256(committed) == digest  # reading a journal never writes to it
    studies = [tune.load("problem2", tune.holding("problem2", url)) for url in (str(committed), pg_url, str(exported))]
    reference, *copies = studies
    for s in copies:
        pd.testing.assert_frame_equal(tune.trials_frame(s), tune.trials_frame(reference))
        assert tune.chosen_trial(s).number == tune.chosen_trial(reference).number
        assert tune.final_configs(s) == tune.final_configs(reference)
        pd.testing.assert_series_equal(tune.importances(s), tune.importances(reference))
        assert tune.enqueued(s) == tune.enqueued(reference)
    with pytest.raises(SystemExit, match="problem2.log exists; move it away first"):
        cli(["tune", "problem2", "--storage", pg_url, "--trials", "0", "--copy-to", str(exported)])
    with pytest.raises(SystemExit, match="already holds study 'problem2'"):
        cli(["tune", "problem2", "--trials", "0", "--copy-to", pg_url])


def test_workers_share_the_trials():  # run as processes by test_two_worker_processes_share_one_study
    args = argparse.Namespace(study="problem2", trials=7, workers=3, threads=1, storage="x.log",
                              timeout=None, seed=5)
    commands = tune.worker_commands(args)
    assert commands[0][:6] == [sys.executable, "-m", "hw7", "tune", "problem2", "--threads"]
    assert [c[c.index("--trials") + 1] for c in commands] == ["3", "2", "2"]
    assert [c[c.index("--seed") + 1] for c in commands] == ["5", "6", "7"]


def test_one_standard_error_rule_picks_the_cheapest_near_the_best():
    s = optuna.create_study(direction="maximize")
    for value, seconds in [(0.9833, 1000.0), (0.9825, 200.0), (0.9830, 300.0), (0.9700, 10.0)]:
        s.add_trial(optuna.trial.create_trial(value=value, user_attrs={"seconds": seconds}))
    assert tune.standard_error(0.9833) == pytest.approx(0.00128, abs=1e-5)
    assert tune.chosen_trial(s).value == 0.9825  # within 0.0013 of the best, and the cheapest there
    with pytest.raises(ValueError, match="no complete trial"):
        tune.chosen_trial(optuna.create_study())


def exploding_space(trial: optuna.Trial) -> RunConfig:
    return RunConfig(sizes=(784, 16, 10), activation="relu", batch_size=100, epochs=2,
                     lr=trial.suggest_float("sgd_lr", 1e6, 1e7, log=True), eval_on="val")


def test_a_diverging_trial_scores_zero_and_is_flagged(mnist, tmp_path, monkeypatch):
    monkeypatch.setitem(tune.SPACES, "explode", exploding_space)
    s = tune.search("explode", trials=1, storage=tune.storage_for("explode", str(tmp_path / "x.log")), subset=500)
    frame = tune.trials_frame(s)
    assert s.trials[0].value == 0.0 and s.trials[0].user_attrs["diverged_epoch"] is not None
    assert frame["diverged"].tolist() == [True]


def two_trials(journal, monkeypatch) -> bytes:
    """A journal of two complete trials of the tiny study, searched with a stand-in objective (no training)."""
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    monkeypatch.setattr(tune, "objective", lambda space, subset=None, attrs=None: lambda trial: space(trial).lr)
    tune.search("tiny", trials=2, storage=storage(str(journal)), seed=0)
    return journal.read_bytes()


@pytest.fixture
def small_disk(tmp_path):
    """``mount(size)``: a folder on a real filesystem of that size (a tmpfs, mounted for the test; needs root)."""
    mounted = []

    def mount(size: str):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs of {size} ({done.stderr.strip()}): the full-disk tests need root")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def fill(disk, journal) -> None:
    """Use up ``disk``: first the room left in the journal's last block (with a trial attribute, so that the
    journal stays whole), then every free block, so that the journal's next append fails (ENOSPC)."""
    block = os.statvfs(disk).f_bsize
    s = optuna.load_study(study_name="tiny", storage=storage(str(journal)))
    trial = s.trials[-1]._trial_id
    before = journal.stat().st_size
    s._storage.set_trial_user_attr(trial, "pad", "")
    line = journal.stat().st_size - before  # the entry of an empty pad
    s._storage.set_trial_user_attr(trial, "pad", "x" * ((-journal.stat().st_size - line) % block))
    assert journal.stat().st_size % block == 0
    with pytest.raises(OSError, match="No space left"), open(disk / "filler", "wb", buffering=0) as f:
        while True:
            f.write(b"x" * block)


def whole(journal) -> list[dict]:
    """The journal's entries, asserting that every line is whole."""
    data = journal.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def test_a_full_disk_mid_search_ends_in_one_line_and_leaves_the_journal_whole(small_disk, monkeypatch, capfd):
    disk = small_disk("2m")
    journal = disk / "tiny.log"
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)

    def objective(space, subset=None, attrs=None):
        def run(trial):
            lr = space(trial).lr
            if trial.number == 1:
                fill(disk, journal)
            trial.report(lr, 0)  # the write that finds the disk full
            return lr
        return run

    monkeypatch.setattr(tune, "objective", objective)
    with pytest.raises(SystemExit) as exit_:
        cli(["tune", "tiny", "--storage", str(journal), "--trials", "3"])
    assert exit_.value.code == (f"error: {journal}: cannot append to the journal (No space left on device), so "
                                "nothing was written; fix: free space on its disk (or make it writable), then "
                                "resume the search")
    assert capfd.readouterr().err == ""  # neither Optuna's warnings nor tracebacks
    entries = whole(journal)
    (disk / "filler").unlink()
    cli(["tune", "tiny", "--storage", str(journal), "--trials", "1"])  # resumed, on a whole line
    assert whole(journal)[:len(entries)] == entries
    assert [t.state for t in tune.load("tiny", tune.snapshot(journal)).trials] == [
        TrialState.COMPLETE, TrialState.RUNNING, TrialState.COMPLETE]  # the cut trial fails after GRACE


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_heartbeat_on_a_full_disk_is_skipped_and_writes_nothing(small_disk, monkeypatch):
    disk = small_disk("2m")
    journal = disk / "tiny.log"
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    store = storage(str(journal))
    trial = store.create_new_trial(tune.study("tiny", store)._study_id)
    fill(disk, journal)
    before = journal.read_bytes()
    store.record_heartbeat(trial)
    assert journal.read_bytes() == before


def test_a_search_does_not_start_on_a_nearly_full_disk(small_disk, monkeypatch):
    disk = small_disk("64k")
    monkeypatch.setattr(tune, "search", lambda *a, **k: pytest.fail("searched"))
    with pytest.raises(SystemExit) as exit_:
        cli(["tune", "problem2", "--storage", str(disk / "problem2.log"), "--trials", "1"])
    assert exit_.value.code == (f"error: {disk}: 64 KiB free, less than a search needs for its journal "
                                f"{disk / 'problem2.log'} (1024 KiB); fix: free space there, or --storage a file "
                                "on another disk")
    assert list(disk.iterdir()) == []


@pytest.mark.parametrize("cut, why", [(-40, "no newline at its end"), (None, "not a journal entry")])
def test_a_torn_last_line_is_set_aside_before_a_search_appends(cut, why, tmp_path, monkeypatch, capsys):
    journal = tmp_path / "tiny.log"
    data = two_trials(journal, monkeypatch)
    torn = data[:cut] if cut else data + b'{"op_code":7,"trial_id":1,"st\n'  # a write cut off, a garbled one
    journal.write_bytes(torn)
    line = torn.count(b"\n") + (cut is not None)
    cli(["tune", "tiny", "--storage", str(journal), "--trials", "1"])
    side, = tmp_path.glob("tiny.log.torn-*")
    assert side.read_bytes() == torn[torn.rindex(b"\n", 0, len(torn) - 1) + 1:]
    assert capsys.readouterr().err == (f"warning: {journal}:{line}: torn last line ({why}: a write was cut off) "
                                       f"set aside into {side.name}; the search goes on from the line before\n")
    assert journal.read_bytes().startswith(torn[:len(torn) - len(side.read_bytes())])
    whole(journal)
    assert len(tune.load("tiny", tune.snapshot(journal)).trials) == 3


@pytest.fixture
def committed(tmp_path, monkeypatch):
    """``results/optuna/`` of a copy of the results (what ``tune.load`` reads for the report)."""
    monkeypatch.setattr(tune, "RESULTS", tmp_path / "results")
    folder = tmp_path / "results" / "optuna"
    shutil.copytree(COMMITTED.parent, folder)
    return folder


COMMITTED = tune.RESULTS / "optuna" / "problem2.log"


def test_the_report_refuses_a_journal_cut_at_a_line_boundary(committed, capsys):
    journal = committed / "problem2.log"
    lines = COMMITTED.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]))  # the last operation, trial 19's end, is lost
    fault = (f"{journal}: trial 19 of study 'problem2' is still running, yet no search is (one was killed, or the "
             f"journal was cut); fix: restore the journal (git checkout -- {journal}), or resume the search "
             "(python -m hw7 tune problem2 --trials N), which fails the trial")
    with pytest.raises(tune.JournalError) as error:
        tune.load("problem2")
    assert str(error.value) == fault
    assert tune.journal_faults(journal) == [fault]
    cli(["tune", "problem2", "--trials", "0"])  # a live search has running trials: its progress shows them
    assert capsys.readouterr().out.startswith("problem2: 20 trials (1 running, 10 complete, 9 pruned); ")


def test_the_report_names_the_file_and_line_of_a_journal_it_cannot_read(committed):
    journal = committed / "problem2.log"
    lines = COMMITTED.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:4] + [b'{"op_code":5,"tri\n'] + lines[5:]))
    fault = f"{journal}:5: not a journal entry; fix: restore the journal (git checkout -- {journal})"
    with pytest.raises(tune.JournalError, match=re.escape(fault)):
        tune.load("problem2")
    assert tune.journal_faults(journal) == [fault]
    journal.write_bytes(b"".join(lines)[:-30])  # torn: Optuna would read 20 trials, one of them running
    fault = (f"{journal}:{len(lines)}: torn last line (no newline at its end: a write was cut off); fix: restore "
             f"the journal (git checkout -- {journal}), or resume its search, which sets the line aside")
    with pytest.raises(tune.JournalError, match=re.escape(fault)):
        tune.load("problem2")
    assert tune.journal_faults(journal) == [fault]
    assert tune.journal_faults(COMMITTED) == []


def test_reading_a_study_creates_no_journal(tmp_path, monkeypatch):
    """``train`` of a config in no experiment reads both studies (are their configs its own?); with no
    results/optuna/ that creates nothing, so that ``check`` finds no empty journal afterwards."""
    from hw7.results import sweep

    monkeypatch.setattr(tune, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    with pytest.raises(ValueError, match="no study 'problem2' yet"):
        tune.load("problem2")
    class Trained(Exception):
        pass

    def train_many(configs, universe, **kw):
        assert universe is None  # in no experiment
        raise Trained

    monkeypatch.setattr(sweep, "train_many", train_many)
    with pytest.raises(Trained):
        cli(["train", "--sizes", "784", "7", "10", "--epochs", "1"])
    assert list(tmp_path.rglob("*")) == [tmp_path / "results"]


@contextlib.contextmanager
def within(seconds: int):
    """Fail the block if it takes longer (a read of a FIFO would block forever)."""
    def expire(*_):
        raise TimeoutError(f"blocked for {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_fifo_in_place_of_a_journal_is_refused_at_once(committed, monkeypatch):
    journal = committed / "problem2.log"
    journal.unlink()
    os.mkfifo(journal)
    monkeypatch.setattr(tune, "search", lambda *a, **k: pytest.fail("searched"))
    fault = (f"{journal}: a FIFO, not a journal file; fix: remove it (git checkout restores a committed journal), "
             "or name another --storage file")
    with within(10):
        with pytest.raises(tune.JournalError, match=re.escape(fault)):
            tune.load("problem2")
        assert tune.journal_faults(journal) == [fault]
        for trials in ("0", "1"):
            with pytest.raises(SystemExit) as exit_:
                cli(["tune", "problem2", "--trials", trials])
            assert exit_.value.code == f"error: {fault}"


def test_a_huge_file_or_one_that_is_no_journal_is_refused(committed):
    journal = committed / "problem2.log"
    with open(journal, "r+b") as f:
        f.truncate(300 << 20)  # sparse: 300 MiB that take no disk
    start = time.monotonic()
    with pytest.raises(tune.JournalError, match=re.escape(f"{journal}: 300 MiB, more than a journal of this "
                                                          "project holds (256 MiB at most)")):
        tune.load("problem2")
    assert time.monotonic() - start < 1
    shutil.copy(COMMITTED.parents[2] / "figures" / "p1-contour.png", journal)
    with pytest.raises(tune.JournalError, match=re.escape(f"{journal}: not an Optuna journal")):
        tune.load("problem2")


def test_copy_to_a_folder_that_cannot_be_written_is_refused_before_the_search(tmp_path, monkeypatch):
    monkeypatch.setattr(tune, "search", lambda *a, **k: pytest.fail("searched"))
    with pytest.raises(SystemExit) as exit_:
        cli(["tune", "problem2", "--storage", str(tmp_path / "p2.log"), "--trials", "1", "--copy-to", "/proc/x.log"])
    assert str(exit_.value.code).startswith("error: --copy-to /proc/x.log: cannot write in /proc (")
    assert str(exit_.value.code).endswith("); fix: copy into a folder you can write")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_a_search_is_one_line_and_fails_the_trial(mnist, tmp_path, monkeypatch):
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    journal = str(tmp_path / "tiny.log")
    proc = subprocess.Popen([sys.executable, "-m", "tests.results.tune_worker", "tune", "tiny", "--storage", journal,
                             "--trials", "1"], cwd=tune.RESULTS.parent, env={**os.environ, "HW7_TINY_EPOCHS": "1000"},
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal's
    try:
        wait_for_trial(storage(journal), proc.pid)
        proc.send_signal(signal.SIGINT)  # Ctrl-C, mid-trial
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 130 and err == "interrupted\n"
    assert [t.state for t in trials_of(storage(journal))] == [TrialState.FAIL]
