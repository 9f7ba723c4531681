"""The Optuna search: trials on the validation split, stored in a journal that a second process extends."""

import subprocess
import sys

import optuna
import pytest

from hw7 import tune
from hw7.config import RunConfig


def tiny_space(trial: optuna.Trial) -> RunConfig:
    return RunConfig(sizes=(784, trial.suggest_int("width", 8, 32), 10), batch_size=100, epochs=2,
                     lr=trial.suggest_float("sgd_lr", 0.01, 0.5, log=True), eval_on="val")


def test_study_resumes_from_a_second_process(mnist, tmp_path, monkeypatch):
    journal = tmp_path / "tiny.log"
    monkeypatch.setitem(tune.SPACES, "tiny", tiny_space)
    first = tune.search("tiny", trials=2, storage=tune.storage_for("tiny", str(journal)), subset=2000)
    assert len(first.trials) == 2 and journal.stat().st_size > 0
    params = [t.params for t in first.trials]
    first.ask()  # a trial left running, as by a killed search
    config = tune.best_config(first)
    assert config.eval_on == "val"  # tuned on the validation split ...
    assert all(c.eval_on == "test" for c in tune.final_configs(first))  # ... evaluated on test after
    code = ("import sys; from hw7 import tune; from tests.test_tune import tiny_space; "
            "tune.SPACES['tiny'] = tiny_space; "
            f"tune.search('tiny', trials=1, storage=tune.storage_for('tiny', {str(journal)!r}), subset=2000)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tune.RESULTS.parent)
    again = tune.study("tiny", tune.storage_for("tiny", str(journal)))
    states = [t.state.name for t in again.trials]
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]  # the stale trial was marked failed
    assert [t.params for t in again.trials[:2]] == params
    assert all(0.0 < t.value <= 1.0 for t in again.trials if t.state.name == "COMPLETE")


def test_unknown_study():
    with pytest.raises(ValueError, match="unknown study"):
        tune.search("problem9", trials=1)


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
