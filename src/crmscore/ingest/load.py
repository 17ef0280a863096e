"""Loading typed rows into the warehouse: idempotent upserts by natural key, in set-based SQL.

The source is a table in the staging DuckDB connection. When the warehouse is that same DuckDB connection the
rows never leave it; for PostgreSQL they are streamed with ``COPY ... FROM STDIN`` (CSV written by DuckDB) into
a temporary table. Then, in the warehouse: rows whose key is new are inserted, rows whose provided columns
differ are updated (columns the file does not provide keep their values), equal rows are left alone. The caller
wraps every table of one import in one :meth:`Warehouse.transaction`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

from crmscore.ingest.parsing import quote_ident
from crmscore.ingest.report import TableCounts
from crmscore.store.warehouse import Warehouse

__all__ = ["insert_missing", "same_connection", "upsert"]


def same_connection(wh: Warehouse) -> duckdb.DuckDBPyConnection | None:
    """The warehouse's own DuckDB connection (staging can happen there), or None for other backends."""
    return wh.con.con if wh.dialect == "duckdb" else None  # type: ignore[no-any-return]


def _rows(wh: Warehouse, sql: str) -> list[tuple[object, ...]]:
    if wh.dialect == "duckdb":
        return list(wh.execute(sql).fetchall())
    return list(wh.execute(sql) or [])


def _transfer(wh: Warehouse, staging: duckdb.DuckDBPyConnection, source: str, target: str,
              cols: list[str]) -> str:
    """Make ``source`` (a staging table) visible in the warehouse; returns the name to read it by."""
    if same_connection(wh) is staging:
        return source
    temp = f"{source}_w"
    col_list = ", ".join(quote_ident(c) for c in cols)
    wh.execute(f"DROP TABLE IF EXISTS {temp}")
    wh.execute(f"CREATE TEMP TABLE {temp} AS SELECT {col_list} FROM {target} WITH NO DATA")
    with tempfile.TemporaryDirectory(prefix="crmscore-copy-") as folder:
        csv_path = Path(folder) / "rows.csv"
        staging.execute(f"COPY (SELECT {col_list} FROM {source}) TO '{csv_path}' (HEADER false, DELIMITER ',')")
        with wh.con.con.cursor() as cur, cur.copy(
                f"COPY {temp} ({col_list}) FROM STDIN WITH (FORMAT csv)") as copy, csv_path.open("rb") as fh:
            while block := fh.read(1 << 20):
                copy.write(block)
    return temp


def _is_empty(wh: Warehouse, table: str) -> bool:
    return not _rows(wh, f"SELECT 1 FROM {table} LIMIT 1")


def upsert(wh: Warehouse, staging: duckdb.DuckDBPyConnection, source: str, target: str, cols: list[str],
           key: list[str]) -> TableCounts:
    """Insert new keys, update changed rows, leave equal rows; returns the counts."""
    src = _transfer(wh, staging, source, target, cols)
    col_list = ", ".join(quote_ident(c) for c in cols)
    try:
        if _is_empty(wh, target):
            n = _rows(wh, f"SELECT count(*) FROM {src}")[0][0]
            wh.execute(f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {src}")
            return TableCounts(inserted=int(n))  # type: ignore[call-overload]
        cmp = f"{source}_cmp"
        join = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
        others = [c for c in cols if c not in key]
        changed = " OR ".join(f"t.{quote_ident(c)} IS DISTINCT FROM s.{quote_ident(c)}" for c in others) or "false"
        wh.execute(f"DROP TABLE IF EXISTS {cmp}")
        wh.execute(f"CREATE TEMP TABLE {cmp} AS SELECT s.*, CASE WHEN t.{quote_ident(key[0])} IS NULL THEN 'i' "
                   f"WHEN {changed} THEN 'u' ELSE 'n' END AS _act FROM {src} s LEFT JOIN {target} t ON {join}")
        counts: dict[str, int] = {str(a): int(n) for a, n in  # type: ignore[call-overload]
                                  _rows(wh, f"SELECT _act, count(*) FROM {cmp} GROUP BY _act")}
        if counts.get("u") and others:
            sets = ", ".join(f"{quote_ident(c)} = c.{quote_ident(c)}" for c in others)
            where = " AND ".join(f"{target}.{quote_ident(k)} = c.{quote_ident(k)}" for k in key)
            wh.execute(f"UPDATE {target} SET {sets} FROM {cmp} c WHERE c._act = 'u' AND {where}")
        if counts.get("i"):
            wh.execute(f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {cmp} WHERE _act = 'i'")
        wh.execute(f"DROP TABLE IF EXISTS {cmp}")
        return TableCounts(inserted=int(counts.get("i", 0)), updated=int(counts.get("u", 0)),  # type: ignore[call-overload]
                           unchanged=int(counts.get("n", 0)))  # type: ignore[call-overload]
    finally:
        if src != source:
            wh.execute(f"DROP TABLE IF EXISTS {src}")


def insert_missing(wh: Warehouse, staging: duckdb.DuckDBPyConnection, source: str, target: str,
                   cols: list[str], key: list[str]) -> TableCounts:
    """Insert only the rows whose key is not in ``target`` yet (stub customers); existing rows stay as they are."""
    src = _transfer(wh, staging, source, target, cols)
    col_list = ", ".join(quote_ident(c) for c in cols)
    try:
        join = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
        new = f"SELECT {', '.join('s.' + quote_ident(c) for c in cols)} FROM {src} s WHERE NOT EXISTS " \
              f"(SELECT 1 FROM {target} t WHERE {join})"
        n = int(_rows(wh, f"SELECT count(*) FROM ({new}) x")[0][0])  # type: ignore[call-overload]
        total = int(_rows(wh, f"SELECT count(*) FROM {src}")[0][0])  # type: ignore[call-overload]
        if n:
            wh.execute(f"INSERT INTO {target} ({col_list}) {new}")
        return TableCounts(inserted=n, unchanged=total - n)
    finally:
        if src != source:
            wh.execute(f"DROP TABLE IF EXISTS {src}")
