"""Synthetic data: determinism, schema conformity, referential integrity, internal consistency, plausibility."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from crmscore import synth
from crmscore.cli.main import app
from crmscore.errors import CrmscoreError, UnknownName
from crmscore.schema import TABLES

N = 3000


@pytest.fixture(scope="module")
def tables() -> Iterator[dict[str, pa.Table]]:
    # Small blocks, so that identifiers and counters are exercised across block boundaries.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(synth, "BLOCK_CUSTOMERS", 1000)
        yield synth.generate(N, seed=11)


@pytest.fixture(scope="module")
def con(tables: dict[str, pa.Table]) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    for name, table in tables.items():
        c.register(name, table)
    yield c
    c.close()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    row = con.execute(sql).fetchone()
    assert row is not None
    return float(row[0]) if row[0] is not None else float("nan")


def test_every_table_matches_the_canonical_schema(tables: dict[str, pa.Table]) -> None:
    assert set(tables) == set(TABLES)
    for name, table in tables.items():
        spec = TABLES[name]
        assert table.schema.equals(synth.arrow_schema(spec)), name
        assert table.num_rows > 0, name
        for col in spec.required:
            assert table.column(col).null_count == 0, f"{name}.{col} has nulls"
        for col in spec.columns:
            values = table.column(col.name)
            if col.choices:
                seen = set(pc.unique(values.drop_null()).to_pylist())
                assert seen <= set(col.choices), f"{name}.{col.name}: {seen - set(col.choices)}"
            if col.min_value is not None and len(values.drop_null()):
                assert pc.min(values).as_py() >= col.min_value, f"{name}.{col.name}"
            if col.max_value is not None and len(values.drop_null()):
                assert pc.max(values).as_py() <= col.max_value, f"{name}.{col.name}"


def test_keys_are_unique(con: duckdb.DuckDBPyConnection) -> None:
    for name, spec in TABLES.items():
        key = ", ".join(spec.key)
        dupes = _scalar(con, f"SELECT count(*) FROM (SELECT {key} FROM {name} GROUP BY ALL HAVING count(*) > 1)")
        assert dupes == 0, name


def test_references_resolve(con: duckdb.DuckDBPyConnection) -> None:
    for name, spec in TABLES.items():
        for col, target in spec.references.items():
            target_key = TABLES[target].key[0] if col != "order_id" else "order_id"
            orphans = _scalar(con, f"SELECT count(*) FROM {name} WHERE {col} IS NOT NULL AND {col} NOT IN "
                                   f"(SELECT {target_key} FROM {target})")
            assert orphans == 0, f"{name}.{col} -> {target}"
    # Customers' department is their owner's department.
    mismatched = _scalar(con, "SELECT count(*) FROM customers c JOIN owners o USING (owner_id) "
                              "WHERE c.department <> o.department")
    assert mismatched == 0


def test_departments_form_a_tree(tables: dict[str, pa.Table]) -> None:
    depts = set(tables["owners"].column("department").to_pylist())
    assert {"Sales/East", "Sales/East/Shanghai", "Sales/North"} <= depts
    nested = [d for d in depts if d.count("/") == 2]
    assert nested and all(d.rsplit("/", 1)[0].startswith("Sales/") for d in nested)


def test_order_amounts_are_the_sum_of_their_lines(con: duckdb.DuckDBPyConnection) -> None:
    bad = _scalar(con, """
        SELECT count(*) FROM orders o JOIN (
            SELECT order_id, sum(amount) AS lines, sum(quantity * unit_price) AS qp,
                   sum(quantity * unit_cost) AS cost FROM order_lines GROUP BY order_id) l USING (order_id)
        WHERE o.amount <> l.lines OR l.lines <> l.qp OR o.cost <> l.cost""")
    assert bad == 0
    assert _scalar(con, "SELECT count(*) FROM orders WHERE order_id NOT IN (SELECT order_id FROM order_lines)") == 0


def test_returns_are_negative_reversals_after_a_sale(con: duckdb.DuckDBPyConnection) -> None:
    share = _scalar(con, "SELECT avg((status = 'returned')::int) FROM orders")
    assert 0.01 < share < 0.1
    assert _scalar(con, "SELECT count(*) FROM orders WHERE status = 'returned' AND amount >= 0") == 0
    assert _scalar(con, "SELECT count(*) FROM orders WHERE status <> 'returned' AND amount <= 0") == 0
    assert 0.005 < _scalar(con, "SELECT avg((status = 'cancelled')::int) FROM orders") < 0.06
    # A customer's first document is a sale, never a return.
    assert _scalar(con, """SELECT count(*) FROM (SELECT customer_id, arg_min(status, order_date) AS s
                           FROM orders GROUP BY 1) WHERE s = 'returned'""") == 0


def test_dates_stay_within_the_history(tables: dict[str, pa.Table]) -> None:
    start, end = date(2022, 1, 1), synth.DEFAULT_END
    checks = {"orders": ["order_date"], "interactions": ["occurred_at"], "invoices": ["issued_on"],
              "surveys": ["answered_on"], "tickets": ["opened_at"], "opportunities": ["created_on"]}
    for name, cols in checks.items():
        for col in cols:
            lo, hi = (v.as_py() for v in pc.min_max(tables[name].column(col)).values())
            as_date = [v.date() if hasattr(v, "date") and callable(v.date) else v for v in (lo, hi)]
            assert start <= as_date[0] <= as_date[1] <= end, f"{name}.{col}"


def test_purchase_process_is_heterogeneous_with_dropout(con: duckdb.DuckDBPyConnection) -> None:
    per = con.execute("""
        SELECT count(*) AS n, quantile_cont(k, 0.5) AS med, max(k) AS mx, avg((k = 1)::int) AS one_time,
               avg(k) AS mean
        FROM (SELECT customer_id, count(*) AS k FROM orders WHERE status = 'completed' GROUP BY 1)""").fetchone()
    assert per is not None
    n, med, mx, one_time, mean = per
    assert 0.85 * N < n < N                       # a few prospects never order
    assert 0.05 < one_time < 0.5 and mx > 5 * med  # one-time buyers and heavy buyers
    assert 5 <= mean <= 20
    # Dropout: many buyers went quiet long before the end (BG/NBD-style churn), others are still active.
    quiet = _scalar(con, """SELECT avg((last < DATE '2024-07-01')::int) FROM
                            (SELECT max(order_date) AS last FROM orders GROUP BY customer_id)""")
    assert 0.2 < quiet < 0.8
    # Seasonality: February (New Year) is quieter per day than November-December.
    feb = _scalar(con, "SELECT count(*) / 85.0 FROM orders WHERE month(order_date) = 2")
    nov_dec = _scalar(con, "SELECT count(*) / 183.0 FROM orders WHERE month(order_date) IN (11, 12)")
    assert feb < 0.8 * nov_dec


def test_b2b_and_b2c_differ(con: duckdb.DuckDBPyConnection) -> None:
    rows = dict(con.execute("""SELECT c.type, median(o.amount) FROM orders o JOIN customers c USING (customer_id)
                               WHERE o.status = 'completed' GROUP BY 1""").fetchall())
    assert rows["B2B"] > 5 * rows["B2C"]
    assert 0.25 < _scalar(con, "SELECT avg((type = 'B2B')::int) FROM customers") < 0.45
    assert _scalar(con, "SELECT count(*) FROM customers WHERE type = 'B2C' AND industry IS NOT NULL") == 0
    assert _scalar(con, "SELECT count(*) FROM customers WHERE type = 'B2B' AND employees IS NULL") == 0
    # Amounts carry cents.
    assert _scalar(con, "SELECT avg((amount * 100 % 100 <> 0)::int) FROM orders") > 0.5


def test_invoices_have_late_disputed_and_open_items(con: duckdb.DuckDBPyConnection) -> None:
    late = _scalar(con, "SELECT avg((paid_on > due_on)::int) FROM invoices WHERE paid_on IS NOT NULL")
    assert 0.1 < late < 0.6
    assert 0.005 < _scalar(con, "SELECT avg(disputed::int) FROM invoices") < 0.1
    assert _scalar(con, "SELECT count(*) FROM invoices WHERE paid_on IS NULL AND due_on < DATE '2024-12-01'") > 0
    assert _scalar(con, "SELECT count(*) FROM invoices WHERE paid_on IS NULL AND paid_amount IS NOT NULL") == 0
    assert _scalar(con, "SELECT count(*) FROM invoices WHERE paid_on < issued_on OR due_on <= issued_on") == 0
    assert _scalar(con, "SELECT count(*) FROM invoices WHERE paid_amount > amount") == 0
    # Invoices are for B2B customers only.
    assert _scalar(con, "SELECT count(*) FROM invoices JOIN customers USING (customer_id) WHERE type = 'B2C'") == 0


def test_surveys_tickets_opportunities_interactions(con: duckdb.DuckDBPyConnection) -> None:
    assert _scalar(con, "SELECT count(*) FROM surveys WHERE score < scale_min OR score > scale_max") == 0
    assert {r[0] for r in con.execute("SELECT DISTINCT scale_max FROM surveys").fetchall()} == {5.0, 10.0}
    assert {r[0] for r in con.execute("SELECT DISTINCT dimension FROM surveys").fetchall()} == {
        "product", "service", "response", "after_sales"}
    # One would_recommend per survey, repeated on its dimension rows.
    assert _scalar(con, "SELECT max(k) FROM (SELECT count(DISTINCT would_recommend) k FROM surveys GROUP BY survey_id)") == 1
    assert 0.05 < _scalar(con, "SELECT avg(is_complaint::int) FROM tickets") < 0.6
    assert _scalar(con, "SELECT count(*) FROM tickets WHERE closed_at < opened_at") == 0
    assert _scalar(con, "SELECT count(*) FROM opportunities WHERE urgency NOT BETWEEN 1 AND 5 OR fit NOT BETWEEN 1 AND 5") == 0
    assert _scalar(con, "SELECT count(DISTINCT stage) FROM opportunities") >= 4
    visits = con.execute("""SELECT count(*), min(duration_seconds), count(pages) FROM interactions
                            WHERE type = 'visit'""").fetchone()
    assert visits is not None and visits[0] > 0 and visits[1] > 0 and visits[2] == visits[0]
    assert _scalar(con, "SELECT count(*) FROM interactions WHERE type <> 'visit' AND pages IS NOT NULL") == 0
    types = {r[0] for r in con.execute("SELECT DISTINCT type FROM interactions").fetchall()}
    assert {"visit", "email_open", "call", "meeting"} <= types


def test_satisfaction_links_surveys_and_complaints(con: duckdb.DuckDBPyConnection) -> None:
    # Unhappy customers (low recommend) file more tickets per customer than happy ones.
    rows = con.execute("""
        WITH rec AS (SELECT customer_id, avg(would_recommend) r FROM surveys GROUP BY 1),
             tk AS (SELECT customer_id, count(*) k FROM tickets GROUP BY 1)
        SELECT r <= 6 AS unhappy, avg(coalesce(k, 0)) FROM rec LEFT JOIN tk USING (customer_id) GROUP BY 1
    """).fetchall()
    per = dict(rows)
    assert per[True] > per[False]


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    a = synth.write(tmp_path / "a", 400, seed=9)
    b = synth.write(tmp_path / "b", 400, seed=9)
    c = synth.write(tmp_path / "c", 400, seed=10)
    assert a.rows == b.rows
    for name in TABLES:
        fa, fb = Path(a.files[name]), Path(b.files[name])
        assert fa.read_bytes() == fb.read_bytes(), name
    assert Path(a.files["orders"]).read_bytes() != Path(c.files["orders"]).read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["rows"] == a.rows and manifest["seed"] == 9


def test_generator_argument_is_used_not_global_state() -> None:
    np.random.seed(0)
    first = synth.generate(200, seed=np.random.default_rng(42))["orders"]
    np.random.seed(1)
    second = synth.generate(200, seed=np.random.default_rng(42))["orders"]
    assert first.equals(second)
    assert not first.equals(synth.generate(200, seed=np.random.default_rng(43))["orders"])


def test_csv_and_parquet_files_read_back_to_the_same_tables(tmp_path: Path) -> None:
    expected = synth.generate(300, seed=4)
    synth.write(tmp_path / "csv", 300, seed=4)
    synth.write(tmp_path / "pq", 300, seed=4, format="parquet", tables=("orders", "invoices"))
    assert sorted(p.name for p in (tmp_path / "pq").glob("*.parquet")) == ["invoices.parquet", "orders.parquet"]
    for name in ("orders", "invoices"):
        # Parquet has no second-resolution timestamps: they come back as milliseconds, same instants.
        back_pq = pq.read_table(tmp_path / "pq" / f"{name}.parquet")
        assert back_pq.cast(synth.arrow_schema(TABLES[name])).equals(expected[name])
    for name, table in expected.items():
        schema = synth.arrow_schema(TABLES[name])
        back = pacsv.read_csv(tmp_path / "csv" / f"{name}.csv",
                              convert_options=pacsv.ConvertOptions(column_types=schema,
                                                                   strings_can_be_null=True))
        assert back.column_names == TABLES[name].column_names
        assert back.cast(schema).equals(table), name
    first = pacsv.read_csv(tmp_path / "csv" / "orders.csv").slice(0, 1).to_pylist()[0]
    assert isinstance(first["customer_id"], str)


def test_money_is_exact_decimal(tables: dict[str, pa.Table]) -> None:
    amounts = tables["orders"].column("amount").slice(0, 50).to_pylist()
    assert all(isinstance(a, Decimal) and a == a.quantize(Decimal("0.01")) for a in amounts)
    assert sum(tables["order_lines"].column("amount").to_pylist()) == sum(
        tables["orders"].column("amount").to_pylist())


def test_bad_arguments_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(CrmscoreError, match="positive integer"):
        synth.generate(0)
    with pytest.raises(CrmscoreError, match="format"):
        synth.write(tmp_path, 10, format="xml")  # type: ignore[arg-type]
    with pytest.raises(UnknownName):
        synth.write(tmp_path, 10, tables=("order",))


def test_cli_generate_json_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--customers", "250", "--seed", "2", "--json", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["customers"] == 250 and summary["seed"] == 2
    for name in TABLES:
        n_lines = len((tmp_path / f"{name}.csv").read_text(encoding="utf-8").splitlines()) - 1
        assert summary["rows"][name] == n_lines, name


def test_cli_generate_human_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "-n", "50", "--format", "parquet", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "orders" in result.stdout and (tmp_path / "orders.parquet").is_file()
