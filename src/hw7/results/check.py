"""``python -m hw7 check``: is everything under ``results/`` sound, and does it reproduce?

Without ``--reproduce`` it validates every run record (``store.read``: schema, key,
history length), every Optuna journal under ``results/optuna/`` (``tune.journal_faults``: every line a
journal entry, no torn tail, no trial left running) and Problem 1's stored runs
(``rosenbrock_runs.read``). With ``--reproduce`` it also recomputes Problem 1's
runs and compares them, and re-trains, for one epoch, every stored group exactly as it was trained (the same
configs stacked together, the thread count of the record) and compares each
record's first-epoch numbers bitwise with the stored ones, in the group its record names.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hw7.config import RunConfig
from hw7.results import store, tune
from hw7.results.experiments import EXPERIMENTS, experiment
from hw7.rosenbrock import runs as rosenbrock_runs

TIMING = ("seconds",)  # wall-clock numbers: never reproducible


@dataclass
class Report:
    faults: list[str] = field(default_factory=list)
    records: int = 0
    journals: int = 0
    reproduced: int = 0  # records whose first epoch came back bitwise
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
    return {m: v[0] for m, v in record["history"].items() if m not in TIMING and v}


def reproduce(records: list[dict], report: Report, mnist=None, known: dict[str, RunConfig] | None = None,
              root: Path | None = None) -> None:
    """Re-train every stored group for one epoch and compare each stored record bitwise."""
    import torch  # here, not at the top: only --reproduce trains, and torch takes a second to load
    from tqdm import tqdm

    from hw7.results.sweep import train_group

    by_key = {r["key"]: r for r in records}
    known = dict(known or {}) | {k: RunConfig.from_dict(r["config"]) for k, r in by_key.items()}
    groups = list(dict.fromkeys(tuple(r["group"]) for r in records))
    report.groups = len(groups)
    threads = torch.get_num_threads()
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
        for again in fresh:
            stored = by_key.get(again["key"])
            # a record is compared in the group it names: a narrow net's lost run, re-created alone,
            # is still listed in its old group's records but was not trained with it
            if stored is None or stored["group"] != list(group):
                continue
            a, b = first_epoch(stored), first_epoch(again)
            differ = [m for m in a if a[m] != b[m]]
            if differ:
                report.fault(f"{store.path_of(known[again['key']], root)}: first epoch does not reproduce "
                             f"({', '.join(f'{m} {a[m]!r} -> {b[m]!r}' for m in differ)})")
            else:
                report.reproduced += 1


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
            stored = rosenbrock_runs.read(problem1)
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
