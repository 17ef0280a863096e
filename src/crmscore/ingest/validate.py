"""Parse and validate a staged file in set-based SQL: typed rows for the warehouse plus a table of rejections.

From the staging table (text columns ``c0..cN`` and ``_line``) and a resolved mapping this module builds, in the
staging DuckDB connection:

- ``<prefix>_p``: per canonical field the cleaned raw text ``r_<field>`` and the parsed value ``<field>``;
- ``<prefix>_issues`` (``_line``, ``field``, ``value``, ``reason``): one row per problem. Checks: required
  values, types (dates, amounts, numbers, booleans, enumerations), ranges (``min_value``/``max_value`` of the
  schema, survey scores within their scale), implausible dates (before 1900 or more than a year after
  ``as_of``), duplicate keys within the file (every occurrence, naming all lines), unknown customers (when the
  user asked to reject them), order lines of one order naming different customers, and the other lines of an
  order one of whose lines was rejected (an order loads whole or not at all);
- ``<prefix>_t_<table>``: typed rows that passed, one table per warehouse table to load (the kind's own table,
  derived ``orders`` for order lines, flagged stub ``customers``).

No Python loop touches the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from crmscore.errors import MissingColumnsError
from crmscore.ingest.mapping import Mapping, target_fields
from crmscore.ingest.parsing import (
    MONEY_TYPE,
    clean_text_sql,
    currency_sql,
    fast_sql,
    fast_typed_sql,
    id_sql,
    quote_ident,
    sql_literal,
    text_sql,
)
from crmscore.ingest.readers import NotLazy, StagedFile
from crmscore.schema import TABLES, Column, TableSpec, table_for_kind

__all__ = ["Prepared", "prepare"]

_EXTRA_COLUMNS: dict[str, tuple[str, Column]] = {
    "customer_id": ("orders", TABLES["orders"].column("customer_id")),
    "order_date": ("orders", TABLES["orders"].column("order_date")),
    "status": ("orders", TABLES["orders"].column("status")),
    "currency": ("orders", TABLES["orders"].column("currency")),
    "channel": ("orders", TABLES["orders"].column("channel")),
    "country": ("customers", TABLES["customers"].column("country")),
    "customer_name": ("customers", Column("customer_name", "string")),
}

_TYPE_REASON = {"decimal": "not an amount", "integer": "not a whole number", "float": "not a number",
                "date": "not a valid date", "timestamp": "not a valid date or time",
                "boolean": "not a yes/no value"}

_PROBE_ROWS = 200_000  # rows tried on the fast path to choose between parsing on the fly and materialising


@dataclass
class Prepared:
    """The outcome of :func:`prepare`: staging table names and what they hold."""

    parsed: str
    issues: str
    loads: list[tuple[str, str, list[str], str]] = field(default_factory=list)  # (table, staging, cols, mode)
    sources: dict[str, str] = field(default_factory=dict)  # field -> source column / constant description
    tables: list[str] = field(default_factory=list)
    # prepare(lazy=True) only: a condition true for every row that needs a closer look (none in a clean file),
    # and the columns of the kind's own table with the expressions (over ``parsed``) that fill them.
    guard: str = "false"
    main: list[tuple[str, str]] = field(default_factory=list)


def _field_column(spec: TableSpec, name: str) -> tuple[str, Column]:
    if name in spec.column_names:
        return spec.name, spec.column(name)
    return _EXTRA_COLUMNS[name]


def _check_reason(col: Column, table: str) -> str:
    if col.type == "string":
        from crmscore.ingest.parsing import ENUM_SYNONYMS

        values = list(ENUM_SYNONYMS.get((table, col.name), {}).keys()) or list(col.choices)
        return f"unknown value; expected one of: {', '.join(values)}"
    return _TYPE_REASON[col.type]


def prepare(con: duckdb.DuckDBPyConnection, staged: StagedFile, kind: str, mapping: Mapping,
            resolved: dict[str, int], *, day_first: bool, as_of: date, unknown_customers: str = "create",
            known_customers_sql: str | None = None, prefix: str = "_crmscore_imp", lazy: bool = False) -> Prepared:
    """Build the parsed, issues and typed tables (see the module docstring).

    ``lazy``: build only the parsed view and return the guard condition and the main table's columns (see
    :class:`Prepared`); raises :class:`NotLazy` when the file needs more than the view (values in other forms,
    generated keys, derived orders, first-line attributes of stub customers). No row is read: the load reads them.
    """
    spec = table_for_kind(kind)
    fields = target_fields(kind)
    generated = list(mapping.generate_id or [])
    provided = [f for f in fields if f in resolved or f in mapping.constants]
    key_generated = spec.key[0] if generated else None
    if key_generated and key_generated not in provided:
        provided.append(key_generated)
    is_lines = spec.name == "order_lines"
    defaults: list[str] = []
    if is_lines and "line_no" not in provided:
        defaults.append("line_no")
    if "status" in (spec.column_names if spec.name == "orders" else fields if is_lines else ()) \
            and "status" not in provided:
        defaults.append("status")

    # Required fields: the table's, plus what deriving orders from order lines needs.
    required = [c for c in spec.required if c not in defaults and c != key_generated and
                not (is_lines and c == "line_no")]
    if is_lines:
        required += ["customer_id", "order_date"]
    missing = [f for f in required if f not in provided]
    if missing:
        raise MissingColumnsError(f"import of {kind}", missing, staged.headers)

    prep = Prepared(parsed=f"{prefix}_p", issues=f"{prefix}_issues")
    prep.tables += [prep.parsed, prep.issues]
    for f in provided:
        if f in resolved:
            prep.sources[f] = staged.headers[resolved[f]]
        elif f in mapping.constants:
            prep.sources[f] = f"= {mapping.constants[f]}"
        elif f == key_generated:
            prep.sources[f] = "generated from " + " + ".join(generated) + " + sequence"

    # Raw text of every mapped field, as read (a staging column or a mapping constant).
    raw_in: dict[str, str] = {}
    for f in provided:
        if f == key_generated and f not in resolved:
            continue
        raw_in[f] = f"c{resolved[f]}" if f in resolved else sql_literal(mapping.constants[f])
    _infer_currency(con, staged, spec, provided, raw_in, resolved, prep)
    columns: dict[str, tuple[str, Column]] = {f: _field_column(spec, f) for f in provided}

    def is_text(f: str) -> bool:
        table, col = columns[f]
        return col.type == "string" and not col.choices and (table, col.name) not in _enum_keys()

    def cleaned(f: str, expr: str) -> str:
        text = clean_text_sql(expr)
        return id_sql(text) if f.endswith("_id") else text

    # Clean files (every value already in plain form: ISO dates, plain numbers, canonical words) are parsed on
    # the fly by a view of small cast expressions: no copy, and each query computes only the columns it reads.
    # Otherwise the cleaned text and the values from the multi-format parsers are materialised once.
    windowed = bool(key_generated) or "line_no" in defaults
    has_status = "status" in (spec.column_names if spec.name == "orders" else fields if is_lines else ())
    special = {"status"} if has_status else set()
    fast = {f: fs for f, e in raw_in.items() if not is_text(f) and f not in special
            and (fs := fast_sql(e, columns[f][0], columns[f][1])) is not None}
    as_view = not windowed and all(is_text(f) or f in special or f in fast for f in raw_in)
    # (The one-pass load (lazy) skips this sample: its guard stops at the first such value anyway.)
    if as_view and fast and not lazy:
        tests = " OR ".join(f"({fs} IS NULL AND {raw_in[f]} IS NOT NULL)" for f, fs in fast.items())
        as_view = not con.execute(f"SELECT count(*) FROM (SELECT * FROM {staged.table} LIMIT {_PROBE_ROWS}) "
                                  f"WHERE {tests}").fetchone()[0]  # type: ignore[index]

    def status_sql(raw: str | None, value: str | None, oid: str | None) -> str:
        """Order status: an empty one means completed (cancelled for Online-Retail 'C' invoices)."""
        default = (f"CASE WHEN {oid} LIKE 'C%' AND regexp_full_match({oid}, 'C[0-9]+') THEN 'cancelled' "
                   f"ELSE 'completed' END" if oid else "'completed'")
        if raw is None or value is None:
            return default
        return f"(CASE WHEN {raw} IS NULL THEN {default} ELSE {value} END)"

    def view_sql() -> str:
        cols = ["_line"]
        oid = text_sql(raw_in["order_id"], True) if "order_id" in raw_in else None
        for f, e in raw_in.items():
            table, col = columns[f]
            cols.append(f"{cleaned(f, e)} AS {quote_ident('r_' + f)}")  # read for rejected rows only
            cols.append(f"{e} AS {quote_ident('_in_' + f)}")
            if is_text(f):
                value = text_sql(e, f.endswith("_id"))
            elif f == "status" and has_status:
                value = status_sql(f"NULLIF({e}, '')", fast_sql(e, table, col), oid)
            else:
                value = fast[f]
            cols.append(f"{value} AS {quote_ident(f)}")
        if "status" in defaults:
            cols.append(f"{status_sql(None, None, oid)} AS status")
        return f"SELECT {', '.join(cols)} FROM {staged.table}"

    def materialise() -> None:
        parsed_cols = ["_line"]
        level1 = ", ".join([f"{cleaned(f, e)} AS {quote_ident('r_' + f)}" for f, e in raw_in.items()])
        from_l1 = f"(SELECT _line{', ' + level1 if level1 else ''} FROM {staged.table})"
        extra_l2: list[str] = []
        if key_generated:
            parts = ", ".join(quote_ident("r_" + g) for g in generated)
            extra_l2.append(f"concat_ws('-', {parts}, CAST(row_number() OVER (PARTITION BY {parts} ORDER BY "
                            f"_line) AS VARCHAR)) AS {quote_ident('r_' + key_generated)}")
        if "line_no" in defaults:
            extra_l2.append("CAST(row_number() OVER (PARTITION BY r_order_id ORDER BY _line) AS BIGINT) AS "
                            "r_line_no_gen")
        from_l2 = f"(SELECT *{', ' + ', '.join(extra_l2) if extra_l2 else ''} FROM {from_l1})"
        oid = "r_order_id" if "order_id" in provided else None
        for f in provided:
            table, col = columns[f]
            raw = quote_ident("r_" + f)
            parsed_cols.append(raw)
            if is_text(f):
                parsed_cols.append(f"{raw} AS {quote_ident(f)}")
            elif f == "status" and has_status:
                value = fast_typed_sql(raw, table, col, day_first, cleaned=raw)
                parsed_cols.append(f"{status_sql(raw, value, oid)} AS status")
            else:
                parsed_cols.append(f"{fast_typed_sql(raw, table, col, day_first, cleaned=raw)} AS {quote_ident(f)}")
        if "line_no" in defaults:
            parsed_cols.append("r_line_no_gen AS line_no")
        if "status" in defaults:
            parsed_cols.append(f"{status_sql(None, None, oid)} AS status")
        # Materialise the cleaned text first: DuckDB would otherwise inline the cleaning expression into every
        # reference of the parsers (several per parser), which is many times slower.
        raw_table = f"{prefix}_raw"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {raw_table} AS SELECT * FROM {from_l2}")
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {prep.parsed} AS SELECT {', '.join(parsed_cols)} "
                        f"FROM {raw_table}")
        finally:
            con.execute(f"DROP TABLE IF EXISTS {raw_table}")

    if lazy and not as_view:
        raise NotLazy("values in other forms than the plain ones need the multi-format parsers")
    if as_view:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {prep.parsed} AS {view_sql()}")
    else:
        materialise()

    # Checks: (field, condition, reason SQL, coarse condition). The coarse condition holds for every row the
    # exact one holds for and is cheap on the view (raw text instead of cleaned text); the exact checks run only
    # on the rows it selects, usually none.
    checks: list[tuple[str, str, str, str]] = []
    too_late = f"DATE {sql_literal(as_of.isoformat())} + INTERVAL 1 YEAR"
    for f in provided:
        table, col = columns[f]
        raw, val = quote_ident("r_" + f), quote_ident(f)
        if f in required:
            checks.append((f, f"{raw} IS NULL", "'required value missing'",
                           f"{val} IS NULL" if as_view and f != "status" else f"{raw} IS NULL"))
        if not is_text(f):
            present = quote_ident("_in_" + f) if as_view and f in raw_in else raw
            checks.append((f, f"{raw} IS NOT NULL AND {val} IS NULL", sql_literal(_check_reason(col, table)),
                           f"{val} IS NULL AND {present} IS NOT NULL"))
        if col.min_value is not None:
            cond = f"{val} < {col.min_value}"
            checks.append((f, cond, sql_literal(f"below the minimum {col.min_value:g}"), cond))
        if col.max_value is not None:
            cond = f"{val} > {col.max_value}"
            checks.append((f, cond, sql_literal(f"above the maximum {col.max_value:g}"), cond))
        if col.type in ("date", "timestamp"):
            cond = f"{val} < DATE '1900-01-01' OR {val} > {too_late}"
            checks.append((f, cond, sql_literal(f"implausible date (before 1900 or after {as_of.year + 1})"), cond))
    if spec.name == "surveys" and {"score", "scale_min", "scale_max"} <= set(provided):
        cond = "score < scale_min OR score > scale_max"
        checks.append(("score", cond, "'score outside its scale ' || scale_min || '..' || scale_max", cond))
    if spec.name == "surveys" and "score" in provided and not {"scale_min", "scale_max"} <= set(provided):
        cond = "score < 0 OR score > 100"
        checks.append(("score", cond, "'score outside 0..100 (give scale_min/scale_max)'", cond))
    suspects = f"{prefix}_suspects"
    prep.tables.append(suspects)
    coarse = " OR ".join(f"({c})" for *_, c in checks) or "false"
    # On the view, a value not in plain form reads as NULL: such a file is parsed again, materialised.
    slow = " OR ".join(f"({quote_ident(f)} IS NULL AND {quote_ident('_in_' + f)} IS NOT NULL)"
                       for f in raw_in if f in fast or f in special) if as_view else ""
    if lazy:
        if not as_view or is_lines or {"country", "customer_name"} & set(provided):
            raise NotLazy("the file needs the staged path")
        # Each condition once (the coarse checks already hold some of the "not in plain form" ones).
        terms = [f"({c})" for *_, c in checks]
        terms += [f"({quote_ident(f)} IS NULL AND {quote_ident('_in_' + f)} IS NOT NULL)"
                  for f in raw_in if f in fast or f in special]
        prep.guard = " OR ".join(dict.fromkeys(terms)) or "false"
        prep.main = _main_columns(spec, provided, defaults, is_lines)
        return prep
    con.execute(f"CREATE OR REPLACE TEMP TABLE {suspects} AS SELECT _line, {slow or 'false'} AS _slow "
                f"FROM {prep.parsed} WHERE {coarse}{' OR ' + slow if slow else ''}")
    if slow and con.execute(f"SELECT bool_or(_slow) FROM {suspects}").fetchone()[0]:  # type: ignore[index]
        con.execute(f"DROP VIEW {prep.parsed}")
        as_view = False
        materialise()
        coarse = " OR ".join(f"({exact})" for _f, exact, _r, _c in checks) or "false"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {suspects} AS SELECT _line FROM {prep.parsed} WHERE {coarse}")
    if con.execute(f"SELECT count(*) FROM {suspects}").fetchone()[0]:  # type: ignore[index]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {suspects} AS SELECT * FROM {prep.parsed} WHERE _line IN "
                    f"(SELECT _line FROM {suspects})")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {suspects} AS SELECT * FROM {prep.parsed} LIMIT 0")
    union = " UNION ALL ".join(
        f"SELECT _line, {sql_literal(f)} AS field, CAST({quote_ident('r_' + f) if f != 'line_no' or 'line_no' in provided else 'NULL'} AS VARCHAR) AS value, "
        f"CAST({reason} AS VARCHAR) AS reason FROM {suspects} WHERE {cond}"
        for f, cond, reason, _ in checks) or "SELECT NULL::BIGINT, NULL, NULL, NULL WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {prep.issues} AS SELECT * FROM ({union}) "
                f"x(_line, field, value, reason)")

    key = list(spec.key)
    key_cols = ", ".join(quote_ident(k) for k in key)
    not_null = " AND ".join(f"{quote_ident(k)} IS NOT NULL" for k in key)
    key_text = " || ', ' || ".join(f"CAST(p.{quote_ident(k)} AS VARCHAR)" for k in key)
    if not key_generated and not (is_lines and "line_no" in defaults):
        # Find duplicated keys first (cheap), then name every line of each.
        dups = f"{prefix}_dups"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {dups} AS SELECT {key_cols} FROM {prep.parsed} "
                    f"WHERE {not_null} GROUP BY {key_cols} HAVING count(*) > 1")
        con.execute(
            f"INSERT INTO {prep.issues} SELECT p._line, {sql_literal(key[0])}, {key_text}, "
            f"'duplicate key {'/'.join(key)} in the file (lines ' || "
            f"string_agg(CAST(p._line AS VARCHAR), ', ' ORDER BY p._line) OVER (PARTITION BY {key_cols}) || ')' "
            f"FROM {prep.parsed} p SEMI JOIN {dups} USING ({key_cols})")
        con.execute(f"DROP TABLE {dups}")

    has_customer = "customer_id" in provided and spec.name != "customers"
    if has_customer and unknown_customers == "reject":
        known = known_customers_sql or "SELECT customer_id FROM customers"
        con.execute(f"INSERT INTO {prep.issues} SELECT p._line, 'customer_id', p.r_customer_id, "
                    f"'unknown customer (not in the warehouse)' FROM {prep.parsed} p WHERE p.customer_id IS NOT "
                    f"NULL AND NOT EXISTS (SELECT 1 FROM ({known}) k WHERE k.customer_id = p.customer_id)")
    if is_lines:
        con.execute(
            f"INSERT INTO {prep.issues} SELECT p._line, 'customer_id', p.r_customer_id, "
            f"'order ' || p.order_id || ' names several customers; its first line names ' || g.first_customer "
            f"FROM {prep.parsed} p JOIN (SELECT order_id, arg_min(customer_id, _line) AS first_customer "
            f"FROM {prep.parsed} WHERE order_id IS NOT NULL AND customer_id IS NOT NULL GROUP BY order_id "
            f"HAVING min(customer_id) <> max(customer_id)) g USING (order_id) "
            f"WHERE p.customer_id <> g.first_customer")
    if staged.malformed:
        con.executemany(f"INSERT INTO {prep.issues} VALUES (?, NULL, ?, ?)",
                        [(line, text[:2000], f"malformed line: {msg}") for line, text, msg in staged.malformed])
    if is_lines:
        con.execute(
            f"INSERT INTO {prep.issues} SELECT p._line, 'order_id', p.r_order_id, "
            f"'another line of order ' || p.order_id || ' was rejected (line ' || b.first_bad || ')' "
            f"FROM {prep.parsed} p JOIN (SELECT p2.order_id, min(i._line) AS first_bad FROM {prep.issues} i "
            f"JOIN {prep.parsed} p2 USING (_line) WHERE i.field IS NOT NULL AND p2.order_id IS NOT NULL "
            f"GROUP BY p2.order_id) b "
            f"USING (order_id) WHERE p._line NOT IN (SELECT _line FROM {prep.issues} WHERE field IS NOT NULL)")

    # Typed rows that passed every check.
    n_issues = con.execute(f"SELECT count(*) FROM {prep.issues}").fetchone()[0]  # type: ignore[index]
    ok = prep.parsed if not n_issues else (
        f"(SELECT * FROM {prep.parsed} WHERE _line NOT IN (SELECT _line FROM {prep.issues} "
        f"WHERE field IS NOT NULL))")
    main = _main_columns(spec, provided, defaults, is_lines)
    main_cols, select = [c for c, _ in main], [s for _, s in main]
    main_table = f"{prefix}_t_{spec.name}"
    prep.tables.append(main_table)
    # File order; the parsed rows are in file order already unless rejected rows were filtered out.
    order_by = "ORDER BY _line" if spec.name != "order_lines" and n_issues else ""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {main_table} AS SELECT "
                f"{', '.join(f'{s} AS {quote_ident(c)}' for s, c in zip(select, main_cols, strict=True))} "
                f"FROM {ok} {order_by}")

    loads: list[tuple[str, str, list[str], str]] = []
    customer_source = ok
    if has_customer and unknown_customers == "create":
        stub_cols = ["customer_id", "is_stub"]
        stub_select = ["customer_id", "true"]
        for extra, target in (("country", "country"), ("customer_name", "name")):
            if extra in provided:
                stub_cols.append(target)
                stub_select.append(f"arg_min({quote_ident(extra)}, _line) FILTER (WHERE {quote_ident(extra)} "
                                   f"IS NOT NULL)")
        stub_table = f"{prefix}_t_stub_customers"
        prep.tables.append(stub_table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {stub_table} AS SELECT "
                    f"{', '.join(f'{s} AS {quote_ident(c)}' for s, c in zip(stub_select, stub_cols, strict=True))}"
                    f" FROM {customer_source} x WHERE customer_id IS NOT NULL GROUP BY customer_id")
        loads.append(("customers", stub_table, stub_cols, "insert_missing"))
    if is_lines:
        amount = "amount" if "amount" in provided else "quantity * unit_price"
        order_cols = ["order_id", "customer_id", "order_date", "amount", "status"]
        order_select = ["order_id", "arg_min(customer_id, _line)", "min(order_date)",
                        f"CAST(sum({amount}) AS {MONEY_TYPE})", "arg_min(status, _line)"]
        for extra in ("currency", "channel"):
            if extra in provided:
                order_cols.append(extra)
                order_select.append(f"arg_min({extra}, _line) FILTER (WHERE {extra} IS NOT NULL)")
        orders_table = f"{prefix}_t_orders"
        prep.tables.append(orders_table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {orders_table} AS SELECT "
                    f"{', '.join(f'{s} AS {quote_ident(c)}' for s, c in zip(order_select, order_cols, strict=True))}"
                    f" FROM {ok} x GROUP BY order_id")
        loads.append(("orders", orders_table, order_cols, "upsert"))
    loads.append((spec.name, main_table, main_cols, "upsert"))
    prep.loads = loads
    return prep


def _main_columns(spec: TableSpec, provided: list[str], defaults: list[str], is_lines: bool
                  ) -> list[tuple[str, str]]:
    """(column, expression over the parsed rows) for each column of the kind's own table that the file fills."""
    main_cols = [c for c in spec.column_names if c in provided or c in defaults]
    select = [quote_ident(c) for c in main_cols]
    if spec.name == "customers":  # a customer in a customer file is real, whatever an is_stub column says
        if "is_stub" in main_cols:
            select.pop(main_cols.index("is_stub"))
            main_cols.remove("is_stub")
        main_cols.append("is_stub")
        select.append("false")
    if is_lines and "amount" not in main_cols:
        main_cols.append("amount")
        select.append(f"CAST(quantity * unit_price AS {MONEY_TYPE})")
    return list(zip(main_cols, select, strict=True))


def _enum_keys() -> set[tuple[str, str]]:
    from crmscore.ingest.parsing import ENUM_SYNONYMS

    return set(ENUM_SYNONYMS)


def _infer_currency(con: duckdb.DuckDBPyConnection, staged: StagedFile, spec: TableSpec, provided: list[str],
                    raw_in: dict[str, str], resolved: dict[str, int], prep: Prepared) -> None:
    """Without a mapped currency, take it from the symbols written in the amounts (``¥``, ``$``, ``€`` ...)."""
    if spec.name not in ("orders", "order_lines") or "currency" in provided:
        return
    source = next((f for f in ("amount", "unit_price") if f in raw_in and f in resolved), None)
    if source is None:
        return
    expr = currency_sql(raw_in[source])
    found = con.execute(f"SELECT count(*) FROM {staged.table} WHERE {expr} IS NOT NULL").fetchone()[0]  # type: ignore[index]
    if found:
        provided.append("currency")
        raw_in["currency"] = expr
        prep.sources["currency"] = f"symbols in {staged.headers[resolved[source]]}"
