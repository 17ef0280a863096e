"""The same engine expressions give identical per-customer tables on DuckDB, PostgreSQL and PySpark.

Fixture: tests/fixtures/engine/synth.py (seeded numpy, ~3,000 customers, ties, cents, reversals, every
optional table). Whole sorted frames are compared: integers, strings, dates and DECIMAL money exactly; floats
(means, standard deviations, ratios) to 1e-9 relative, because engines sum floats in different orders.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pytest

from crmscore.engine import RFM, build_customer_table, period_kpis
from crmscore.engine.frames import to_frame

_spec = importlib.util.spec_from_file_location("engine_synth", Path(__file__).parent / "fixtures/engine/synth.py")
assert _spec and _spec.loader
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)


@pytest.fixture(scope="module")
def arrow_tables() -> dict[str, Any]:
    return synth.make_tables(n_customers=3000, seed=7)


@pytest.fixture(scope="module")
def duckdb_result(arrow_tables: dict[str, Any]) -> tuple[pd.DataFrame, RFM, pd.DataFrame]:
    con = ibis.duckdb.connect()
    tables = {name: con.create_table(name, t) for name, t in arrow_tables.items()}
    table, rfm = build_customer_table(tables, synth.AS_OF)
    return _frame(table), rfm, _kpis(tables)


def _frame(table: ibis.Table) -> pd.DataFrame:
    return to_frame(table.order_by("customer_id")).reset_index(drop=True)


def _kpis(tables: dict[str, ibis.Table]) -> pd.DataFrame:
    k = period_kpis(tables, "2022-01-01", "2024-06-30", freq="quarter", by="owner_id")
    return to_frame(k.order_by("period", "owner_id")).reset_index(drop=True)


def _assert_same(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for col in expected.columns:
        e, a = expected[col], actual[col]
        if pd.api.types.is_float_dtype(e) or pd.api.types.is_float_dtype(a):
            pd.testing.assert_series_equal(a.astype("float64"), e.astype("float64"), check_exact=False,
                                           rtol=1e-9, atol=1e-9, obj=col)
        else:
            # Same Python values (Decimal, date, int, str, None) row by row.
            ev = [None if pd.isna(v) else v for v in e.astype(object)]
            av = [None if pd.isna(v) else v for v in a.astype(object)]
            assert av == ev, f"column {col} differs"


def _check_backend(con: Any, tables: dict[str, Any], duckdb_result: Any) -> None:
    expected, rfm, expected_kpis = duckdb_result
    # Scored with the DuckDB-fitted edges ...
    table, _ = build_customer_table(tables, synth.AS_OF, rfm=rfm)
    _assert_same(expected, _frame(table))
    # ... and fitting on this engine learns the very same edges.
    _, own = build_customer_table(tables, synth.AS_OF, cache=False)
    assert own.bin_edges_ == rfm.bin_edges_
    _assert_same(expected_kpis, _kpis(tables))


def test_duckdb_fixture_has_ties_and_every_class(duckdb_result: Any) -> None:
    df, rfm, _ = duckdb_result
    buyers = df[df.purchase_days > 0]
    # ties: many customers share a monetary value and a recency
    assert buyers.monetary.duplicated().sum() > 100
    assert buyers.recency_days.duplicated().sum() > 100
    assert set(df.lifecycle_stage) == {"prospect", "new", "repeat", "loyal", "at_risk", "churned", "reactivated"}
    assert set(df.purchase_class) == {"never_purchased", "one_time", "low_frequency", "high_frequency"}
    assert df.rfm_segment.nunique() == 12
    assert len(rfm.bin_edges_["monetary"]) == 4


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_identical_to_duckdb(pg_urls: dict[str, str], arrow_tables: dict[str, Any],
                                      duckdb_result: Any) -> None:
    con = ibis.connect(pg_urls["warehouse"])
    try:
        tables = {name: con.create_table(name, t) for name, t in arrow_tables.items()}
        _check_backend(con, tables, duckdb_result)
    finally:
        con.disconnect()


@pytest.mark.spark
@pytest.mark.slow
def test_spark_identical_to_duckdb(spark_session: Any, arrow_tables: dict[str, Any], duckdb_result: Any,
                                   tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    con = ibis.pyspark.connect(spark_session)
    # Loaded through Parquet, as a Spark warehouse would hold them (DECIMAL(18,2), DATE, TIMESTAMP kept).
    tables = {}
    for name, t in arrow_tables.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(t, path)
        spark_session.read.parquet(str(path)).createOrReplaceTempView(f"engine_{name}")
        tables[name] = con.table(f"engine_{name}")
    _check_backend(con, tables, duckdb_result)
