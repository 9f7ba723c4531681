"""Text tables of the MNIST chapters, from stored runs and findings (never trained here).

Each function returns a DataFrame of text (numbers formatted by `hw7.report.formatting`),
shown by a chapter with ``formatting.table``.
"""

from __future__ import annotations

import pandas as pd

from hw7.report import frames
from hw7.report.formatting import count, difference, fixed, fraction, name as display_name, pm, rate, sci
from hw7.report.literature import training
from hw7.results import store, tune
from hw7.results.experiments import EXPERIMENTS, experiment


def rate_table(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Final accuracy (mean ± sd over seeds) per learning rate, one column per optimizer."""
    cols = {label: s.set_index("lr").apply(lambda r: pm(r["mean"], r["sd"]), axis=1)
            for label, s in summaries.items()}
    out = pd.DataFrame(cols).reset_index().rename(columns={"lr": "learning rate"})
    out["learning rate"] = out["learning rate"].map(rate)  # text: not re-parsed as a float
    return out.fillna("–")


def ratio_table(runs: dict[str, pd.DataFrame], epochs=(1, 2, 5, 10, 20, 30)) -> pd.DataFrame:
    """Gradient ratio and test accuracy (means over seeds) at selected epochs, per network, as text."""

    out = pd.DataFrame({"epoch": [str(e) for e in epochs]})
    means = {label: df.groupby("epoch")[["grad_ratio", "eval_acc"]].mean().reindex(epochs)
             for label, df in runs.items()}
    for label, m in means.items():
        out[f"{label}: ratio"] = m["grad_ratio"].map(lambda v: sci(v, 3)).to_numpy()
    for label, m in means.items():
        out[f"{label}: accuracy"] = m["eval_acc"].map(fixed).to_numpy()
    return out


def experiment_table() -> pd.DataFrame:
    """Every stored experiment and search, named by the command that recomputes it (a code span),
    with its runs, epochs trained, the compute it took and the threads each process trained with (recorded by runs, not by trials: "–")."""
    rows = []
    for name in EXPERIMENTS:
        try:
            found = [store.load(c) for c in experiment(name)]
        except tune.JournalError:  # a faulty search is an error, never a silently missing row
            raise
        except ValueError:  # its search has no finished trial yet
            continue
        stored = [r for r in found if r is not None]
        if not stored:
            continue
        df = store.frame(stored)
        rows.append({"experiment (the command that recomputes it)": f"`python -m hw7 run {name}`",
                     "runs stored": f"{len(stored)} of {len(found)}", "epochs": f"{len(df):,}",
                     "compute (min)": f"{frames.compute_seconds(df) / 60:.1f}",
                     "threads": ", ".join(str(t) for t in sorted({r["environment"]["threads"] for r in stored}))})
    for name in tune.SPACES:
        try:
            trials = tune.trials_frame(tune.load(name))
        except tune.JournalError:
            raise
        except ValueError:  # not started
            continue
        command = f"`python -m hw7 tune {name} --trials {len(trials)}`"
        rows.append({"experiment (the command that recomputes it)": command,
                     "runs stored": f"{len(trials)} trials", "epochs": f"{int(trials['epochs_run'].sum()):,}",
                     "compute (min)": f"{float(trials['seconds'].sum()) / 60:.1f}", "threads": "–"})
    return pd.DataFrame(rows)


def config_table(config) -> pd.DataFrame:
    """A config's hyperparameters as a two-column table of text (only those that apply to it)."""
    rows = [("layers", "-".join(map(str, config.sizes))), ("activation", display_name(config.activation)),
            ("initialization", display_name(config.init)),
            ("optimizer", "SGD, Nesterov momentum" if config.optimizer == "sgd" and config.nesterov
             else display_name(config.optimizer)),
            ("learning rate", rate(config.lr, 3))]
    if config.optimizer == "sgd":
        rows.append(("momentum", f"{config.momentum:.3g}"))
    else:
        rows.append(("β₁, β₂", f"{config.betas[0]:.3g}, {config.betas[1]:.3g}"))
    schedule = {"none": "constant", "cosine": "cosine decay to 0",
                "step": f"×{config.gamma:.2g} every {config.step_size} epochs"}[config.schedule]
    rows += [("schedule", schedule), ("batch size", str(config.batch_size)),
             ("weight decay", rate(config.weight_decay, 2)), ("dropout", fraction(config.dropout)),
             ("epochs", str(config.epochs))]
    if config.ema:
        rows.append(("weight average", f"exponential, decay {config.ema:g} per step"))
    return pd.DataFrame(rows, columns=["hyperparameter", "value"])


BEST_NETWORKS = (("shallow", "original", "p2-best"),
                 ("shallow", "expanded", "p2-best-expanded"),
                 ("deep", "original", "p3-best"),
                 ("deep", "expanded", "p3-best-expanded"))


def best_networks_table() -> pd.DataFrame:
    """Every tuned network of the report: hidden layers, parameters, epochs and test accuracy
    over seeds, as text. Experiments not stored yet are left out."""
    rows = []
    for depth, data, name in BEST_NETWORKS:
        if not frames.stored(name):
            continue
        last, config = frames.final(frames.runs(name)), experiment(name)[0]
        rows.append({"network": depth, "data": data, "hidden layers": ", ".join(map(str, config.sizes[1:-1])),
                     "parameters": f"{config.n_params / 1e6:.2f} M", "epochs": str(config.epochs),
                     "test accuracy": pm(last["eval_acc"].mean(), last["eval_acc"].std()),
                     "seeds": str(len(last))})
    return pd.DataFrame(rows)


def variant_text(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`variant_table` as text for display: dropout to two decimals, the rest to four."""
    out = table.copy()
    for column in out.columns:
        out[column] = out[column].map(lambda v, c=column: f"{v:.2f}" if c == "dropout" else fixed(v))
    return out


def depth_table(*comparisons) -> pd.DataFrame:
    """Controlled depth comparisons (each a sequence of ``hw7.report.findings.problem3.DepthArm``s, its
    one-hidden-layer reference first) as text, one after the other: how the arms were trained,
    hidden layers (depth × width: the arms' layers are equally wide), parameters, test accuracy over seeds, the committee of the seeds ("–" where
    not stored), and each deeper arm's difference from its own reference ± its standard error."""

    rows = []
    for arms in comparisons:
        for i, arm in enumerate(arms):
            rows.append({"training": training(arm.config), "hidden layers": f"{len(arm.hidden)} × {count(arm.hidden[0])}",
                         "parameters": count(arm.config.n_params), "test accuracy": pm(arm.test.mean, arm.test.sd),
                         "committee of the seeds": "–" if arm.committee is None else fixed(arm.committee),
                         "difference from one hidden layer": "–" if i == 0 else
                         difference(arm.difference, arm.standard_error),
                         "seeds": str(arm.test.n)})
    return pd.DataFrame(rows)
