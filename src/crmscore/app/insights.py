"""Scoped summaries for the API: KPIs, class distributions, trends over snapshots and migration.

Each is computed on the caller's customers only (see :mod:`crmscore.app.permissions`), so a rep's counts
say nothing about other reps' customers.
"""

from __future__ import annotations

from typing import Any

import ibis
import pandas as pd

from crmscore.app.customers import clean_records, customer_view, scoped_results, snapshot_dict
from crmscore.app.errors import FieldError
from crmscore.app.permissions import Principal
from crmscore.services.migration import MIGRATION_DIMENSIONS, NONE_CLASS, migration
from crmscore.services.snapshots import get_snapshot, list_snapshots
from crmscore.store.warehouse import Warehouse

__all__ = ["DISTRIBUTION_COLUMNS", "distribution", "kpis", "scoped_migration", "snapshot_history"]

DISTRIBUTION_COLUMNS: tuple[str, ...] = ("grade", "rfm_segment", "lifecycle_stage", "abc_class", "value_tier")
_AT_RISK = ("at_risk", "churned")
_SUMS = ("clv", "monetary", "monetary_365d")
_MEANS = ("score", "churn_risk", "p_alive")


def _counts(table: ibis.Table, column: str) -> list[dict[str, Any]]:
    grouped = table.group_by(table[column].cast("string").name("value")).aggregate(count=table.count())
    return clean_records(grouped.order_by("value").to_pyarrow())


def kpis(wh: Warehouse, principal: Principal, snapshot_id: str | None = None) -> dict[str, Any]:
    """Headline numbers of the caller's customers in a snapshot (the latest by default)."""
    view, snap = customer_view(wh, principal, snapshot_id)
    metrics: dict[str, Any] = {"customers": view.count()}
    for col in _MEANS:
        if col in view.columns:
            metrics[f"avg_{col}"] = view[col].cast("float64").mean()
    for col in _SUMS:
        if col in view.columns:
            metrics[f"total_{col}"] = view[col].cast("float64").sum()
    if "score" in view.columns:
        metrics["scored"] = view.score.notnull().sum()
    if "lifecycle_stage" in view.columns:
        metrics["at_risk"] = view.lifecycle_stage.isin(_AT_RISK).fill_null(False).sum()
    values = clean_records(view.aggregate(**metrics).to_pyarrow())[0]
    for key in ("customers", "scored", "at_risk"):
        if key in values:
            values[key] = int(values[key] or 0)
    dists = {col: _counts(view, col) for col in DISTRIBUTION_COLUMNS if col in view.columns}
    return {"snapshot": snapshot_dict(snap, principal), "kpis": values, "distributions": dists}


def distribution(wh: Warehouse, principal: Principal, snapshot_id: str, by: str) -> dict[str, Any]:
    """Sizes (and value, when present) of each class of ``by`` in one snapshot, on the caller's customers."""
    get_snapshot(wh, snapshot_id)
    table = scoped_results(wh, principal, snapshot_id)
    if by not in table.columns:
        raise FieldError([("by", f"snapshot {snapshot_id} has no column {by!r}; use one of "
                                 + ", ".join(c for c in DISTRIBUTION_COLUMNS if c in table.columns))])
    metrics: dict[str, Any] = {"count": table.count()}
    for col in ("clv", "monetary"):
        if col in table.columns:
            metrics[f"total_{col}"] = table[col].cast("float64").sum()
    if "score" in table.columns:
        metrics["avg_score"] = table.score.cast("float64").mean()
    grouped = table.group_by(table[by].cast("string").name("value")).aggregate(**metrics).order_by("value")
    return {"snapshot_id": snapshot_id, "by": by, "classes": clean_records(grouped.to_pyarrow())}


def snapshot_history(wh: Warehouse, principal: Principal) -> list[dict[str, Any]]:
    """One row per snapshot: size of the caller's scored set, average score and grade counts."""
    out = []
    for info in list_snapshots(wh):
        table = scoped_results(wh, principal, info.snapshot_id)
        metrics: dict[str, Any] = {"customers": table.count()}
        for col in _MEANS:
            if col in table.columns:
                metrics[f"avg_{col}"] = table[col].cast("float64").mean()
        for col in _SUMS:
            if col in table.columns:
                metrics[f"total_{col}"] = table[col].cast("float64").sum()
        row = clean_records(table.aggregate(**metrics).to_pyarrow())[0]
        row["customers"] = int(row["customers"] or 0)
        grades = {r["value"]: r["count"] for r in _counts(table, "grade")} if "grade" in table.columns else {}
        out.append({"snapshot_id": info.snapshot_id, "as_of": info.as_of, **row, "grades": grades})
    return out


def scoped_migration(wh: Warehouse, principal: Principal, a: str, b: str, by: str) -> dict[str, Any]:
    """Migration of ``by`` from snapshot ``a`` to ``b``: the shared service for company-wide users, the same
    cross-tabulation restricted to the caller's customers otherwise (movers filtered, no company alerts)."""
    if by not in MIGRATION_DIMENSIONS:
        raise FieldError([("by", f"must be one of {', '.join(MIGRATION_DIMENSIONS)}")])
    result = migration(wh, a, b, by=by)
    if principal.scope == "company":
        return result.to_dict()
    frames = []
    for snap in (a, b):
        table = scoped_results(wh, principal, snap)
        cols = ["customer_id", by, *[c for c in ("monetary_365d", "monetary") if c in table.columns][:1]]
        frames.append(table.select(cols).to_pandas().set_index("customer_id"))
    fa, fb = frames
    joined = fa.join(fb, how="outer", lsuffix="_a", rsuffix="_b")
    col_a, col_b = f"{by}_a", f"{by}_b"
    for col in (col_a, col_b):
        joined[col] = joined[col].astype(object).where(joined[col].notna(), NONE_CLASS).astype(str)
    rev_cols = [c for c in joined.columns if c.endswith("_b") and c != col_b]
    revenue_b = pd.to_numeric(joined[rev_cols[0]], errors="coerce").fillna(0.0) if rev_cols else \
        pd.Series(0.0, index=joined.index)
    counts = pd.crosstab(joined[col_a], joined[col_b])
    revenue = pd.crosstab(joined[col_a], joined[col_b], values=revenue_b, aggfunc="sum") \
        .reindex(index=counts.index, columns=counts.columns).fillna(0.0)
    classes_a, classes_b = [str(c) for c in counts.index], [str(c) for c in counts.columns]
    mine = set(joined.index)
    return {"a": a, "b": b, "by": by, "classes_a": classes_a, "classes_b": classes_b,
            "counts": counts.astype(int).values.tolist(),
            "revenue": [[round(float(v), 2) for v in row] for row in revenue.values.tolist()],
            "movers": [m for m in result.movers if m["customer_id"] in mine], "alerts": []}
