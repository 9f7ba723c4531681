"""The command line: one-line errors, options generated from RunConfig, memory refused up front."""

import dataclasses

import pytest

from hw7.__main__ import build_parser, main
from hw7.config import RunConfig
from hw7.engine import trainer
from hw7.results import store, sweep
from hw7.results.experiments import EXPERIMENTS
from tests.other_user import hw7_as_other_user, readonly_project


def fails(argv: list[str], capsys) -> str:
    """Run ``python -m hw7 argv`` in-process; it must exit non-zero; return its one-line message."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code not in (0, None)
    message = exit_.value.code if isinstance(exit_.value.code, str) else capsys.readouterr().err
    assert "Traceback" not in message
    return message


@pytest.mark.parametrize("argv, expected", [
    (["run", "p2-sgd", "--threads", "0"], "--threads: '0' is not a positive integer"),
    (["train", "--threads", "-2"], "--threads: '-2' is not a positive integer"),
    (["run", "p2-sgd", "--max-group", "0"], "--max-group: '0' is not a positive integer"),
    (["run", "p2-sgd", "--max-group", "-1"], "--max-group: '-1' is not a positive integer"),
    (["train", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["run", "p2-sgd", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["train", "--lr", "inf"], "invalid config field lr=inf"),
    (["train", "--lr", "nan"], "invalid config field lr=nan"),
    (["train", "--weight-decay", "inf"], "invalid config field weight_decay=inf"),
    (["train", "--weight-decay", "nan"], "invalid config field weight_decay=nan"),
    (["train", "--momentum", "0"], "--no-nesterov"),
    (["train", "--activation", "gelu"], "invalid choice: 'gelu'"),
    (["train", "--input-dropout", "1"], "invalid config field input_dropout=1.0: in [0, 1)"),
    (["train", "--max-norm", "-3"], "invalid config field max_norm=-3.0: must be >= 0"),
    (["train", "--warmup-epochs", "2"], "invalid config field warmup_epochs=2: a warm-up needs --schedule cosine"),
    (["train", "--schedule", "cosine", "--warmup-epochs", "30"], "warmup_epochs=30: in [0, epochs) = [0, 30)"),
    (["train", "--epochs", "0"], "argument --epochs: invalid config field epochs=0: must be positive"),
    (["train", "--seed", "99999999999999999999999"],
     "argument --seed: invalid config field seed=99999999999999999999999: an integer in [0, 2**63 - 1]"),
    (["train", "--seed", "-1"], "argument --seed: invalid config field seed=-1: an integer in [0, 2**63 - 1]"),
    (["train", "--data-seed", str(2**63)], "argument --data-seed: invalid config field data_seed=9223372036854775808"),
    (["tune", "problem2", "--trials", "1", "--threads", "0"], "--threads: '0' is not a positive integer"),
])
def test_bad_input_is_one_line_error(argv, expected, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "train_group", lambda *a, **k: pytest.fail("trained"))
    assert expected in fails(argv, capsys)


def test_cuda_without_gpu_is_one_line_error(capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert "no CUDA GPU is available here" in fails(["train", "--device", "cuda"], capsys)
    assert "no CUDA GPU is available here" in fails(["run", "p2-sgd", "--device", "cuda"], capsys)


def test_too_large_a_network_is_refused_before_training(capsys, monkeypatch):
    monkeypatch.setattr(sweep, "train_group", lambda *a, **k: pytest.fail("trained"))
    message = fails(["train", "--sizes", "784", "3000000", "10", "--epochs", "1"], capsys)
    assert "784-3000000-10 needs about" in message and "GiB of cpu memory is available" in message
    monkeypatch.setattr(trainer, "memory_available", lambda device: 2**30)
    assert "only 1.0 GiB" in fails(["train", "--sizes", "784", "100000", "10", "--epochs", "1"], capsys)


def test_memory_estimate_covers_the_big_pieces():
    one = RunConfig(sizes=(784, 100_000, 10))
    need = trainer.memory_needed([one], 60_000, 10_000)
    assert need > 4 * (4 * one.n_params + 10_000 * 100_000)  # params, grad, momentum, lr; an evaluation chunk
    assert need < 2 * 4 * (4 * one.n_params + 10_000 * 100_000)  # and not wildly more
    assert trainer.memory_needed([RunConfig()], 60_000, 10_000) < 2**30  # the assignment's net: small


class Trained(Exception):
    """Raised by the stand-in for train_many: the command got as far as training."""


def test_train_options_are_generated_from_runconfig(monkeypatch):
    from hw7.results.experiments import experiment

    seen, universes = [], []

    def train_many(configs, **kw):
        seen.extend(configs)
        universes.append(kw["universe"])
        raise Trained

    monkeypatch.setattr(sweep, "train_many", train_many)
    with pytest.raises(Trained):
        main(["train"])
    assert seen == [RunConfig()]
    assert universes == [experiment("p2-sgd")]  # the assignment's config is stored in that sweep's group
    seen.clear()
    with pytest.raises(Trained):
        main(["train", "--sizes", "784", "64", "10", "--momentum", "0", "--no-nesterov", "--betas", "0.8", "0.99",
              "--weight-decay", "0", "--seed", "3", "--eval-on", "val", "--batch-size", "32", "--step-size", "4"])
    assert seen == [RunConfig(sizes=(784, 64, 10), momentum=0.0, nesterov=False, betas=(0.8, 0.99),
                              weight_decay=0.0, seed=3, data_seed=3, eval_on="val", batch_size=32, step_size=4)]
    assert universes[-1] is None  # in no experiment: a group of its own
    with pytest.raises(Trained):  # the dropout recipe's options, generated from the fields added for it
        main(["train", "--input-dropout", "0.2", "--dropout", "0.5", "--max-norm", "3", "--schedule", "cosine",
              "--warmup-epochs", "2", "--epochs", "40"])
    assert seen[-1] == RunConfig(input_dropout=0.2, dropout=0.5, max_norm=3.0, schedule="cosine", warmup_epochs=2,
                                 epochs=40)


def test_every_config_field_has_an_option():
    import argparse

    from hw7.__main__ import add_config_options

    parser = argparse.ArgumentParser()
    add_config_options(parser)
    flags = {a.dest for a in parser._actions}
    assert {f.name for f in dataclasses.fields(RunConfig) if f.name != "extra"} <= flags


def test_run_add_probabilities_trains_missing_runs_then_adds_them(capsys, monkeypatch):
    """`run NAME --add-probabilities`: refused for an experiment that keeps no probabilities; else the
    missing runs are trained (keeping them), then the stored ones of the seeds asked for get them."""
    from hw7.results import backfill
    from hw7.results.experiments import experiment

    monkeypatch.setattr(sweep, "train_many", lambda *a, **k: pytest.fail("trained"))
    assert "p2-sgd keeps no probabilities" in fails(["run", "p3-depth", "p2-sgd", "--add-probabilities"], capsys)
    calls = []
    monkeypatch.setattr(sweep, "train_many", lambda configs, **kw: calls.append(("train", configs, kw["probabilities"]))
                        or [{"history": {"eval_acc": [0.9]}, "config": {"lr": 0.1}}])
    monkeypatch.setattr(backfill, "add_probabilities", lambda configs: calls.append(("add", configs)) or ["k"])
    main(["run", "p3-depth", "--seeds", "1", "--add-probabilities"])
    ones = [c for c in experiment("p3-depth") if c.seed == 1]
    assert calls == [("train", ones, True), ("add", ones)] and len(ones) == 2
    assert "p3-depth: probabilities added to 1 records; 1 of 2 had them already" in capsys.readouterr().out


def test_run_lists_the_experiments_and_refuses_an_unknown_one_before_running(capsys, monkeypatch):
    monkeypatch.setattr(sweep, "train_many", lambda *a, **k: pytest.fail("ran"))
    message = fails(["run", "p2-sgd", "p9-nope"], capsys)
    assert "invalid choice: 'p9-nope'" in message and all(repr(name) in message for name in EXPERIMENTS)
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    listed = capsys.readouterr().out.split("\nexperiments:\n")[1]
    assert listed.replace(",", " ").split() == ["problem1", *EXPERIMENTS]


def test_run_problem1_stores_the_sweeps_and_trains_nothing(tmp_path, capsys, monkeypatch):
    from hw7.rosenbrock import runs as rosenbrock_runs

    monkeypatch.setattr(sweep, "train_many", lambda *a, **k: pytest.fail("trained"))
    committed = rosenbrock_runs.read()
    monkeypatch.setattr(rosenbrock_runs, "compute", lambda: committed)  # its equality with compute() is tested apart
    monkeypatch.setattr(rosenbrock_runs, "STORE", tmp_path / "problem1.npz")
    main(["run", "problem1"])
    assert f"stored in {tmp_path / 'problem1.npz'}" in capsys.readouterr().out
    assert rosenbrock_runs.differences(rosenbrock_runs.read(), committed) == []


@pytest.mark.parametrize("command, flag, default", [
    ("run", "--device", "cpu"), ("run", "--threads", "1"), ("train", "--device", "cpu"),
    ("train", "--threads", "1"), ("preview", "--port", "4848"), ("render", "--to", "html pdf"),
    ("tune", "--workers", "1"), ("tune", "--threads", "1"),
])
def test_options_help_shows_their_default(command, flag, default):
    parser = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    action = next(a for a in parser._actions if flag in a.option_strings)
    assert action.help and f"(default: {default})" in action.help % vars(action)


def test_top_level_help_reads_cleanly(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "python -m hw7 COMMAND" in out and "`" not in out


def test_train_of_a_stored_config_says_it_was_loaded_and_when_it_was_trained(capsys, monkeypatch):
    monkeypatch.setattr(sweep, "train_group", lambda *a, **k: pytest.fail("trained"))
    record = store.load(RunConfig())  # the assignment's config: stored with the p2-sgd sweep
    main(["train"])
    out = capsys.readouterr().out
    assert (f"loaded from results/runs/{record['key']}.json, not trained again: it was trained on "
            f"{record['finished']} in {record['seconds']:.1f} s") in out
    assert "stored as" not in out


def test_train_of_a_new_config_says_it_was_trained_and_stored(capsys, monkeypatch):
    config = RunConfig(sizes=(784, 7, 10), epochs=1)
    assert store.load(config) is None
    history = {"train_loss": [0.5], "eval_acc": [0.8]}
    monkeypatch.setattr(sweep, "train_many", lambda configs, **kw: [{"history": history, "diverged_epoch": None,
                                                                     "key": "k", "seconds": 1.25}])
    main(["train", "--sizes", "784", "7", "10", "--epochs", "1"])
    assert "trained in 1.2 s, stored as results/runs/k.json" in capsys.readouterr().out


def test_ctrl_c_is_one_line_and_status_130(capsys, monkeypatch):
    from hw7.results import tune

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune, "main", interrupted)
    with pytest.raises(SystemExit) as exit_:
        main(["tune", "problem2", "--trials", "1"])
    assert exit_.value.code == 130 and capsys.readouterr().err == "interrupted\n"


def test_train_with_results_read_only_is_one_line_error():
    with readonly_project() as project:
        done = hw7_as_other_user(project, "train", "--sizes", "784", "7", "10", "--epochs", "1")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (f"error: {project}/results/runs is not writable (Permission denied); "
                                            "nothing was trained: make it writable for this user (or work in a copy "
                                            "of the project you can write) and run again")


def test_render_of_a_read_only_project_is_one_line_error(mnist, monkeypatch):
    # render verifies MNIST first: point the copy at the data the tests use (the copy holds no data/)
    monkeypatch.setenv("HW7_DATA", str(mnist.root))
    with readonly_project() as project:
        done = hw7_as_other_user(project, "render", "--to", "html")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (f"error: cannot write {project}/_book (Permission denied); fix: make "
                                            "it writable for this user, or render a copy of the book that this user "
                                            "can write")
