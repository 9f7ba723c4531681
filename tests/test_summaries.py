"""The tables the chapters state their numbers from: synthetic frames, and the stored results."""

import pandas as pd
import pytest

from hw7 import summaries as S
from hw7.experiments import experiment


def frame(rows):
    """A tidy per-epoch frame like ``store.frame``: (key, lr, epoch, eval_acc, diverged_epoch)."""
    return pd.DataFrame(rows, columns=["key", "lr", "epoch", "eval_acc", "diverged_epoch"])


def test_final_takes_each_runs_last_epoch_and_by_counts_divergence_as_chance():
    df = frame([("a", 0.1, 1, 0.5, None), ("a", 0.1, 2, 0.9, None),
                ("b", 0.1, 1, 0.6, None), ("b", 0.1, 2, 0.8, None),
                ("c", 1.0, 1, 0.3, 0)])  # diverged in its first epoch
    assert S.final(df)["eval_acc"].tolist() == [0.9, 0.8, 0.3]
    by = S.by(df).set_index("lr")
    assert by.loc[0.1, "mean"] == pytest.approx(0.85) and by.loc[0.1, "n"] == 2
    assert by.loc[1.0, "mean"] == 0.1 and by.loc[1.0, "diverged"] == 1


def test_goal_status_and_error_counts():
    assert S.goal_status(0.9873, 0.988) == "missed by 0.0007 (0.9873 < 0.988)"
    assert S.goal_status(0.9939, 0.993) == "met (0.9939 ≥ 0.993)"
    records = [{"history": {"eval_acc": [0.5, 0.9873]}}, {"history": {"eval_acc": [0.99]}}]
    assert S.test_errors(records) == [127, 100]


def test_top_confusions_counts_only_errors():
    truth = [3, 3, 3, 9, 9, 1]
    predicted = [5, 5, 3, 4, 9, 7]
    assert S.top_confusions(predicted, truth, n=2) == [(3, 5, 2), (1, 7, 1)]


def test_variant_table_averages_the_final_epoch():
    df = pd.DataFrame({"key": ["a", "a", "b"], "dropout": [0.0, 0.0, 0.4], "epoch": [1, 2, 1],
                       "eval_acc": [0.5, 0.9, 0.8], "eval_loss": [1.0, 0.2, 0.3],
                       "train_acc": [0.6, 1.0, 0.85], "diverged_epoch": [None] * 3})
    out = S.variant_table(df, "dropout").set_index("dropout")
    assert out.loc[0.0, "accuracy"] == 0.9 and out.loc[0.4, "training accuracy"] == 0.85


def test_best_networks_table_reads_the_stored_runs():
    """Every stored "best" experiment has a row whose numbers come from its stored runs."""
    table = S.best_networks_table()
    names = [name for *_, name, _ in S.BEST_NETWORKS if S.stored(name)]
    assert len(table) == len(names) >= 1
    for (_, row), name in zip(table.iterrows(), names):
        last = S.final(S.runs(name, train_missing=False))["eval_acc"]
        assert row["test accuracy"] == S.pm(last.mean(), last.std())
        assert row["seeds"] == len(experiment(name))
        assert row["parameters"] == f"{experiment(name)[0].n_params / 1e6:.2f} M"
        assert row["search (min)"] > 0 and row["training (min)"] > 0
