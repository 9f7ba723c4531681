"""Tables the MNIST chapters state their numbers from, computed from stored runs."""

from __future__ import annotations

import pandas as pd

from hw7 import store
from hw7.experiments import WITH_PREDICTIONS, experiment
from hw7.sweep import train_many


def records(name: str, **kwargs) -> list[dict]:
    """The stored records of a named experiment (trains what the store lacks)."""
    return train_many(experiment(name), predictions=name in WITH_PREDICTIONS, **kwargs)


def runs(name: str, **kwargs) -> pd.DataFrame:
    """Tidy per-epoch table of a named experiment (trains what the store lacks)."""
    return store.frame(records(name, **kwargs))


def final(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its last recorded epoch (a diverged run's last is its divergence)."""
    return df[df["epoch"] == df.groupby("key")["epoch"].transform("max")].reset_index(drop=True)


def by(df: pd.DataFrame, column: str = "lr", metric: str = "eval_acc") -> pd.DataFrame:
    """Final ``metric`` per value of ``column`` over seeds: mean, sd, n, and how many diverged.

    A diverged run counts with accuracy 0.1 (chance): it did not learn.
    """
    last = final(df).copy()
    last[metric] = last[metric].where(last["diverged_epoch"].isna(), 0.1)
    g = last.groupby(column)
    out = pd.DataFrame({"mean": g[metric].mean(), "sd": g[metric].std(ddof=1), "n": g.size(),
                        "diverged": g["diverged_epoch"].count()})
    return out.reset_index()


def curves(df: pd.DataFrame, column: str = "lr", metric: str = "eval_acc") -> pd.DataFrame:
    """Per ``column`` value and epoch: mean, min and max of ``metric`` over seeds."""
    g = df.groupby([column, "epoch"])[metric]
    return pd.DataFrame({"mean": g.mean(), "lo": g.min(), "hi": g.max()}).reset_index()


def best(summary: pd.DataFrame, column: str = "lr") -> pd.Series:
    """The row with the highest mean final accuracy."""
    return summary.loc[summary["mean"].idxmax()]


def pm(mean: float, sd: float, digits: int = 4) -> str:
    """``0.9412 ± 0.0021``: a mean and standard deviation for the prose."""
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def compute_seconds(df: pd.DataFrame) -> float:
    """Wall-clock seconds the runs of ``df`` took (each run's share of its stacked group)."""
    return float((df["seconds"] / df["group_size"]).sum())


def layer_norms(df: pd.DataFrame) -> "np.ndarray":
    """[layer, epoch]: weight-gradient norm per layer (input layer first), averaged over seeds."""
    import numpy as np

    per_epoch = df.groupby("epoch")["grad_norms"].apply(lambda s: np.mean(np.array(s.tolist(), dtype=float), 0))
    return np.stack(per_epoch.to_list(), axis=1)


def attenuation(df: pd.DataFrame) -> float:
    """Geometric-mean factor by which the gradient norm shrinks per layer, from output to input."""
    import numpy as np

    n = np.log(layer_norms(df))
    return float(np.exp(np.mean(n[1:] - n[:-1])))


def rate_table(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Final accuracy (mean ± sd over seeds) per learning rate, one column per optimizer."""
    cols = {label: s.set_index("lr").apply(lambda r: pm(r["mean"], r["sd"]), axis=1)
            for label, s in summaries.items()}
    out = pd.DataFrame(cols).reset_index().rename(columns={"lr": "learning rate"})
    from hw7.rosenbrock_plots import sci

    out["learning rate"] = out["learning rate"].map(lambda v: sci(v, 1))  # "3 × 10⁻⁵": not re-parsed as a float
    return out.fillna("–")


def ratio_table(runs: dict[str, pd.DataFrame], epochs=(1, 2, 5, 10, 20, 30)) -> pd.DataFrame:
    """Gradient ratio and test accuracy (means over seeds) at selected epochs, per network."""
    out = pd.DataFrame({"epoch": list(epochs)})
    for label, df in runs.items():
        m = df.groupby("epoch")[["grad_ratio", "eval_acc"]].mean()
        out[f"{label} ratio"] = m["grad_ratio"].reindex(epochs).to_numpy()
    for label, df in runs.items():
        m = df.groupby("epoch")[["grad_ratio", "eval_acc"]].mean()
        out[f"{label} accuracy"] = m["eval_acc"].reindex(epochs).to_numpy()
    return out


def majority_rate() -> float:
    """Test accuracy of always answering the most frequent digit of the test set."""
    from hw7.data import load_mnist

    y = load_mnist().test_y
    return float(y.bincount().max()) / len(y)


def near_best(summary: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Rows whose mean final accuracy is within ``tolerance`` of the best."""
    return summary[summary["mean"] >= summary["mean"].max() - tolerance]


def epoch_acc(df: pd.DataFrame, lr: float, epoch: int) -> float:
    """Mean test accuracy over seeds at one learning rate after ``epoch`` epochs."""
    return float(df[(df["lr"] == lr) & (df["epoch"] == epoch)]["eval_acc"].mean())


def experiment_table() -> pd.DataFrame:
    """Every stored experiment and search: runs, epochs trained, and the compute it took."""
    from hw7.experiments import EXPERIMENTS

    rows = []
    for name in EXPERIMENTS:
        try:
            found = [store.load(c) for c in experiment(name)]
        except ValueError:  # its search has no finished trial yet
            continue
        stored = [r for r in found if r is not None]
        if not stored:
            continue
        df = store.frame(stored)
        rows.append({"experiment": name, "runs stored": f"{len(stored)} of {len(found)}",
                     "epochs trained": int(len(df)), "compute (min)": compute_seconds(df) / 60,
                     "recompute with": f"python -m hw7 run {name}"})
    from hw7 import tune

    for name in tune.SPACES:
        try:
            trials = tune.trials_frame(tune.load(name))
        except ValueError:  # not started
            continue
        rows.append({"experiment": f"search {name}", "runs stored": f"{len(trials)} trials",
                     "epochs trained": int(trials["epochs_run"].sum()),
                     "compute (min)": float(trials["seconds"].sum()) / 60,
                     "recompute with": f"python -m hw7 tune {name} --trials {len(trials)}"})
    return pd.DataFrame(rows)


def stored(name: str) -> bool:
    """Whether every run of a named experiment is in the store (False if its search has no result)."""
    try:
        return all(store.load(c) is not None for c in experiment(name))
    except ValueError:
        return False


def config_table(config) -> pd.DataFrame:
    """A config's hyperparameters as a two-column table (only those that apply to it)."""
    rows = [("layers", "-".join(map(str, config.sizes))), ("activation", config.activation),
            ("initialization", config.init), ("optimizer", config.optimizer),
            ("learning rate", f"{config.lr:.3g}")]
    if config.optimizer == "sgd":
        rows.append(("momentum (Nesterov)" if config.nesterov else "momentum", f"{config.momentum:.3g}"))
    else:
        rows.append(("betas", f"({config.betas[0]:.3g}, {config.betas[1]:.3g})"))
    schedule = {"none": "constant", "cosine": "cosine decay to 0",
                "step": f"×{config.gamma:.2g} every {config.step_size} epochs"}[config.schedule]
    rows += [("schedule", schedule), ("batch size", str(config.batch_size)),
             ("weight decay", f"{config.weight_decay:.2g}"), ("dropout", f"{config.dropout:.2f}"),
             ("epochs", str(config.epochs))]
    return pd.DataFrame(rows, columns=["hyperparameter", "value"])


def goal_status(accuracy: float, goal: float) -> str:
    """'met (0.9861 ≥ 0.985)' or 'missed by 0.0012 (0.9838 < 0.985)'."""
    if accuracy >= goal:
        return f"met ({accuracy:.4f} ≥ {goal:g})"
    return f"missed by {goal - accuracy:.4f} ({accuracy:.4f} < {goal:g})"


def test_errors(records: list[dict], n_test: int = 10_000) -> list[int]:
    """Number of misclassified test images of each run, from its final test accuracy."""
    return [round((1 - r["history"]["eval_acc"][-1]) * n_test) for r in records]


def top_confusions(predicted, truth, n: int = 3) -> list[tuple[int, int, int]]:
    """The ``n`` most frequent (true digit, predicted digit, count) errors."""
    import torch

    pairs = torch.as_tensor(truth) * 10 + torch.as_tensor(predicted)
    wrong = pairs[torch.as_tensor(truth) != torch.as_tensor(predicted)]
    counts = torch.bincount(wrong, minlength=100)
    top = torch.argsort(counts, descending=True, stable=True)[:n]
    return [(int(i) // 10, int(i) % 10, int(counts[i])) for i in top]


BEST_NETWORKS = (("shallow", "original", "p2-best", "problem2"),
                 ("shallow", "expanded", "p2-best-expanded", "problem2"),
                 ("deep", "original", "p3-best", "problem3"),
                 ("deep", "expanded", "p3-best-expanded", "problem3"))


def best_networks_table() -> pd.DataFrame:
    """Every tuned network of the report: layers, parameters, test accuracy over seeds, and compute.

    The search's minutes are those of the search that chose the hyperparameters (shared by
    the original- and expanded-data rows of one depth); the training minutes are the final
    runs on all 60,000 training images, all seeds together. Experiments not stored yet are
    left out.
    """
    from hw7 import tune

    rows = []
    for depth, data, name, study in BEST_NETWORKS:
        if not stored(name):
            continue
        df = runs(name, train_missing=False)
        last, config = final(df), experiment(name)[0]
        rows.append({"network": depth, "data": data, "hidden layers": ", ".join(map(str, config.sizes[1:-1])),
                     "parameters": f"{config.n_params / 1e6:.2f} M",
                     "test accuracy": pm(last["eval_acc"].mean(), last["eval_acc"].std()),
                     "seeds": len(last), "epochs": config.epochs,
                     "search (min)": float(tune.trials_frame(tune.load(study))["seconds"].sum()) / 60,
                     "training (min)": compute_seconds(df) / 60})
    return pd.DataFrame(rows)


def variant_table(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per value of ``column``: the final accuracy and loss on the evaluation split and the
    accuracy on 10,000 training images (mean over the runs that share the value)."""
    last = final(df)
    out = last.groupby(column)[["eval_acc", "eval_loss", "train_acc"]].mean().reset_index()
    return out.rename(columns={"eval_acc": "accuracy", "eval_loss": "loss", "train_acc": "training accuracy"})
