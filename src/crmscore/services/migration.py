"""Segment migration between two snapshots: matrices, movers and alerts.

The matrices are cross-tabulations of one class column (grade, rfm_segment, lifecycle_stage, abc_class) between
an earlier snapshot A and a later snapshot B, over the customers present in either. Customers missing from a
snapshot fall in the class ``(none)``, so rows sum to A's class sizes and columns to B's.

>>> import pyarrow as pa
>>> from datetime import date
>>> from crmscore.store.warehouse import Warehouse
>>> from crmscore.services.snapshots import write_snapshot
>>> wh = Warehouse.in_memory()
>>> a = write_snapshot(wh, as_of=date(2024, 1, 31), customers=pa.table(
...     {"customer_id": ["x", "y", "z"], "grade": ["A", "B", "B"], "monetary": [10.0, 5.0, 1.0]}))
>>> b = write_snapshot(wh, as_of=date(2024, 2, 29), customers=pa.table(
...     {"customer_id": ["x", "y", "w"], "grade": ["C", "B", "A"], "monetary": [12.0, 6.0, 2.0]}))
>>> m = migration(wh, a.snapshot_id, b.snapshot_id, by="grade")
>>> int(m.counts.loc["A", "C"]), int(m.counts.loc["B", "(none)"]), int(m.counts.loc["(none)", "A"])
(1, 1, 1)
>>> [mv["customer_id"] for mv in m.movers if mv["kind"] == "grade_down_2"]
['x']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crmscore.errors import CrmscoreError, UnknownName
from crmscore.services.snapshots import customers_table, get_snapshot
from crmscore.store.warehouse import Warehouse

__all__ = ["MIGRATION_DIMENSIONS", "NONE_CLASS", "Migration", "migration"]

MIGRATION_DIMENSIONS = ("grade", "rfm_segment", "lifecycle_stage", "abc_class")
NONE_CLASS = "(none)"
_REVENUE_COLUMNS = ("monetary_365d", "monetary")
_AT_RISK_STAGES = {"at_risk", "churned"}
_CHAMPIONS = "Champions"


@dataclass
class Migration:
    """Migration of one class dimension from snapshot ``a`` to snapshot ``b``."""

    a: str
    b: str
    by: str
    counts: pd.DataFrame  # rows: class in a, columns: class in b, with margins checked
    revenue: pd.DataFrame  # same layout, the later snapshot's revenue of those customers
    movers: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "by": self.by,
            "classes_a": [str(i) for i in self.counts.index], "classes_b": [str(c) for c in self.counts.columns],
            "counts": self.counts.astype(int).values.tolist(),
            "revenue": [[round(float(v), 2) for v in row] for row in self.revenue.values.tolist()],
            "movers": self.movers, "alerts": self.alerts,
        }


def _frame(wh: Warehouse, snapshot_id: str, by: str) -> pd.DataFrame:
    table = customers_table(wh, snapshot_id)
    if by not in table.columns:
        raise UnknownName(f"class column in snapshot {snapshot_id}", by, [c for c in MIGRATION_DIMENSIONS
                                                                          if c in table.columns])
    cols = ["customer_id", by]
    revenue = next((c for c in _REVENUE_COLUMNS if c in table.columns), None)
    if revenue:
        cols.append(revenue)
    for extra in ("grade", "lifecycle_stage", "rfm_segment"):
        if extra in table.columns and extra not in cols:
            cols.append(extra)
    df = table.select(cols).to_pandas()
    df = df.rename(columns={revenue: "_revenue"}) if revenue else df.assign(_revenue=0.0)
    df["_revenue"] = pd.to_numeric(df["_revenue"], errors="coerce").fillna(0.0).astype(float)
    return df.set_index("customer_id")


def _grade_rank(grade: Any) -> int | None:
    if not isinstance(grade, str) or len(grade) != 1 or not grade.isalpha():
        return None
    return ord(grade.upper()) - ord("A")


def migration(wh: Warehouse, a: str, b: str, by: str = "grade") -> Migration:
    """Migration matrices (counts and revenue), movers and alerts from snapshot ``a`` to ``b``."""
    if by not in MIGRATION_DIMENSIONS:
        raise UnknownName("migration dimension", by, MIGRATION_DIMENSIONS)
    info_a, info_b = get_snapshot(wh, a), get_snapshot(wh, b)
    if info_a.snapshot_id == info_b.snapshot_id:
        raise CrmscoreError("compare two different snapshots", "pass an earlier and a later snapshot id")
    fa, fb = _frame(wh, a, by), _frame(wh, b, by)
    joined = fa.join(fb, how="outer", lsuffix="_a", rsuffix="_b")
    col_a, col_b = f"{by}_a", f"{by}_b"
    joined[col_a] = joined[col_a].astype(object).where(joined[col_a].notna(), NONE_CLASS).astype(str)
    joined[col_b] = joined[col_b].astype(object).where(joined[col_b].notna(), NONE_CLASS).astype(str)
    joined["_revenue_b"] = joined["_revenue_b"].fillna(0.0)
    counts = pd.crosstab(joined[col_a], joined[col_b]).astype(int)
    revenue = pd.crosstab(joined[col_a], joined[col_b], values=joined["_revenue_b"], aggfunc="sum").fillna(0.0)
    counts.index.name, counts.columns.name = f"{by} in {a}", f"{by} in {b}"
    revenue.index.name, revenue.columns.name = counts.index.name, counts.columns.name
    movers = _movers(joined.reset_index())
    alerts = _alerts(movers, len(fb))
    return Migration(a=a, b=b, by=by, counts=counts, revenue=revenue, movers=movers, alerts=alerts)


def _movers(j: pd.DataFrame) -> list[dict[str, Any]]:
    movers: list[dict[str, Any]] = []
    if "grade_a" in j.columns and "grade_b" in j.columns:
        for row in j[["customer_id", "grade_a", "grade_b"]].itertuples(index=False):
            ra, rb = _grade_rank(row.grade_a), _grade_rank(row.grade_b)
            if ra is not None and rb is not None and rb - ra >= 2:
                movers.append({"customer_id": row.customer_id, "kind": "grade_down_2",
                               "from": row.grade_a, "to": row.grade_b})
    if "lifecycle_stage_a" in j.columns and "lifecycle_stage_b" in j.columns:
        newly = j[j["lifecycle_stage_b"].isin(_AT_RISK_STAGES) & ~j["lifecycle_stage_a"].isin(_AT_RISK_STAGES)]
        movers += [{"customer_id": r.customer_id, "kind": "newly_at_risk", "from": r.lifecycle_stage_a,
                    "to": r.lifecycle_stage_b} for r in newly.itertuples(index=False)]
    if "rfm_segment_a" in j.columns and "rfm_segment_b" in j.columns:
        champs = j[(j["rfm_segment_b"] == _CHAMPIONS) & (j["rfm_segment_a"] != _CHAMPIONS)]
        movers += [{"customer_id": r.customer_id, "kind": "new_champion", "from": r.rfm_segment_a,
                    "to": r.rfm_segment_b} for r in champs.itertuples(index=False)]
    for mover in movers:
        for key in ("from", "to"):
            if not isinstance(mover[key], str):
                mover[key] = None
    return sorted(movers, key=lambda m: (m["kind"], str(m["customer_id"])))


def _alerts(movers: list[dict[str, Any]], population: int) -> list[dict[str, Any]]:
    alerts = []
    by_kind: dict[str, int] = {}
    for mover in movers:
        by_kind[mover["kind"]] = by_kind.get(mover["kind"], 0) + 1
    share_at_risk = by_kind.get("newly_at_risk", 0) / population if population else 0.0
    if share_at_risk >= 0.05:
        alerts.append({"level": "warning", "kind": "newly_at_risk",
                       "message_en": f"{share_at_risk:.1%} of customers newly at risk or churned",
                       "message_zh": f"{share_at_risk:.1%} 的客户新近进入风险或流失状态"})
    if by_kind.get("grade_down_2", 0):
        n = by_kind["grade_down_2"]
        alerts.append({"level": "warning", "kind": "grade_down_2",
                       "message_en": f"{n} customers dropped two grades or more",
                       "message_zh": f"{n} 位客户等级下降两级及以上"})
    return alerts
