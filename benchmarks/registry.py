"""The stage registry: every timed stage, crmscore's and the peers', registered by name with its peer group.

A stage is a function ``setup(data: DataSpec) -> Timed``: it does its untimed preparation (imports, loading
inputs, fitting what it needs), raises :class:`Unavailable` when it cannot run here, and returns the callable
to time. Stages in the same ``group`` compute the same thing; the report divides each crmscore stage's median
by each peer's (the ratio columns). Standard library only, so the lifetimes environment can import it.

To add a stage, write it in one of :data:`STAGE_MODULES` (or add a module there) with the decorator::

    @stage("bgnbd_fit", group="bgnbd_fit", engine="crmscore", title="BG/NBD fit")
    def bgnbd_fit(data: DataSpec) -> Timed: ...
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._measure import Timed, Unavailable

__all__ = ["GROUPS", "STAGES", "STAGE_MODULES", "DataSpec", "Stage", "Timed", "Unavailable", "load_all",
           "stage"]

# Modules holding stages; imported lazily (a worker imports only the module of the stage it runs).
STAGE_MODULES = ("benchmarks.peers", "benchmarks.crm_stages", "benchmarks.lifetimes_peer",
                 "benchmarks.pymc_peer")

# Peer groups: what each group computes and the target from the issues (None: no target).
GROUPS: dict[str, dict[str, Any]] = {
    "import": {"title": "Import a clean orders CSV", "target": ">= 1M rows/s (10M-row CSV)"},
    "rfm": {"title": "Per-customer RFM from orders", "target": "features+classes <= 1.5x bare DuckDB RFM at 1M; "
                                                             "peak <= 3 GiB"},
    "features_all": {"title": "Every feature from every table", "target": None},
    "scorecard": {"title": "Scorecard over features", "target": "<= 5 s at 1M"},
    "btyd_summary": {"title": "BTYD summary (frequency, recency, T, spend)", "target": None},
    "bgnbd_fit": {"title": "BG/NBD fit", "target": "<= 1.5 s at 1M"},
    "paretonbd_fit": {"title": "Pareto/NBD fit", "target": "<= 10 s at 1M"},
    "gammagamma_fit": {"title": "Gamma-Gamma fit", "target": "<= 1 s at 1M"},
    "predictions": {"title": "P(alive), expected purchases, CLV for all", "target": "<= 2 s at 1M"},
    "churn": {"title": "Churn scoring", "target": None},
    "snapshots": {"title": "24 monthly snapshots", "target": "<= 60 s for 100k customers"},
    "pipeline": {"title": "Whole pipeline (import to snapshot)", "target": None},
}


@dataclass(frozen=True)
class DataSpec:
    """A cached synthetic data set: ``dir`` holds ``<table>.parquet`` and ``orders.csv``."""

    dir: Path
    scale: str
    customers: int
    as_of: dt.date

    def parquet(self, table: str) -> Path:
        return self.dir / f"{table}.parquet"

    @property
    def orders_csv(self) -> Path:
        return self.dir / "orders.csv"

    def to_json(self) -> str:
        return json.dumps({"dir": str(self.dir), "scale": self.scale, "customers": self.customers,
                           "as_of": self.as_of.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> DataSpec:
        d = json.loads(text)
        return cls(Path(d["dir"]), d["scale"], int(d["customers"]), dt.date.fromisoformat(d["as_of"]))


@dataclass(frozen=True)
class Stage:
    name: str
    group: str
    engine: str            # "crmscore" or the peer's name ("duckdb", "polars", "pandas", "lifetimes" ...)
    title: str
    setup: Callable[[DataSpec], Timed]
    module: str
    venv: str = "main"     # "main" (the project .venv) or "lifetimes" (benchmarks/.venv-lifetimes)
    timeout_s: float = 900.0
    max_customers: int | None = None  # skipped above this size (with a note)
    max_runs: int | None = None       # cap on timed runs for slow stages

    @property
    def is_crmscore(self) -> bool:
        return self.engine == "crmscore"


STAGES: dict[str, Stage] = {}


def stage(name: str, *, group: str, engine: str, title: str, venv: str = "main", timeout_s: float = 900.0,
          max_customers: int | None = None, max_runs: int | None = None) -> Callable[[Callable[[DataSpec], Timed]], Callable[[DataSpec], Timed]]:
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; known: {sorted(GROUPS)}")

    def register(fn: Callable[[DataSpec], Timed]) -> Callable[[DataSpec], Timed]:
        if name in STAGES and STAGES[name].module != fn.__module__:
            raise ValueError(f"stage {name!r} registered twice")
        STAGES[name] = Stage(name, group, engine, title, fn, fn.__module__, venv, timeout_s, max_customers,
                             max_runs)
        return fn

    return register


def load_all() -> dict[str, Stage]:
    for module in STAGE_MODULES:
        importlib.import_module(module)
    return STAGES
