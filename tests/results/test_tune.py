"""The Optuna search: trials on the validation split, stored in a journal file or a PostgreSQL
database that several worker processes extend at once, without losing or repeating trials."""

import argparse
import hashlib
import os
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
def test_a_trial_left_running_without_heartbeats_is_failed(tmp_path):
    journal = tmp_path / "problem3.log"
    journal.write_bytes((tune.RESULTS / "optuna" / "problem3.log").read_bytes())
    s = tune.study("problem3", tune.storage_for("problem3", str(journal)))
    running = [t.number for t in s.trials if t.state == TrialState.RUNNING]
    assert len(running) == 1  # left by a search killed before trials sent heartbeats
    optuna.storages.fail_stale_trials(s)
    assert [t.number for t in s.trials if t.state == TrialState.FAIL] == running


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
    studies = [tune.load("problem2", tune.storage_for("problem2", url)) for url in (str(committed), pg_url, str(exported))]
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
