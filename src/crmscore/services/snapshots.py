"""Immutable snapshots of per-customer results in the warehouse.

A snapshot is one scoring run's output for one ``as_of`` date:

- ``snapshots``: the registry, one row per *complete* snapshot (id, as_of, scorecard version, fingerprint,
  parameters, timings, who ran it);
- ``snap_customers_<id>``: one row per customer, ``customer_id`` first, then every metric, class, score,
  grade, CLV and risk column;
- ``snap_points_<id>``: one row per customer and scorecard criterion (the explanation of every point). Written
  by a scoring run, it is a view over ``snap_pointrows_<id>_<k>`` (one compact row per customer and scorecard)
  that renders the long rows and their texts when read (:class:`PointsView`): the stored rows are a tenth of
  the long table's, and writing a snapshot costs a fraction.

All of them are written in one warehouse transaction, so a snapshot is visible only when complete; a run killed
at any moment leaves the previous state. Snapshots are never updated, only deleted by the retention policy.

>>> import pyarrow as pa
>>> from datetime import date
>>> from crmscore.store.warehouse import Warehouse
>>> wh = Warehouse.in_memory()
>>> info = write_snapshot(wh, as_of=date(2024, 1, 31),
...                       customers=pa.table({"customer_id": ["a", "b"], "score": [80.0, 40.0]}))
>>> [s.snapshot_id for s in list_snapshots(wh)] == [info.snapshot_id]
True
>>> customers_table(wh, info.snapshot_id).score.sum().execute()
120.0
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import ibis
import pyarrow as pa

from crmscore.errors import NotFound
from crmscore.store.warehouse import Warehouse

__all__ = [
    "REGISTRY_TABLE",
    "PointsView",
    "SnapshotInfo",
    "Snapshots",
    "customers_table",
    "delete_snapshot",
    "ensure_registry",
    "get_snapshot",
    "latest_snapshot",
    "list_snapshots",
    "points_table",
    "write_snapshot",
]

REGISTRY_TABLE = "snapshots"
_REGISTRY_SCHEMA = ibis.schema({
    "snapshot_id": "string", "as_of": "date", "created_at": "timestamp", "created_by": "string",
    "scorecard": "string", "scorecard_version": "int64", "scorecard_hash": "string",
    "input_fingerprint": "string", "customer_count": "int64", "params": "string", "timings": "string",
})
_ID_PATTERN = re.compile(r"^s\d{8}_[0-9a-f]{6}$")


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: str
    as_of: date
    created_at: datetime
    created_by: str | None = None
    scorecard: str | None = None
    scorecard_version: int | None = None
    scorecard_hash: str | None = None
    input_fingerprint: str | None = None
    customer_count: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class PointsView:
    """Points written as compact per-customer rows and read through a view that renders the long table.

    ``parts``: the expressions (or SELECT statements) to store, one table each; ``render``: the stored tables ->
    the long points expression (compiled into the view). ``sql``: optionally, the view's SQL for the stored
    table names (compiled once by a backfill instead of per snapshot).
    """

    parts: tuple[ibis.Table | str, ...]
    render: Callable[[list[ibis.Table]], ibis.Table]
    sql: Callable[[list[str]], str] | None = None


def _customers_name(snapshot_id: str) -> str:
    return f"snap_customers_{snapshot_id}"


def _points_name(snapshot_id: str) -> str:
    return f"snap_points_{snapshot_id}"


def _point_rows_name(snapshot_id: str, part: int) -> str:
    return f"snap_pointrows_{snapshot_id}_{part}"


def _create_from_select(wh: Warehouse, name: str, select: str, clustered: bool) -> None:
    """Table ``name`` holding the rows of the SELECT ``select`` (in customer order when ``clustered``)."""
    wh.execute(f"CREATE TABLE {name} AS " + (f"SELECT * FROM ({select}) ORDER BY customer_id" if clustered
                                             else select))


def _write_points(wh: Warehouse, snapshot_id: str, points: pa.Table | ibis.Table | PointsView,
                  clustered: bool) -> list[str]:
    """Store the points; returns the names of the tables holding a :class:`PointsView`'s parts."""
    if not isinstance(points, PointsView):
        wh.con.create_table(_points_name(snapshot_id), points)
        return []
    names = [_point_rows_name(snapshot_id, k) for k in range(len(points.parts))]
    for name, part in zip(names, points.parts, strict=True):
        if isinstance(part, str):
            _create_from_select(wh, name, part, clustered)
        else:
            wh.con.create_table(name, part.order_by("customer_id") if clustered else part)
    if points.sql is not None:
        wh.execute(f"CREATE VIEW {_points_name(snapshot_id)} AS {points.sql(names)}")
    else:
        wh.con.create_view(_points_name(snapshot_id), points.render([wh.table(n) for n in names]))
    return names


def ensure_registry(wh: Warehouse) -> None:
    """Create the snapshot registry if missing (writers running at once cannot all create it)."""
    if not wh.has_table(REGISTRY_TABLE):
        wh.con.create_table(REGISTRY_TABLE, schema=_REGISTRY_SCHEMA)


def _check_id(snapshot_id: str) -> None:
    if not _ID_PATTERN.match(snapshot_id):
        raise NotFound(f"no snapshot {snapshot_id!r}", "list snapshots with: crmscore snapshots list")


def new_snapshot_id(as_of: date) -> str:
    return f"s{as_of:%Y%m%d}_{secrets.token_hex(3)}"


def write_snapshot(wh: Warehouse, *, as_of: date,
                   customers: pa.Table | ibis.Table | Callable[[list[str]], ibis.Table | str],
                   points: pa.Table | ibis.Table | PointsView | None = None, meta: dict[str, Any] | None = None,
                   snapshot_id: str | None = None, clustered: bool = True) -> SnapshotInfo:
    """Write one complete snapshot atomically and return its registry record.

    ``customers`` and ``points`` are Arrow tables or Ibis expressions on the warehouse's own backend (then the
    rows never leave the warehouse); ``points`` may be a :class:`PointsView`, and then ``customers`` may be a
    function of the names of the tables its parts are stored in (the customers read the stored parts instead
    of computing them again; it may return a SELECT statement). ``meta`` may hold created_by,
    scorecard, scorecard_version, scorecard_hash, input_fingerprint, params (dict) and timings (dict).
    ``clustered``: the expressions' rows are stored in customer order, so that reading one customer's rows
    skips the other row groups (see :meth:`Warehouse.clusters`).
    """
    meta = dict(meta or {})
    snapshot_id = snapshot_id or new_snapshot_id(as_of)
    _check_id(snapshot_id)
    created_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    with wh.transaction():
        ensure_registry(wh)
        parts = _write_points(wh, snapshot_id, points, clustered) if points is not None else []
        if callable(customers):
            customers = customers(parts)
        name = _customers_name(snapshot_id)
        if isinstance(customers, str):
            _create_from_select(wh, name, customers, clustered)
            count = int(wh.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
        else:
            if clustered and isinstance(customers, ibis.Table):
                customers = customers.order_by("customer_id")
            count = int(wh.con.create_table(name, customers).count().execute())
        info = SnapshotInfo(
            snapshot_id=snapshot_id, as_of=as_of, created_at=created_at, created_by=meta.get("created_by"),
            scorecard=meta.get("scorecard"), scorecard_version=meta.get("scorecard_version"),
            scorecard_hash=meta.get("scorecard_hash"), input_fingerprint=meta.get("input_fingerprint"),
            customer_count=count, params=dict(meta.get("params") or {}), timings=dict(meta.get("timings") or {}))
        row = info.to_dict() | {"params": json.dumps(info.params, default=str),
                                "timings": json.dumps(info.timings)}
        wh.con.insert(REGISTRY_TABLE, ibis.memtable([row], schema=_REGISTRY_SCHEMA))
    return info


def _info_from_row(row: dict[str, Any]) -> SnapshotInfo:
    def _py(value: Any) -> Any:
        if value is None:
            return None
        if hasattr(value, "to_pydatetime"):
            return value.to_pydatetime()
        if hasattr(value, "item"):
            return value.item()
        return value

    as_of = _py(row["as_of"])
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    version = _py(row["scorecard_version"])
    return SnapshotInfo(
        snapshot_id=row["snapshot_id"], as_of=as_of, created_at=_py(row["created_at"]),
        created_by=row["created_by"], scorecard=row["scorecard"],
        scorecard_version=int(version) if version is not None else None, scorecard_hash=row["scorecard_hash"],
        input_fingerprint=row["input_fingerprint"], customer_count=int(_py(row["customer_count"]) or 0),
        params=json.loads(row["params"] or "{}"), timings=json.loads(row["timings"] or "{}"))


def list_snapshots(wh: Warehouse) -> list[SnapshotInfo]:
    """Complete snapshots, oldest as_of first (ties by creation time)."""
    if not wh.has_table(REGISTRY_TABLE):
        return []
    df = wh.table(REGISTRY_TABLE).order_by(["as_of", "created_at", "snapshot_id"]).to_pyarrow().to_pylist()
    return [_info_from_row(r) for r in df]


def get_snapshot(wh: Warehouse, snapshot_id: str) -> SnapshotInfo:
    for info in list_snapshots(wh):
        if info.snapshot_id == snapshot_id:
            return info
    raise NotFound(f"no snapshot {snapshot_id!r}", "list snapshots with: crmscore snapshots list")


def latest_snapshot(wh: Warehouse) -> SnapshotInfo | None:
    """The snapshot with the latest as_of (the most recently created among equals), or None."""
    snaps = list_snapshots(wh)
    return snaps[-1] if snaps else None


def customers_table(wh: Warehouse, snapshot_id: str) -> ibis.Table:
    _check_id(snapshot_id)
    return wh.table(_customers_name(snapshot_id))


def points_table(wh: Warehouse, snapshot_id: str) -> ibis.Table | None:
    _check_id(snapshot_id)
    name = _points_name(snapshot_id)
    return wh.table(name) if wh.has_table(name) else None


def delete_snapshot(wh: Warehouse, snapshot_id: str) -> None:
    """Remove a snapshot (retention policy): registry row first, then its tables, in one transaction."""
    _check_id(snapshot_id)
    with wh.transaction():
        wh.execute(f"DELETE FROM {REGISTRY_TABLE} WHERE snapshot_id = '{snapshot_id}'")
        views = set(wh.con.sql("SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW'")
                    .to_pyarrow().column(0).to_pylist())
        rows = sorted(wh.con.list_tables(like=f"snap_pointrows_{snapshot_id}_"))
        for name in (_points_name(snapshot_id), _customers_name(snapshot_id), *rows):  # the view first
            if name in views:
                wh.con.drop_view(name)
            elif wh.has_table(name):
                wh.con.drop_table(name)


class Snapshots:
    """Library access to a workspace's snapshots as DataFrames: ``Workspace(path).snapshots[...]``.

    Index with a snapshot id, a position (``-1`` is the latest), ``"latest"``, or an as-of ``date`` (the latest
    snapshot of that date). ``len()``, iteration (over :class:`SnapshotInfo`), :meth:`list`, :meth:`points` and
    :meth:`history` are there too.

    >>> import pyarrow as pa
    >>> wh = Warehouse.in_memory()
    >>> _ = write_snapshot(wh, as_of=date(2024, 1, 31), customers=pa.table({"customer_id": ["a"], "score": [70.0]}))
    >>> snaps = Snapshots(wh)
    >>> len(snaps), snaps[-1].score.tolist(), snaps[date(2024, 1, 31)].customer_id.tolist()
    (1, [70.0], ['a'])
    """

    def __init__(self, wh: Warehouse) -> None:
        self._wh = wh

    def _infos(self) -> list[SnapshotInfo]:
        return list_snapshots(self._wh)

    def __len__(self) -> int:
        return len(self._infos())

    def __iter__(self) -> Any:
        return iter(self._infos())

    def info(self, key: str | int | date) -> SnapshotInfo:
        infos = self._infos()
        if not infos:
            raise NotFound("no snapshot yet", "score the workspace first: crmscore score")
        if key == "latest":
            return infos[-1]
        if isinstance(key, int):
            try:
                return infos[key]
            except IndexError:
                raise NotFound(f"no snapshot at position {key}", f"there are {len(infos)}") from None
        if isinstance(key, date):
            matches = [i for i in infos if i.as_of == key]
            if not matches:
                raise NotFound(f"no snapshot as of {key}", "as-of dates: " + ", ".join(str(i.as_of) for i in infos))
            return matches[-1]
        return get_snapshot(self._wh, str(key))

    def __getitem__(self, key: str | int | date) -> Any:
        """The per-customer results of one snapshot as a pandas DataFrame."""
        return customers_table(self._wh, self.info(key).snapshot_id).order_by("customer_id").to_pandas()

    def points(self, key: str | int | date = "latest") -> Any:
        """The explanation rows (one per customer and criterion) of one snapshot as a DataFrame."""
        table = points_table(self._wh, self.info(key).snapshot_id)
        return None if table is None else table.to_pandas()

    def list(self) -> Any:
        """The registry as a DataFrame, oldest first."""
        import pandas as pd

        return pd.DataFrame([i.to_dict() for i in self._infos()])

    def history(self, customer_id: str) -> Any:
        """One customer's results across snapshots (score, grade, segment, lifecycle, CLV, risk) as a DataFrame."""
        import pandas as pd

        from crmscore.services.customers import history

        return pd.DataFrame(history(self._wh, customer_id))
