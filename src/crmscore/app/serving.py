"""The API's serving view: the customer list of the latest snapshot, held in memory, with cached orders and sets.

A customer list request on a large workspace used to join the customer master, the owners and the snapshot twice
(count and page). The join only changes when the data changes (an import or a scoring run, both jobs of the
server), so :class:`ServingView` materialises it once per data version as an Arrow table in memory (one row per
customer: every column of :func:`crmscore.app.customers.customer_view`, plus the effective department used by
the data scope and the lower-cased name used by the search) and answers list and detail requests from it:

- the rows of a *scope* (company, a department (tree), one owner) and of a *filter* (grade, segment, risk ...)
  are computed once by DuckDB from the same Ibis expressions as the reference path, and kept (LRU) as sorted
  row positions with their count: the total of a (scope, filter) is known without a query;
- each *sort* (at most 3 keys plus the customer id as the tie-breaker) is computed once by DuckDB as a
  permutation of the rows (and its inverse, the rank of each row): SQL's ordering semantics (nulls last, NaN
  above every number, binary string order) are DuckDB's own;
- the name search (``q``) runs on the scope's rows with Arrow's substring kernel (the reference path: DuckDB's
  ``lower(name)`` contains the Python-lower-cased text);
- a page is then the first ``offset + limit`` rows of the set in permutation order: a walk along the permutation
  for dense sets, a partial sort of the ranks for sparse ones; the rows come from ``Table.take``.

A request can also ask for the *cached-only* mode (:meth:`ServingView.cached_only`): anything not computed yet
(a set, an order, an index, any DuckDB query) then raises :class:`ServingCold` instead of computing it. The API's
hot routes answer warm requests that way directly on the event loop and hand cold ones to a worker thread.

The serving view is an optimisation only: ``tests/test_api_serving.py`` compares it with the reference Ibis path
(:func:`crmscore.app.customers.list_customers` without a serving view) on every filter, scope and sort.

>>> import pyarrow as pa
>>> table = pa.table({"customer_id": ["c2", "c1", "c3"], "name": ["B", "A", None], "owner_id": ["r1", "r2", "r1"],
...                   "department": [None, None, None], "owner_department": ["S/E", "S/W", "S/E"],
...                   "score": [50.0, 80.0, None]})
>>> view = ServingView(table, snapshot=None, snapshots=[], customer_columns=frozenset(table.column_names))
>>> view.position("c3"), view.position("c9")
(2, None)
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crmscore.services.snapshots import SnapshotInfo

__all__ = ["HIDDEN_COLUMNS", "Page", "ServingCold", "ServingView"]

# Columns of the serving table that are not part of the customer view (never returned, never sortable).
HIDDEN_COLUMNS: tuple[str, ...] = ("_pos", "_dept", "_name_lower", "_in_snapshot")
_SETS = 256  # cached (scope, filter) row sets
_ORDERS = 24  # cached sort permutations (2 int64 arrays of N rows each)
_ORDERED_ROWS = 16  # cached sets in a sort order: at most this many times N positions (int32) in all
_GRAM = 3  # bytes per n-gram of the name-search index
_SCAN_ROWS = 500  # smaller sets are searched without the index
_INLINE_SEARCH = 20_000  # names a cached-only search may check (more: ServingCold, a worker thread does it)
_CODED_VALUES = 4096  # text columns with at most this many distinct values are read through codes
_CACHED_ONLY: ContextVar[bool] = ContextVar("crmscore_serving_cached_only", default=False)


class ServingCold(Exception):
    """Raised in cached-only mode when the answer needs a computation or a query (see
    :meth:`ServingView.cached_only`)."""


def _check_warm() -> None:
    if _CACHED_ONLY.get():
        raise ServingCold


class _Lru:
    """A small thread-safe LRU cache whose values are computed at most once per key at a time."""

    def __init__(self, size: int, budget: int | None = None, weight: Callable[[Any], int] | None = None) -> None:
        self.size, self.budget, self.weight = size, budget, weight
        self._total = 0  # the summed weight of the items (with a budget)
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            _check_warm()
            build_lock = self._building.setdefault(key, threading.Lock())
        with build_lock:  # one computation per key; concurrent askers wait for it
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = compute()
            with self._lock:
                self._items[key] = value
                if self.weight is not None:
                    self._total += self.weight(value)
                while len(self._items) > self.size or (self.budget is not None and self._total > self.budget
                                                       and len(self._items) > 1):
                    _old, dropped = self._items.popitem(last=False)
                    if self.weight is not None:
                        self._total -= self.weight(dropped)
                self._building.pop(key, None)
            return value


@dataclass(frozen=True)
class Page:
    """One page of a list: the total of the set and the page's rows (JSON-ready, not yet masked)."""

    total: int
    rows: list[dict[str, Any]]


class _Sorted:
    """A sequence view of the customer ids in ascending order, for :func:`bisect.bisect_left`."""

    def __init__(self, ids: pa.Array, count: int) -> None:
        self._ids, self._count = ids, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: int) -> str:
        value: str = self._ids[i].as_py()
        return value


class ServingView:
    """The customer view of one snapshot and data version, in memory, with cached sets and orders.

    ``table`` holds one row per customer with the customer view's columns (``owner_department`` included);
    the effective department and the lower-cased name are added here. Sets and orders are computed lazily by an
    in-memory DuckDB over the same Arrow data, from Ibis expressions that the caller supplies (so that filter
    and sort semantics are those of the reference path).
    """

    def __init__(self, table: pa.Table, *, snapshot: SnapshotInfo | None, snapshots: Sequence[SnapshotInfo],
                 customer_columns: frozenset[str], extras: dict[str, Any] | None = None) -> None:
        self.snapshot = snapshot
        self.snapshots = list(snapshots)
        self.customer_columns = customer_columns
        self.extras = dict(extras or {})  # per-version facts the caller wants to keep (table schemas ...)
        self.columns = [c for c in table.column_names if c not in HIDDEN_COLUMNS]
        # columns whose Python values may need JSON cleaning (NaN floats, decimals, nested or exotic types)
        plain = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_boolean,
                 pa.types.is_date, pa.types.is_timestamp, pa.types.is_null)
        self.unclean_columns = [f.name for f in table.schema if f.name in self.columns
                                and not any(check(f.type) for check in plain)
                                and not (pa.types.is_floating(f.type) and _finite(table.column(f.name)))]
        self.rows = table.num_rows
        self._con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                                        "autoload_known_extensions": False})
        self._lock = threading.Lock()
        positions = pa.array(np.arange(self.rows, dtype=np.int64))
        self._in_snapshot = table.column("_in_snapshot").combine_chunks() \
            if "_in_snapshot" in table.column_names else None
        data = table.select(self.columns).append_column("_pos", positions)
        self._con.register("_serving_in", data)
        dept = 'coalesce("department", "owner_department")' if "owner_department" in self.columns \
            else '"department"' if "department" in self.columns else "NULL::VARCHAR"
        name = 'lower("name")' if "name" in self.columns else "NULL::VARCHAR"
        # the derived columns are computed by DuckDB, like the reference path's expressions
        derived = self._con.execute(f"SELECT {dept} AS _dept, {name} AS _name_lower FROM _serving_in "
                                    "ORDER BY _pos").arrow()
        if isinstance(derived, pa.RecordBatchReader):
            derived = derived.read_all()
        # one chunk per column: Table.take on many small chunks is slow
        self._table = data.append_column("_dept", derived.column("_dept")) \
            .append_column("_name_lower", derived.column("_name_lower")).combine_chunks()
        self._con.unregister("_serving_in")
        self._con.register("serving", self._table)
        self._ibis = ibis.duckdb.from_connection(self._con)
        self.expr = self._ibis.table("serving")
        self._ids = self._table.column("customer_id").combine_chunks() if "customer_id" in self.columns else None
        self._names = self._table.column("_name_lower").combine_chunks()
        self._sets = _Lru(_SETS)
        self._orders = _Lru(_ORDERS)
        self._ordered = _Lru(_SETS, budget=_ORDERED_ROWS * max(self.rows, 1), weight=len)
        # How records() reads each column: all-null columns are not read at all, numeric columns without nulls
        # through numpy (fancy indexing is much cheaper than an Arrow take kernel per column), the rest by Arrow.
        self._null_columns = frozenset(c for c in self.columns
                                       if self.rows and self._table.column(c).null_count == self.rows)
        numeric = (pa.types.is_floating, pa.types.is_integer, pa.types.is_boolean)
        self._numpy_columns = {
            c: self._table.column(c).combine_chunks().to_numpy(zero_copy_only=False) for c in self.columns
            if c not in self._null_columns and self._table.column(c).null_count == 0
            and any(check(self._table.schema.field(c).type) for check in numeric)}
        # low-cardinality text columns (grade, segment, region, owner ...): a numpy array of codes and the
        # distinct values as Python strings
        self._coded_columns: dict[str, tuple[np.ndarray, list[Any]]] = {}
        for c in self.columns:
            field = self._table.schema.field(c)
            if c in self._null_columns or not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
                continue
            encoded = pc.dictionary_encode(self._table.column(c).combine_chunks(), null_encoding="encode")
            if len(encoded.dictionary) <= min(_CODED_VALUES, max(1, self.rows // 8)):
                self._coded_columns[c] = (encoded.indices.to_numpy(zero_copy_only=False),
                                          encoded.dictionary.to_pylist())
        self._arrow_columns = [c for c in self.columns if c not in self._null_columns
                               and c not in self._numpy_columns and c not in self._coded_columns]
        self.unclean_columns = [c for c in self.unclean_columns if c not in self._null_columns]
        self._visible = self._table.select(self._arrow_columns)
        self._by_id: tuple[pa.Array, np.ndarray, int] | None = None
        self._memo = _Lru(4096)
        self._grams: tuple[np.ndarray, np.ndarray] | None = None
        self._gram_lock = threading.Lock()

    # -- DuckDB over the in-memory rows (one query at a time on this connection) -------------------------------
    def select(self, expr: ibis.Table) -> np.ndarray:
        """The sorted positions of the rows of ``expr`` (an expression over :attr:`expr`)."""
        return np.sort(self._positions(expr))

    def _positions(self, expr: ibis.Table) -> np.ndarray:
        _check_warm()
        sql = ibis.to_sql(expr.select("_pos"), dialect="duckdb")
        with self._lock:  # the whole result is read under the lock: a stream dies with the next query
            out = self._con.execute(sql).arrow()
            if isinstance(out, pa.RecordBatchReader):
                out = out.read_all()
        return np.asarray(out.column("_pos").to_numpy(), dtype=np.int64)

    @staticmethod
    @contextmanager
    def cached_only() -> Iterator[None]:
        """Within this block (in the current thread or task), anything the view has not computed yet raises
        :class:`ServingCold` instead of being computed: a warm request costs no query and no waiting.

        >>> import pyarrow as pa
        >>> view = ServingView(pa.table({"customer_id": ["c1"], "name": ["A"]}), snapshot=None, snapshots=[],
        ...                    customer_columns=frozenset({"customer_id", "name"}))
        >>> with ServingView.cached_only():
        ...     view.position("c1")
        Traceback (most recent call last):
        ...
        crmscore.app.serving.ServingCold
        >>> view.position("c1")
        0
        """
        token = _CACHED_ONLY.set(True)
        try:
            yield
        finally:
            _CACHED_ONLY.reset(token)

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A small derived value (a validated sort spec ...) computed once per ``key`` while it stays cached."""
        return self._memo.get(key, compute)

    def cached_set(self, key: Hashable, compute: Callable[[], np.ndarray | None]) -> np.ndarray | None:
        """A row set (sorted positions; None: every row) computed once per ``key`` while it stays cached."""
        result: np.ndarray | None = self._sets.get(key, compute)
        return result

    def order(self, key: Hashable, keys: Callable[[ibis.Table], list[Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(permutation, rank) of the rows sorted by ``keys(expr)`` (cached under ``key``)."""

        def compute() -> tuple[np.ndarray, np.ndarray]:
            perm = self._positions(self.expr.order_by(keys(self.expr)))
            rank = np.empty(self.rows, dtype=np.int64)
            rank[perm] = np.arange(self.rows, dtype=np.int64)
            return perm, rank

        result: tuple[np.ndarray, np.ndarray] = self._orders.get(key, compute)
        return result

    # -- sets, pages, rows ----------------------------------------------------------------------------------
    @staticmethod
    def intersect(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
        """The intersection of two sorted position sets (None: every row)."""
        if a is None:
            return b
        if b is None:
            return a
        return np.intersect1d(a, b, assume_unique=True)

    def search(self, rows: np.ndarray | None, text: str) -> np.ndarray:
        """The positions of ``rows`` (None: every row) whose lower-cased name contains ``text`` (lower-cased).

        Large sets are narrowed first with a byte-trigram index of the names (UTF-8 is self-synchronising, so
        every 3-byte window of the text occurs in a name that contains it); every candidate is then checked
        with Arrow's substring kernel, so the answer is exactly the substring match.
        """
        candidates = rows
        needle = text.encode("utf-8")
        if len(needle) >= _GRAM and (rows is None or len(rows) > _SCAN_ROWS):
            codes, grams = self._gram_index()
            best: np.ndarray | None = None
            for i in range(len(needle) - _GRAM + 1):
                code = (needle[i] << 16) | (needle[i + 1] << 8) | needle[i + 2]
                lo, hi = np.searchsorted(codes, np.array([code, code + 1], dtype=codes.dtype))
                if best is None or hi - lo < len(best):
                    best = grams[lo:hi]
            assert best is not None
            if rows is None:
                candidates = best.astype(np.int64)
            elif len(best) < len(rows):  # the rarest trigram's rows are fewer than the set: check those
                candidates = best[_members(rows, best)].astype(np.int64)
        if (self.rows if candidates is None else len(candidates)) > _INLINE_SEARCH:
            _check_warm()  # a long scan: not on the event loop, where it would hold up every other request
        names = self._names if candidates is None else self._names.take(pa.array(candidates))
        hit = np.flatnonzero(pc.fill_null(pc.match_substring(names, text), False).to_numpy(zero_copy_only=False))
        return hit if candidates is None else candidates[hit]

    def _gram_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted 24-bit codes of every byte trigram of every name, the row of each), built once."""
        if self._grams is not None:
            return self._grams
        _check_warm()
        with self._gram_lock:
            if self._grams is None:
                self._grams = _byte_trigrams(self._names)
            return self._grams

    def prepare(self) -> None:
        """Build the lazy indexes now (the name-search index and the customer id order)."""
        self._gram_index()
        self.position("")

    def page(self, rows: np.ndarray | None, order: tuple[np.ndarray, np.ndarray], offset: int,
             limit: int, key: Hashable | None = None) -> Page:
        """Rows ``offset .. offset + limit`` of the set ``rows`` (None: every row) in the given order.

        ``key`` names the (set, order) pair of a cached set: its members are then sorted once (int32
        positions, kept in an LRU with a budget of a few times N positions) and each page is a slice.
        """
        perm, rank = order
        total = self.rows if rows is None else len(rows)
        need = min(offset + limit, total)
        if offset >= total:
            picked = np.empty(0, dtype=np.int64)
        elif rows is None:
            picked = perm[offset:need]
        elif key is not None:
            members = rows

            def sort_members() -> np.ndarray:
                ordered: np.ndarray = members[np.argsort(rank[members])].astype(np.int32)
                return ordered

            picked = self._ordered.get(key, sort_members)[offset:need].astype(np.int64)
        elif total * 8 >= self.rows and need * 4 <= total:
            # dense set: walk the permutation until enough members are seen
            member = np.zeros(self.rows, dtype=bool)
            member[rows] = True
            found: list[np.ndarray] = []
            count, start, step = 0, 0, max(4096, (need * self.rows) // max(total, 1) * 2)
            while count < need and start < self.rows:
                chunk = perm[start:start + step]
                hit = chunk[member[chunk]]
                found.append(hit)
                count += len(hit)
                start += step
                step *= 2
            picked = np.concatenate(found)[offset:need]
        else:
            # sparse set: partial sort of the members' ranks
            ranks = rank[rows]
            first = np.argpartition(ranks, need - 1)[:need] if need < len(ranks) else np.arange(len(ranks))
            first = first[np.argsort(ranks[first], kind="stable")]
            picked = rows[first][offset:need]
        return Page(total=total, rows=self.records(picked))

    def records(self, positions: np.ndarray) -> list[dict[str, Any]]:
        """The customer-view rows at ``positions`` as dicts (Arrow values converted to Python)."""
        if len(positions) == 0:
            return []
        # column by column: Table.to_pylist builds each row through Arrow scalars, about twice as slow
        picked = self._visible.take(pa.array(positions))
        values = {name: column.to_pylist() for name, column in zip(self._arrow_columns, picked.columns, strict=True)}
        for name, array in self._numpy_columns.items():
            values[name] = array[positions].tolist()
        for name, (codes, distinct) in self._coded_columns.items():
            values[name] = [distinct[i] for i in codes[positions].tolist()]
        nulls = [None] * len(positions)
        columns = [values.get(name, nulls) for name in self.columns]
        names = self.columns
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]

    def in_snapshot(self, position: int) -> bool:
        """Whether the customer at ``position`` has a row in the snapshot (the table's ``_in_snapshot``)."""
        return self._in_snapshot is not None and bool(self._in_snapshot[position].as_py())

    def position(self, customer_id: str) -> int | None:
        """The row of ``customer_id``, or None (binary search in the customer id order)."""
        if self._ids is None:
            return None
        if self._by_id is None:
            _check_warm()
            with self._lock:
                out = self._con.execute('SELECT _pos FROM serving WHERE customer_id IS NOT NULL '
                                        'ORDER BY customer_id').arrow()
                if isinstance(out, pa.RecordBatchReader):
                    out = out.read_all()
            perm = np.asarray(out.column("_pos").to_numpy(), dtype=np.int64)
            self._by_id = (self._ids.take(pa.array(perm)), perm, len(perm))
        ids, perm, count = self._by_id
        i = bisect.bisect_left(_Sorted(ids, count), customer_id)
        if i < count and ids[i].as_py() == customer_id:
            return int(perm[i])
        return None

    def close(self) -> None:
        with self._lock:
            self._con.close()


def _finite(column: pa.ChunkedArray) -> bool:
    """Whether every non-null value of a floating-point column is finite (its values need no JSON cleaning)."""
    values = column.combine_chunks().drop_null().to_numpy(zero_copy_only=False)
    return bool(np.isfinite(values).all())


def _members(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A mask over ``values``: which of them are in the sorted array ``rows``."""
    if len(rows) == 0:
        return np.zeros(len(values), dtype=bool)
    i = np.minimum(np.searchsorted(rows, values), len(rows) - 1)
    found: np.ndarray = rows[i] == values
    return found


def _byte_trigrams(names: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct (3-byte window, row) of a string array, sorted by window code then row."""
    names = names.cast(pa.large_string()) if pa.types.is_string(names.type) else names
    offsets = np.frombuffer(names.buffers()[1], dtype=np.int64)[names.offset:names.offset + len(names) + 1]
    data = np.frombuffer(names.buffers()[2], dtype=np.uint8) if names.buffers()[2] is not None \
        else np.zeros(0, dtype=np.uint8)
    lengths = np.diff(offsets)
    if names.null_count:
        lengths = np.where(names.is_null().to_numpy(zero_copy_only=False), 0, lengths)
    count = np.maximum(lengths - (_GRAM - 1), 0)
    total = int(count.sum())
    row = np.repeat(np.arange(len(names), dtype=np.int32), count)
    first = np.cumsum(count) - count
    pos = offsets[:-1][row] + (np.arange(total, dtype=np.int64) - first[row])
    code = (data[pos].astype(np.uint32) << 16) | (data[pos + 1].astype(np.uint32) << 8) | data[pos + 2]
    order = np.argsort(code, kind="stable")  # rows stay ascending within a code
    code, row = code[order], row[order]
    keep = np.ones(total, dtype=bool)
    keep[1:] = (code[1:] != code[:-1]) | (row[1:] != row[:-1])
    return code[keep], row[keep]
