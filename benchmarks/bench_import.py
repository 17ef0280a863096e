"""Import rate of a clean orders CSV: ``crmscore.ingest.import_file`` vs a bare DuckDB ``read_csv`` load.

Standalone (plugged into the harness by its owner)::

    python -m benchmarks.bench_import --rows 10000000 --repeats 3 --out benchmarks/results/import-10m.json

The CSV has the canonical orders columns (order_id, customer_id, order_date, amount, cost, currency, status,
channel) shaped like ``crmscore.synth``'s export (quoted text, ``2023-12-28 21:01:27.000`` timestamps, two-decimal
amounts; one customer per ten orders) and is generated once with DuckDB into a cache folder (``/tmp`` by default).
Its rows are in order_id order, like an export sorted by its key (the importer then proves the keys unique with
one scan instead of counting distinct keys); ``--shuffled`` writes the same rows in a scrambled order instead.

Each repeat, in this order, on the same file:

- **crmscore**: a fresh workspace (``Workspace.init``) whose customers are pre-loaded untimed (``customers="preload"``,
  the default: every customer the orders name is in the warehouse), or not (``customers="stubs"``: the import
  creates the flagged stub customers, timed); then ``import_file(ws, "orders", csv)`` timed end to end
  (staging, parsing, validation, the diff, the write into the workspace's DuckDB file, the report file).
- **peer**: ``CREATE TABLE orders AS SELECT * FROM read_csv(csv, columns={typed})`` into a fresh DuckDB file,
  plus ``CHECKPOINT``: the floor for "CSV file to DuckDB table".
- **read_csv**: the same typed ``read_csv`` aggregated in memory, nothing stored: the floor for reading alone.

crmscore's time runs until its rows are checkpointed into the workspace's DuckDB file and the workspace is closed,
like the peer's. The three run in rotating order. Medians of the repeats, rows/s and the crmscore/peer time ratio
are returned (printed as JSON; ``--out FILE`` writes it too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["generate_orders_csv", "run"]

_PEER_COLUMNS = ("{'order_id': 'VARCHAR', 'customer_id': 'VARCHAR', 'order_date': 'TIMESTAMP', "
                 "'amount': 'DECIMAL(18,2)', 'cost': 'DECIMAL(18,2)', 'currency': 'VARCHAR', 'status': 'VARCHAR', "
                 "'channel': 'VARCHAR'}")


def generate_orders_csv(rows: int, path: Path, seed: int = 42, shuffled: bool = False) -> Path:
    """Write a clean ``rows``-row orders CSV to ``path`` (kept if it already exists with that many rows); its rows
    in order_id order, or in a scrambled order (``shuffled``)."""
    import duckdb

    marker = path.with_suffix(".rows")
    if path.exists() and marker.exists() and marker.read_text() == f"{rows}:{seed}":
        return path
    order = f"ORDER BY hash(i * 13 + {seed})" if shuffled else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    customers = max(1, rows // 10)
    con = duckdb.connect()
    try:
        con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
        con.execute(f"""COPY (
            SELECT printf('SO%09d', i + 1) AS order_id,
                   printf('C%07d', (hash(i * 7 + {seed}) % {customers}) + 1) AS customer_id,
                   strftime(TIMESTAMP '2022-01-01' + to_seconds(CAST(hash(i + {seed}) % 94608000 AS BIGINT)),
                            '%Y-%m-%d %H:%M:%S.000') AS order_date,
                   CAST(round(5 + (hash(i * 3 + {seed}) % 200000) / 100.0, 2) AS DECIMAL(18, 2)) AS amount,
                   CAST(round((5 + (hash(i * 3 + {seed}) % 200000) / 100.0) * 0.7, 2) AS DECIMAL(18, 2)) AS cost,
                   'CNY' AS currency,
                   CASE WHEN hash(i * 5) % 50 = 0 THEN 'cancelled' ELSE 'completed' END AS status,
                   ['store', 'online', 'mobile_app', 'sales_rep'][CAST(hash(i * 11) % 4 AS INTEGER) + 1] AS channel
            FROM range({rows}) t(i) {order}
        ) TO '{path}' (HEADER true, DELIMITER ',', FORCE_QUOTE (order_id, customer_id, currency, status, channel))""")
    finally:
        con.close()
    marker.write_text(f"{rows}:{seed}")
    return path


def _customers_parquet(csv: Path, out: Path) -> Path:
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"COPY (SELECT DISTINCT customer_id, 'Customer ' || customer_id AS name "
                    f"FROM read_csv('{csv}', header=true, columns={_PEER_COLUMNS}) ORDER BY 1) TO '{out}' "
                    f"(FORMAT parquet)")
    finally:
        con.close()
    return out


def _crmscore_once(csv: Path, customers_file: Path | None, work: Path) -> tuple[float, dict[str, Any]]:
    from crmscore.ingest import import_file
    from crmscore.workspace import Workspace

    folder = Path(tempfile.mkdtemp(prefix="bench-import-", dir=work))
    try:
        ws = Workspace.init(folder / "ws")
        closed = False
        try:
            if customers_file is not None:
                import_file(ws, "customers", customers_file, write_files=False)
                ws.warehouse.execute("CHECKPOINT")
            cpu_started = _cpu_seconds()
            started = time.perf_counter()
            report = import_file(ws, "orders", csv)
            imported = time.perf_counter()
            # Like the peer: the rows are in the DuckDB file, not only in its write-ahead log.
            ws.warehouse.execute("CHECKPOINT")
            ws.close()
            closed = True
            seconds = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu_started
            counts = {"cpu_s": cpu, "read": report.read, "inserted": report.inserted, "rejected": report.rejected,
                      "stub_customers": report.stub_customers,
                      "checkpoint_and_close_s": round(seconds - (imported - started), 3)}
        finally:
            if not closed:
                ws.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return seconds, counts


def _peer_once(csv: Path, work: Path) -> tuple[float, int]:
    import duckdb

    folder = Path(tempfile.mkdtemp(prefix="bench-peer-", dir=work))
    try:
        started = time.perf_counter()
        con = duckdb.connect(str(folder / "peer.duckdb"))
        try:
            con.execute(f"CREATE TABLE orders AS SELECT * FROM read_csv('{csv}', header=true, "
                        f"columns={_PEER_COLUMNS})")
            con.execute("CHECKPOINT")
            row = con.execute("SELECT count(*) FROM orders").fetchone()
        finally:
            con.close()
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert row is not None
    return seconds, int(row[0])


def _read_once(csv: Path) -> tuple[float, int]:
    """DuckDB's typed ``read_csv`` alone: every column parsed (aggregated), nothing stored."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT count(*), max(order_id), max(customer_id), max(order_date), sum(amount), "
                          f"sum(cost), max(currency), max(status), max(channel) FROM read_csv('{csv}', "
                          f"header=true, columns={_PEER_COLUMNS})").fetchone()
    finally:
        con.close()
    assert row is not None
    return time.perf_counter() - started, int(row[0])


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0  # pragma: no cover - not Linux


def run(rows: int, repeats: int, *, customers: str = "preload", cache: str | Path | None = None,
        csv_path: str | Path | None = None, shuffled: bool = False) -> dict[str, Any]:
    """Measure ``repeats`` times (crmscore, the peer and ``read_csv`` alone each time, in rotating order) on a
    ``rows``-row CSV (or on ``csv_path``); medians and ratios."""
    if customers not in ("preload", "stubs"):
        raise ValueError("customers must be 'preload' or 'stubs'")
    cache_dir = Path(cache or os.environ.get("CRMSCORE_BENCH_CACHE", tempfile.gettempdir())) / "crmscore-bench-import"
    cache_dir.mkdir(parents=True, exist_ok=True)
    csv = Path(csv_path) if csv_path else generate_orders_csv(
        rows, cache_dir / f"orders-{rows}{'-shuffled' if shuffled else ''}.csv", shuffled=shuffled)
    customers_file = _customers_parquet(csv, cache_dir / f"customers-{csv.stem}-{csv.stat().st_size}.parquet") \
        if customers == "preload" else None
    times: dict[str, list[float]] = {"crmscore": [], "peer": [], "read_csv": []}
    loads: list[float] = []
    counts: dict[str, Any] = {}
    n_rows = rows
    cpu: dict[str, list[float]] = {k: [] for k in times}
    for i in range(repeats):
        order = ["crmscore", "peer", "read_csv"]
        order = order[i % 3:] + order[:i % 3]
        for which in order:
            loads.append(os.getloadavg()[0])
            cpu_before = _cpu_seconds()
            if which == "crmscore":
                seconds, counts = _crmscore_once(csv, customers_file, cache_dir)
                n_rows = counts["read"]
                if counts["inserted"] != n_rows or counts["rejected"]:
                    raise AssertionError(f"crmscore imported {counts} of {n_rows} rows")
            elif which == "peer":
                seconds, p_rows = _peer_once(csv, cache_dir)
                assert p_rows == n_rows or csv_path, (p_rows, n_rows)
            else:
                seconds, r_rows = _read_once(csv)
                assert r_rows == n_rows or csv_path, (r_rows, n_rows)
            times[which].append(seconds)
            # CPU seconds of all threads: much less disturbed than wall time when others share the machine.
            cpu[which].append(counts.pop("cpu_s") if which == "crmscore" else _cpu_seconds() - cpu_before)
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "rows": n_rows, "repeats": repeats, "customers": customers, "csv": str(csv),
        "row_order": "given" if csv_path else "shuffled" if shuffled else "order_id",
        "csv_mib": round(csv.stat().st_size / 2**20, 1),
        **{f"{k}_seconds": [round(s, 3) for s in v] for k, v in times.items()},
        **{f"{k}_median_s": round(m, 3) for k, m in med.items()},
        **{f"{k}_rows_per_s": round(n_rows / m) for k, m in med.items()},
        "ratio_vs_peer": round(med["crmscore"] / med["peer"], 2),
        **{f"{k}_cpu_seconds": [round(c, 2) for c in v] for k, v in cpu.items()},
        "cpu_ratio_vs_peer": round(cpu_med["crmscore"] / cpu_med["peer"], 2),
        "ratio_per_repeat": [round(a / b, 2) for a, b in zip(times["crmscore"], times["peer"], strict=True)],
        "report": counts, "peak_rss_mib": round(_peak_rss_mib(), 1),
        "load_average_at_starts": [round(x, 2) for x in loads], "load_average_end": os.getloadavg(),
        "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--customers", choices=("preload", "stubs"), default="preload")
    parser.add_argument("--cache", default=None, help="folder for the generated CSV (default: the temp folder)")
    parser.add_argument("--csv", default=None, help="an existing clean orders CSV instead of the generated one")
    parser.add_argument("--shuffled", action="store_true", help="generate the rows in a scrambled order")
    parser.add_argument("--out", default=None, help="also write the result (JSON) to this file")
    args = parser.parse_args(argv)
    result = run(args.rows, args.repeats, customers=args.customers, cache=args.cache, csv_path=args.csv,
                 shuffled=args.shuffled)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
