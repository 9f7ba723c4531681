"""The tables the chapters state their numbers from: synthetic frames, and the stored results."""

import pandas as pd
import pytest

from hw7.report import frames as S, tables as T
from hw7.report.formatting import pm
from hw7.results.experiments import experiment


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


def test_error_counts():
    records = [{"history": {"eval_acc": [0.5, 0.9873]}}, {"history": {"eval_acc": [0.99]}}]
    assert S.test_errors(records) == [127, 100]


def test_top_confusions_counts_only_errors_and_keeps_ties():
    truth = [3, 3, 3, 9, 9, 1]
    predicted = [5, 5, 3, 4, 9, 7]
    assert S.top_confusions(predicted, truth, n=1) == [(3, 5, 2)]
    # (1, 7) and (9, 4) both occur once: the second place is shared, so both are listed
    assert S.top_confusions(predicted, truth, n=2) == [(3, 5, 2), (1, 7, 1), (9, 4, 1)]


def test_variant_table_averages_the_final_epoch():
    df = pd.DataFrame({"key": ["a", "a", "b"], "dropout": [0.0, 0.0, 0.4], "epoch": [1, 2, 1],
                       "eval_acc": [0.5, 0.9, 0.8], "eval_loss": [1.0, 0.2, 0.3],
                       "train_acc": [0.6, 1.0, 0.85], "diverged_epoch": [None] * 3})
    out = S.variant_table(df, "dropout").set_index("dropout")
    assert out.loc[0.0, "accuracy"] == 0.9 and out.loc[0.4, "training accuracy"] == 0.85


def test_best_networks_table_reads_the_stored_runs():
    """Every stored "best" experiment has a row whose numbers come from its stored runs."""
    table = T.best_networks_table()
    names = [name for *_, name in T.BEST_NETWORKS if S.stored(name)]
    assert len(table) == len(names) >= 1
    for (_, row), name in zip(table.iterrows(), names):
        last = S.final(S.runs(name))["eval_acc"]
        assert row["test accuracy"] == pm(last.mean(), last.std())
        assert row["seeds"] == str(len(experiment(name)))
        assert row["parameters"] == f"{experiment(name)[0].n_params / 1e6:.2f} M"


def test_equal_width_gives_the_closest_parameter_count():
    from hw7.config import RunConfig
    from hw7.results.experiments import equal_width

    def params(width, depth):
        return RunConfig(sizes=(784,) + (width,) * depth + (10,)).n_params

    assert equal_width(params(800, 1), 1) == 800  # an exact count gives its own width back
    for depth in (2, 3, 4):
        w = equal_width(params(800, 1), depth)
        gap = abs(params(w, depth) - params(800, 1))
        assert gap <= abs(params(w - 1, depth) - params(800, 1)) and gap <= abs(params(w + 1, depth) - params(800, 1))
    assert equal_width(params(800, 1), 2) == 493  # w² + 796 w + 10 = 636,010 at w ≈ 493.3
    assert equal_width(1, 3) == 1  # smaller than any network: the smallest width
    with pytest.raises(ValueError, match="depth >= 1"):
        equal_width(1000, 0)


def test_at_depth_counts_batch_norm_parameters():
    """The one-layer batch-norm network matches the two-layer one's count, scales and shifts included."""
    from hw7.results.experiments import LONG_BATCHNORM_RECIPE, SHALLOW_BATCHNORM_RECIPE, at_depth

    deep, shallow = LONG_BATCHNORM_RECIPE, SHALLOW_BATCHNORM_RECIPE
    assert shallow == at_depth(deep, 1) and shallow.replace(sizes=deep.sizes) == deep
    assert shallow.sizes == (784, 3011, 10)  # 797 w + 10 = 2,400,010 at w ≈ 3011.3; without batch norm 3019
    assert abs(shallow.n_params - deep.n_params) <= 797 // 2
    assert at_depth(deep, 2) == deep  # a network already at its depth keeps its widths


def test_expanded_recipes_change_only_what_their_comments_say():
    """On distorted images the deep recipe drops dropout only; the one-layer recipe keeps the 3,011
    units but trains without batch norm, by SGD with max-norm, and its wider variant changes only the
    width and the schedule's length; all are tried on validation first."""
    from hw7.results.experiments import (EXPANDED_BATCHNORM_RECIPE, EXPANDED_MAXNORM_RECIPE,
                                         EXPANDED_WIDE_MAXNORM_RECIPE, LONG_BATCHNORM_RECIPE, SHALLOW_BATCHNORM_RECIPE)

    deep = EXPANDED_BATCHNORM_RECIPE
    assert deep.replace(augment="none", input_dropout=0.2, dropout=0.3) == LONG_BATCHNORM_RECIPE
    assert (deep.augment, deep.input_dropout, deep.dropout, deep.eval_on) == ("elastic", 0.0, 0.2, "val")
    assert [c.replace(seed=0, data_seed=0) for c in experiment("p3-batchnorm-expanded")] == [deep.replace(eval_on="test")] * 3
    one = EXPANDED_MAXNORM_RECIPE
    assert one.sizes == SHALLOW_BATCHNORM_RECIPE.sizes and not one.batch_norm and one.augment == "elastic"
    assert (one.optimizer, one.nesterov, one.max_norm, one.input_dropout, one.eval_on) == ("sgd", True, 3.0, 0.0, "val")
    assert one.warmup_epochs / one.epochs == LONG_BATCHNORM_RECIPE.warmup_epochs / LONG_BATCHNORM_RECIPE.epochs
    assert [c.replace(seed=0, data_seed=0) for c in experiment("p2-maxnorm-expanded")] == [one.replace(eval_on="test")] * 3
    wide = EXPANDED_WIDE_MAXNORM_RECIPE
    assert wide.replace(sizes=one.sizes, epochs=one.epochs, warmup_epochs=one.warmup_epochs) == one
    assert wide.sizes == (784, 4096, 10) and wide.n_params > one.n_params
    assert (wide.epochs, wide.warmup_epochs) == (LONG_BATCHNORM_RECIPE.epochs, LONG_BATCHNORM_RECIPE.warmup_epochs)
    assert [c.replace(seed=0, data_seed=0) for c in experiment("p2-maxnorm-wide-expanded")] == [wide.replace(eval_on="test")] * 3


def test_depth_experiment_changes_only_the_sizes():
    shallow, deep = experiment("p2-best"), experiment("p3-depth")
    assert len(deep) == 2 * len(shallow)
    for c in deep:
        twin = next(s for s in shallow if s.seed == c.seed)
        assert c.replace(sizes=twin.sizes) == twin
        assert len(set(c.sizes[1:-1])) == 1 and abs(c.n_params - twin.n_params) / twin.n_params < 0.005


def test_depth_table_shows_the_reference_then_differences():
    from types import SimpleNamespace

    from hw7.config import RunConfig
    from hw7.report.findings.common import Accuracy

    arms = [SimpleNamespace(config=RunConfig(sizes=(784, 800, 10)), hidden=(800,), test=Accuracy.of([0.98, 0.99]),
                            committee=0.9912, difference=0.0, standard_error=0.0),
            SimpleNamespace(config=RunConfig(sizes=(784, 493, 493, 10)), hidden=(493, 493),
                            test=Accuracy.of([0.985, 0.995]), committee=None, difference=0.005, standard_error=0.0071)]
    table = T.depth_table(arms, arms)
    assert list(table["committee of the seeds"]) == ["0.9912", "–"] * 2  # beside the seeds' mean; none where not stored
    assert list(table["hidden layers"][:2]) == ["1 × 800", "2 × 493"] and table["parameters"][0] == "636,010"
    assert table["difference from one hidden layer"][0] == "–"
    assert table["difference from one hidden layer"][1] == "+0.0050\u00a0±\u00a00.0071"
    # a second comparison starts again from its own one-hidden-layer reference
    assert list(table["difference from one hidden layer"][2:]) == ["–", "+0.0050\u00a0±\u00a00.0071"]
    assert table["training"][0] == "SGD, no dropout, 30 epochs"


def test_committee_averages_the_seeds_probabilities():
    """Three seeds, each wrong on a different image: the committee gets every image right. One
    confident seed outweighs two unsure ones. One record: its own accuracy."""
    import numpy as np

    from hw7.results.store import encode_probabilities

    def record(key, rows):
        return {"key": key, "probabilities": encode_probabilities(np.array(rows, dtype=float))}

    right = {0: [0.9, 0.1] + [0] * 8, 1: [0.2, 0.8] + [0] * 8}
    wrong = {0: [0.4, 0.6] + [0] * 8, 1: [0.6, 0.4] + [0] * 8}
    truth = [0, 1, 0]
    seeds = [record(str(k), [wrong[t] if i == k else right[t] for i, t in enumerate(truth)]) for k in range(3)]
    assert S.committee_accuracy(seeds, truth) == 1.0
    assert [S.committee_accuracy([r], truth) for r in seeds] == [pytest.approx(2 / 3)] * 3
    unsure, confident = [0.55, 0.45] + [0] * 8, [0.0, 1.0] + [0] * 8
    trio = [record("a", [unsure]), record("b", [unsure]), record("c", [confident])]
    assert S.committee_accuracy(trio, [0]) == 0.0  # averaged probabilities, not votes: two of three say 0
    assert S.committee_accuracy(trio, [1]) == 1.0
    with pytest.raises(ValueError, match=r"\['x'\] have none"):
        S.committee_accuracy(seeds + [{"key": "x"}], truth)
    with pytest.raises(ValueError, match="3 images against 2 labels"):
        S.committee_accuracy(seeds, truth[:2])
