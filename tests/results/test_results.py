"""Trusting results/: one key one set of numbers, a store that checks what it loads,
`hw7 check`, two processes on one group, and checkpoints that resume bitwise."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time

import pytest

from hw7 import PROJECT_ROOT
from hw7.config import RunConfig
from hw7.data import MNIST
from hw7.engine import checkpoint
from hw7.results import store, sweep
from hw7.results.check import Report, check, reproduce

ROOT = PROJECT_ROOT


@pytest.fixture(scope="module")
def small(mnist):
    """500 training images and 200 test images: a 2-epoch run takes a fraction of a second. Its digest
    is its own (a record's data digest tells the store how many evaluation images it has)."""
    digest = hashlib.sha256(f"500 training and 200 test images of {mnist.sha256}".encode()).hexdigest()
    return MNIST(mnist.train_x[:500], mnist.train_y[:500], mnist.test_x[:200], mnist.test_y[:200],
                 mnist.root, digest)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: as fast for these small nets, and far faster on a busy machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sweep_of(**kw) -> list[RunConfig]:
    """Three configs that share one group (as an experiment's sweep does), in the stacked torch-ops
    engine (65 hidden units: wider than the compiled epoch takes). Their different weight decays and
    momenta take the stacked optimizer's per-element path, and the gradient norms are reduced over the
    stack: trained alone, the first one's numbers differ in the last bits."""
    base = RunConfig(sizes=(784, 65, 10), epochs=2, batch_size=50, **kw)
    return [base.replace(lr=lr, weight_decay=wd, momentum=mo)
            for lr, wd, mo in ((0.01, 1e-5, 0.8), (0.1, 1e-3, 0.9), (0.03, 0.0, 0.5))]


def without_digest(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != store.DIGEST}


def numbers(record: dict) -> dict:
    """Everything a run computed (wall-clock times aside)."""
    return {"history": {m: v for m, v in record["history"].items() if m != "seconds"},
            "diverged_epoch": record["diverged_epoch"], "group": record["group"]}


# -- 1. one key, one set of numbers ------------------------------------------------------
def test_deleted_record_is_recreated_bitwise(small, tmp_path):
    configs = sweep_of()
    first = sweep.train_many(configs, small, root=tmp_path, progress=False)
    keys = [store.key_of(c) for c in configs]
    assert all(r["group"] == keys and r["group_size"] == 3 for r in first)
    assert all(r["data_sha256"] == small.sha256 for r in first)
    (alone,) = sweep.train_group(configs[:1], small, progress=False, root=tmp_path)
    assert numbers(alone)["history"] != numbers(first[0])["history"]  # why the group must be the same
    store.path_of(configs[0], tmp_path).unlink()
    again = sweep.train_many(configs, small, root=tmp_path, progress=False)
    assert numbers(again[0]) == numbers(first[0])
    # the same through `run --seeds` or `hw7 train`: one config asked for, its experiment as the universe
    store.path_of(configs[2], tmp_path).unlink()
    (alone,) = sweep.train_many([configs[2]], small, root=tmp_path, progress=False, universe=configs)
    assert numbers(alone) == numbers(first[2])


def test_a_group_mate_nobody_can_name_is_an_error(small, tmp_path):
    """Two of a group's records deleted, and one asked for outside its experiment: the other lost
    mate's config is nowhere, so its group cannot be rebuilt; the error says which run and what to do."""
    configs = sweep_of()
    sweep.train_many(configs, small, root=tmp_path, progress=False)
    for c in configs[:2]:
        store.path_of(c, tmp_path).unlink()
    with pytest.raises(RuntimeError, match=f"run {store.key_of(configs[0])} was trained in a group with run "
                                           f"{store.key_of(configs[1])}.*run the experiment that holds it"):
        sweep.train_many(configs[:1], small, root=tmp_path, progress=False)


def test_missing_config_joins_the_group_its_mates_recorded(small, tmp_path):
    """Stored with max_group 3, re-created with max_group 1: the records' group wins."""
    configs = sweep_of()
    first = sweep.train_many(configs, small, root=tmp_path, progress=False)
    store.path_of(configs[1], tmp_path).unlink()
    (again,) = sweep.train_many([configs[1]], small, root=tmp_path, progress=False, max_group=1)
    assert numbers(again) == numbers(first[1])


def test_groups_come_from_the_full_list_not_from_what_is_missing(tmp_path):
    configs = sweep_of() + [RunConfig(sizes=(784, 65, 10), epochs=2, batch_size=50, lr=0.1, seed=1, data_seed=1)]
    groups = sweep.plan(configs[:1], configs, max_group=16, root=tmp_path)
    assert groups == [configs[:3]]  # data_seed 1 trains apart (another stream of batches)
    with pytest.raises(ValueError, match="max_group"):
        sweep.groups_of(configs, 0)


def narrow_sweep() -> list[RunConfig]:
    """Four configs of one group that the compiled epoch trains (784-30-10)."""
    return [RunConfig(epochs=2, batch_size=50, lr=lr) for lr in (0.01, 0.03, 0.1, 0.3)]


def counting(monkeypatch) -> list[list[str]]:
    """The keys of every group ``train_many`` trains from now on."""
    trained, real = [], sweep.train_group
    monkeypatch.setattr(sweep, "train_group", lambda group, *a, **k: trained.append(
        [store.key_of(c) for c in group]) or real(group, *a, **k))
    return trained


def test_narrow_missing_runs_train_without_their_stored_mates(small, tmp_path, monkeypatch):
    """Two of a compiled-epoch group stored: the other two train together, the stored ones are not
    trained again nor rewritten. Then a lost record is re-created alone. Every record names the
    configs it was trained with, and `check --reproduce` compares each in that group."""
    configs = narrow_sweep()
    keys = [store.key_of(c) for c in configs]
    trained = counting(monkeypatch)
    sweep.train_many(configs[:2], small, root=tmp_path, progress=False)
    files = {k: (tmp_path / "runs" / f"{k}.json").read_bytes() for k in keys[:2]}
    records = sweep.train_many(configs, small, root=tmp_path, progress=False, universe=configs)
    assert trained == [keys[:2], keys[2:]]
    assert [r["group"] for r in records] == [keys[:2]] * 2 + [keys[2:]] * 2
    assert {k: (tmp_path / "runs" / f"{k}.json").read_bytes() for k in keys[:2]} == files
    store.path_of(configs[0], tmp_path).unlink()
    (again,) = sweep.train_many(configs[:1], small, root=tmp_path, progress=False, universe=configs)
    assert trained[2:] == [keys[:1]] and again["group"] == keys[:1]
    report = Report()
    reproduce(store.all_records(tmp_path), report, small, root=tmp_path)
    assert report.faults == [] and report.groups == 3 and report.reproduced == 4


def test_narrow_run_trained_alone_is_its_stored_run(mnist, tmp_path, monkeypatch):
    """One learning rate of the stored p2-sgd (seed 0, trained in a stack of 11) is missing from a
    store that holds its ten group-mates: it alone is trained, and its training loss, gradient norms
    and ratios and accuracies are bitwise the stored ones. The evaluation loss is a matrix product
    over the whole stack, which MKL may round differently for another stack width or processor:
    it agrees to float precision, and ``check --reproduce`` re-trains the new record alone."""
    from hw7.results.experiments import experiment

    configs = [c for c in experiment("p2-sgd") if c.seed == 0]
    lost = next(c for c in configs if c.lr == 0.1)
    (tmp_path / "runs").mkdir()
    for c in configs:
        if c != lost:
            (tmp_path / "runs" / f"{store.key_of(c)}.json").write_bytes(store.path_of(c).read_bytes())
    trained = counting(monkeypatch)
    records = sweep.train_many(configs, mnist, root=tmp_path, progress=False, universe=experiment("p2-sgd"))
    assert trained == [[store.key_of(lost)]]
    new, old = records[configs.index(lost)], store.load(lost)
    assert new["group"] == [new["key"]] == [old["key"]] and new["diverged_epoch"] == old["diverged_epoch"]
    for m in ("train_loss", "train_acc", "eval_acc", "grad_ratio", "grad_norms"):
        assert new["history"][m] == old["history"][m], m
    assert new["history"]["eval_loss"] == pytest.approx(old["history"]["eval_loss"], rel=1e-6)
    report = Report()
    reproduce([new], report, mnist, root=tmp_path)
    assert report.faults == [] and report.groups == 1 and report.reproduced == 1


def test_progress_is_one_line_per_group_off_a_terminal(small, tmp_path, capsys, monkeypatch):
    """Off a terminal (a log file, a pipe) tqdm is silent, so each finished group prints one line;
    ``progress=False`` prints nothing; on a terminal tqdm's bars are shown instead."""
    configs = [RunConfig(epochs=1, batch_size=50, lr=0.1, seed=s, data_seed=s) for s in (0, 1)]
    sweep.train_many(configs, small, root=tmp_path / "a")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"group {i + 1}/2 \(784-30-10 sgd, data seed {i}, lr 0\.1\): 1 run trained in "
                            r"\d+ s, 1 stored", line), line
    sweep.train_many(configs, small, root=tmp_path / "b", progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    sweep.train_many(configs, small, root=tmp_path / "c")
    err = capsys.readouterr().err
    assert "group 1/2: 1 configs" in err and "1×784-30-10 sgd" in err and "trained in" not in err


# -- 2. the store checks what it loads --------------------------------------------------
@pytest.fixture()
def stored(small, tmp_path):
    records = sweep.train_many(sweep_of(), small, root=tmp_path, progress=False)
    return tmp_path, records


@pytest.mark.parametrize("tamper, fault", [
    (lambda r, other: other, "is not the file name"),  # another run's record copied under this key
    (lambda r, other: r | {"history": {m: v[:1] for m, v in r["history"].items()}}, "history lengths"),
    (lambda r, other: r | {"engine_version": 99}, "is not the stored config's key"),
    (lambda r, other: {}, "missing field 'key'"),
    (lambda r, other: [], "a record is a JSON object, found list"),
    (lambda r, other: r | {"config": r["config"] | {"lr": 0.5}}, "is not the stored config's key"),
    (lambda r, other: r | {"group_size": "3"}, "field 'group_size' has type str"),
    (lambda r, other: r | {"config": r["config"] | {"learning_rate": 1}}, "unknown config fields"),
])
def test_load_rejects_a_record_that_does_not_belong_to_its_key(stored, tamper, fault):
    root, records = stored
    path = root / "runs" / f"{records[0]['key']}.json"
    path.write_text(json.dumps(tamper(records[0], records[1])))
    with pytest.raises(store.StoreError, match=fault) as err:
        store.load(RunConfig.from_dict(records[0]["config"]), root)
    assert str(path) in str(err.value)
    report = check(root)
    assert len(report.faults) == 1 and str(path) in report.faults[0]


def test_corrupt_json_names_the_file_and_temp_files_are_ignored(stored):
    root, records = stored
    leftover = root / "runs" / ".tmp-abc.json"
    leftover.write_text('{"key": ')  # what kill -9 during save leaves
    assert len(store.all_records(root)) == 3 and leftover.exists()  # ignored while it may be in use
    os.utime(leftover, (0, 0))  # stale
    assert len(store.all_records(root)) == 3 and not leftover.exists()
    path = root / "runs" / f"{records[0]['key']}.json"
    path.write_text(path.read_text()[:-20])
    with pytest.raises(store.StoreError, match=f"{path}: not readable JSON"):
        store.all_records(root)


def test_diverged_history_may_be_short(small, tmp_path):
    ok = RunConfig(epochs=3, batch_size=50, activation="relu", init="kaiming_uniform", lr=0.01)
    records = sweep.train_many([ok, ok.replace(lr=1e8)], small, root=tmp_path, progress=False)
    assert records[1]["diverged_epoch"] is not None and len(records[1]["history"]["eval_acc"]) < 3
    assert check(tmp_path).faults == []


def test_check_reproduces_stored_groups_bitwise(stored, small):
    root, records = stored
    report = Report()
    reproduce(store.all_records(root), report, small, root=root)
    assert report.faults == [] and report.reproduced == 3 and report.groups == 1
    edited = store.read(root / "runs" / f"{records[1]['key']}.json")  # a deliberate edit: its digest recomputed
    edited = edited | {"history": edited["history"] | {"train_loss": [edited["history"]["train_loss"][0] + 1e-12,
                                                                      *edited["history"]["train_loss"][1:]]}}
    store.save(edited, root, replace=True)
    report = Report()
    reproduce(store.all_records(root), report, small, root=root)
    assert report.reproduced == 2 and len(report.faults) == 1 and "train_loss" in report.faults[0]


def test_check_committed_results():
    """CI runs `hw7 check` on the committed store: every record and journal is sound."""
    report = check()
    assert report.faults == []
    assert report.records == len(list((store.RESULTS / "runs").glob("[!.]*.json"))) > 0
    assert report.journals == len(list((store.RESULTS / "optuna").glob("*.log")))


def test_check_command_exits_nonzero_on_a_fault(tmp_path, monkeypatch, capsys):
    from hw7.__main__ import main

    monkeypatch.setattr(store, "RESULTS", tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "0123456789abcdef.json").write_text("{}")
    (tmp_path / "optuna").mkdir()
    (tmp_path / "optuna" / "problem2.log").write_text('{"op_code": 0}\nnot json\n')
    (tmp_path / "problem1.npz").write_bytes(b"not an npz")
    with pytest.raises(SystemExit) as exit_:
        main(["check"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "0123456789abcdef.json: missing field" in err and "problem2.log:2: torn last line" in err
    assert "problem1.npz is not a readable .npz file" in err


# -- 4. two processes on one group -------------------------------------------------------
SECOND = """
import sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from hw7.results import sweep
from hw7.config import RunConfig
from hw7.data import MNIST, load_mnist
m = load_mnist()
small = MNIST(m.train_x[:500], m.train_y[:500], m.test_x[:200], m.test_y[:200], m.root, m.sha256)
calls = []
real = sweep.train_group
sweep.train_group = lambda group, *a, **k: calls.append(len(group)) or real(group, *a, **k)
base = RunConfig(sizes=(784, 65, 10), epochs=2, batch_size=50)
configs = [base.replace(lr=lr, weight_decay=wd, momentum=mo)
           for lr, wd, mo in ((0.01, 1e-5, 0.8), (0.1, 1e-3, 0.9), (0.03, 0.0, 0.5))]
sweep.train_many(configs, small, root=Path(sys.argv[1]), progress=False)
print("trained groups:", calls)
"""


def test_second_process_waits_for_the_group_then_skips_it(small, tmp_path):
    """This process holds the group's lock (as a first trainer would); a second process asked
    for the same runs waits, and once the runs are stored, trains nothing."""
    configs = sweep_of()
    keys = [store.key_of(c) for c in configs]
    with store.group_lock(keys, tmp_path):
        second = subprocess.Popen([sys.executable, "-c", SECOND, str(tmp_path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": str(ROOT / "src")})
        lock = tmp_path / "locks" / f"{store.group_id(keys)}.lock"
        message = second.stderr.readline()  # printed just before it blocks on the lock
        assert f"waiting for process {os.getpid()}" in message, (message, second.communicate())
        time.sleep(0.5)
        assert second.poll() is None  # still waiting
        assert lock.read_text() == str(os.getpid())
        for record in sweep.train_group(configs, small, progress=False, root=tmp_path):
            store.save(record, tmp_path)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "trained groups: []" in out


# -- 8. checkpoints -----------------------------------------------------------------------
@pytest.mark.parametrize("optimizer, recipe", [("sgd", "regularized"), ("adam", "regularized"), ("adam", "narrow"),
                                               ("adamw", "averaged"), ("sgd", "normalized")])
def test_stopped_run_resumes_bitwise(small, tmp_path, monkeypatch, optimizer, recipe):
    """Stopped right after epoch 1's checkpoint of 3, then `run` again: the same record as uninterrupted
    (in both engines: dropout and distortions in the torch ops, a narrow net in the compiled epoch,
    where Adam's step count must carry over; and a weight average and batch norm's running statistics,
    which the checkpoint must keep)."""
    extra = {"regularized": dict(dropout=0.2, augment="affine"), "narrow": {},
             "averaged": dict(dropout=0.2, ema=0.9, weight_decay=0.01),
             "normalized": dict(batch_norm=True, dropout=0.1)}[recipe]
    configs = [RunConfig(epochs=3, batch_size=50, optimizer=optimizer, lr=lr, schedule="cosine", **extra)
               for lr in (0.003, 0.001)]
    whole = sweep.train_many(configs, small, root=tmp_path / "a", progress=False, checkpoint_every=0)
    real, saved = checkpoint.save, []

    def save_then_stop(path, state):
        real(path, state)
        saved.append(state["epoch"])
        if state["epoch"] == 1:
            raise KeyboardInterrupt  # the process is stopped here

    monkeypatch.setattr(checkpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        sweep.train_many(configs, small, root=tmp_path / "b", progress=False, checkpoint_every=0)
    ckpt = store.checkpoint_path([store.key_of(c) for c in configs], tmp_path / "b")
    assert ckpt.is_file() and list((tmp_path / "b" / "runs").iterdir()) == []  # nothing stored
    assert list(ckpt.parent.iterdir()) == [ckpt]  # the room reserved for the records released
    saved.clear()
    resumed = sweep.train_many(configs, small, root=tmp_path / "b", progress=False, checkpoint_every=0)
    assert saved == [2, 3]  # epoch 1 was not trained again
    assert [numbers(r) for r in resumed] == [numbers(r) for r in whole]
    assert not ckpt.exists()  # removed once the records are stored


KILLED = """
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from hw7.engine import checkpoint
from hw7.results import sweep
from hw7.config import RunConfig
from hw7.data import MNIST, load_mnist
m = load_mnist()
small = MNIST(m.train_x[:500], m.train_y[:500], m.test_x[:200], m.test_y[:200], m.root, m.sha256)
real = checkpoint.save
def save(path, state):
    real(path, state)
    if state["epoch"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)
checkpoint.save = save
configs = [RunConfig(epochs=3, batch_size=50, lr=lr, dropout=0.1) for lr in (0.1, 0.03)]
sweep.train_many(configs, small, root=Path(sys.argv[1]), progress=False, checkpoint_every=0)
"""


def test_run_killed_with_sigkill_resumes_bitwise(small, tmp_path):
    configs = [RunConfig(epochs=3, batch_size=50, lr=lr, dropout=0.1) for lr in (0.1, 0.03)]
    killed = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path / "b")], capture_output=True, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT / "src")}, timeout=120)
    assert killed.returncode == -9, killed.stderr
    resumed = sweep.train_many(configs, small, root=tmp_path / "b", progress=False)
    whole = sweep.train_many(configs, small, root=tmp_path / "a", progress=False)
    assert [numbers(r) for r in resumed] == [numbers(r) for r in whole]


# -- 9. final-model probabilities: stored compactly, checked on load, added by re-training ---------
def test_probabilities_round_trip_to_16_bits():
    import numpy as np

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(10, 0.1), size=500)
    text = store.encode_probabilities(p)
    back = store.decode_probabilities(text)
    assert isinstance(text, str) and back.shape == (500, 10)
    assert np.abs(back - p).max() <= 0.5 / store.PROBABILITY_SCALE + 1e-12
    assert store.decode_probabilities(store.encode_probabilities(np.eye(10))).tolist() == np.eye(10).tolist()
    with pytest.raises(ValueError, match="expected"):
        store.encode_probabilities(p[:, :9])


def test_predictions_come_from_the_record_or_its_probabilities():
    """Stored predictions win; without them the most probable digit of the stored probabilities;
    a record with neither is an error naming it."""
    import numpy as np

    p = np.random.default_rng(1).dirichlet(np.full(10, 0.3), size=200)
    with_probabilities = {"key": "k", "probabilities": store.encode_probabilities(p)}
    assert (store.predictions(with_probabilities) == p.argmax(1)).all()
    assert store.predictions({**with_probabilities, "predictions": [3] * 200}).tolist() == [3] * 200
    with pytest.raises(KeyError, match="record k keeps neither"):
        store.predictions({"key": "k"})


def test_new_runs_keep_probabilities_and_their_keys(small, tmp_path):
    import numpy as np

    configs = sweep_of()
    plain = sweep.train_many(configs, small, root=tmp_path / "a", progress=False)
    kept = sweep.train_many(configs, small, root=tmp_path / "b", progress=False, predictions=True,
                            probabilities=True)
    for a, b in zip(plain, kept):
        assert a["key"] == b["key"] and numbers(a) == numbers(b) and "probabilities" not in a
        p = store.probabilities(b)
        assert p.shape == (200, 10) and np.allclose(p.sum(1), 1, atol=1e-4)
        accuracy = (p.argmax(1) == small.test_y.numpy()).mean()
        assert accuracy == pytest.approx(b["history"]["eval_acc"][-1], abs=1 / 200)  # a 16-bit tie at most
    assert store.probabilities(plain[0]) is None and check(tmp_path / "b").faults == []


@pytest.mark.parametrize("tamper, fault", [
    (lambda r: r | {"probabilities": "not base64!"}, "probabilities: not encoded probabilities"),
    (lambda r: r | {"probabilities": store.encode_probabilities([[1.0] + [0.0] * 9] * 199)},
     "probabilities: 199 rows for 200 evaluation images"),
    (lambda r: r | {"probabilities": store.encode_probabilities([[0.5] * 10] * 200)},
     "probabilities: a row's sum is 4 away from 1"),
    (lambda r: r | {"probabilities": 3}, "field 'probabilities' has type int"),
])
def test_store_rejects_unsound_probabilities(small, tmp_path, tamper, fault):
    (record,) = sweep.train_many(sweep_of()[:1], small, root=tmp_path, progress=False, predictions=True,
                                 probabilities=True)
    path = store.path_of(RunConfig.from_dict(record["config"]), tmp_path)
    path.write_text(json.dumps(tamper(record)))
    with pytest.raises(store.StoreError, match=fault):
        store.read(path)


def test_add_probabilities_rewrites_only_what_reproduces_bitwise(small, tmp_path):
    from hw7.results.backfill import NotReproduced, add_probabilities

    configs = sweep_of()
    stored = sweep.train_many(configs, small, root=tmp_path / "a", progress=False, predictions=True)
    fresh = sweep.train_many(configs, small, root=tmp_path / "b", progress=False, predictions=True,
                             probabilities=True)
    assert sorted(add_probabilities(configs, small, tmp_path / "a", progress=False)) == sorted(r["key"] for r in stored)
    for old, config, reference in zip(stored, configs, fresh):
        new = store.load(config, tmp_path / "a")
        assert without_digest(new) == without_digest(old) | {"probabilities": reference["probabilities"]}  # bitwise
    assert add_probabilities(configs, small, tmp_path / "a", progress=False) == []  # nothing left to add
    assert check(tmp_path / "a").faults == []
    # a stored history that the re-training does not give back bitwise: nothing is written
    path = store.path_of(configs[1], tmp_path / "b")
    edited = without_digest(json.loads(path.read_text()))
    del edited["probabilities"]
    edited["history"]["eval_loss"][-1] += 1e-9
    store.save(edited, tmp_path / "b", replace=True)
    with pytest.raises(NotReproduced, match=f"run {edited['key']} re-trained with its group of 3"):
        add_probabilities(configs, small, tmp_path / "b", progress=False)
    assert without_digest(json.loads(path.read_text())) == edited
    with pytest.raises(ValueError, match="1 runs are not stored"):
        add_probabilities([configs[0].replace(lr=0.5)], small, tmp_path / "b")
