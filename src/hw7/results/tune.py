"""Hyperparameter search with Optuna, on the validation split only.

Each study lives in an Optuna storage: by default a ``JournalStorage`` text file
under ``results/optuna/`` (committed, so the chapters read the search instead of
re-running it, and a killed search resumes where it stopped). Several processes
may search one study at once: on one machine they share the journal file; on
several machines they share a database, ``--storage postgresql://user:pass@host/db``
(Optuna's own distributed mode). Either way each process samples with its own seed
(recorded in every trial), TPE's constant liar keeps concurrent workers apart, and a
running trial sends heartbeats, so that a worker that died is noticed and its trial
marked failed by the others after a grace period.

Nothing half-written enters a journal: an append that fails (a full disk) is cut back off, a
search starts only with free space, and a torn last line (a write cut off by a killed process)
is set aside into ``<journal>.torn-<time>`` before anything is appended. The report reads a
journal into memory, writing nothing, and refuses any fault of it, a trial left running included
(``journal_faults``).

Trials train on the 50,000 fit images and report the validation accuracy after
every epoch; the median pruner stops trials that fall behind. The test set is
never seen here: the best trial's config is evaluated on it afterwards
(``final_configs``), over several seeds.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
from tqdm import TqdmWarning

with warnings.catch_warnings():  # optuna imports tqdm.auto, which warns inside a notebook without ipywidgets
    warnings.simplefilter("ignore", TqdmWarning)
    import optuna
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend, JournalStorage
from optuna.storages.journal._file import get_lock_file
from optuna.trial import TrialState

from hw7.config import RunConfig
from hw7.results.store import RESULTS

SEEDS = (0, 1, 2)
N_VAL = 10_000  # size of the validation split the trials are scored on
HEARTBEAT = 60  # seconds between the heartbeats of a running trial
GRACE = 180  # a running trial silent this long has lost its worker: it is marked failed
MAX_JOURNAL = 256 << 20  # bytes; a larger file is no journal of this project (problem3's holds 0.24 MB)
MIN_FREE = 1 << 20  # bytes free on a journal's disk for a search to start (a trial writes a few KB)
FILE_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
              stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


def suggest_optimizer(trial: optuna.Trial, sgd_lr: tuple[float, float], adam_lr: tuple[float, float]) -> dict:
    """Optimizer, its learning rate and momentum or betas, and the schedule, as RunConfig fields."""
    kw = {"optimizer": trial.suggest_categorical("optimizer", ["sgd", "adam"])}
    if kw["optimizer"] == "sgd":
        kw["lr"] = trial.suggest_float("sgd_lr", *sgd_lr, log=True)
        kw["momentum"] = trial.suggest_float("momentum", 0.5, 0.99)
    else:
        kw["lr"] = trial.suggest_float("adam_lr", *adam_lr, log=True)
        kw["betas"] = (trial.suggest_float("beta1", 0.8, 0.95), trial.suggest_categorical("beta2", [0.99, 0.999]))
    kw["schedule"] = trial.suggest_categorical("schedule", ["none", "step", "cosine"])
    if kw["schedule"] == "step":
        kw["step_size"] = trial.suggest_int("step_size", 2, 10)
        kw["gamma"] = trial.suggest_float("gamma", 0.3, 0.9)
    return kw


def space_problem2(trial: optuna.Trial) -> RunConfig:
    """One hidden layer: width, activation, optimizer and its knobs, batch, decay, schedule, epochs, dropout."""
    kw = suggest_optimizer(trial, sgd_lr=(1e-3, 0.5), adam_lr=(1e-4, 1e-2))
    return RunConfig(
        sizes=(784, trial.suggest_int("width", 32, 1024, log=True), 10),
        activation=trial.suggest_categorical("activation", ["sigmoid", "relu", "tanh"]),
        init="xavier_normal",
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        batch_size=trial.suggest_categorical("batch_size", [16, 32, 64, 128, 256]),
        weight_decay=trial.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
        epochs=trial.suggest_int("epochs", 10, 30),
        eval_on="val", **kw)


def tapered(first: int, shrink: float, depth: int) -> tuple[int, ...]:
    """Hidden widths that narrow steadily from ``first`` by ``shrink`` per layer (at least 32)."""
    return tuple(max(32, round(first * shrink ** i)) for i in range(depth))


def space_problem3(trial: optuna.Trial) -> RunConfig:
    """Deep dense nets narrowing from 784 to 10: depth, widths, init, regularization, optimizer."""
    kw = suggest_optimizer(trial, sgd_lr=(1e-3, 0.3), adam_lr=(1e-4, 5e-3))
    hidden = tapered(trial.suggest_int("width", 256, 1536, log=True), trial.suggest_float("shrink", 0.25, 1.0),
                     trial.suggest_int("depth", 2, 5))
    return RunConfig(
        sizes=(784, *hidden, 10), activation="relu",
        init=trial.suggest_categorical("init", ["kaiming_uniform", "xavier_normal"]),
        dropout=trial.suggest_float("dropout", 0.0, 0.5),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        weight_decay=trial.suggest_float("weight_decay", 1e-7, 1e-3, log=True),
        epochs=trial.suggest_int("epochs", 10, 30),
        eval_on="val", **kw)


SPACES: dict[str, Callable[[optuna.Trial], RunConfig]] = {"problem2": space_problem2, "problem3": space_problem3}

# Starting points from the literature, tried first (Optuna's enqueue_trial): a wide
# one-hidden-layer ReLU net with SGD or ADAM and dropout (Simard et al. 2003;
# Srivastava et al. 2014), and a tapered deep ReLU net.
KNOWN_GOOD = {
    "problem2": [
        {"optimizer": "sgd", "sgd_lr": 0.05, "momentum": 0.9, "schedule": "cosine", "width": 800,
         "activation": "relu", "dropout": 0.2, "batch_size": 64, "weight_decay": 1e-5, "epochs": 30},
        {"optimizer": "adam", "adam_lr": 0.001, "beta1": 0.9, "beta2": 0.999, "schedule": "cosine",
         "width": 1024, "activation": "relu", "dropout": 0.3, "batch_size": 128, "weight_decay": 1e-6,
         "epochs": 30}],
    "problem3": [
        {"optimizer": "sgd", "sgd_lr": 0.05, "momentum": 0.9, "schedule": "cosine", "width": 1024,
         "shrink": 0.5, "depth": 3, "init": "kaiming_uniform", "dropout": 0.2, "batch_size": 128,
         "weight_decay": 1e-5, "epochs": 30}],
}


def check_study(name: str) -> None:
    """Refuse a study that is not one of ``SPACES`` (its name becomes a file name under results/)."""
    if name not in SPACES:
        raise ValueError(f"unknown study {name!r}; known studies: {', '.join(sorted(SPACES))}")


class JournalError(ValueError):
    """A journal file that cannot be read or written as one; the message names the file (and line) and the fix."""


class JournalFile(JournalFileBackend):
    """Optuna's journal file, whose appends are all or nothing: an append that fails (a full disk) is cut
    back off under the lock, so that the file always ends with a whole entry, and is one ``JournalError``."""

    def append_logs(self, logs: list[dict]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        try:
            with get_lock_file(self._lock), open(self._file_path, "ab", buffering=0) as f:
                end = f.seek(0, os.SEEK_END)
                try:
                    written = 0
                    while written < len(data):
                        written += f.write(data[written:])
                    os.fsync(f.fileno())
                except OSError:
                    f.truncate(end)
                    raise
        except OSError as exc:
            raise JournalError(f"{self._file_path}: cannot append to the journal ({exc.strerror}), so nothing was "
                               "written; fix: free space on its disk (or make it writable), then resume the "
                               "search") from None


class HeartbeatJournal(JournalStorage, optuna.storages._heartbeat.BaseHeartbeat):
    """A journal file whose running trials send heartbeats, as an RDB storage's do.

    Optuna implements heartbeats only for ``RDBStorage``; its optimize loop sends and
    checks them for any storage that is a ``BaseHeartbeat``, which this class makes a
    journal: a heartbeat is the time, written as a system attribute of the trial. A
    running trial without one (its worker died before the first, or predates them)
    counts from its start. Wall clocks are compared, so the processes sharing a journal
    should be on one machine (or on machines whose clocks agree well within ``grace``).
    """

    def __init__(self, backend: JournalFile, heartbeat: int, grace: int) -> None:
        super().__init__(backend)
        self.heartbeat, self.grace = heartbeat, grace

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, "heartbeat", time.time())
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker took this trial for dead and failed it
        except JournalError:
            pass  # a full disk: the trial's own next write reports it

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
                if now - t.system_attrs.get("heartbeat", t.datetime_start.timestamp()) > self.grace]

    def get_heartbeat_interval(self) -> int:
        return self.heartbeat

    def get_heartbeat_stale_trial_callback(self) -> None:
        return None


def database(url: str, heartbeat: int, grace: int) -> optuna.storages.RDBStorage:
    """An RDB storage at ``url``; any fault is a one-line ``ValueError`` that names the host
    (never the password). ``postgresql://`` means the psycopg driver this project installs."""
    import sqlalchemy  # here, not at the top: only a database URL needs it (a journal file does not)
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"--storage {url.split('://')[0]}://…: not a database URL; use "
                         "postgresql://user:password@host/database or a journal file path") from None
    except ValueError:  # SQLAlchemy's int() of the port; its URL pattern, to name the host and port only
        host, port = re.match(r"[\w+]+://(?:[^:/]*(?::[^@]*)?@)?(\[[^/?]+\]|[^/:?]*)(?::([^/?]*))?",
                              url).groups()
        raise ValueError(f"--storage {url.split('://')[0]}://…: the port {port!r} of host {host!r} is not a "
                         "number; fix the URL: postgresql://user:password@host:port/database (port: e.g. 5432, "
                         "or leave it out)") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    shown = u.render_as_string(hide_password=True)
    try:
        u.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise ValueError(f"--storage {shown}: unknown database kind {u.get_backend_name()!r}; use "
                         "postgresql://user:password@host/database or a journal file path") from None
    kwargs = {"connect_args": {"connect_timeout": 10}} if u.get_backend_name() == "postgresql" else {}
    try:
        for attempt in range(3):
            try:
                with warnings.catch_warnings():  # heartbeat_interval is "experimental" (since Optuna 2.9)
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(u.render_as_string(hide_password=False), engine_kwargs=kwargs,
                                                      heartbeat_interval=heartbeat, grace_period=grace)
            except sqlalchemy.exc.IntegrityError:
                # Workers starting at once on an empty database race to create Optuna's tables:
                # the losers fail on a duplicate, then find the tables there.
                if attempt == 2:
                    raise
                time.sleep(1 + attempt)
    except ImportError as exc:
        missing = getattr(exc.__cause__, "name", None) or exc.name  # Optuna re-raises SQLAlchemy's
        fix = ("pip install -r requirements.txt" if u.get_backend_name() == "postgresql" else
               "pip install it, or use postgresql:// (this project installs its driver, psycopg)")
        raise ValueError(f"--storage {shown}: its driver ({missing}) is not installed; fix: {fix}") from None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if u.password:
            reason = reason.replace(u.password, "***")
        where = f"{u.host or 'localhost'}{f':{u.port}' if u.port else ''}"  # what the fix is about
        raise ValueError(f"cannot open the database {u.database!r} on {where} ({reason}); fix: start PostgreSQL "
                         f"there, create the user and database (README, 'Several machines, one search'), "
                         f"or correct the URL") from None


def journal_path(study: str, url: str | None = None, root: Path | None = None) -> Path | None:
    """The journal file of ``--storage url`` (default: the study's in ``results/optuna/``); None for a database."""
    if url and "://" in url:
        return None
    return Path(url) if url else (root or RESULTS) / "optuna" / f"{study}.log"


def no_study(name: str) -> ValueError:
    """The error of reading a study that has not been started."""
    return ValueError(f"no study {name!r} yet: run `python -m hw7 tune {name} --trials N`")


def unreadable(path: Path, exc: OSError) -> JournalError:
    """The error of a journal file that cannot be opened (no permission, a file in place of a folder)."""
    return JournalError(f"{path}: cannot read it ({exc.strerror}); fix: make it readable for this user, "
                        "or name another --storage file")


def read_journal(path: Path) -> bytes:
    """The bytes of the journal file ``path``; ``FileNotFoundError`` if there is none. Anything but a regular
    file of at most ``MAX_JOURNAL`` bytes is refused at once (``JournalError``): a FIFO would block its reader."""
    fix = "fix: remove it (git checkout restores a committed journal), or name another --storage file"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting for a writer
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise unreadable(path, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise JournalError(f"{path}: {kind}, not a journal file; {fix}")
        if info.st_size > MAX_JOURNAL:
            raise JournalError(f"{path}: {info.st_size >> 20} MiB, more than a journal of this project holds "
                               f"({MAX_JOURNAL >> 20} MiB at most); {fix}")
        with open(fd, "rb", closefd=False) as f:
            return f.read(MAX_JOURNAL + 1)
    finally:
        os.close(fd)


class Torn(NamedTuple):
    """A journal's last line that a cut-off write left: where it starts, its line number, what is wrong."""
    offset: int
    line: int
    why: str


def _entry(line: bytes) -> dict | None:
    try:
        entry = json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        return None
    return entry if isinstance(entry, dict) and "op_code" in entry else None


def scan(path: Path, data: bytes) -> tuple[list[dict], list[str], Torn | None]:
    """A journal's entries, its unreadable lines (``file:line: …``) and its torn last line (one without a
    newline, or not an entry), if any. ``JournalError`` if its first line is no Optuna log entry: it is
    no journal (and nothing of it is ever set aside)."""
    *whole, tail = data.split(b"\n")  # tail: what follows the last newline, b"" if the file ends whole
    first = whole[0] if whole else tail
    if first and _entry(first) is None:
        raise JournalError(f"{path}: not an Optuna journal (its first line is no Optuna log entry); "
                           "fix: --storage a journal file, or a new file to start one")
    entries = [_entry(line) for line in whole]
    torn = None
    if tail:
        torn = Torn(len(data) - len(tail), len(whole) + 1, "no newline at its end")
    elif entries and entries[-1] is None:
        torn = Torn(len(data) - len(whole[-1]) - 1, len(whole), "not a journal entry")
        entries.pop()
    faults = [f"{path}:{number}: not a journal entry; fix: restore the journal (git checkout -- {path})"
              for number, entry in enumerate(entries, 1) if entry is None]
    return [e for e in entries if e is not None], faults, torn


class _Entries(BaseJournalBackend):
    """Entries already read from a journal file, replayed in memory: a storage that writes nothing."""

    def __init__(self, entries: list[dict]) -> None:
        self.entries, self.line = entries, 0  # line: of the entry last handed to Optuna

    def read_logs(self, log_number_from: int):
        for self.line in range(log_number_from + 1, len(self.entries) + 1):
            yield self.entries[self.line - 1]

    def append_logs(self, logs: list[dict]) -> None:
        raise JournalError("a journal read for the report is never written to")


def replay(path: Path, entries: list[dict]) -> JournalStorage:
    """The entries replayed by Optuna into a read-only storage; ``JournalError`` naming a line it rejects."""
    backend = _Entries(entries)
    try:
        return JournalStorage(backend)
    except Exception as exc:  # whatever Optuna rejects: an unknown operation, a trial that does not exist
        raise JournalError(f"{path}:{backend.line}: Optuna cannot replay this entry ({type(exc).__name__}: "
                           f"{exc}); fix: restore the journal (git checkout -- {path})") from None


def snapshot(path: Path) -> JournalStorage:
    """The journal file ``path`` as a live search leaves it, replayed in memory (creating and writing
    nothing): a last line still being written is left out, as Optuna does, and trials may be running."""
    entries, faults, _ = scan(path, read_journal(path))
    if faults:
        raise JournalError(faults[0])
    return replay(path, entries)


def committed(path: Path) -> tuple[JournalStorage | None, list[str]]:
    """The journal file ``path`` read as the report reads it (a search that has ended), replayed in memory,
    and its faults: unreadable lines, a torn last line, and trials left running (its search was killed, or
    the journal was cut at a line boundary). ``JournalError`` if it is no journal file or Optuna rejects it."""
    entries, faults, torn = scan(path, read_journal(path))
    if torn:
        faults.append(f"{path}:{torn.line}: torn last line ({torn.why}: a write was cut off); fix: restore the "
                      f"journal (git checkout -- {path}), or resume its search, which sets the line aside")
    if faults:
        return None, faults
    storage = replay(path, entries)
    return storage, [f"{path}: trial {t.number} of study {s.study_name!r} is still running, yet no search is "
                     f"(one was killed, or the journal was cut); fix: restore the journal (git checkout -- {path}), "
                     f"or resume the search (python -m hw7 tune {s.study_name} --trials N), which fails the trial"
                     for s in storage.get_all_studies()
                     for t in storage.get_all_trials(s._study_id, deepcopy=False, states=(TrialState.RUNNING,))]


def journal_faults(path: Path) -> list[str]:
    """Every fault of the journal file ``path`` read as committed (see ``committed``), one line each naming
    the file (and line) and the fix; [] if it is sound. Reads only: creates, writes and blocks on nothing."""
    try:
        return committed(path)[1]
    except FileNotFoundError:
        return [f"{path}: no such file; fix: restore it (git checkout -- {path})"]
    except JournalError as exc:
        return [str(exc)]


def _nearest_folder(path: Path) -> Path:
    """The nearest existing folder above ``path`` (where it would be created)."""
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    return folder


def set_aside_torn_tail(path: Path) -> None:
    """Move a torn last line of the journal (a write cut off) into ``<journal>.torn-<time>`` with a one-line
    warning, so that the next append starts a line of its own. Call it holding the journal's lock."""
    data = read_journal(path)
    torn = scan(path, data)[2]
    if torn is None:
        return
    side = path.with_name(f"{path.name}.torn-{datetime.datetime.now():%Y%m%dT%H%M%S.%f}")
    try:
        with open(side, "xb") as f:
            f.write(data[torn.offset:])
            os.fsync(f.fileno())
    except BaseException:
        side.unlink(missing_ok=True)
        raise
    os.truncate(path, torn.offset)
    print(f"warning: {path}:{torn.line}: torn last line ({torn.why}: a write was cut off) set aside into "
          f"{side.name}; the search goes on from the line before", file=sys.stderr, flush=True)


def open_journal(path: Path) -> JournalFile:
    """The journal file ``path`` ready for appending (created if missing). Refused in one line unless it
    reads as a journal (or does not exist yet) and its disk has ``MIN_FREE`` bytes free; a torn last line
    (a write cut off) is set aside first (``set_aside_torn_tail``), never built on."""
    try:
        snapshot(path)
    except FileNotFoundError:
        pass
    folder = _nearest_folder(path)
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE:
        raise JournalError(f"{folder}: {free >> 10} KiB free, less than a search needs for its journal {path} "
                           f"({MIN_FREE >> 10} KiB); fix: free space there, or --storage a file on another disk")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = JournalFile(str(path))
        with get_lock_file(backend._lock):
            set_aside_torn_tail(path)
    except OSError as exc:
        raise JournalError(f"{path}: cannot create or write it ({exc.strerror}); fix: --storage a file in a "
                           "folder you can write") from None
    return backend


def storage_for(study: str, url: str | None = None, root: Path | None = None,
                heartbeat: int | None = None, grace: int | None = None) -> optuna.storages.BaseStorage:
    """An Optuna storage to search in: the given database URL or journal file, else the study's journal
    in ``results/optuna/`` (checked and created by ``open_journal``). Both send heartbeats (see
    ``HeartbeatJournal``); default ``HEARTBEAT``, ``GRACE``."""
    check_study(study)
    heartbeat, grace = heartbeat or HEARTBEAT, grace or GRACE
    path = journal_path(study, url, root)
    if path is None:
        return database(url, heartbeat, grace)
    return HeartbeatJournal(open_journal(path), heartbeat, grace)


def holding(study: str, url: str | None = None) -> optuna.storages.BaseStorage | None:
    """The storage of ``--storage url`` if it holds ``study``, else None. Writes nothing: a journal file is
    read into memory (``snapshot``), a missing one is not created (a database gets Optuna's tables, if it
    lacks them)."""
    path = journal_path(study, url)
    if path is None:
        storage = storage_for(study, url)
    else:
        try:
            storage = snapshot(path)
        except FileNotFoundError:
            return None
    return storage if study in optuna.get_all_study_names(storage) else None


def objective(space: Callable[[optuna.Trial], RunConfig], subset: int | None = None, attrs: dict | None = None):
    """Train the trial's config on the fit split, report validation accuracy per epoch, prune.
    ``attrs`` are recorded in every trial (which worker ran it, with which sampler seed)."""
    from hw7.data import load_mnist  # here, not at the top: the report reads studies without torch
    from hw7.engine.trainer import fit, split_for

    mnist = load_mnist()

    def run(trial: optuna.Trial) -> float:
        for key, value in (attrs or {}).items():
            trial.set_user_attr(key, value)
        config = space(trial)
        trial.set_user_attr("config", config.to_json())
        train_x, train_y, val_x, val_y = split_for(config, mnist)
        if subset:
            train_x, train_y = train_x[:subset], train_y[:subset]

        def report(epoch: int, hist: list[dict]) -> bool:
            acc = hist[0]["eval_acc"][-1]
            trial.report(acc if acc is not None else 0.0, epoch)
            return trial.should_prune()

        _, hist, diverged = fit([config], train_x, train_y, val_x, val_y, progress=False, on_epoch=report)
        h = hist[0]
        trial.set_user_attr("epochs_run", len(h["eval_acc"]))
        trial.set_user_attr("seconds", sum(h["seconds"]))
        if diverged[0] is not None:
            trial.set_user_attr("diverged_epoch", diverged[0])
            return 0.0
        if len(h["eval_acc"]) < config.epochs:
            raise optuna.TrialPruned()
        return h["eval_acc"][-1]

    return run


def study(name: str, storage=None, seed: int | None = None) -> optuna.Study:
    """Create or load a study (TPE sampler with constant liar, median pruner), maximizing
    validation accuracy. The process that creates it queues the ``KNOWN_GOOD`` starting points."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "using an existing study" on stderr
    storage = storage or storage_for(name)
    kw = dict(study_name=name, storage=storage, sampler=optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=10, constant_liar=True),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2))
    try:  # loading first: a failed create would still append to a journal
        return optuna.load_study(**kw)
    except KeyError:
        pass
    try:
        s = optuna.create_study(direction="maximize", **kw)
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
        return optuna.load_study(**kw)
    for params in KNOWN_GOOD.get(name, []):
        s.enqueue_trial(params)
    return s


def sampler_seed(seed: int | None, storage, name: str) -> int:
    """A fresh random seed, or the given one mixed with the number of trials the study holds,
    so that a resumed search does not repeat the random start of the one before."""
    if seed is None:
        return secrets.randbits(31)
    try:
        done = len(storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False))
    except KeyError:
        done = 0
    return int(np.random.SeedSequence((seed, done)).generate_state(1)[0] >> 1)


def search(name: str, trials: int, storage=None, timeout: float | None = None,
           subset: int | None = None, seed: int | None = None) -> optuna.Study:
    """Run ``trials`` more trials of study ``name`` (adds to what the storage holds; other
    processes may be searching it at the same time). A trial whose worker died (no heartbeat
    for ``GRACE`` seconds) is marked failed by Optuna when a worker starts its next trial."""
    check_study(name)
    storage = storage or storage_for(name)
    seed = sampler_seed(seed, storage, name)
    s = study(name, storage, seed)
    worker = {"worker": f"{socket.gethostname()}:{os.getpid()}", "sampler_seed": seed}
    quiet, log = QuietEnd(), logging.getLogger("optuna.study._optimize")
    log.addFilter(quiet)
    try:
        s.optimize(objective(SPACES[name], subset, worker), n_trials=trials, timeout=timeout, gc_after_trial=True)
    except Exception as exc:
        # After a failed write Optuna tries to record the trial's failure, fails again and trips its own
        # assertion: the journal's error, at the root of that chain, is the one to report.
        cause = exc
        while cause is not None and not isinstance(cause, JournalError):
            cause = cause.__context__
        if cause is None:
            raise
        raise cause from None
    finally:
        log.removeFilter(quiet)
    return s


class QuietEnd(logging.Filter):
    """Drops Optuna's warnings from the first about a trial cut short by a failed journal write or by
    Ctrl-C (it carries a traceback): the search ends with that error, in one line."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = False

    def filter(self, record: logging.LogRecord) -> bool:
        self.ended = self.ended or bool(record.exc_info and isinstance(record.exc_info[1],
                                                                       (JournalError, KeyboardInterrupt)))
        return not self.ended


def load(name: str, storage=None) -> optuna.Study:
    """An existing study, read-only use; ``ValueError`` if it has not been started.

    Without ``storage``, the committed journal ``results/optuna/<name>.log``, read as the report reads
    it: nothing is created or written, and any fault (see ``committed``), a trial left running included,
    is a one-line ``JournalError``, so that a search cut short is never reported as a whole one. It is
    replayed once per process while the file is unchanged (the report reads each study many times)."""
    if storage is not None:
        return _load(name, storage)
    check_study(name)
    path = journal_path(name)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise no_study(name) from None
    except OSError as exc:
        raise unreadable(path, exc) from None
    return _load_journal(name, path, (info.st_mtime_ns, info.st_size, info.st_ino))


@functools.lru_cache(maxsize=8)
def _load_journal(name: str, path: Path, version: tuple) -> optuna.Study:
    storage, faults = committed(path)
    if faults:
        raise JournalError(faults[0])
    return _load(name, storage)


def _load(name: str, storage) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise no_study(name) from None


def standard_error(accuracy: float, n: int = N_VAL) -> float:
    """Binomial standard error of an accuracy measured on ``n`` images."""
    return math.sqrt(accuracy * (1 - accuracy) / n)


def chosen_trial(s: optuna.Study) -> optuna.trial.FrozenTrial:
    """The one-standard-error rule (Breiman et al. 1984): of the complete trials whose
    validation accuracy is within one standard error of the best, the one that took the
    least compute. Differences smaller than that are noise of the 10,000-image split."""
    done = [t for t in s.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ValueError(f"study {s.study_name!r} has no complete trial yet")
    best = max(t.value for t in done)
    near = [t for t in done if t.value >= best - standard_error(best)]
    return min(near, key=lambda t: (t.user_attrs.get("seconds", math.inf), -t.value))


def trial_config(t: optuna.trial.FrozenTrial) -> RunConfig:
    """The config a trial trained (on the validation split)."""
    return RunConfig.from_dict(json.loads(t.user_attrs["config"]))


def best_config(s: optuna.Study) -> RunConfig:
    """The chosen trial's config, as trained (on the validation split)."""
    return trial_config(chosen_trial(s))


def final_configs(s: optuna.Study, seeds=SEEDS) -> list[RunConfig]:
    """The chosen config retrained on all 60,000 training images and evaluated on test, per seed."""
    c = best_config(s).replace(eval_on="test")
    return [c.replace(seed=k, data_seed=k) for k in seeds]


def copy_target(name: str, target: str) -> optuna.storages.BaseStorage | Path:
    """Where ``copy`` writes study ``name``: a database that does not hold it yet, or a journal
    file that does not exist yet; checked before a search, so that it cannot fail after one."""
    if "://" in target:
        storage = storage_for(name, target)
        if name in optuna.get_all_study_names(storage):
            raise ValueError(f"{target.split('@')[-1]} already holds study {name!r}; copy into another database")
        return storage
    if Path(target).exists():
        raise ValueError(f"{target} exists; move it away first (the copy never merges into a journal)")
    folder = _nearest_folder(Path(target))
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise JournalError(f"--copy-to {target}: cannot write in {folder} ({exc.strerror}); fix: copy into "
                           "a folder you can write") from None
    return Path(target)


def copy(name: str, source: optuna.storages.BaseStorage, target: str) -> None:
    """Copy study ``name`` from ``source`` to ``target`` (see ``copy_target``); a journal file
    is written whole under a temporary name, then renamed into place."""
    to = copy_target(name, target)
    if not isinstance(to, Path):
        optuna.copy_study(from_study_name=name, from_storage=source, to_storage=to)
        return
    tmp = to.with_name(f".{to.name}.{os.getpid()}.tmp")
    try:
        optuna.copy_study(from_study_name=name, from_storage=source, to_storage=storage_for(name, str(tmp)))
        os.replace(tmp, to)
    finally:
        tmp.unlink(missing_ok=True)


def summary(s: optuna.Study) -> str:
    """One line: trials by state, and the best validation accuracy so far."""
    counts = {state.name.lower(): n for state in TrialState
              if (n := sum(t.state == state for t in s.get_trials(deepcopy=False)))}
    line = f"{s.study_name}: {len(s.trials)} trials ({', '.join(f'{n} {k}' for k, n in counts.items()) or 'none'})"
    if counts.get("complete"):
        line += f"; best validation accuracy {s.best_value:.4f} (trial {s.best_trial.number})"
    return line


def worker_commands(args: argparse.Namespace, module: str = "hw7") -> list[list[str]]:
    """``args.workers`` commands ``python -m <module> tune …``, one worker each, sharing ``args.trials``."""
    commands = []
    for i in range(args.workers):
        cmd = [sys.executable, "-m", module, "tune", args.study, "--threads", str(args.threads),
               "--trials", str(args.trials // args.workers + (i < args.trials % args.workers))]
        cmd += ["--storage", args.storage] if args.storage else []
        cmd += ["--timeout", str(args.timeout)] if args.timeout else []
        cmd += ["--seed", str(args.seed + i)] if args.seed is not None else []
        commands.append(cmd)
    return commands


def run_workers(args: argparse.Namespace) -> None:
    """Run the workers of ``worker_commands`` side by side and wait for all of them. They run
    the command line this process was started with (``python -m hw7``, or the ``hw7`` script)."""
    spec = sys.modules["__main__"].__spec__
    module = spec.name.removesuffix(".__main__") if spec else "hw7"
    procs = [subprocess.Popen(cmd) for cmd in worker_commands(args, module)]
    failed = sum(p.wait() != 0 for p in procs)
    if failed:
        raise SystemExit(f"{failed} of {args.workers} workers failed")


def main(args: argparse.Namespace) -> None:
    """``python -m hw7 tune``: add ``args.trials`` trials, or with 0 print the study's progress
    (writing nothing to its storage); then copy it to ``args.copy_to`` if given."""
    check_study(args.study)  # before any file is created
    if args.workers < 1 or args.trials < 0:
        raise ValueError("--workers must be at least 1 and --trials at least 0")
    if args.trials == 0:
        storage = holding(args.study, args.storage)
        if storage is None and args.copy_to:
            raise ValueError(f"no study {args.study!r} to copy: its storage holds none; "
                             f"fix: run `python -m hw7 tune {args.study} --trials N` first")
        if storage is None:
            print(f"{args.study}: 0 trials (none)")
            return
        s = load(args.study, storage)
    else:
        if args.copy_to:
            copy_target(args.study, args.copy_to)
        storage = storage_for(args.study, args.storage)
        s = add_trials(args, storage)
    print(summary(s))
    if args.copy_to:
        copy(args.study, storage, args.copy_to)
        print(f"copied {args.study} ({len(s.trials)} trials) to {args.copy_to.split('@')[-1]}")


def add_trials(args: argparse.Namespace, storage: optuna.storages.BaseStorage) -> optuna.Study:
    """Run ``args.trials`` trials of the study in ``storage``, in ``args.workers`` processes."""
    if args.workers > 1:
        study(args.study, storage)  # created (and its starting points queued) once, before the workers
        run_workers(args)
        return study(args.study, storage)
    import torch  # here, not at the top: the report reads studies without loading torch

    torch.set_num_threads(args.threads)
    return search(args.study, args.trials, storage, args.timeout, seed=args.seed)


def trials_frame(s: optuna.Study) -> pd.DataFrame:
    """One row per finished trial: number, state, whether it diverged (scored 0), validation
    accuracy (last reported for a pruned trial), epochs run, seconds, and the sampled parameters."""
    rows = []
    for t in s.get_trials(deepcopy=False):
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
            continue
        last = t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None
        rows.append({"number": t.number, "state": t.state.name.lower(),
                     "diverged": t.user_attrs.get("diverged_epoch") is not None,
                     "value": t.value if t.value is not None else last,
                     "epochs_run": t.user_attrs.get("epochs_run", len(t.intermediate_values)),
                     "seconds": t.user_attrs.get("seconds", 0.0), **t.params})
    return pd.DataFrame(rows)


def importances(s: optuna.Study) -> pd.Series:
    """Each parameter's importance for the validation accuracy (Optuna's PED-ANOVA, deterministic)."""
    with warnings.catch_warnings():  # "few trials in some regime" warnings: the numbers are a guide
        warnings.simplefilter("ignore")
        imp = pd.Series(get_param_importances(s, evaluator=PedAnovaImportanceEvaluator()))
    # Largest first; ties (several zeros) by name, so that the order does not vary between runs.
    return imp.sort_index().sort_values(ascending=False, kind="stable")


def enqueued(s: optuna.Study) -> list[int]:
    """Numbers of the trials that were starting points given by hand (``enqueue_trial``)."""
    return [t.number for t in s.get_trials(deepcopy=False) if "fixed_params" in t.system_attrs]
