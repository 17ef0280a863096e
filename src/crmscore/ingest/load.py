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


def _insert(wh: Warehouse, sql: str, count_sql: str) -> int:
    """Run an INSERT; DuckDB returns the number of rows it wrote, other backends are asked separately."""
    if wh.dialect == "duckdb":
        row = wh.execute(sql).fetchone()
        return int(row[0]) if row else 0
    n = int(_rows(wh, count_sql)[0][0])  # type: ignore[call-overload]
    if n:
        wh.execute(sql)
    return n


def upsert(wh: Warehouse, staging: duckdb.DuckDBPyConnection, source: str, target: str, cols: list[str],
           key: list[str]) -> TableCounts:
    """Insert new keys, update changed rows, leave equal rows; returns the counts.

    An empty target takes every row with one ``INSERT``. Otherwise one outer join counts new and changed rows,
    changed rows are updated in place and new ones inserted with an anti-join; nothing is copied on the way.
    """
    src = _transfer(wh, staging, source, target, cols)
    col_list = ", ".join(quote_ident(c) for c in cols)
    try:
        if _is_empty(wh, target):
            n = _insert(wh, f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {src}",
                        f"SELECT count(*) FROM {src}")
            return TableCounts(inserted=n)
        join = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
        others = [c for c in cols if c not in key]
        changed = " OR ".join(f"t.{quote_ident(c)} IS DISTINCT FROM s.{quote_ident(c)}" for c in others) or "false"
        new_rows = f"t.{quote_ident(key[0])} IS NULL"
        total, inserted, updated = _rows(wh, f"SELECT count(*), count(*) FILTER (WHERE {new_rows}), "
                                             f"count(*) FILTER (WHERE NOT ({new_rows}) AND ({changed})) "
                                             f"FROM {src} s LEFT JOIN {target} t ON {join}")[0]
        if updated and others:
            sets = ", ".join(f"{quote_ident(c)} = s.{quote_ident(c)}" for c in others)
            where = " AND ".join(f"{target}.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
            differs = " OR ".join(f"{target}.{quote_ident(c)} IS DISTINCT FROM s.{quote_ident(c)}" for c in others)
            wh.execute(f"UPDATE {target} SET {sets} FROM {src} s WHERE {where} AND ({differs})")
        if inserted:
            wh.execute(f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {src} s WHERE NOT EXISTS "
                       f"(SELECT 1 FROM {target} t WHERE {join})")
        return TableCounts(inserted=int(inserted), updated=int(updated),  # type: ignore[call-overload]
                           unchanged=int(total) - int(inserted) - int(updated))  # type: ignore[call-overload]
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
        total = int(_rows(wh, f"SELECT count(*) FROM {src}")[0][0])  # type: ignore[call-overload]
        n = _insert(wh, f"INSERT INTO {target} ({col_list}) {new}", f"SELECT count(*) FROM ({new}) x")
        return TableCounts(inserted=n, unchanged=total - n)
    finally:
        if src != source:
            wh.execute(f"DROP TABLE IF EXISTS {src}")
