"""Snapshots registry and migration matrices on hand-made data."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from crmscore.cli.main import app
from crmscore.errors import NotFound, UnknownName
from crmscore.services.migration import NONE_CLASS, migration
from crmscore.services.snapshots import (
    PointsView,
    customers_table,
    delete_snapshot,
    latest_snapshot,
    list_snapshots,
    points_table,
    write_snapshot,
)
from crmscore.store.warehouse import Warehouse


def _snap(wh: Warehouse, day: date, rows: dict[str, list[object]]):  # type: ignore[no-untyped-def]
    return write_snapshot(wh, as_of=day, customers=pa.table(rows), meta={"created_by": "test"})


def test_migration_margins_equal_class_sizes() -> None:
    rng = np.random.default_rng(7)
    wh = Warehouse.in_memory()
    grades = np.array(list("ABCD"))
    ids_a = [f"c{i:03d}" for i in range(200)]
    ids_b = [f"c{i:03d}" for i in range(20, 230)]  # 20 leave, 30 arrive
    ga = grades[rng.integers(0, 4, len(ids_a))]
    gb = grades[rng.integers(0, 4, len(ids_b))]
    rev_b = rng.gamma(2.0, 100.0, len(ids_b)).round(2)
    a = _snap(wh, date(2024, 1, 31), {"customer_id": ids_a, "grade": ga.tolist(),
                                      "monetary": [1.0] * len(ids_a)})
    b = _snap(wh, date(2024, 2, 29), {"customer_id": ids_b, "grade": gb.tolist(), "monetary": rev_b.tolist()})
    m = migration(wh, a.snapshot_id, b.snapshot_id, by="grade")
    sizes_a = {g: int((ga == g).sum()) for g in "ABCD"}
    sizes_b = {g: int((gb == g).sum()) for g in "ABCD"}
    row_sums = m.counts.sum(axis=1).to_dict()
    col_sums = m.counts.sum(axis=0).to_dict()
    for g in "ABCD":
        assert row_sums[g] == sizes_a[g]
        assert col_sums[g] == sizes_b[g]
    assert row_sums[NONE_CLASS] == 30 and col_sums[NONE_CLASS] == 20
    # revenue matrix: columns sum to the later snapshot's revenue per class
    rev_cols = m.revenue.sum(axis=0)
    for g in "ABCD":
        assert rev_cols[g] == pytest.approx(float(rev_b[gb == g].sum()))


def test_movers_and_whole_matrix() -> None:
    wh = Warehouse.in_memory()
    a = _snap(wh, date(2024, 1, 31), {
        "customer_id": ["1", "2", "3", "4"], "grade": ["A", "A", "B", "D"],
        "lifecycle_stage": ["loyal", "repeat", "at_risk", "new"],
        "rfm_segment": ["Champions", "Loyal", "At risk", "New"]})
    b = _snap(wh, date(2024, 2, 29), {
        "customer_id": ["1", "2", "3", "4"], "grade": ["C", "B", "D", "A"],
        "lifecycle_stage": ["at_risk", "repeat", "churned", "repeat"],
        "rfm_segment": ["At risk", "Champions", "Lost", "Loyal"]})
    m = migration(wh, a.snapshot_id, b.snapshot_id, by="grade")
    assert m.counts.to_dict() == {"A": {"A": 0, "B": 0, "D": 1}, "B": {"A": 1, "B": 0, "D": 0},
                                  "C": {"A": 1, "B": 0, "D": 0}, "D": {"A": 0, "B": 1, "D": 0}}
    kinds = sorted((mv["kind"], mv["customer_id"]) for mv in m.movers)
    assert kinds == [("grade_down_2", "1"), ("grade_down_2", "3"), ("new_champion", "2"),
                     ("newly_at_risk", "1")]
    assert {al["kind"] for al in m.alerts} == {"grade_down_2", "newly_at_risk"}
    with pytest.raises(UnknownName):
        migration(wh, a.snapshot_id, b.snapshot_id, by="colour")


def test_registry_order_latest_and_delete() -> None:
    wh = Warehouse.in_memory()
    later = _snap(wh, date(2024, 3, 31), {"customer_id": ["x"], "grade": ["A"]})
    earlier = _snap(wh, date(2024, 1, 31), {"customer_id": ["x"], "grade": ["B"]})
    assert [s.snapshot_id for s in list_snapshots(wh)] == [earlier.snapshot_id, later.snapshot_id]
    assert latest_snapshot(wh) == later
    delete_snapshot(wh, later.snapshot_id)
    assert [s.snapshot_id for s in list_snapshots(wh)] == [earlier.snapshot_id]
    with pytest.raises(NotFound):
        customers_table(wh, "x; DROP TABLE customers")


def test_failed_write_leaves_nothing() -> None:
    wh = Warehouse.in_memory()
    bad_points = pa.table({"customer_id": pa.array([None], pa.null())})  # DuckDB refuses NULL-typed columns
    with pytest.raises(Exception):  # noqa: B017 - any failure must roll back
        write_snapshot(wh, as_of=date(2024, 1, 1), customers=pa.table({"customer_id": ["a"]}), points=bad_points)
    assert list_snapshots(wh) == []
    assert [t for t in wh.con.list_tables() if t.startswith("snap_")] == []


def _select_points(wh: Warehouse, parts: tuple[str, ...], clustered: bool = True,  # type: ignore[no-untyped-def]
                   as_sql: bool = True):
    """A snapshot whose point parts are SELECTs and whose customers read the stored parts (a backfill's write:
    a SELECT; else an expression)."""
    wh.execute("CREATE OR REPLACE TEMP TABLE scored AS SELECT * FROM (VALUES ('b', 60.0), ('a', 80.0)) t(customer_id, score)")
    points = PointsView(parts=parts, render=lambda tables: tables[0],
                        sql=lambda names: f"SELECT customer_id, score AS points FROM {names[0]}")

    def customers(names: list[str]):  # type: ignore[no-untyped-def]
        sql = f"SELECT customer_id, score, score >= 70 AS good FROM {names[0]}"
        return sql if as_sql else wh.con.sql(sql)

    return write_snapshot(wh, as_of=date(2024, 1, 31), customers=customers, points=points, clustered=clustered)


@pytest.mark.parametrize("as_sql", [True, False], ids=["select", "expression"])
@pytest.mark.parametrize("clustered", [True, False])
def test_points_written_from_selects_feed_the_customers(clustered: bool, as_sql: bool) -> None:
    wh = Warehouse.in_memory()
    info = _select_points(wh, ("SELECT * FROM scored",), clustered, as_sql)
    stored = customers_table(wh, info.snapshot_id).to_pyarrow()
    assert info.customer_count == 2
    assert sorted(zip(stored["customer_id"].to_pylist(), stored["good"].to_pylist(), strict=True)) == [
        ("a", True), ("b", False)]
    # clustered rows are stored in customer order (a lookup skips row groups); otherwise as computed
    assert stored["customer_id"].to_pylist() == (["a", "b"] if clustered else ["b", "a"])
    points = points_table(wh, info.snapshot_id)
    assert points is not None and sorted(points.to_pyarrow()["points"].to_pylist()) == [60.0, 80.0]


def test_a_failing_point_select_leaves_nothing() -> None:
    wh = Warehouse.in_memory()
    with pytest.raises(Exception):  # noqa: B017 - any failure must roll back
        _select_points(wh, ("SELECT * FROM no_such_table",))
    assert list_snapshots(wh) == []
    assert [t for t in wh.con.list_tables() if t.startswith("snap_")] == []


def test_only_tables_beyond_one_row_group_are_clustered() -> None:
    duck = Warehouse.in_memory()
    assert not duck.clusters(100_000) and duck.clusters(1_000_000)


def test_cli_snapshots_list_and_diff(workspace) -> None:  # type: ignore[no-untyped-def]
    a = _snap(workspace.warehouse, date(2024, 1, 31), {"customer_id": ["1", "2"], "grade": ["A", "B"]})
    b = _snap(workspace.warehouse, date(2024, 2, 29), {"customer_id": ["1", "2"], "grade": ["B", "B"]})
    path = str(workspace.path)
    workspace.close()
    runner = CliRunner()
    res = runner.invoke(app, ["snapshots", "list", "--workspace", path, "--json"])
    assert res.exit_code == 0, res.output
    assert [s["snapshot_id"] for s in json.loads(res.stdout)] == [a.snapshot_id, b.snapshot_id]
    res = runner.invoke(app, ["snapshots", "diff", a.snapshot_id, b.snapshot_id, "--workspace", path, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["classes_a"], doc["classes_b"], doc["counts"]) == (["A", "B"], ["B"], [[1], [1]])
