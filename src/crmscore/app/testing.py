"""A small, fully known workspace for server tests and demos of roles and data scope.

Three reps in two departments, six customers, two snapshots with explanations, a few orders, invoices,
surveys and tickets, and one user per role (password ``password-<username>``):

========== ======== ================ ========================= ===================================
user       role     scope            sees                      flags
========== ======== ================ ========================= ===================================
admin      admin    company          c1-c6                     personal data, configure scoring
manager    manager  department_tree  c1 c2 c3 c6 (Sales/East)  personal data
analyst    analyst  company          c1-c6                     configure scoring (no personal data)
rep_a      rep      self (r1)        c1 c2                     personal data
rep_b      rep      self (r2)        c3 c5                     personal data
========== ======== ================ ========================= ===================================

c5 is owned by r2 (East/Hangzhou) but booked to department Sales/West; c6 has no owner and department
Sales/East.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa

from crmscore.app.users import create_user
from crmscore.services.snapshots import SnapshotInfo, write_snapshot
from crmscore.store.warehouse import Warehouse
from crmscore.workspace import Workspace

__all__ = ["SCOPE_USERS", "VISIBLE", "insert_rows", "password_for", "seed_scope_workspace"]

SCOPE_USERS: dict[str, dict[str, Any]] = {
    "admin": {"role": "admin", "scope": "company", "can_view_personal_data": True, "can_configure_scoring": True},
    "manager": {"role": "manager", "scope": "department_tree", "department": "Sales/East",
                "can_view_personal_data": True},
    "analyst": {"role": "analyst", "scope": "company", "can_configure_scoring": True},
    "rep_a": {"role": "rep", "scope": "self", "owner_id": "r1", "can_view_personal_data": True},
    "rep_b": {"role": "rep", "scope": "self", "owner_id": "r2", "can_view_personal_data": True},
}
VISIBLE: dict[str, set[str]] = {
    "admin": {"c1", "c2", "c3", "c4", "c5", "c6"}, "analyst": {"c1", "c2", "c3", "c4", "c5", "c6"},
    "manager": {"c1", "c2", "c3", "c6"}, "rep_a": {"c1", "c2"}, "rep_b": {"c3", "c5"},
}


def password_for(username: str) -> str:
    return f"password-{username}"


def insert_rows(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows into a canonical table; missing columns are null."""
    schema = wh.table(table).schema()
    full = [{name: row.get(name) for name in schema.names} for row in rows]
    wh.con.insert(table, ibis.memtable(pa.Table.from_pylist(full, schema=schema.to_pyarrow())))


def _customers() -> list[dict[str, Any]]:
    base = [("c1", "Acme Shanghai 上海", "r1", None), ("c2", "Beta Trading", "r1", None),
            ("c3", "Gamma Hangzhou", "r2", None), ("c4", "Delta West", "r3", None),
            ("c5", "Epsilon Booked West", "r2", "Sales/West"), ("c6", "Zeta Unowned", None, "Sales/East")]
    return [{"customer_id": cid, "name": name, "owner_id": owner, "department": dept, "type": "B2B",
             "industry": "retail", "region": "East" if i < 3 else "West", "phone": f"138-0000-000{i}",
             "email": f"{cid}@example.com", "contact_name": f"Contact {cid}", "created_on": date(2023, 1, 1 + i)}
            for i, (cid, name, owner, dept) in enumerate(base)]


def _results(scores: list[float]) -> pa.Table:
    ids = ["c1", "c2", "c3", "c4", "c5", "c6"]
    grades = ["A" if s >= 80 else "B" if s >= 60 else "C" if s >= 40 else "D" for s in scores]
    return pa.table({
        "customer_id": ids, "score": scores, "grade": grades,
        "rfm_segment": ["Champions", "Loyal", "At Risk", "Champions", "Hibernating", "New"],
        "lifecycle_stage": ["loyal", "repeat", "at_risk", "loyal", "churned", "new"],
        "abc_class": ["A", "B", "C", "A", "C", "C"], "value_tier": ["high", "mid", "low", "high", "low", "low"],
        "monetary": [9000.0, 4000.0, 800.0, 12000.0, 100.0, 50.0],
        "clv": [5000.0, 2500.0, 300.0, 7000.0, 20.0, 60.0],
        "p_alive": [0.95, 0.8, 0.4, 0.97, 0.1, 0.7],
        "churn_risk": [0.05, 0.2, 0.6, 0.03, 0.9, 0.3],
    })


def _points(scores: list[float]) -> pa.Table:
    rows = []
    for cid, score in zip(["c1", "c2", "c3", "c4", "c5", "c6"], scores, strict=True):
        for dim, share in (("behaviour", 0.6), ("loyalty", 0.4)):
            rows.append({"customer_id": cid, "dimension": dim, "criterion": f"{dim}_main", "metric": "monetary",
                         "value": score, "percentile": score / 100, "points": round(score * share, 2),
                         "max_points": 100 * share, "explanation_en": f"{dim} gives {score * share:.1f} points",
                         "explanation_zh": f"{dim} 得 {score * share:.1f} 分"})
    return pa.Table.from_pylist(rows)


def seed_scope_workspace(ws: Workspace) -> dict[str, SnapshotInfo]:
    """Fill ``ws`` with the fixture data and users above; returns the two snapshots ('old', 'new')."""
    wh = ws.warehouse
    insert_rows(wh, "owners", [
        {"owner_id": "r1", "name": "Alice", "department": "Sales/East/Shanghai"},
        {"owner_id": "r2", "name": "Bob", "department": "Sales/East/Hangzhou"},
        {"owner_id": "r3", "name": "Carol", "department": "Sales/West"}])
    insert_rows(wh, "customers", _customers())
    insert_rows(wh, "orders", [
        {"order_id": f"o{i}", "customer_id": cid, "order_date": datetime(2024, 1, i + 1),
         "amount": Decimal(f"{100 * (i + 1)}.50"), "status": "completed"}
        for i, cid in enumerate(["c1", "c1", "c2", "c3", "c4", "c5"])])
    insert_rows(wh, "invoices", [
        {"invoice_id": "i1", "customer_id": "c1", "issued_on": date(2024, 1, 2), "due_on": date(2024, 2, 1),
         "amount": Decimal("100.50"), "paid_on": date(2024, 1, 20), "paid_amount": Decimal("100.50")},
        {"invoice_id": "i2", "customer_id": "c3", "issued_on": date(2024, 1, 5), "due_on": date(2024, 2, 5),
         "amount": Decimal("400.50")}])
    insert_rows(wh, "surveys", [
        {"survey_id": "s1", "customer_id": "c1", "answered_on": date(2024, 1, 10), "dimension": "overall",
         "score": 9.0, "scale_min": 0.0, "scale_max": 10.0, "would_recommend": 9}])
    insert_rows(wh, "tickets", [
        {"ticket_id": "t1", "customer_id": "c3", "opened_at": datetime(2024, 1, 7), "category": "delivery",
         "severity": "high", "is_complaint": True}])
    old_scores = [70.0, 65.0, 55.0, 90.0, 30.0, 45.0]
    new_scores = [85.0, 62.0, 35.0, 92.0, 20.0, 48.0]
    old = write_snapshot(wh, as_of=date(2024, 1, 31), customers=_results(old_scores), points=_points(old_scores),
                         meta={"created_by": "admin", "scorecard": "default", "scorecard_version": 1})
    new = write_snapshot(wh, as_of=date(2024, 2, 29), customers=_results(new_scores), points=_points(new_scores),
                         meta={"created_by": "admin", "scorecard": "default", "scorecard_version": 1})
    with ws.session() as s:
        for username, fields in SCOPE_USERS.items():
            create_user(s, username, password_for(username), **fields)
        s.commit()
    return {"old": old, "new": new}
