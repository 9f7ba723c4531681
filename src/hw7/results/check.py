"""``python -m hw7 check``: is everything under ``results/`` sound, and does it reproduce?

Without ``--reproduce`` it validates every run record (``store.read``: schema, key,
every field's type and range, the record's content digest), every Optuna journal under
``results/optuna/`` (``tune.journal_faults``: a regular file, every line a journal entry, no
torn tail, no trial left running) and Problem 1's stored runs (``rosenbrock_runs.read``). With ``--reproduce`` it
also recomputes Problem 1's runs and compares them, and re-trains, for one epoch, every
stored group exactly as it was trained (the same configs stacked together, the thread
count of the record), and compares each record's first-epoch numbers, in the group its
record names: bitwise where the record was computed on this machine's CPU model with its
math libraries (`hw7.engine.trainer.environment`), else within a tolerance
(``tolerances``), as another CPU's kernels round differently.

The tolerance comes from the seed-to-seed spread: for each configuration trained with several
seeds and each metric, the standard deviation of its first-epoch values over the seeds (a
configuration with one seed takes the median of its network shape's, else of all), times
``SPREAD_FRACTION`` of its engine, and never below ``FLOOR`` of the value (float32's last bits).
The compiled epoch sums in a fixed order, so on another CPU only its evaluation's matrix products
round differently, in the last bits: a tenth of the spread. The torch-ops engine's products are
MKL's, whose kernels differ per CPU, and one epoch of SGD amplifies a last-bit difference into
one as large as a change of seed: measured from this project's AMD EPYC records re-trained on an
Intel Xeon, up to 2.6 standard deviations in a deep network at batch 10, so the tolerance is 4:
a bug must move a number by more than that to be caught on another CPU, while on the same CPU
every bit is compared.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hw7.config import RunConfig
from hw7.engine.runs import COMPILED_ENGINE_VERSION, TORCH_ENGINE_VERSION
from hw7.results import store, tune
from hw7.results.experiments import EXPERIMENTS, experiment
from hw7.rosenbrock import runs as rosenbrock_runs

TIMING = ("seconds",)  # wall-clock numbers: never reproducible
SPREAD_FRACTION = {COMPILED_ENGINE_VERSION: 0.1, TORCH_ENGINE_VERSION: 4.0}  # of the seed-to-seed sd (docstring)
FLOOR = 1e-6  # relative: a few units in float32's last place (1.2e-7)


@dataclass
class Report:
    faults: list[str] = field(default_factory=list)
    records: int = 0
    journals: int = 0
    reproduced: int = 0  # records whose first epoch came back bitwise (computed on this CPU with these libraries)
    tolerated: int = 0  # records from another CPU or libraries whose first epoch came back within tolerance
    worst: float = 0.0  # the largest difference of those, as a fraction of its tolerance
    elsewhere: set[str] = field(default_factory=set)  # the CPUs (and libraries) those were computed on
    groups: int = 0
    seconds: float = 0.0

    def fault(self, message: str) -> None:
        self.faults.append(message)
        print(f"FAULT {message}", file=sys.stderr, flush=True)


def check_records(root: Path | None, report: Report) -> list[dict]:
    records = []
    for path in store.record_paths(root):
        try:
            records.append(store.read(path))
        except store.StoreError as exc:
            report.fault(str(exc))
    report.records = len(records)
    return records


def universe() -> dict[str, RunConfig]:
    """Every config of every named experiment, by key (to rebuild a group whose record is missing)."""
    return {store.key_of(c): c for name in EXPERIMENTS for c in experiment(name)}


def first_epoch(record: dict) -> dict:
    """A record's first-epoch numbers, wall-clock times aside; a layer's gradient norm as ``grad_norms[i]``."""
    out = {}
    for m, v in record["history"].items():
        if m in TIMING or not v:
            continue
        if isinstance(v[0], list):
            out.update({f"{m}[{i}]": x for i, x in enumerate(v[0])})
        else:
            out[m] = v[0]
    return out


def tolerances(records: list[dict]) -> dict[str, dict[str, float]]:
    """Per record key and first-epoch metric, the largest difference accepted from another CPU (module
    docstring): the seed-to-seed sd of its configuration (else the median of its network shape's, else
    of all), times its engine's ``SPREAD_FRACTION``, at least ``FLOOR`` of the value."""
    seeds = defaultdict(list)  # configuration but its seeds -> records
    for r in records:
        config = RunConfig.from_dict(r["config"]).to_dict()
        seeds[json.dumps({k: v for k, v in config.items() if k not in ("seed", "data_seed", "extra")})].append(r)
    spread, by_shape, everywhere = {}, defaultdict(lambda: defaultdict(list)), defaultdict(list)
    for setting, group in seeds.items():
        if len(group) < 2:
            continue
        values = defaultdict(list)
        for r in group:
            for m, v in first_epoch(r).items():
                if v is not None:
                    values[m].append(v)
        spread[setting] = {m: statistics.stdev(v) for m, v in values.items() if len(v) > 1}
        for m, sd in spread[setting].items():
            by_shape[tuple(group[0]["config"]["sizes"])][m].append(sd)
            everywhere[m].append(sd)
    out = {}
    for setting, group in seeds.items():
        for r in group:
            shape = by_shape.get(tuple(r["config"]["sizes"]), {})
            fraction = SPREAD_FRACTION[r["engine_version"]]
            out[r["key"]] = {}
            for m, v in first_epoch(r).items():
                pool = shape.get(m) or everywhere.get(m) or [0.0]
                sd = spread[setting][m] if m in spread.get(setting, {}) else statistics.median(pool)
                out[r["key"]][m] = max(fraction * sd, FLOOR * abs(v or 0.0))
    return out


def same_machine(env: dict, here: dict) -> bool:
    """Whether a record was computed on this CPU model with these math libraries (so bitwise comparable)."""
    return env["device"] == "cpu" and env["cpu"] == here["cpu"] and env["libraries"] == here["libraries"]


def compare(stored: dict, again: dict, tolerance: dict[str, float] | None) -> tuple[list[str], float]:
    """The metrics of ``stored`` whose first epoch ``again`` does not give back (bitwise if ``tolerance``
    is None, else within it), as text, and the largest difference as a fraction of its tolerance."""
    a, b = first_epoch(stored), first_epoch(again)
    differ, worst = [], 0.0
    for m in a:
        if tolerance is None or a[m] is None or b.get(m) is None:
            bad = a[m] != b.get(m)
        else:
            bad = abs(a[m] - b[m]) > tolerance[m]
            worst = max(worst, abs(a[m] - b[m]) / tolerance[m] if tolerance[m] else float(bad))
        if bad:
            limit = "" if tolerance is None else f" (tolerance {tolerance[m]:.3g})"
            differ.append(f"{m} {a[m]!r} -> {b.get(m)!r}{limit}")
    return differ, worst


def reproduce(records: list[dict], report: Report, mnist=None, known: dict[str, RunConfig] | None = None,
              root: Path | None = None) -> None:
    """Re-train every stored group for one epoch and compare each stored record: bitwise where it was
    computed on this CPU with these libraries, else within ``tolerances``."""
    import torch  # here, not at the top: only --reproduce trains, and torch takes a second to load
    from tqdm import tqdm

    from hw7.engine.trainer import environment
    from hw7.results.sweep import train_group

    by_key = {r["key"]: r for r in records}
    known = dict(known or {}) | {k: RunConfig.from_dict(r["config"]) for k, r in by_key.items()}
    groups = list(dict.fromkeys(tuple(r["group"]) for r in records))
    report.groups = len(groups)
    threads, here, tolerance = torch.get_num_threads(), environment(torch.device("cpu")), tolerances(records)
    for group in tqdm(groups, desc="reproduce", disable=None):
        unknown = [k for k in group if k not in known]
        if unknown:
            report.fault(f"group of {by_key[next(k for k in group if k in by_key)]['key']}: "
                         f"member {unknown[0]} is in no record and no experiment")
            continue
        env = next(by_key[k]["environment"] for k in group if k in by_key)
        torch.set_num_threads(env["threads"])  # the products' summation order depends on it
        try:
            fresh = train_group([known[k] for k in group], mnist, epochs=1, progress=False,
                                device=env["device"].split(":")[0])
        except ValueError as exc:  # e.g. trained on a GPU this machine lacks
            report.fault(f"group of {group[0]}: cannot re-train it here ({exc})")
            continue
        finally:
            torch.set_num_threads(threads)
        bitwise = same_machine(env, here)
        for again in fresh:
            stored = by_key.get(again["key"])
            # a record is compared in the group it names: a narrow net's lost run, re-created alone,
            # is still listed in its old group's records but was not trained with it
            if stored is None or stored["group"] != list(group):
                continue
            differ, worst = compare(stored, again, None if bitwise else tolerance[stored["key"]])
            path = store.path_of(known[again["key"]], root)
            if differ and bitwise:
                report.fault(f"{path}: first epoch does not reproduce bitwise on the CPU and libraries it was "
                             f"computed with ({', '.join(differ)})")
            elif differ:
                report.fault(f"{path}: first epoch differs beyond tolerance (computed on {env['cpu']}, compared on "
                             f"{here['cpu']}: {', '.join(differ)})")
            elif bitwise:
                report.reproduced += 1
            else:
                report.tolerated += 1
                report.worst = max(report.worst, worst)
                report.elsewhere.add(env["cpu"] if env["cpu"] != here["cpu"] else f"{env['cpu']} (other libraries)")


def check(root: Path | None = None, reproduce_runs: bool = False, mnist=None) -> Report:
    """Validate the store and the journals (and, optionally, reproduce every record's first epoch)."""
    start = time.perf_counter()
    report = Report()
    records = check_records(root, report)
    for path in sorted(((root or store.RESULTS) / "optuna").glob("*.log")):
        report.journals += 1
        for fault in tune.journal_faults(path):
            report.fault(fault)
    problem1 = (root or store.RESULTS) / "problem1.npz"
    stored = None
    if root is None or problem1.exists():  # another results folder (a test's) may hold runs only
        try:
            stored = rosenbrock_runs.read(problem1)  # refuses a FIFO or a huge file at once
        except rosenbrock_runs.Problem1StoreError as exc:
            report.fault(str(exc))
    if reproduce_runs and stored is not None:
        for fault in rosenbrock_runs.differences(stored, rosenbrock_runs.compute()):
            report.fault(f"{problem1}: {fault} (recomputed)")
    if reproduce_runs:
        current = [r for r in records if r["engine_version"] == store.engine_version(RunConfig.from_dict(r["config"]))]
        reproduce(current, report, mnist, universe(), root)
    report.seconds = time.perf_counter() - start
    return report
