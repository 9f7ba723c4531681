"""The run store: one JSON file per finished run under ``results/runs/``.

A run's file name is its key: a hash of its config and of ``ENGINE_VERSION``
(bump it whenever training semantics change, and every stored run becomes
"missing" again). Files are written to a temporary name and renamed, so a
killed sweep never leaves a half-written result behind.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from hw7.config import RunConfig

ENGINE_VERSION = 1
RESULTS = Path(__file__).resolve().parents[2] / "results"


def runs_dir(root: Path | None = None) -> Path:
    return (root or RESULTS) / "runs"


def finite_or_none(x: float) -> float | None:
    """JSON has no NaN or inf; a non-finite metric is stored as null."""
    x = float(x)
    return x if math.isfinite(x) else None


def path_of(config: RunConfig, root: Path | None = None) -> Path:
    return runs_dir(root) / f"{config.key(ENGINE_VERSION)}.json"


def load(config: RunConfig, root: Path | None = None) -> dict | None:
    """The stored record of ``config``, or None if it has not been run by this engine version."""
    path = path_of(config, root)
    return json.loads(path.read_text()) if path.is_file() else None


def save(record: dict, root: Path | None = None) -> Path:
    """Write one run's record atomically (temp file + rename)."""
    path = runs_dir(root) / f"{record['key']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def all_records(root: Path | None = None) -> list[dict]:
    """Every stored record of the current engine version."""
    records = [json.loads(p.read_text()) for p in sorted(runs_dir(root).glob("*.json"))]
    return [r for r in records if r["engine_version"] == ENGINE_VERSION]


def frame(records: list[dict]) -> pd.DataFrame:
    """Tidy table: one row per run × epoch, config fields as columns, then the metrics.

    ``epoch`` counts from 1 (after the first epoch); ``grad_norms`` stays a list per row.
    """
    rows = []
    for r in records:
        cfg = {k: v for k, v in r["config"].items() if k != "extra"}
        cfg["sizes"] = "-".join(map(str, cfg["sizes"]))
        cfg["betas"] = tuple(cfg["betas"])
        h = r["history"]
        for e in range(len(h["train_loss"])):
            row = dict(cfg, key=r["key"], epoch=e + 1, diverged_epoch=r["diverged_epoch"],
                       group_size=r["group_size"])
            row.update({m: h[m][e] for m in h})
            rows.append(row)
    df = pd.DataFrame(rows)
    metrics = ["train_loss", "train_acc", "eval_loss", "eval_acc", "grad_ratio", "seconds"]
    for m in metrics:
        if m in df:
            df[m] = df[m].astype(float)  # null (non-finite) -> NaN
    return df
