"""One source for every number: the findings objects, the formats, and what reads them."""

import dataclasses
import re

import pytest
from IPython.display import Markdown

from hw7 import PROJECT_ROOT
from hw7.report import formatting as F, frames as S, headline

ROOT = PROJECT_ROOT
SRC = ROOT / "src" / "hw7"


# --- formatting ----------------------------------------------------------------

def test_powers_of_ten_one_format():
    nb = F.NBSP
    assert F.sci(4.04e-5) == f"4.0{nb}×{nb}10⁻⁵"
    assert F.sci(1e-4) == "10⁻⁴"
    assert F.sci(9.96e-3) == "10⁻²"  # rounds up to the next power, not "10.0 × 10⁻³"
    assert F.sci(2.17) == "2.2"  # no "× 10⁰"
    assert F.sci(-3.1e5) == f"−3.1{nb}×{nb}10⁵"
    assert F.rate(3e-4) == f"3{nb}×{nb}10⁻⁴" and F.rate(1e-3) == "10⁻³"
    assert [F.rate(x) for x in (0.01, 0.03, 1.0, 10.0)] == ["0.01", "0.03", "1", "10"]
    assert F.rate(8.7318e-4, 3) == f"8.73{nb}×{nb}10⁻⁴" and F.rate(0.16412, 3) == "0.164"


def test_mean_and_sd_never_wrap_and_ratios_have_no_false_precision():
    assert F.pm(0.98517, 0.00070) == f"0.9852{F.NBSP}±{F.NBSP}0.0007"
    assert F.times(24_325.3) == f"2.4{F.NBSP}×{F.NBSP}10⁴"
    assert F.times(33.33) == "33" and F.times(8.69) == "8.7"
    assert F.steps(-1) == "never" and F.steps(44767) == "44,767"
    assert F.difference(0.00207, 0.00049) == f"+0.0021{F.NBSP}±{F.NBSP}0.0005"
    assert F.difference(-0.001, 0.0004) == f"−0.0010{F.NBSP}±{F.NBSP}0.0004"


def test_names_for_the_reader():
    assert F.name("adam_lr") == "ADAM learning rate"
    assert F.name("xavier_normal") == "Xavier normal"
    assert F.name("some_new_param") == "some new param"


def test_inline_formats_are_markdown_with_the_same_text():
    value = F.inline.pm(0.9852, 0.0007)
    assert isinstance(value, Markdown) and value.data == F.pm(0.9852, 0.0007)
    assert F.inline.listing(["a", "b", "c"]).data == "a, b and c"


def test_number_formatting_lives_in_one_module():
    """Only hw7.report.formatting defines the number formats; nothing imports them from Problem 1's figures."""
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name != "formatting.py":
            assert not re.search(r"^def (sci|pm|num|rate)\(", text, re.M), path.name
        assert not re.search(r"from hw7\.report\.rosenbrock_figures import .*\b(sci|num|pm)\b", text), path.name


# --- findings and their readers ----------------------------------------------------

def test_ties_with_the_best_rate():
    import pandas as pd

    table = pd.DataFrame({"lr": [1e-4, 3e-4, 1e-3], "mean": [0.954, 0.9642, 0.9638],
                          "sd": [0.0003, 0.0027, 0.0029], "n": [3, 3, 3]})
    from hw7.report.findings.problem2 import tied_with_best

    assert tied_with_best(table) == (3e-4, 1e-3)


@pytest.fixture(scope="module")
def found(mnist):
    from hw7.report.findings.problem1 import problem1
    from hw7.report.findings.problem2 import problem2
    from hw7.report.findings.problem3 import problem3

    return problem1(), problem2(), problem3()


def test_findings_are_frozen_numbers(found):
    p1, p2, p3 = found
    for p in found:
        assert dataclasses.is_dataclass(p)
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.__setattr__(dataclasses.fields(p)[0].name, None)
    # ADAM at η = 10⁻⁴ oscillates: its settled level lies inside its band, its last step is one draw of it
    adam = p1.b["adam"]
    assert adam.band[0] < adam.settled < adam.band[1]
    assert p1.c["momentum"].diverged_at > 0 and p1.b["momentum"].final_error < 1e-10
    assert 3e-4 in p2.adam_tied and 1e-3 in p2.adam_tied
    assert p3.shallow_tuned.test == p2.tuned.test  # 3 (b) compares with the best shallow net of 2 (c)
    # 3 (c) says the batch-normalized recipe goes further on the validation split than the searched network
    assert p3.batchnorm_val.mean > max(p3.search.chosen_value, *(r[1] for r in p3.regularized))
    assert p3.batchnorm.eval_on == "val" and p3.batchnorm_val.n == 1
    # the longer schedule "raises the validation accuracy"; only the schedule differs
    assert p3.batchnorm_long_val.mean > p3.batchnorm_val.mean and p3.batchnorm_long_val.n == 1
    assert p3.batchnorm_long.replace(epochs=p3.batchnorm.epochs, warmup_epochs=p3.batchnorm.warmup_epochs) == p3.batchnorm
    # its one-layer version: "the same number of parameters and the same training", one validation run
    shallow = p3.batchnorm_shallow
    assert len(shallow.sizes) == 3 and shallow.replace(sizes=p3.batchnorm_long.sizes) == p3.batchnorm_long
    assert abs(shallow.n_params - p3.batchnorm_long.n_params) / p3.batchnorm_long.n_params < 1e-3
    assert p3.batchnorm_shallow_val.n == 1 and shallow.eval_on == "val"
    # ... and, retrained on all images (three seeds), "does better still" than the searched network and
    # "comes closest" of the report's networks on the original images; its committee is stored
    for test, committee in ((p3.batchnorm_test, p3.batchnorm_committee),
                            (p3.batchnorm_long_test, p3.batchnorm_long_committee)):
        assert test.n == 3 and committee is not None
        assert test.mean > max(p3.tuned.test.mean, p3.shallow_tuned.test.mean)
    # 3 (c): the assignment's "above 0.99 needs expanded data" holds for the searched networks on the
    # original images; the batch-normalized recipe "reaches the threshold" with the 200-epoch schedule
    # only, and the committees of both schedules "pass 0.99"
    originals = (p3.shallow_tuned, p3.tuned)
    assert max(n.test.mean for n in originals) < p3.batchnorm_test.mean < 0.99 <= p3.batchnorm_long_test.mean
    assert all(n.committee is None or n.committee < 0.99 for n in originals)
    assert min(p3.batchnorm_committee, p3.batchnorm_long_committee) > 0.99
    assert p3.batchnorm_long == p3.batchnorm.replace(epochs=p3.batchnorm_long.epochs,
                                                     warmup_epochs=p3.batchnorm_long.warmup_epochs)


def test_depth_comparison_reads_the_stored_runs(found):
    """3 (c)'s controlled comparison: the one-hidden-layer arm is Problem 2's tuned net, the deeper
    arms change only the sizes, and every number is the stored runs' (differences with Welch's
    standard error)."""
    import numpy as np

    _, p2, p3 = found
    one, *deeper = p3.depth
    assert one.hidden == (800,) and one.test.mean == pytest.approx(p2.tuned.test.mean, abs=1e-12)
    assert one.difference == 0 and one.standard_error == 0
    assert [a.hidden for a in deeper] == [(493, 493), (346,) * 4]
    last = S.final(S.runs("p3-depth"))
    for arm in deeper:
        assert arm.config.replace(sizes=one.config.sizes) == one.config  # the same recipe
        assert abs(arm.config.n_params - one.config.n_params) < 0.002 * one.config.n_params
        acc = last.loc[last["sizes"] == "-".join(map(str, arm.config.sizes)), "eval_acc"]
        assert arm.test.n == len(acc) == 3 and arm.test.mean == pytest.approx(acc.mean(), abs=1e-12)
        assert arm.difference == pytest.approx(arm.test.mean - one.test.mean, abs=1e-12)
        se = np.sqrt(arm.test.sd ** 2 / 3 + one.test.sd ** 2 / 3)
        assert arm.standard_error == pytest.approx(se) and arm.within_noise == (abs(arm.difference) <= 2 * se)
    # the stored results, with a tolerance (5 test images) that a real change of the training would exceed
    assert [a.test.mean for a in p3.depth] == pytest.approx([0.9852, 0.9872, 0.9863], abs=5e-4)
    # what the chapter's prose says of them: both deeper nets beyond the noise, two layers gaining most
    two, four = deeper
    assert not two.within_noise and not four.within_noise and two.difference > four.difference > 0


def test_batchnorm_depth_comparison_reads_the_stored_runs(found):
    """The second depth comparison: the 200-epoch batch-norm recipe with one hidden layer (2 (c)) and
    with two (3 (c)), only the sizes different, the same parameters, three seeds each on the test set;
    the difference has Welch's standard error."""
    import numpy as np

    _, p2, p3 = found
    one, two = p3.batchnorm_depth
    assert one.config == p2.batchnorm.config and one.test == p2.batchnorm.test and one.committee == p2.batchnorm.committee
    assert two.test == p3.batchnorm_long_test and two.committee == p3.batchnorm_long_committee
    assert one.hidden == p3.batchnorm_shallow.sizes[1:-1] and two.hidden == p3.batchnorm_long.sizes[1:-1]
    assert one.config.replace(sizes=two.config.sizes) == two.config and two.config.eval_on == "test"
    assert one.config == p3.batchnorm_shallow.replace(eval_on="test")  # the run checked on validation first
    assert abs(one.config.n_params - two.config.n_params) < 1e-3 * two.config.n_params
    assert one.test.n == two.test.n == 3 and None not in (one.committee, two.committee)
    assert two.difference == pytest.approx(two.test.mean - one.test.mean, abs=1e-12)
    assert two.standard_error == pytest.approx(np.sqrt(one.test.sd ** 2 / 3 + two.test.sd ** 2 / 3))
    last = S.final(S.runs("p3-batchnorm-shallow"))["eval_acc"]
    assert one.test.mean == pytest.approx(last.mean(), abs=1e-12) and len(last) == 3
    # the stored results, with a tolerance (5 test images) that a real change of the training would exceed
    assert [one.test.mean, two.test.mean] == pytest.approx([0.9875, 0.9900], abs=5e-4)
    # what the chapters say of it: 2 (c) "the search did not find the most one hidden layer can do",
    # yet "above 0.99 is out of reach on the original images" for one hidden layer, seeds and
    # committee alike; 3 (c) "depth does help here, under both recipes"
    assert one.test.mean > p2.tuned.test.mean + 2 * np.hypot(one.test.sd, p2.tuned.test.sd) / np.sqrt(3)
    assert max(one.test.best, p2.tuned.test.best, one.committee) < 0.99
    assert two.difference > 0 and not two.within_noise


def test_batchnorm_expanded_reads_the_stored_runs(found):
    """The batch-norm recipe on distorted images: validation first (seed 0, the fit images), then
    three seeds on the test set, with probabilities for the committee; what the chapter says of it."""
    from hw7.report import literature
    from hw7.results.experiments import EXPANDED_BATCHNORM_RECIPE

    _, p2, p3 = found
    net = p3.batchnorm_expanded
    assert net.config == EXPANDED_BATCHNORM_RECIPE.replace(eval_on="test") and net.test.n == 3
    assert p3.batchnorm_expanded_val.n == 1 and net.committee is not None
    assert S.final(S.runs("p3-batchnorm-expanded-val"))["eval_acc"].iloc[0] == p3.batchnorm_expanded_val.mean
    # the stored results, with a tolerance (5 images) that a real change of the training would exceed
    assert [p3.batchnorm_expanded_val.mean, net.test.mean] == pytest.approx([0.9946, 0.9955], abs=5e-4)
    # 3 (c): "the most accurate network of the report"; the comparisons with the literature are
    # computed in the chapter from `literature.reported`
    others = [p2.tuned, p2.expanded, p2.batchnorm, p2.maxnorm_expanded, p2.maxnorm_wide, p3.tuned, p3.expanded]
    assert all(net.test.mean > n.test.mean for n in others)
    assert net.test.mean > max(p3.batchnorm_test.mean, p3.batchnorm_long_test.mean)
    assert literature.reported("ciresan2010") > net.test.mean


def test_plain_sgd_reads_the_stored_runs(found):
    """SGD as the assignment's text describes it (no momentum): the same rates and seeds as p2-sgd."""
    from hw7.results.experiments import BASELINE, SGD_RATES, experiment

    _, p2, _ = found
    assert {c.lr for c in experiment("p2-sgd-plain")} == set(SGD_RATES)
    assert all(c.momentum == 0 and not c.nesterov and c.replace(momentum=BASELINE.momentum, nesterov=True, lr=0.001,
               seed=0, data_seed=0) == BASELINE for c in experiment("p2-sgd-plain"))
    by = S.by(S.runs("p2-sgd-plain")).set_index("lr")
    assert p2.plain_baseline.mean == by.loc[0.001, "mean"] and p2.plain_best.mean == by["mean"].max()
    # the stored results, with a tolerance (5 images) that a real change of the training would exceed
    assert [p2.plain_baseline.mean, p2.plain_best.mean] == pytest.approx([0.9125, 0.9656], abs=5e-4)
    assert p2.plain_best_lr == 0.1 and p2.plain_tied == (0.03, 0.1)
    assert p2.plain_baseline.mean < p2.baseline.mean - 5 * p2.baseline.sd  # "reaches only": well below momentum's


def test_maxnorm_expanded_reads_the_stored_runs(found):
    """One hidden layer on distorted images with SGD, dropout and max-norm: validation first (seed 0),
    then three seeds on the test set, with probabilities for the committee."""
    from hw7.results.experiments import EXPANDED_MAXNORM_RECIPE, EXPANDED_WIDE_MAXNORM_RECIPE

    _, p2, p3 = found
    net = p2.maxnorm_expanded
    assert net.config == EXPANDED_MAXNORM_RECIPE.replace(eval_on="test") and net.test.n == 3
    assert net.committee is not None and p3.shallow_maxnorm_expanded == net
    assert S.final(S.runs("p2-maxnorm-expanded-val"))["eval_acc"].iloc[0] == p2.maxnorm_expanded_val.mean
    # the stored results, with a tolerance (5 images) that a real change of the training would exceed
    assert [p2.maxnorm_expanded_val.mean, net.test.mean] == pytest.approx([0.9921, 0.9932], abs=5e-4)
    # its wider, longer variant, chosen on validation the same way
    wide = p2.maxnorm_wide
    assert wide.config == EXPANDED_WIDE_MAXNORM_RECIPE.replace(eval_on="test") and wide.test.n == 3
    assert wide.committee is not None and p3.shallow_maxnorm_wide == wide and p2.maxnorm_wide_val.n == 1
    assert [p2.maxnorm_wide_val.mean, wide.test.mean] == pytest.approx([0.9929, 0.9938], abs=5e-4)


def test_against_a_published_result_in_words():
    """The words comparing a mean over seeds with a published accuracy: direction, errors per 10,000
    (rounded, singular for one), and whether the gap exceeds the seeds' standard deviation."""
    from hw7.report import literature
    from hw7.report.findings.common import Accuracy

    def mean(m: float, sd: float) -> Accuracy:
        return Accuracy(m, sd, 3, m + sd, m - sd)

    assert literature.against(mean(0.9932, 0.0008), "simard2003") == (
        "passes it by 2 errors per 10,000, less than the standard deviation of its seeds")
    assert literature.against(mean(0.9929, 0.00005), "simard2003") == (
        "falls short of it by 1 error per 10,000, more than the standard deviation of its seeds")
    assert literature.against(mean(0.99302, 0.0), "simard2003") == "matches it to within one error per 10,000"


def test_published_numbers_are_read_by_key():
    from hw7.report import literature

    assert literature.reported("simard2003") == 0.993 and literature.reported("srivastava2014") == 0.9905
    assert literature.parameters("simard2003") == 784 * 800 + 800 + 800 * 10 + 10
    assert literature.parameters("ciresan2010") == 11_972_510
    with pytest.raises(ValueError, match="no published result with key 'nobody'"):
        literature.reported("nobody")
    with pytest.raises(ValueError, match="goodfellow2013"):
        literature.parameters("goodfellow2013")


def test_headline_reads_the_findings(found, monkeypatch):
    """The headline's numbers are the findings' numbers: change a finding and the headline follows."""
    p1, p2, p3 = found
    rows = {(r["part"], r["question"]): r["answer"] for r in headline.mnist_rows()}
    assert rows[("2 (c)", "tuned one hidden layer")] == F.pm(p2.tuned.test.mean, p2.tuned.test.sd) + (
        "" if p2.tuned.committee is None else f"; committee of the seeds {F.fixed(p2.tuned.committee)}")
    ratio = rows[("3 (b)", "deep ReLU net, Kaiming init: gradient ratio, accuracy")]
    assert f"{p3.ratio_relu.first:.2f}" in ratio and f"{p3.ratio_relu.last:.2f}" in ratio
    bn = rows[("3 (c)", f"deep dense net with batch norm and AdamW, {p3.batchnorm_long.epochs} epochs, chosen on validation")]
    assert bn == (f"{F.pm(p3.batchnorm_long_test.mean, p3.batchnorm_long_test.sd)}; "
                  f"committee of the seeds {F.fixed(p3.batchnorm_long_committee)}")
    expanded = rows[("3 (c)", f"deep dense net with batch norm and AdamW, expanded data, {p3.batchnorm_expanded.config.epochs} epochs")]
    assert expanded.startswith(F.pm(p3.batchnorm_expanded.test.mean, p3.batchnorm_expanded.test.sd))
    for net in (p2.maxnorm_expanded, p2.maxnorm_wide):
        maxnorm = rows[("2 (c)", f"one hidden layer of {F.count(net.config.sizes[1])} units with dropout and max-norm, "
                                 f"expanded data, {net.config.epochs} epochs")]
        assert maxnorm == f"{F.pm(net.test.mean, net.test.sd)}; committee of the seeds {F.fixed(net.committee)}"
    b = headline.problem1_rows()[0]["answer"]
    assert F.sci(p1.b["adam"].settled) in b and F.sci(p1.b["adam"].final_error) not in b

    for committee, shown in ((None, ""), (0.75, "; committee of the seeds 0.7500")):
        fake = dataclasses.replace(p2, tuned=dataclasses.replace(
            p2.tuned, test=dataclasses.replace(p2.tuned.test, mean=0.5, sd=0.25), committee=committee))
        monkeypatch.setattr(headline, "problem2", lambda: fake)
        rows = {(r["part"], r["question"]): r["answer"] for r in headline.mnist_rows()}
        assert rows[("2 (c)", "tuned one hidden layer")] == F.pm(0.5, 0.25) + shown


def test_committees_read_the_stored_probabilities(found):
    """Every tuned network's records keep their probabilities, and its committee is theirs
    (`committee_accuracy`); a committee of one stored record is that run's own final test accuracy."""
    from hw7.data import load_mnist
    from hw7.report.findings.common import committee
    from hw7.results import store

    truth = load_mnist().test_y
    _, p2, p3 = found
    nets = {"p2-best": p2.tuned, "p2-best-expanded": p2.expanded, "p3-best": p3.tuned, "p3-best-expanded": p3.expanded}
    for name, net in nets.items():
        records = S.records(name)
        assert all("probabilities" in r for r in records), name
        assert net.committee == S.committee_accuracy(records, truth)
        for r in records:
            assert S.committee_accuracy([r], truth) == pytest.approx(r["history"]["eval_acc"][-1], abs=1e-6)
            if "predictions" in r:
                assert (store.probabilities(r).argmax(1) == r["predictions"]).all()
    one, *deeper = p3.depth
    assert one.committee == p2.tuned.committee and all(a.committee is not None for a in deeper)
    assert committee(("p3-depth",), deeper[0].config.sizes) == deeper[0].committee


def test_placed_against_the_dropout_networks():
    """The words that place an accuracy against the published dropout and maxout range, at its edges too."""
    from hw7.report import literature

    lo, hi = literature.dropout_range()
    assert (lo, hi) == (0.9894, 0.9906)
    assert [literature.placed(a) for a in (lo - 1e-4, lo, (lo + hi) / 2, hi, hi + 1e-4)] == [
        "below them", "within their range", "within their range", "within their range", "above them"]


def test_no_committee_without_probabilities(found, monkeypatch):
    """Records that keep no probabilities give no committee: None, and "–" in the tables beside the
    single networks' accuracy, which stays."""
    from hw7.report import literature
    from hw7.report.findings import common as findings

    _, _, p3 = found
    without = dataclasses.replace(p3, expanded=dataclasses.replace(p3.expanded, committee=None))
    row = literature.comparison_table(without).iloc[5]
    assert row["committee of the seeds"] == "–" and row["test accuracy"].startswith(F.fixed(p3.expanded.test.mean * 100, 2))
    table = literature.comparison_table(p3)
    for row, width, epochs, net in ((2, 3011, 150, p3.shallow_maxnorm_expanded),  # the shallow networks first
                                    (3, 4096, 200, p3.shallow_maxnorm_wide)):
        maxnorm = table.iloc[row]
        assert maxnorm["network"] == f"784-{width}-10 (Problem 2)"
        assert maxnorm["training"] == f"SGD, dropout 0.3, max-norm 3, affine and elastic distortions, {epochs} epochs"
        assert maxnorm["committee of the seeds"] == f"{F.fixed(net.committee * 100, 2)}\u00a0%"
    for row, config, committee in ((6, p3.batchnorm_depth[0].config, p3.batchnorm_depth[0].committee),
                                   (7, p3.batchnorm, p3.batchnorm_committee),  # after the tuned networks
                                   (8, p3.batchnorm_long, p3.batchnorm_long_committee),
                                   (9, p3.batchnorm_expanded.config, p3.batchnorm_expanded.committee)):
        bn = table.iloc[row]
        assert bn["network"] == f"{'-'.join(map(str, config.sizes))} (Problem {2 if row == 6 else 3})"
        assert bn["training"].startswith("batch norm, AdamW")
        assert bn["training"].endswith(f", {config.epochs} epochs")
        assert bn["committee of the seeds"] == f"{F.fixed(committee * 100, 2)}\u00a0%"
    monkeypatch.setattr(S, "records", lambda name: [{"key": "a", "config": {"sizes": [784, 800, 10]}}])
    assert findings.committee.__wrapped__(("p3-best-expanded",)) is None


# --- the chapters never train -----------------------------------------------------------

def test_missing_runs_raise_a_clear_error_and_train_nothing(tmp_path, monkeypatch):
    from hw7.results import store

    monkeypatch.setattr(store, "RESULTS", tmp_path)  # an empty run store
    from hw7.results import sweep

    monkeypatch.setattr(sweep, "train_group", lambda *a, **k: pytest.fail("the report must not train"))
    with pytest.raises(S.MissingRuns, match=r"3 of the 3 runs of experiment 'p3-sigmoid'.*"
                                            r"`python -m hw7 run p3-sigmoid`"):
        S.records("p3-sigmoid")


def test_the_report_reads_the_store_without_torch():
    """Importing torch costs a second per chapter; the numbers of every problem need none of it."""
    import subprocess
    import sys

    code = ("import sys\nfrom hw7.report import headline, mnist_figures, rosenbrock_figures, tables\n"
            "from hw7.report.findings import problem1, problem2, problem3\n"
            "problem1.problem1(), problem2.problem2(), problem3.problem3(), headline.headline_table()\n"
            "tables.experiment_table()\nassert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
