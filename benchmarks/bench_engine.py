"""The engine's performance target (issue 3), measured on its own.

``build_customer_table(tables, as_of)`` (features + RFM fit/score + ABC + purchase class + value tier +
lifecycle, over ``orders`` and ``customers``), fully materialised with ``.to_pyarrow()``, against the bare RFM
aggregation written directly in DuckDB SQL, **interleaved in the same process** (engine, SQL, engine, SQL ...)
so that the ratio holds on a shared, noisy machine. Target: ratio <= 1.5 and peak RSS <= 3 GiB at 1M customers.

Two engine contenders: ``engine`` keeps every feature of the catalog (65 columns here), ``engine_classes``
(``build_customer_table(..., only=())``) keeps just the features the classes read (RFM, ABC value, purchase
class and lifecycle inputs) next to the class columns, computed from just the data they need.

Data: ``crmscore.synth`` (seed 42, history up to 2024-12-31 = ``as_of``), written once per scale as Parquet under
``/tmp/enginebench/<n>/`` and loaded (untimed) into a DuckDB file next to it; both contenders read that file
through the same connection.

    python -m benchmarks.bench_engine --customers 100000 --repeats 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["AS_OF", "BARE_SQL", "CACHE", "RESULTS", "ensure_data", "run"]

CACHE = Path("/tmp/enginebench")
RESULTS = Path(__file__).parent / "results" / "engine.json"
AS_OF = dt.date(2024, 12, 31)
TABLE_NAMES = ("customers", "orders")

BARE_SQL = """
SELECT customer_id,
       date_diff('day', max(CAST(order_date AS DATE)) FILTER (WHERE sale), DATE '{as_of}') AS recency_days,
       count(DISTINCT CAST(order_date AS DATE)) FILTER (WHERE sale) AS purchase_days,
       sum(amount) FILTER (WHERE sale OR amount < 0) AS monetary
FROM (SELECT customer_id, order_date, amount, status = 'completed' AND amount > 0 AS sale
      FROM orders WHERE order_date < TIMESTAMP '{end}')
GROUP BY customer_id
HAVING bool_or(sale)
"""


def ensure_data(scale_customers: int, seed: int = 42) -> Path:
    """The DuckDB file holding ``customers`` and ``orders`` of ``scale_customers`` (generated once)."""
    from crmscore import synth

    folder = CACHE / f"{scale_customers}-seed{seed}"
    db = folder / "engine.duckdb"
    if db.exists():
        return db
    if not (folder / "manifest.json").exists():
        synth.write(folder, scale_customers, seed=seed, format="parquet", end=AS_OF, tables=TABLE_NAMES)
    import duckdb

    tmp = folder / "engine.duckdb.tmp"
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        for name in TABLE_NAMES:
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{folder / name}.parquet')")
    finally:
        con.close()
    tmp.rename(db)
    return db


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(scale_customers: int, repeats: int) -> dict[str, Any]:
    """Median seconds of the engine and of the bare DuckDB RFM (interleaved), their ratio and peak RSS.

    Each run opens its own read-only connection to the DuckDB file (Ibis memoises ``Table.cache`` per
    connection, so a shared connection would let later engine runs skip the feature computation). CPU seconds
    (all threads) are reported next to wall-clock seconds: on a loaded machine they show the work done.
    """
    import duckdb
    import ibis

    from crmscore.engine.pipeline import build_customer_table

    db = str(ensure_data(scale_customers))
    end = AS_OF + dt.timedelta(days=1)
    sql = BARE_SQL.format(as_of=AS_OF.isoformat(), end=f"{end.isoformat()} 00:00:00")
    with duckdb.connect(db, read_only=True) as raw:
        n_orders = raw.execute("SELECT count(*) FROM orders").fetchone()[0]  # type: ignore[index]

    def timed(fn: Any) -> tuple[int, float, float]:
        t0, c0 = time.perf_counter(), _cpu_s()
        rows = fn()
        return rows, time.perf_counter() - t0, _cpu_s() - c0

    def engine(only: tuple[str, ...] | None = None) -> tuple[int, float, float]:
        con = ibis.duckdb.connect(db, read_only=True)
        try:
            con.raw_sql("SET enable_progress_bar = false")
            tables = {n: con.table(n) for n in TABLE_NAMES}

            def work() -> int:
                table, _ = build_customer_table(tables, AS_OF, only=only)
                return int(table.to_pyarrow().num_rows)

            out = timed(work)
            gc.collect()  # (untimed) drops the cached features, a temp table, while the connection is open
            return out
        finally:
            con.disconnect()

    def engine_classes() -> tuple[int, float, float]:
        return engine(only=())

    def bare() -> tuple[int, float, float]:
        with duckdb.connect(db, read_only=True) as con:
            con.execute("SET enable_progress_bar = false")

            def work() -> int:
                res = con.execute(sql).arrow()
                return int((res.read_all() if hasattr(res, "read_all") else res).num_rows)

            return timed(work)

    contenders = {"engine": engine, "engine_classes": engine_classes, "bare_sql": bare}
    wall: dict[str, list[float]] = {k: [] for k in contenders}
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    rows: dict[str, int] = {}
    for fn in contenders.values():  # warm-up (page cache, imports)
        fn()
    load = [round(x, 2) for x in os.getloadavg()]
    for _ in range(repeats):
        for name, fn in contenders.items():
            rows[name], w, c = fn()
            wall[name].append(w)
            cpu[name].append(c)
    med = {k: statistics.median(v) for k, v in wall.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    out: dict[str, Any] = {"customers": scale_customers, "orders": n_orders, "repeats": repeats,
                           "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           "load_average_before": load, "load_average_after": [round(x, 2) for x in os.getloadavg()],
                           "bare_sql_s": round(med["bare_sql"], 3), "bare_sql_cpu_s": round(cpu_med["bare_sql"], 3)}
    for name in ("engine", "engine_classes"):
        out |= {
            f"{name}_s": round(med[name], 3),
            f"{name}_ratio": round(med[name] / med["bare_sql"], 2),
            f"{name}_ratio_median_of_pairs": round(statistics.median(
                e / b for e, b in zip(wall[name], wall["bare_sql"], strict=True)), 2),
            f"{name}_cpu_s": round(cpu_med[name], 3),
            f"{name}_cpu_ratio": round(cpu_med[name] / cpu_med["bare_sql"], 2),
        }
    return out | {f"{k}_runs_s": [round(x, 3) for x in v] for k, v in wall.items()} | {
        "rows": rows, "peak_rss_mib": round(_peak_rss_mib(), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--save", action="store_true", help=f"merge the result into {RESULTS}")
    args = parser.parse_args(argv)
    result = run(args.customers, args.repeats)
    print(json.dumps(result, indent=2))
    if args.save:
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        saved[str(args.customers)] = result
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
