"""Read side of customer results shared by the CLI and the server: lists, the 360 view, history, exports.

All reads go through the warehouse with Ibis expressions; results come back as pandas DataFrames or dicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from crmscore.errors import CrmscoreError, NotFound, UnknownName
from crmscore.services.snapshots import (
    SnapshotInfo,
    customers_table,
    get_snapshot,
    latest_snapshot,
    list_snapshots,
    points_table,
)
from crmscore.store.warehouse import Warehouse

__all__ = [
    "ACTIVITY_TABLES",
    "EXPORT_FORMATS",
    "HISTORY_COLUMNS",
    "PROFILE_COLUMNS",
    "customer_360",
    "export_customers",
    "history",
    "resolve_snapshot",
    "result_table",
]

PROFILE_COLUMNS = ("name", "type", "industry", "region", "country", "owner_id", "department", "contact_name",
                   "phone", "email", "is_stub")
EXPORT_FORMATS = ("csv", "xlsx", "parquet", "zoho", "fxiaoke")
# A customer's activity tables, each with the date column that orders it (newest first in the 360 view).
ACTIVITY_TABLES: dict[str, str] = {"orders": "order_date", "invoices": "issued_on", "surveys": "answered_on",
                                   "tickets": "opened_at", "opportunities": "created_on",
                                   "interactions": "occurred_at"}
# The results followed across snapshots in a customer's history.
HISTORY_COLUMNS: tuple[str, ...] = ("score", "grade", "rfm_segment", "lifecycle_stage", "abc_class", "value_tier",
                                    "clv", "p_alive", "churn_risk")
# CRM re-import layouts: our column -> the CRM's field API name (custom fields end in __c / _c as those CRMs do).
_CRM_FIELDS = {
    "zoho": {"customer_id": "Account_Number", "name": "Account_Name", "score": "Customer_Score",
             "grade": "Customer_Grade", "rfm_segment": "RFM_Segment", "lifecycle_stage": "Lifecycle_Stage",
             "abc_class": "ABC_Class", "clv": "Customer_Lifetime_Value", "churn_risk": "Churn_Risk"},
    "fxiaoke": {"customer_id": "account_no", "name": "name", "score": "customer_score__c",
                "grade": "customer_grade__c", "rfm_segment": "rfm_segment__c",
                "lifecycle_stage": "lifecycle_stage__c", "abc_class": "abc_class__c", "clv": "clv__c",
                "churn_risk": "churn_risk__c"},
}


def resolve_snapshot(wh: Warehouse, snapshot_id: str | None = None) -> SnapshotInfo:
    if snapshot_id:
        return get_snapshot(wh, snapshot_id)
    info = latest_snapshot(wh)
    if info is None:
        raise NotFound("no snapshot yet", "score the workspace first: crmscore score")
    return info


def result_table(wh: Warehouse, snapshot_id: str) -> ibis.Table:
    """A snapshot's per-customer results with the profile columns (name, owner, department ...) joined in."""
    results = customers_table(wh, snapshot_id)
    profile = wh.table("customers")
    extra = [c for c in PROFILE_COLUMNS if c in profile.columns and c not in results.columns]
    if not extra:
        return results
    joined = results.left_join(profile.select("customer_id", *extra), "customer_id")
    return joined.select(*results.columns, *extra)


def _records(expr: ibis.Table) -> list[dict[str, Any]]:
    df = expr.to_pandas()
    return [{k: (None if _isnull(v) else v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def _isnull(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def history(wh: Warehouse, customer_id: str) -> list[dict[str, Any]]:
    """The customer's score, grade, segment, lifecycle, CLV and risk in every snapshot, oldest first."""
    rows = []
    for info in list_snapshots(wh):
        table = customers_table(wh, info.snapshot_id)
        cols = [c for c in HISTORY_COLUMNS if c in table.columns]
        found = _records(table.filter(table.customer_id == customer_id).select(*cols))
        if found:
            rows.append({"snapshot_id": info.snapshot_id, "as_of": info.as_of} | found[0])
    return rows


def customer_360(wh: Warehouse, customer_id: str, snapshot_id: str | None = None,
                 recent: int = 20) -> dict[str, Any]:
    """Profile, results with the per-criterion explanation, history and recent activity of one customer."""
    profile_rows = _records(wh.table("customers").filter(ibis._.customer_id == customer_id))
    if not profile_rows:
        raise NotFound(f"no customer {customer_id!r}", "list customers with: crmscore customers")
    view: dict[str, Any] = {"customer_id": customer_id, "profile": profile_rows[0]}
    info = latest_snapshot(wh) if snapshot_id is None else get_snapshot(wh, snapshot_id)
    if info is not None:
        results = customers_table(wh, info.snapshot_id)
        found = _records(results.filter(results.customer_id == customer_id))
        view["snapshot"] = info.to_dict()
        view["results"] = found[0] if found else None
        points = points_table(wh, info.snapshot_id)
        view["points"] = (_records(points.filter(points.customer_id == customer_id))
                          if points is not None else [])
        view["history"] = history(wh, customer_id)
    for table, date_col in ACTIVITY_TABLES.items():
        t = wh.table(table)
        view[table] = _records(t.filter(t.customer_id == customer_id).order_by(ibis.desc(date_col)).limit(recent))
    return view


def export_customers(wh: Warehouse, out: Path, fmt: str = "csv", snapshot_id: str | None = None,
                     where: ibis.Expr | None = None) -> int:
    """Write one row per customer (customer_id first, every result column) to ``out``; returns the row count."""
    if fmt not in EXPORT_FORMATS:
        raise UnknownName("export format", fmt, EXPORT_FORMATS)
    info = resolve_snapshot(wh, snapshot_id)
    table = result_table(wh, info.snapshot_id)
    if where is not None:
        table = table.filter(where)
    df = table.order_by("customer_id").to_pandas()
    if fmt in _CRM_FIELDS:
        fields = _CRM_FIELDS[fmt]
        df = df[[c for c in fields if c in df.columns]].rename(columns=fields)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "parquet":
            df.to_parquet(out, index=False)
        elif fmt == "xlsx":
            df.to_excel(out, index=False, engine="openpyxl")
        else:
            # utf-8-sig so that Excel opens Chinese text correctly
            df.to_csv(out, index=False, encoding="utf-8-sig")
    except OSError as exc:
        raise CrmscoreError(f"cannot write {out}: {exc.strerror}", "choose a writable path") from exc
    return len(df)
