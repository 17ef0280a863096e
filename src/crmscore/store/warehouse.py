"""The warehouse: canonical tables and snapshot results, reached through Ibis.

DuckDB (one file in the workspace) is the embedded default; ``postgres://`` URLs select PostgreSQL. Every
write that must be all-or-nothing runs inside :meth:`Warehouse.transaction`. Warehouse tables are versioned:
``_crmscore_meta`` records the schema version and :data:`MIGRATIONS` brings older warehouses up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
from ibis.backends import BaseBackend

from crmscore.errors import UnknownName, WarehouseError
from crmscore.schema import TABLES, ibis_schema

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Warehouse", "connect_backend"]

META_TABLE = "_crmscore_meta"


def connect_backend(url: str | None = None, path: Path | None = None, read_only: bool = False) -> BaseBackend:
    """An Ibis backend for a warehouse URL, or for the DuckDB file at ``path``."""
    try:
        if url and not url.startswith("duckdb://"):
            return ibis.connect(url)
        database = url.removeprefix("duckdb://") if url else str(path) if path else ":memory:"
        # Extensions cannot be downloaded here; fail in milliseconds instead of waiting on the network.
        return ibis.duckdb.connect(database or ":memory:", read_only=read_only,
                                   autoinstall_known_extensions=False, autoload_known_extensions=False)
    except Exception as exc:  # translate driver errors at the layer edge
        where = url or str(path)
        raise WarehouseError(f"cannot open the warehouse at {where}: {exc}",
                             "check the path or CRMSCORE_WAREHOUSE_URL, and that no other process holds the "
                             "DuckDB file") from exc


def _create_canonical_tables(wh: Warehouse) -> None:
    for spec in TABLES.values():
        if not wh.has_table(spec.name):
            wh.con.create_table(spec.name, schema=ibis.schema(ibis_schema(spec)))


# Each migration takes the warehouse from version i to i + 1 (index i). Append, never edit.
MIGRATIONS: list[Callable[[Warehouse], None]] = [_create_canonical_tables]
SCHEMA_VERSION = len(MIGRATIONS)
_DUCKDB_ROW_GROUP_ROWS = 122_880


class Warehouse:
    """The analytical store of a workspace.

    >>> wh = Warehouse.in_memory()
    >>> wh.table("orders").count().execute()
    0
    >>> wh.schema_version() == SCHEMA_VERSION
    True
    """

    def __init__(self, con: BaseBackend, url: str) -> None:
        self.con = con
        self.url = url
        self._in_transaction = False

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str | None = None, path: Path | None = None, migrate: bool = True) -> Warehouse:
        con = connect_backend(url, path)
        wh = cls(con, url or f"duckdb://{path}")
        if migrate:
            wh.migrate()
        return wh

    @classmethod
    def in_memory(cls) -> Warehouse:
        return cls.open("duckdb://:memory:")

    @property
    def dialect(self) -> str:
        return str(self.con.name)

    def clusters(self, rows: int) -> bool:
        """Whether storing a table of ``rows`` rows ordered by a key pays: on DuckDB only beyond one row group
        (122,880 rows), the unit that min/max statistics let a lookup skip; sorting a wide table costs about as
        much as writing it."""
        return self.dialect != "duckdb" or rows > _DUCKDB_ROW_GROUP_ROWS

    def cache_names(self) -> set[str]:
        return set(getattr(self.con, "_cache_name_to_entry", {}))

    def release_caches(self, keep: set[str] | None = None) -> None:
        """Drop the temporary tables behind ``Table.cache()`` (except ``keep``) while the connection is open."""
        for name in self.cache_names() - (keep or set()):
            self.con._finalize_cached_table(name)

    def cursor(self) -> Warehouse:
        """Another connection to the same DuckDB database, for a worker thread: its queries run alongside this
        one's, and its temporary tables and transactions are its own."""
        if self.dialect != "duckdb":
            raise WarehouseError(f"worker connections need a DuckDB warehouse, not {self.dialect}")
        return Warehouse(ibis.duckdb.from_connection(self.con.con.cursor()), self.url)

    def close(self) -> None:
        self.release_caches()
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect is not None:
            disconnect()

    # -- schema ---------------------------------------------------------------------------------------
    def has_table(self, name: str) -> bool:
        return name in self.con.list_tables()

    def table(self, name: str) -> ibis.Table:
        try:
            return self.con.table(name)
        except Exception as exc:
            raise UnknownName("warehouse table", name, self.con.list_tables()) from exc

    def schema_version(self) -> int:
        if not self.has_table(META_TABLE):
            return 0
        value = self.con.table(META_TABLE).filter(ibis._.key == "schema_version").value.max().execute()
        return int(value) if value is not None else 0

    def migrate(self) -> None:
        """Bring the warehouse tables to :data:`SCHEMA_VERSION` (idempotent)."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise WarehouseError(f"the warehouse schema is version {current}, newer than this crmscore "
                                 f"({SCHEMA_VERSION})", "upgrade crmscore")
        if current == SCHEMA_VERSION:
            return
        with self.transaction():
            for step in MIGRATIONS[current:]:
                step(self)
            if not self.has_table(META_TABLE):
                self.con.create_table(META_TABLE, schema=ibis.schema({"key": "string", "value": "string"}))
            self.execute(f"DELETE FROM {META_TABLE} WHERE key = 'schema_version'")
            self.execute(f"INSERT INTO {META_TABLE} VALUES ('schema_version', '{SCHEMA_VERSION}')")

    # -- raw access and transactions ------------------------------------------------------------------
    def execute(self, sql: str, params: Any = None) -> Any:
        """Run one SQL statement on the native connection (DuckDB or psycopg)."""
        if self.dialect == "duckdb":
            return self.con.con.execute(sql, params) if params is not None else self.con.con.execute(sql)
        with self.con.con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """All-or-nothing: everything written inside commits together or not at all (nested calls join)."""
        if self._in_transaction:
            yield self
            return
        raw = self.con.con
        self._in_transaction = True
        try:
            if self.dialect == "duckdb":
                raw.begin()
                try:
                    yield self
                except BaseException:
                    raw.rollback()
                    raise
                raw.commit()
            else:
                with raw.transaction():
                    yield self
        finally:
            self._in_transaction = False

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        return expr.to_pyarrow()
