"""Peer stages: the bare RFM aggregation in DuckDB SQL, Polars and pandas; bare CSV loading for the import.

The RFM definition every peer (and crmscore's features stage) follows, from the canonical ``orders`` semantics
in ``crmscore.schema``: orders dated before the day after ``as_of``; a *sale* is a ``completed`` order with
``amount > 0``; per customer with at least one sale: ``recency_days`` = ``as_of`` minus the last sale's day,
``purchase_days`` = distinct sale days, ``monetary`` = sales plus every negative (reversal) amount.
Each peer reads the same Parquet file with its own reader, inside the timing, and materialises its result.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.registry import DataSpec, Timed, stage

__all__ = ["rfm_checksum"]


def rfm_checksum(n: int, purchase_days: Any, recency_days: Any, monetary: Any) -> dict[str, Any]:
    """What the peers must agree on: customers, and sums of purchase days, recency days and money (cents)."""
    return {"customers": int(n), "purchase_days": int(purchase_days), "recency_days": int(recency_days),
            "monetary": str(Decimal(str(monetary)).quantize(Decimal("0.01")))}


def _end(data: DataSpec) -> dt.datetime:
    return dt.datetime.combine(data.as_of + dt.timedelta(days=1), dt.time())


@stage("duckdb_rfm", group="rfm", engine="duckdb", title="RFM in DuckDB SQL")
def duckdb_rfm(data: DataSpec) -> Timed:
    import duckdb

    sql = f"""
        WITH o AS (
            SELECT customer_id, order_date, amount, status = 'completed' AND amount > 0 AS sale
            FROM read_parquet('{data.parquet("orders")}') WHERE order_date < TIMESTAMP '{_end(data)}')
        SELECT customer_id,
               date_diff('day', max(order_date) FILTER (WHERE sale)::DATE, DATE '{data.as_of}') AS recency_days,
               count(DISTINCT order_date::DATE) FILTER (WHERE sale) AS purchase_days,
               sum(amount) FILTER (WHERE sale OR amount < 0) AS monetary
        FROM o GROUP BY customer_id HAVING bool_or(sale)"""

    def run() -> dict[str, Any]:
        con = duckdb.connect()
        try:
            res = con.sql(sql).arrow()
            res = res.read_all() if hasattr(res, "read_all") else res
            sums = con.sql("SELECT count(*), sum(purchase_days), sum(recency_days), sum(monetary) FROM res").fetchone()
        finally:
            con.close()
        assert sums is not None
        return rfm_checksum(*sums)

    return Timed(run)


@stage("polars_rfm", group="rfm", engine="polars", title="RFM in Polars (lazy)")
def polars_rfm(data: DataSpec) -> Timed:
    import polars as pl

    as_of = pl.lit(data.as_of)

    def run() -> dict[str, Any]:
        sale = (pl.col("status") == "completed") & (pl.col("amount") > 0)
        out = (pl.scan_parquet(data.parquet("orders"))
               .select("customer_id", "order_date", "amount", "status")
               .filter(pl.col("order_date") < _end(data))
               .with_columns(sale=sale, day=pl.col("order_date").dt.date())
               .group_by("customer_id")
               .agg(last=pl.col("day").filter(pl.col("sale")).max(),
                    purchase_days=pl.col("day").filter(pl.col("sale")).n_unique(),
                    monetary=pl.col("amount").filter(pl.col("sale") | (pl.col("amount") < 0)).sum(),
                    n_sales=pl.col("sale").sum())
               .filter(pl.col("n_sales") > 0)
               .with_columns(recency_days=(as_of - pl.col("last")).dt.total_days())
               .collect())
        return rfm_checksum(out.height, out["purchase_days"].sum(), out["recency_days"].sum(),
                            out["monetary"].sum())

    return Timed(run)


@stage("pandas_rfm", group="rfm", engine="pandas", title="RFM in pandas (money as float64)")
def pandas_rfm(data: DataSpec) -> Timed:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def run() -> dict[str, Any]:
        t = pq.read_table(data.parquet("orders"), columns=["customer_id", "order_date", "amount", "status"])
        # pandas has no fast decimal: money becomes float64 (what pandas users do), rounded to cents at the end.
        t = t.set_column(2, "amount", pc.cast(t["amount"], pa.float64()))
        df = t.to_pandas()
        df = df[df["order_date"] < pd.Timestamp(_end(data))]
        sale = (df["status"] == "completed") & (df["amount"] > 0)
        df = df.assign(day=df["order_date"].dt.normalize(), sale=sale,
                       money=df["amount"].where(sale | (df["amount"] < 0), 0.0))
        sales = df[sale]
        out = pd.DataFrame({"last": sales.groupby("customer_id")["day"].max(),
                            "purchase_days": sales.groupby("customer_id")["day"].nunique()})
        out["monetary"] = df.groupby("customer_id")["money"].sum().reindex(out.index)
        out["recency_days"] = (pd.Timestamp(data.as_of) - out["last"]).dt.days
        return rfm_checksum(len(out), out["purchase_days"].sum(), out["recency_days"].sum(),
                            round(float(out["monetary"].sum()), 2))

    return Timed(run)


class _TempDir:
    def __init__(self) -> None:
        self.path: Path | None = None

    def fresh(self) -> None:
        self.clean()
        self.path = Path(tempfile.mkdtemp(prefix="crmscore-bench-"))

    def clean(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


@stage("duckdb_csv_load", group="import", engine="duckdb", title="CSV -> DuckDB table (read_csv, typed)")
def duckdb_csv_load(data: DataSpec) -> Timed:
    import duckdb

    tmp = _TempDir()

    def run() -> dict[str, Any]:
        assert tmp.path is not None
        con = duckdb.connect(str(tmp.path / "peer.duckdb"))
        try:
            con.execute(f"""CREATE TABLE orders AS SELECT * FROM read_csv('{data.orders_csv}', header = true,
                columns = {{'order_id': 'VARCHAR', 'customer_id': 'VARCHAR', 'order_date': 'TIMESTAMP',
                            'amount': 'DECIMAL(18,2)', 'cost': 'DECIMAL(18,2)', 'currency': 'VARCHAR',
                            'status': 'VARCHAR', 'channel': 'VARCHAR'}})""")
            con.execute("CHECKPOINT")
            row = con.execute("SELECT count(*) FROM orders").fetchone()
        finally:
            con.close()
        assert row is not None
        return {"rows": int(row[0])}

    return Timed(run, before=tmp.fresh, after=tmp.clean)


@stage("polars_csv_read", group="import", engine="polars", title="CSV -> Polars DataFrame (in memory)")
def polars_csv_read(data: DataSpec) -> Timed:
    import polars as pl

    def run() -> dict[str, Any]:
        df = pl.read_csv(data.orders_csv, schema_overrides={"order_id": pl.String, "customer_id": pl.String},
                         try_parse_dates=True)
        return {"rows": df.height}

    return Timed(run)
