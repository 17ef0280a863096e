"""Customer queries for the API: the scoped list with filters, sort and pagination, the 360 view, exports.

Every query starts from :func:`crmscore.app.permissions.apply_scope`, so counts, pages, details, history and
exports only ever see the caller's customers. User input never becomes SQL text: filters are Ibis
expressions with literal values, and sort keys must name a column of the view (else a 422 field error).

The list view is the customer master joined with the owner's name and department and, when a snapshot exists,
with that snapshot's per-customer results (score, grade, segments, CLV, risk ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmscore.app.errors import FieldError
from crmscore.app.permissions import MASK, PERSONAL_FIELDS, Principal, apply_scope, mask_record
from crmscore.app.serving import ServingCold, ServingView
from crmscore.errors import NotFound
from crmscore.services.customers import ACTIVITY_TABLES, HISTORY_COLUMNS
from crmscore.services.customers import history as snapshot_history
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
    "CLASS_FILTERS",
    "HISTORY_COLUMNS",
    "CustomerQuery",
    "clean_records",
    "customer_detail",
    "customer_view",
    "export_table",
    "filtered_view",
    "json_safe",
    "list_customers",
    "scoped_results",
    "served_detail",
    "served_list",
    "serving_view",
    "snapshot_dict",
]

# query parameter -> snapshot column
CLASS_FILTERS: dict[str, str] = {"grade": "grade", "segment": "rfm_segment", "lifecycle": "lifecycle_stage",
                                 "abc": "abc_class", "value_tier": "value_tier"}
# table -> date column used to show the newest rows first
_MAX_SORT_KEYS = 3


@dataclass
class CustomerQuery:
    """Filters, sort and page of a customer list (also used, without the page, by exports)."""

    grade: list[str] = field(default_factory=list)
    segment: list[str] = field(default_factory=list)
    lifecycle: list[str] = field(default_factory=list)
    abc: list[str] = field(default_factory=list)
    value_tier: list[str] = field(default_factory=list)
    owner: list[str] = field(default_factory=list)
    department: str | None = None
    risk_min: float | None = None
    risk_max: float | None = None
    q: str | None = None
    sort: str | None = None
    limit: int = 50
    offset: int = 0
    snapshot_id: str | None = None


def snapshot_dict(info: SnapshotInfo | None, principal: Principal) -> dict[str, Any] | None:
    """A snapshot's registry record as the caller may see it: the company-wide customer count is hidden
    from users whose scope is not the company."""
    if info is None:
        return None
    body = info.to_dict()
    if principal.scope != "company":
        body["customer_count"] = None
    return body


def _scoped_customers(wh: Warehouse, principal: Principal) -> ibis.Table:
    return apply_scope(principal, wh.table("customers"), wh.table("owners"))


def customer_view(wh: Warehouse, principal: Principal,
                  snapshot_id: str | None = None) -> tuple[ibis.Table, SnapshotInfo | None]:
    """The caller's customers with owner name/department and the snapshot's results (latest by default)."""
    customers = _scoped_customers(wh, principal)
    owners = wh.table("owners")
    own = owners.select(_owner_key=owners.owner_id, owner_name=owners.name, owner_department=owners.department)
    view = customers.left_join(own, customers.owner_id == own._owner_key).drop("_owner_key")
    snap = get_snapshot(wh, snapshot_id) if snapshot_id else latest_snapshot(wh)
    if snap is not None:
        results = customers_table(wh, snap.snapshot_id)
        extra = [c for c in results.columns if c not in view.columns]
        if extra:
            res = results.select(*[results[c] for c in extra], _result_key=results.customer_id)
            view = view.left_join(res, view.customer_id == res._result_key).drop("_result_key")
    return view, snap


def scoped_results(wh: Warehouse, principal: Principal, snapshot_id: str) -> ibis.Table:
    """A snapshot's per-customer results restricted to the caller's scope."""
    results = customers_table(wh, snapshot_id)
    if principal.scope == "company":
        return results
    ids = _scoped_customers(wh, principal).select("customer_id")
    return results.semi_join(ids, results.customer_id == ids.customer_id)


def _in(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def _filtered(view: ibis.Table, query: CustomerQuery) -> ibis.Table:
    errors: list[tuple[str, str]] = []
    conditions = []
    for param, column in CLASS_FILTERS.items():
        values = _in(getattr(query, param))
        if not values:
            continue
        if column not in view.columns:
            errors.append((param, f"no {column} column yet: score the customers first"))
            continue
        conditions.append(view[column].cast("string").isin(values))
    owners = _in(query.owner)
    if owners:
        conditions.append(view.owner_id.isin(owners))
    if query.department:
        dept = query.department.rstrip("/")
        effective = view.department.coalesce(view.owner_department)
        conditions.append(((effective == dept) | effective.startswith(dept + "/")).fill_null(False))
    if query.risk_min is not None or query.risk_max is not None:
        if "churn_risk" not in view.columns:
            errors.append(("risk_min" if query.risk_min is not None else "risk_max",
                           "no churn_risk column yet: score the customers first"))
        else:
            if query.risk_min is not None:
                conditions.append(view.churn_risk >= query.risk_min)
            if query.risk_max is not None:
                conditions.append(view.churn_risk <= query.risk_max)
    if query.risk_min is not None and query.risk_max is not None and query.risk_min > query.risk_max:
        errors.append(("risk_min", "must not be greater than risk_max"))
    if query.q:
        conditions.append(view["name"].lower().contains(query.q.lower()).fill_null(False))
    if errors:
        raise FieldError(errors)
    return view.filter(*conditions) if conditions else view


def sortable_columns(view: ibis.Table, principal: Principal) -> list[str]:
    hidden = () if principal.can_view_personal_data else PERSONAL_FIELDS
    return [c for c in view.columns if c not in hidden and not c.startswith("_")]


def _sort_keys(view: ibis.Table, principal: Principal, sort: str | None) -> list[Any]:
    if not sort:
        keys: list[Any] = [ibis.desc(view.score)] if "score" in view.columns else []
        return [*keys, view.customer_id]
    allowed = sortable_columns(view, principal)
    parts = [p.strip() for p in sort.split(",")]
    errors: list[tuple[str, str]] = []
    keys = []
    if len(parts) > _MAX_SORT_KEYS:
        errors.append(("sort", f"at most {_MAX_SORT_KEYS} sort keys"))
    for part in parts[:_MAX_SORT_KEYS]:
        desc = part.startswith("-")
        name = part[1:] if desc else part
        if name not in allowed:
            errors.append(("sort", f"cannot sort by {name!r}: use one of {', '.join(allowed)} "
                                   "(prefix '-' for descending)"))
            continue
        keys.append(ibis.desc(view[name]) if desc else ibis.asc(view[name]))
    if errors:
        raise FieldError(errors)
    named = {p.lstrip("-") for p in parts}
    return keys if "customer_id" in named else [*keys, view.customer_id]


def json_safe(value: Any) -> Any:
    """A JSON-safe copy of a value (NaN and infinities become None, decimals floats)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, datetime | date | str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def clean_records(table: pa.Table) -> list[dict[str, Any]]:
    """Arrow rows as JSON-safe dicts (NaN and infinities become null, decimals floats)."""
    return [{k: json_safe(v) for k, v in row.items()} for row in table.to_pylist()]


def list_customers(wh: Warehouse, principal: Principal, query: CustomerQuery,
                   serving: ServingView | None = None) -> dict[str, Any]:
    """One page of the caller's customers: ``{total, limit, offset, snapshot, items}``.

    With a :class:`~crmscore.app.serving.ServingView` of the requested snapshot the page comes from memory;
    without one (or for another snapshot) from the warehouse. Both give the same answer.
    """
    if serving is not None and query.snapshot_id in (None, _snapshot_id(serving)):
        return _list_served(serving, principal, query)
    view, snap = customer_view(wh, principal, query.snapshot_id)
    filtered = _filtered(view, query)
    keys = _sort_keys(view, principal, query.sort)
    total = int(filtered.count().execute())
    page = filtered.order_by(keys).limit(query.limit, offset=query.offset)
    items = [mask_record(principal, r) for r in clean_records(page.to_pyarrow())]
    return {"total": total, "limit": query.limit, "offset": query.offset,
            "snapshot": snapshot_dict(snap, principal), "items": items}


# -- the serving view (see crmscore.app.serving) ----------------------------------------------------------------
def served_list(serving: ServingView, principal: Principal, query: CustomerQuery) -> dict[str, Any] | None:
    """:func:`list_customers` from the serving view alone, or None when the query names another snapshot.

    In :meth:`ServingView.cached_only` mode it raises :class:`~crmscore.app.serving.ServingCold` instead of
    computing a set or an order it has not cached yet.
    """
    if query.snapshot_id not in (None, _snapshot_id(serving)):
        return None
    return _list_served(serving, principal, query)


def served_detail(serving: ServingView, principal: Principal, customer_id: str,
                  snapshot_id: str | None = None, activity_limit: int = 50) -> dict[str, Any] | None:
    """:func:`customer_detail` from the serving view without a warehouse, or None when the query names another
    snapshot. A detail that needs warehouse queries (score points, older snapshots, activity rows) raises
    :class:`~crmscore.app.serving.ServingCold`, as does anything not cached in cached-only mode."""
    if snapshot_id not in (None, _snapshot_id(serving)):
        return None
    if _detail_queries(serving):
        raise ServingCold
    return _detail_served(None, serving, principal, customer_id, activity_limit)


def _detail_queries(serving: ServingView) -> bool:
    """Whether a 360 view needs warehouse queries (points of the snapshot, older snapshots, activity rows)."""
    extras = serving.extras
    return bool(extras["points"].get(_snapshot_id(serving)) is not None or len(serving.snapshots) > 1
                or any(extras["activity_rows"].values()))


def serving_view(wh: Warehouse) -> ServingView:
    """The company-wide customer view of the latest snapshot, materialised in memory for list and detail."""
    company = Principal(user_id=0, username="serving", role="admin", scope="company")
    view, snap = customer_view(wh, company)
    table = view.to_pyarrow()
    if snap is not None and "customer_id" in table.column_names:
        scored = customers_table(wh, snap.snapshot_id).select("customer_id").to_pyarrow().column(0)
        table = table.append_column("_in_snapshot", pc.is_in(table.column("customer_id"), value_set=scored))
    snapshots = list_snapshots(wh)
    snap_columns = {info.snapshot_id: list(customers_table(wh, info.snapshot_id).columns) for info in snapshots}
    points = {}
    if snap is not None:
        pts = points_table(wh, snap.snapshot_id)
        points = {snap.snapshot_id: list(pts.columns)} if pts is not None else {}
    activity = {name: list(wh.table(name).columns) for name in ACTIVITY_TABLES if wh.has_table(name)}
    activity_rows = {name: int(wh.table(name).count().execute()) for name in activity}
    return ServingView(table, snapshot=snap, snapshots=snapshots,
                       customer_columns=frozenset(wh.table("customers").columns) | {"owner_name", "owner_department"},
                       extras={"snap_columns": snap_columns, "points": points, "activity": activity,
                               "activity_rows": activity_rows})


def _snapshot_id(serving: ServingView) -> str | None:
    return serving.snapshot.snapshot_id if serving.snapshot is not None else None


def _scope_rows(serving: ServingView, principal: Principal) -> np.ndarray | None:
    """The rows of the principal's scope: the conditions of :func:`apply_scope` on the serving table."""
    scope, owner, dept = principal.scope, principal.owner_id, (principal.department or "").rstrip("/")
    if scope == "company":
        return None
    build: Callable[[ibis.Table], ibis.Table]
    if scope == "self" and owner:
        key: tuple[Any, ...] = ("scope", "self", owner)

        def build(t: ibis.Table) -> ibis.Table:
            return t.filter(t.owner_id == owner)
    elif scope in ("department", "department_tree") and principal.department:
        key = ("scope", scope, dept)

        def build(t: ibis.Table) -> ibis.Table:
            effective = t._dept
            cond = effective == dept if scope == "department" else \
                (effective == dept) | effective.startswith(dept + "/")
            return t.filter(cond.fill_null(False))
    else:
        key = ("scope", "nothing")

        def build(t: ibis.Table) -> ibis.Table:
            return t.filter(ibis.literal(False))
    return serving.cached_set(key, lambda: serving.select(build(serving.expr)))


def _filter_rows(serving: ServingView, query: CustomerQuery) -> tuple[tuple[Any, ...], np.ndarray | None]:
    """The cache key and rows of the query's filters except the name search (None: no filter)."""
    key = ("filter", *(tuple(_in(getattr(query, p))) for p in CLASS_FILTERS), tuple(_in(query.owner)),
           query.department, query.risk_min, query.risk_max)
    if not any(key[1:-2]) and query.risk_min is None and query.risk_max is None:
        return key, None
    bare = replace(query, q=None)
    return key, serving.cached_set(key, lambda: serving.select(_filtered(serving.expr, bare)))


def _served_rows(serving: ServingView, principal: Principal,
                 query: CustomerQuery) -> tuple[tuple[Any, ...] | None, np.ndarray | None]:
    """(cache key of the row set or None after a name search, the rows (None: every row))."""
    scope = _scope_rows(serving, principal)
    filter_key, filters = _filter_rows(serving, query)
    key = ("and", principal.scope, principal.owner_id, principal.department, filter_key)
    if scope is None or filters is None:
        rows = filters if scope is None else scope
    else:
        rows = serving.cached_set(key, lambda: ServingView.intersect(scope, filters))
    if query.q:
        return None, serving.search(rows, query.q.lower())
    return key, rows


def _sort_spec(view: ibis.Table, principal: Principal, sort: str | None) -> tuple[tuple[str, bool], ...]:
    """The validated sort keys as (column, descending) pairs, the customer id last: one cached order per spec
    whoever asks (the permission only decides which columns may be named)."""
    keys = _sort_keys(view, principal, sort)  # raises the field errors
    spec = []
    for key in keys:
        op = key.op()
        name = getattr(op, "expr", op).name if hasattr(op, "expr") else op.name
        spec.append((str(name), not bool(getattr(op, "ascending", True))))
    return tuple(spec)


def _list_served(serving: ServingView, principal: Principal, query: CustomerQuery) -> dict[str, Any]:
    rows_key, rows = _served_rows(serving, principal, query)
    spec = serving.memo(("sort", query.sort or "", principal.can_view_personal_data),
                        lambda: _sort_spec(serving.expr, principal, query.sort))
    order = serving.order(("order", spec), lambda t: _sort_keys(t, principal, query.sort))
    page = serving.page(rows, order, query.offset, query.limit,
                        key=None if rows_key is None else (rows_key, spec))
    unclean = serving.unclean_columns
    # the rows are fresh dicts: clean and mask them in place (only the columns that need it)
    masked = () if principal.can_view_personal_data else [c for c in PERSONAL_FIELDS if c in serving.columns]
    for r in page.rows:
        for c in unclean:
            r[c] = json_safe(r[c])
        for c in masked:
            if r[c] is not None:
                r[c] = MASK
    items = page.rows
    return {"total": page.total, "limit": query.limit, "offset": query.offset,
            "snapshot": snapshot_dict(serving.snapshot, principal), "items": items}


def filtered_view(wh: Warehouse, principal: Principal, query: CustomerQuery) -> ibis.Table:
    """The caller's customer view with the query's filters applied (no sort, no page)."""
    view, _snap = customer_view(wh, principal, query.snapshot_id)
    return _filtered(view, query)


def export_table(wh: Warehouse, principal: Principal, query: CustomerQuery) -> pa.Table:
    """Every row of the caller's filtered, sorted customer list (personal data masked if needed)."""
    view, _snap = customer_view(wh, principal, query.snapshot_id)
    filtered = _filtered(view, query).order_by(_sort_keys(view, principal, query.sort))
    table = filtered.to_pyarrow()
    if not principal.can_view_personal_data:
        for name in PERSONAL_FIELDS:
            if name in table.column_names:
                idx = table.column_names.index(name)
                col = table.column(name)
                masked = pa.array(["***" if v is not None else None for v in col.to_pylist()], pa.string())
                table = table.set_column(idx, name, masked)
    return table


def customer_detail(wh: Warehouse, principal: Principal, customer_id: str, snapshot_id: str | None = None,
                    activity_limit: int = 50, serving: ServingView | None = None) -> dict[str, Any]:
    """The 360 view of one customer of the caller; a customer outside the scope is 'not found'."""
    if serving is not None and wh.dialect == "duckdb" and snapshot_id in (None, _snapshot_id(serving)):
        return _detail_served(wh, serving, principal, customer_id, activity_limit)
    view, snap = customer_view(wh, principal, snapshot_id)
    rows = clean_records(view.filter(view.customer_id == customer_id).limit(1).to_pyarrow())
    if not rows:
        raise NotFound(f"no customer {customer_id!r}", "search customers with GET /api/customers?q=...")
    row = mask_record(principal, rows[0])
    customer_cols = set(wh.table("customers").columns) | {"owner_name", "owner_department"}
    profile = {k: v for k, v in row.items() if k in customer_cols}
    results = {k: v for k, v in row.items() if k not in customer_cols}
    points: list[dict[str, Any]] = []
    if snap is not None:
        pts = points_table(wh, snap.snapshot_id)
        if pts is not None:
            sel = pts.filter(pts.customer_id == customer_id)
            order = [c for c in ("dimension", "criterion") if c in pts.columns]
            points = clean_records((sel.order_by(order) if order else sel).drop("customer_id").to_pyarrow())
    history = [{k: json_safe(v) for k, v in row.items()} for row in snapshot_history(wh, customer_id)]
    activity: dict[str, Any] = {}
    for name, date_col in ACTIVITY_TABLES.items():
        if not wh.has_table(name):
            continue
        table = wh.table(name)
        mine = table.filter(table.customer_id == customer_id)
        activity[name] = {
            "count": int(mine.count().execute()),
            "items": clean_records(mine.order_by([ibis.desc(mine[date_col]), *mine.columns[:1]])
                                   .limit(activity_limit).to_pyarrow()),
        }
    return {"customer_id": customer_id, "snapshot": snapshot_dict(snap, principal), "profile": profile,
            "results": results, "points": points, "history": history, "activity": activity}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _arrow(wh: Warehouse | None, sql: str, params: list[Any]) -> pa.Table:
    """A parameterised query on the reader's own DuckDB connection (values are bound, never spliced); without
    a warehouse (the event-loop fast path) :class:`ServingCold`."""
    if wh is None:
        raise ServingCold
    out = wh.con.con.execute(sql, params).arrow()
    return out.read_all() if isinstance(out, pa.RecordBatchReader) else out


def _detail_served(wh: Warehouse | None, serving: ServingView, principal: Principal, customer_id: str,
                   activity_limit: int) -> dict[str, Any]:
    """:func:`customer_detail` from the serving view plus a few bound-parameter DuckDB queries.

    Table names come from the warehouse catalog and validated snapshot ids; only the customer id and the limit
    are values, and they are bound parameters.
    """
    pos = serving.position(customer_id)
    scope = _scope_rows(serving, principal) if pos is not None else None
    if pos is None or (scope is not None and not _member(scope, pos)):
        raise NotFound(f"no customer {customer_id!r}", "search customers with GET /api/customers?q=...")
    row = mask_record(principal, {k: json_safe(v) for k, v in serving.records(np.array([pos]))[0].items()})
    profile = {k: v for k, v in row.items() if k in serving.customer_columns}
    results = {k: v for k, v in row.items() if k not in serving.customer_columns}
    snap = serving.snapshot
    points: list[dict[str, Any]] = []
    point_cols = serving.extras["points"].get(_snapshot_id(serving))
    if snap is not None and point_cols is not None:
        order = [c for c in ("dimension", "criterion") if c in point_cols]
        cols = ", ".join(_quote(c) for c in point_cols if c != "customer_id")
        sql = (f"SELECT {cols} FROM {_quote('snap_points_' + snap.snapshot_id)} WHERE customer_id = $1"
               + (" ORDER BY " + ", ".join(f"{_quote(c)} ASC" for c in order) if order else ""))
        points = clean_records(_arrow(wh, sql, [customer_id]))
    history = _history_served(wh, serving, customer_id, pos, row)
    return {"customer_id": customer_id, "snapshot": snapshot_dict(snap, principal), "profile": profile,
            "results": results, "points": points, "history": history,
            "activity": _activity_served(wh, serving, customer_id, activity_limit)}


def _activity_served(wh: Warehouse | None, serving: ServingView, customer_id: str, limit: int) -> dict[str, Any]:
    """Count and newest rows of every activity table: one bound-parameter query per non-empty table (a count
    query only when the page is full); tables that were empty when the view was built are not asked."""
    activity: dict[str, Any] = {}
    for name, date_col in ACTIVITY_TABLES.items():
        columns = serving.extras["activity"].get(name)
        if columns is None:
            continue
        if not serving.extras["activity_rows"].get(name):
            activity[name] = {"count": 0, "items": []}
            continue
        where = f"FROM {_quote(name)} WHERE customer_id = $1"
        table = _arrow(wh, f"SELECT * {where} ORDER BY {_quote(date_col)} DESC, {_quote(columns[0])} ASC "
                           "LIMIT $2", [customer_id, limit])
        count = table.num_rows
        if count >= limit:
            count = int(_arrow(wh, f"SELECT count(*) AS n {where}", [customer_id]).column(0)[0].as_py())
        activity[name] = {"count": count, "items": clean_records(table)}
    return activity


def _member(rows: np.ndarray, pos: int) -> bool:
    i = int(np.searchsorted(rows, pos))
    return i < len(rows) and int(rows[i]) == pos


def _history_served(wh: Warehouse | None, serving: ServingView, customer_id: str, pos: int,
                    row: dict[str, Any]) -> list[dict[str, Any]]:
    """:func:`crmscore.services.customers.history` in one UNION ALL query over the older snapshots (the
    serving view's own snapshot is already in the row)."""
    parts, wanted, found = [], {}, {}
    for i, info in enumerate(serving.snapshots):
        cols = [c for c in HISTORY_COLUMNS if c in serving.extras["snap_columns"].get(info.snapshot_id, ())]
        wanted[i] = cols
        if info.snapshot_id == _snapshot_id(serving) and not set(cols) & serving.customer_columns:
            if serving.in_snapshot(pos):
                found[i] = {c: row.get(c) for c in cols}
            continue
        select = ", ".join([f"{i} AS __crmscore_i", *(_quote(c) for c in cols)])
        parts.append(f"(SELECT {select} FROM {_quote('snap_customers_' + info.snapshot_id)} "
                     "WHERE customer_id = $1 LIMIT 1)")
    if parts:
        table = _arrow(wh, " UNION ALL BY NAME ".join(parts), [customer_id])
        found |= {r["__crmscore_i"]: r for r in table.to_pylist()}
    out = []
    for i, info in enumerate(serving.snapshots):
        if i in found:
            row = found[i]
            out.append({"snapshot_id": info.snapshot_id, "as_of": info.as_of}
                       | {c: row.get(c) for c in wanted[i]})
    return [{k: json_safe(v) for k, v in r.items()} for r in out]
