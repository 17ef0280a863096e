"""Loading a clean UTF-8 CSV in one pass: read in place, parsed, checked and inserted by one SQL statement.

The general path (:mod:`crmscore.ingest.readers` -> :mod:`crmscore.ingest.validate` -> :mod:`crmscore.ingest.load`)
stages the file as a numbered table, collects every problem with its line, then loads. For the common case of a
clean export into an empty table, almost all of that work finds nothing. Here the parsed view of
:func:`~crmscore.ingest.validate.prepare` (``lazy=True``) is read straight from the file by DuckDB's parallel
CSV reader and inserted into the warehouse table inside the import's transaction; every row is tested with the
same guard the general path uses to pick the rows it looks at closely, and the first row that guard selects
aborts the statement (``error()``). Then duplicate keys and unknown customers are checked on the inserted rows.

Whenever something needs a closer look -- a malformed line, a value not in plain form, a rejected value, a
duplicate key, an unknown customer under ``reject``, a table that already has rows (an upsert) -- this raises
:class:`~crmscore.ingest.readers.NotLazy`, the transaction rolls back, and the import runs the general path,
which finds and reports exactly the same rows as it would have without this attempt.
"""

from __future__ import annotations

import duckdb

from crmscore.ingest.parsing import quote_ident
from crmscore.ingest.readers import NotLazy
from crmscore.ingest.report import TableCounts
from crmscore.ingest.validate import Prepared
from crmscore.schema import TableSpec

__all__ = ["GUARD_MESSAGE", "load_in_place"]

GUARD_MESSAGE = "crmscore: a row needs a closer look"


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, ...]:
    row = con.execute(sql).fetchone()
    assert row is not None
    return tuple(int(v or 0) for v in row)


def load_in_place(con: duckdb.DuckDBPyConnection, prep: Prepared, spec: TableSpec,
                  unknown_customers: str) -> dict[str, TableCounts]:
    """Insert the parsed rows of a lazily staged file into the empty table ``spec.name``; the caller holds the
    transaction (and rolls it back on :class:`NotLazy`). Returns the counts per warehouse table."""
    target = spec.name
    if con.execute(f"SELECT 1 FROM {target} LIMIT 1").fetchone():
        raise NotLazy(f"{target} has rows already: new rows are told from changed ones by the general path")
    cols = ", ".join(quote_ident(c) for c, _ in prep.main)
    exprs = ", ".join(e for _, e in prep.main)
    try:
        (inserted,) = _one(con, f"INSERT INTO {target} ({cols}) SELECT {exprs} FROM {prep.parsed} "
                                f"WHERE CASE WHEN {prep.guard} THEN error('{GUARD_MESSAGE}') ELSE true END")
    except duckdb.Error as exc:  # a row for the general path, or a line the CSV reader cannot split
        raise NotLazy(str(exc).splitlines()[0]) from exc
    key = [quote_ident(k) for k in spec.key]
    # Exports are often sorted by their key: keys rising strictly in file order are unique, which one scan
    # comparing each row with the next shows (it stops at the first row that is not greater than the one before).
    rising = len(key) == 1 and not con.execute(
        f"SELECT 1 FROM (SELECT {key[0]} AS a FROM {target}) POSITIONAL JOIN (SELECT {key[0]} AS b FROM {target} "
        f"OFFSET 1) WHERE b <= a OR a IS NULL LIMIT 1").fetchone()
    if not rising:
        # Distinct 64-bit hashes of the keys are counted (cheaper than the keys): two different keys with the same
        # hash count as a duplicate, and so does a NULL key; the general path then tells them apart exactly.
        # (DuckDB scans rows inserted by the open transaction on one thread: the hashes are collected first, so
        # that the count runs on every thread.)
        not_null = " AND ".join(f"{k} IS NOT NULL" for k in key)
        (dups,) = _one(con, f"WITH k AS MATERIALIZED (SELECT CASE WHEN {not_null} THEN hash({', '.join(key)}) END "
                            f"AS h FROM {target}) SELECT count(*) - count(DISTINCT h) FROM k")
        if dups:
            raise NotLazy("duplicate keys in the file (or keys with the same hash)")
    tables: dict[str, TableCounts] = {}
    if target != "customers" and "customer_id" in (c for c, _ in prep.main):
        # Distinct customers first (far fewer than rows), then the anti-join against the warehouse's customers
        # (an ANTI JOIN is NOT EXISTS, planned as one hash join instead of a correlated subquery). The ids are
        # collected first for the same reason as the hashes above.
        ids = (f"WITH o AS MATERIALIZED (SELECT customer_id FROM {target} WHERE customer_id IS NOT NULL), "
               f"d AS MATERIALIZED (SELECT DISTINCT customer_id FROM o)")
        unknown = "d ANTI JOIN customers c ON c.customer_id = d.customer_id"
        total, new = _one(con, f"{ids} SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM {unknown})")
        if new and unknown_customers == "reject":
            raise NotLazy("unknown customers")
        if unknown_customers == "create":
            if new:
                (new,) = _one(con, f"INSERT INTO customers (customer_id, is_stub) {ids} SELECT d.customer_id, true "
                                   f"FROM {unknown}")
            tables["customers"] = TableCounts(inserted=new, unchanged=total - new)
    tables[target] = TableCounts(inserted=inserted)
    return tables
