"""The per-customer feature table for an explicit ``as_of``: every ``features`` metric of the catalog.

Only data dated on or before ``as_of`` is read (orders, interactions and tickets before the next midnight;
invoices, surveys and opportunities with a date <= ``as_of``), which makes historical snapshots correct.
Customers created after ``as_of`` are left out; a customer id that appears only in orders is included.

Each source table is aggregated once per customer (one group-by per table, windows as conditional
aggregates). Orders: on DuckDB one group-by gives the money sums and each customer's sorted sale days as a
list, from which list functions read purchase days and inter-purchase gaps; on other engines (and with
``FeatureConfig(portable=True)``) a window over the sales alone, narrowed to customer and day, gives them,
joined to a plain group-by for the money. The customer profile is full-joined to the orders aggregate, other
per-table aggregates are left-joined, and the catalog's builders turn them into metrics. A missing optional table gives NULL metrics; a present table with no rows for a
customer gives 0 for counts and sums.

>>> import datetime as dt, ibis
>>> from decimal import Decimal
>>> orders = ibis.memtable({"order_id": ["o1", "o2", "o3"], "customer_id": ["a", "a", "b"],
...     "order_date": [dt.datetime(2024, 1, 1), dt.datetime(2024, 3, 1), dt.datetime(2024, 2, 1)],
...     "amount": [Decimal("10.50"), Decimal("20.00"), Decimal("-5.00")], "status": ["completed"] * 3})
>>> f = compute_features({"orders": orders}, as_of=dt.date(2024, 3, 31)).order_by("customer_id")
>>> to_frame(f.select("customer_id", "recency_days", "purchase_days", "monetary", "first_purchase"))
  customer_id  recency_days  purchase_days monetary first_purchase
0           a            30              2    30.50     2024-01-01
1           b          <NA>              0    -5.00           None
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
from ibis.common.exceptions import IbisError

from crmscore.engine.catalog import METRICS, MetricContext, MetricRegistry
from crmscore.engine.frames import to_frame, to_ibis  # noqa: F401  (to_frame: doctests)
from crmscore.errors import EngineError, MissingColumnsError
from crmscore.schema import TABLES, ibis_schema

__all__ = ["FeatureConfig", "compute_features", "conform", "first_sales", "normalize_as_of"]


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the feature computation (all have defaults)."""

    service_cost_per_ticket: Decimal = Decimal("50")
    default_scale_min: float = 1.0
    default_scale_max: float = 5.0
    #: Portable SQL only: on DuckDB too, purchase days and gaps from a window instead of DuckDB list functions
    #: (same values; the other engines always use the window).
    portable: bool = False


def normalize_as_of(as_of: dt.date | dt.datetime | str) -> dt.date:
    """``as_of`` as a date (ISO strings and datetimes accepted).

    >>> normalize_as_of("2024-03-31")
    datetime.date(2024, 3, 31)
    """
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    try:
        return dt.date.fromisoformat(str(as_of))
    except ValueError as exc:
        raise EngineError(f"as_of {as_of!r} is not a date", "use YYYY-MM-DD") from exc


def conform(name: str, table: ir.Table) -> ir.Table:
    """Cast a table to the canonical schema of ``name``: required columns must exist, optional ones may be
    missing (filled with NULL), extra columns are dropped.

    >>> t = conform("orders", ibis.memtable({"order_id": ["1"], "customer_id": ["c"],
    ...                                      "order_date": ["2024-01-02"], "amount": [1.5]}))
    >>> str(t.schema()["amount"]), str(t.schema()["order_date"])
    ('decimal(18, 2)', 'timestamp')
    >>> conform("orders", ibis.memtable({"order_id": ["1"]}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crmscore.errors.MissingColumnsError: orders: missing required column(s) 'customer_id', 'order_date', 'amount' ...
    """
    spec = TABLES[name]
    types = ibis_schema(spec)
    have = set(table.columns)
    missing = [c for c in spec.required if c not in have]
    if missing:
        raise MissingColumnsError(name, missing, list(table.columns))
    cols = []
    for col, typ in types.items():
        if col in have:
            value = table[col]
            cols.append((value if value.type() == ibis.dtype(typ) else value.cast(typ)).name(col))
        else:
            cols.append(ibis.null(typ).name(col))
    return table.select(cols)


# ---------------------------------------------------------------------------------------------------------
# Per-table aggregates. Each returns (customer-level table with customer_id + private columns, fill values).

Fill = dict[str, Any]
_MONEY = "decimal(18, 2)"
_GAP_BASE = 1 << 20  # > any gap in days (2,870 years)


@dataclass(frozen=True)
class _Dates:
    as_of: dt.date

    def day(self, n: int) -> ir.DateValue:
        return ibis.literal(self.as_of - dt.timedelta(days=n), type="date")

    @property
    def end_ts(self) -> ir.TimestampValue:
        nxt = self.as_of + dt.timedelta(days=1)
        return ibis.literal(dt.datetime(nxt.year, nxt.month, nxt.day), type="timestamp")

    def ts(self, n: int) -> ir.TimestampValue:
        start = self.as_of - dt.timedelta(days=n - 1)
        return ibis.literal(dt.datetime(start.year, start.month, start.day), type="timestamp")

    @property
    def lit(self) -> ir.DateValue:
        return ibis.literal(self.as_of, type="date")


def _count(cond: ir.BooleanValue) -> ir.IntegerScalar:
    return ibis.ifelse(cond, 1, 0).sum()  # type: ignore[attr-defined,no-any-return]


def _money(o: ir.Table, d: _Dates) -> dict[str, ir.Scalar]:
    """Money aggregates over every order (conditional sums; exact DECIMAL)."""
    sale = (o.status == "completed") & (o.amount > 0)
    returned_pos = (o.status == "returned") & (o.amount > 0)
    reversal = o.amount < 0
    counted = sale | reversal
    in90, in365 = o.day > d.day(90), o.day > d.day(365)
    prev90 = (o.day > d.day(180)) & (o.day <= d.day(90))
    zero = ibis.literal(Decimal(0), _MONEY)
    sales = o.amount.sum(where=sale).coalesce(zero)
    reversals = o.amount.sum(where=reversal).coalesce(zero)  # <= 0
    returned = o.amount.sum(where=returned_pos).coalesce(zero)
    return {
        "_o_monetary": sales + reversals,
        "_o_monetary_90d": o.amount.sum(where=counted & in90),
        "_o_monetary_365d": o.amount.sum(where=counted & in365),
        "_o_monetary_prev_90d": o.amount.sum(where=counted & prev90),
        "_o_returned_value": returned - reversals,
        "_o_sold_value": sales + returned,
        "_o_margin": (o.amount - o.cost).sum(where=counted),
        "_o_cost_known": o.count(where=counted & o.cost.notnull()),
    }


def _gap_std(n_gaps: ir.IntegerValue, span: ir.IntegerValue, sq: ir.IntegerValue) -> ir.FloatingValue:
    # Spread of the n = purchase days - 1 gaps from exact integer sums: their sum is last - first, so only
    # the sum of squares is aggregated; var = (n * sum(g^2) - sum(g)^2) / (n (n - 1)).
    var = (n_gaps * sq - span * span).cast("float64") / (n_gaps * (n_gaps - 1)).cast("float64")
    return ibis.ifelse(n_gaps >= 2, var.sqrt(), ibis.null("float64"))  # type: ignore[return-value]


def _orders_window(o: ir.Table, d: _Dates) -> ir.Table:
    # Portable: purchase days and gaps from the sales alone, narrowed to (customer_id, day) before one
    # window (the previous sale's day). A sale is the first of its day when that gap is NULL (first sale) or
    # > 0; those rows count the purchase days and their gaps are the inter-purchase gaps (same-day sales give
    # 0). Money comes from every order in one plain group-by; the two meet in one join on customer_id (the
    # money aggregate has every id with an order).
    sale = (o.status == "completed") & (o.amount > 0)
    s = o.filter(sale).select("customer_id", "day")
    s = s.mutate(gap=s.day.delta(s.day.lag().over(group_by=s.customer_id, order_by=s.day), unit="day"))
    first_of_day = s.gap.isnull() | (s.gap > 0)
    in90, in365 = s.day > d.day(90), s.day > d.day(365)
    first, last = s.day.min(), s.day.max()
    # Last gap without a second window: the last day's sales carry its gap (first sale) and 0s, so the
    # largest day_number * 2^20 + gap is the last day's, and subtracting its day part leaves the gap.
    day_no = s.day.delta(ibis.literal(dt.date(1900, 1, 1), type="date"), unit="day").cast("int64")
    keyed = ibis.ifelse(s.gap.notnull(), day_no * _GAP_BASE + s.gap, ibis.null("int64"))
    last_gap = keyed.max() - day_no.max(where=s.gap.notnull()) * _GAP_BASE
    gaps = s.group_by("customer_id").aggregate(
        _o_purchase_days=s.count(where=first_of_day),
        _o_purchase_days_90d=s.count(where=first_of_day & in90),
        _o_purchase_days_365d=s.count(where=first_of_day & in365),
        _o_order_count=s.count(),
        _o_first_purchase=first,
        _o_last_purchase=last,
        _o_gap_std=_gap_std(s.count(where=s.gap > 0), last.delta(first, unit="day").cast("int64"),
                            (s.gap * s.gap).sum()),
        _o_last_gap=last_gap.nullif(0),
    )
    money = o.group_by("customer_id").aggregate(**_money(o, d))
    return money.left_join(gaps, money.customer_id == gaps.customer_id).select(
        money.customer_id, *[gaps[c] for c in gaps.columns if c != "customer_id"],
        *[money[c] for c in money.columns if c != "customer_id"])


def _orders_lists(o: ir.Table, d: _Dates) -> ir.Table:
    # DuckDB: one group-by over the orders gives the money and each customer's sale days as a sorted list
    # (no window, no join). One list filter keeps the first of each run of equal days (the purchase days,
    # sorted and distinct); the rest reads that short list: counts, ends, the last gap, squared gaps.
    sale = (o.status == "completed") & (o.amount > 0)
    agg = o.group_by("customer_id").aggregate(_days=o.day.collect(where=sale).sort(), **_money(o, d))
    agg = agg.select(*agg.columns, _distinct=agg._days.filter(lambda x, i: (i == 0) | (x != agg._days[i - 1])))
    days = agg._distinct

    def n_days(since: ir.DateValue) -> ir.IntegerValue:
        return days.filter(lambda x: x > since).length()

    first, last = days[0], days[-1]
    # (lambda parameters named apart from the filter's above: Ibis rewrites index arguments by name)
    sq = days.map(lambda day, k: ibis.ifelse(k > 0, day.delta(days[k - 1], unit="day"), 0) ** 2).sums()
    return agg.select(
        "customer_id",
        _o_purchase_days=days.length(),
        _o_purchase_days_90d=n_days(d.day(90)),
        _o_purchase_days_365d=n_days(d.day(365)),
        _o_order_count=agg._days.length(),
        _o_first_purchase=first,
        _o_last_purchase=last,
        _o_gap_std=_gap_std(days.length() - 1, last.delta(first, unit="day").cast("int64"), sq.cast("int64")),
        _o_last_gap=last.delta(days[-2], unit="day"),
        **{c: agg[c] for c in agg.columns if c.startswith("_o_")},
    )


def _use_lists(t: ir.Table) -> bool:
    try:
        return bool(t._find_backend(use_default=True).name == "duckdb")
    except IbisError:  # unbound tables (schema only)
        return False


def _orders(o: ir.Table, d: _Dates, portable: bool = False) -> tuple[ir.Table, Fill]:
    # Two implementations with the same result (tests compare them): sorted lists of sale days on DuckDB,
    # a narrow window elsewhere (or with FeatureConfig(portable=True)).
    o = o.filter(o.order_date < d.end_ts)
    o = o.select("customer_id", "amount", "cost", "status", day=o.order_date.date())
    agg = _orders_window(o, d) if portable or not _use_lists(o) else _orders_lists(o, d)
    fill = {"_o_purchase_days": 0, "_o_purchase_days_90d": 0, "_o_purchase_days_365d": 0, "_o_order_count": 0,
            "_o_monetary": Decimal(0), "_o_monetary_90d": Decimal(0), "_o_monetary_365d": Decimal(0),
            "_o_monetary_prev_90d": Decimal(0), "_o_cost_known": 0}
    return agg, fill


def _is_sale(o: ir.Table) -> ir.BooleanValue:
    return (o.status == "completed") & (o.amount > 0)


def first_sales(tables: Mapping[str, ir.Table | Any]) -> ir.Table:
    """Each (customer_id, product_id) pair's first sale (``first_sale_at``), from ``order_lines`` and
    ``orders``: independent of ``as_of``. Given to :func:`compute_features` (``first_sales=``), it counts the
    products bought by ``as_of`` without reading the order lines again, which pays when one such table serves
    many dates (a backfill).

    >>> orders = ibis.memtable({"order_id": ["1", "2"], "customer_id": ["a", "a"], "amount": [5.0, 7.0],
    ...     "order_date": [dt.datetime(2024, 1, 5), dt.datetime(2024, 2, 1)], "status": ["completed"] * 2})
    >>> lines = ibis.memtable({"order_id": ["1", "2", "2"], "line_no": [1, 1, 2], "product_id": ["p", "p", "q"],
    ...     "quantity": [1, 1, 2], "unit_price": [5.0, 3.0, 2.0]})
    >>> to_frame(first_sales({"orders": orders, "order_lines": lines}).order_by("product_id")).values.tolist()
    [['a', 'p', Timestamp('2024-01-05 00:00:00')], ['a', 'q', Timestamp('2024-02-01 00:00:00')]]
    """
    o, lines = conform("orders", to_ibis(tables["orders"])), conform("order_lines", to_ibis(tables["order_lines"]))
    sales = o.filter(_is_sale(o)).select("order_id", "customer_id", "order_date")
    joined = lines.filter(lines.product_id.notnull()).join(sales, "order_id")
    return joined.group_by(["customer_id", "product_id"]).aggregate(first_sale_at=joined.order_date.min())


def _order_lines(lines: ir.Table, o: ir.Table, d: _Dates, firsts: ir.Table | None = None) -> tuple[ir.Table, Fill]:
    if firsts is not None:  # (see first_sales)
        bought = firsts.filter(firsts.first_sale_at < d.end_ts)
        return bought.group_by("customer_id").aggregate(_l_products=bought.count()), {"_l_products": 0}
    sales = o.filter((o.order_date < d.end_ts) & _is_sale(o))
    joined = lines.join(sales.select("order_id", "customer_id"), "order_id")
    agg = joined.group_by("customer_id").aggregate(_l_products=joined.product_id.nunique())
    return agg, {"_l_products": 0}


def _interactions(i: ir.Table, d: _Dates) -> tuple[ir.Table, Fill]:
    i = i.filter(i.occurred_at < d.end_ts)
    in90 = i.occurred_at >= d.ts(90)
    visit = (i.type == "visit") & in90
    agg = i.group_by("customer_id").aggregate(
        _i_visits_90d=_count(visit),
        _i_dwell_90d=i.duration_seconds.sum(where=visit),
        _i_pages_90d=i.pages.sum(where=in90),
        _i_emails_opened_90d=_count((i.type == "email_open") & in90),
        _i_calls_meetings_90d=_count(i.type.isin(["call", "meeting"]) & in90),
        _i_last=i.occurred_at.max(),
    )
    return agg, {"_i_visits_90d": 0, "_i_dwell_90d": 0.0, "_i_pages_90d": 0, "_i_emails_opened_90d": 0,
                 "_i_calls_meetings_90d": 0}


def _invoices(v: ir.Table, d: _Dates) -> tuple[ir.Table, Fill]:
    v = v.filter(v.issued_on <= d.lit)
    paid = v.paid_on.notnull() & (v.paid_on <= d.lit)
    paid_amount = ibis.ifelse(paid, v.paid_amount.coalesce(v.amount), ibis.literal(Decimal(0), "decimal(18, 2)"))
    outstanding = ibis.greatest(v.amount - paid_amount, 0)
    past_due = v.due_on < d.lit
    late = ibis.cases(
        (paid, ibis.greatest(v.paid_on.delta(v.due_on, unit="day"), 0)),
        (past_due, d.lit.delta(v.due_on, unit="day")),
        else_=ibis.null("int64"),
    )
    v = v.mutate(late=late, outstanding=outstanding)
    agg = v.group_by("customer_id").aggregate(
        _v_invoices=v.count(),
        _v_avg_late=v.late.cast("float64").mean(),
        _v_max_late=v.late.max(),
        _v_on_time=_count(v.late == 0),
        _v_due=_count(v.late.notnull()),
        _v_overdue=v.outstanding.sum(where=past_due),
        _v_outstanding=v.outstanding.sum(),
        _v_invoiced_365d=v.amount.sum(where=v.issued_on > d.day(365)),
        _v_disputed=_count(v.disputed.fill_null(False)),
    )
    return agg, {"_v_invoices": 0, "_v_on_time": 0, "_v_due": 0, "_v_overdue": Decimal(0),
                 "_v_outstanding": Decimal(0), "_v_invoiced_365d": Decimal(0), "_v_disputed": 0}


def _surveys(s: ir.Table, d: _Dates, cfg: FeatureConfig) -> tuple[ir.Table, Fill]:
    s = s.filter(s.answered_on <= d.lit)
    lo = s.scale_min.coalesce(cfg.default_scale_min)
    hi = s.scale_max.coalesce(cfg.default_scale_max)
    norm = ibis.ifelse(hi > lo, (s.score - lo) / (hi - lo) * 100.0, ibis.null("float64"))
    csat = s.group_by("customer_id").aggregate(
        **{f"_s_csat_{dim}": norm.mean(where=s.dimension == dim)
           for dim in ("product", "service", "response", "after_sales")})
    # One would-recommend answer per survey (it repeats on each dimension row).
    per_survey = s.group_by(["customer_id", "survey_id"]).aggregate(wr=s.would_recommend.max())
    wr = per_survey.wr
    nps = per_survey.group_by("customer_id").aggregate(
        _s_wr_avg=wr.cast("float64").mean(), _s_promoters=_count(wr >= 9), _s_detractors=_count(wr <= 6),
        _s_answers=_count(wr.notnull()))
    agg = csat.join(nps, "customer_id")
    return agg, {"_s_promoters": 0, "_s_detractors": 0, "_s_answers": 0}


def _tickets(t: ir.Table, d: _Dates) -> tuple[ir.Table, Fill]:
    t = t.filter(t.opened_at < d.end_ts)
    closed = t.closed_at.notnull() & (t.closed_at < d.end_ts)
    secs = (t.closed_at.epoch_seconds() - t.opened_at.epoch_seconds()).cast("float64")
    agg = t.group_by("customer_id").aggregate(
        _t_tickets=t.count(),
        _t_complaints=_count(t.is_complaint.fill_null(False)),
        _t_resolve_seconds=secs.mean(where=closed),
    )
    return agg, {"_t_tickets": 0, "_t_complaints": 0}


def _opportunities(p: ir.Table, d: _Dates) -> tuple[ir.Table, Fill]:
    p = p.filter(p.created_on <= d.lit)
    agg = p.group_by("customer_id").aggregate(
        _p_urgency=p.urgency.cast("float64").mean(), _p_fit=p.fit.cast("float64").mean(), _p_count=p.count())
    return agg, {"_p_count": 0}


def _profile(c: ir.Table, owners: ir.Table | None, d: _Dates | None = None) -> ir.Table:
    """Profile columns of every customer row; with ``d`` also ``_known``: created on or before ``as_of``
    (or undated)."""
    dept = c.department
    if owners is not None:
        own = owners.select(_owner_id="owner_id", _owner_dept="department")
        c = c.left_join(own, c.owner_id == own._owner_id).select(*c.columns, "_owner_dept")
        dept = c.department.coalesce(c._owner_dept)
    known = {} if d is None else {"_known": c.created_on.isnull() | (c.created_on <= d.lit)}
    return c.select(customer_id=c.customer_id, _c_type=c.type, _c_size=c.size, _c_employees=c.employees,
                    _c_industry=c.industry, _c_region=c.region, _c_owner_id=c.owner_id, _c_department=dept,
                    **known)


def _left_join(left: ir.Table, right: ir.Table) -> ir.Table:
    """``left`` with ``right``'s columns added on customer_id (one customer_id column kept)."""
    joined = left.left_join(right, left.customer_id == right.customer_id)
    return joined.select(*[left[c] for c in left.columns],
                         *[right[c] for c in right.columns if c != "customer_id"])


def _null_like(table: ir.Table) -> dict[str, Any]:
    """Types of an aggregate's columns (built on unbound canonical tables) for NULL placeholders."""
    return {name: typ for name, typ in table.schema().items() if name != "customer_id"}


def _unbound(name: str) -> ir.Table:
    return ibis.table(ibis.schema(ibis_schema(TABLES[name])), name=f"_unbound_{name}")


_PREFIXES = {"order_lines": "_l_", "interactions": "_i_", "invoices": "_v_", "surveys": "_s_", "tickets": "_t_",
             "opportunities": "_p_"}


def _selection(tables: Mapping[str, Any], as_of: dt.date | dt.datetime | str, cfg: FeatureConfig,
               registry: MetricRegistry, only: Collection[str] | None,
               firsts: ir.Table | None) -> tuple[set[str] | None,
                                                                            Callable[[str], bool]]:
    """The kept metric names (None: all) and whether an optional table can be left out: none of the kept
    metrics reads its private columns (found in the metrics' expressions over the full table)."""
    if only is None:
        return None, lambda name: False
    names = {m.name for m in registry if m.stage == "features" and m.builder is not None}
    wanted = set(only)
    bad = sorted(wanted - names)
    if bad:
        from crmscore.errors import UnknownName

        raise UnknownName("feature metric", bad[0], sorted(names))
    full = compute_features(tables, as_of, cfg, metrics=registry, first_sales=firsts).op()
    assert isinstance(full, ops.Project)
    used = {field.name[:3] for name in wanted
            for field in full.values[name].find(ops.Field, filter=ops.Value)}
    return wanted, lambda name: _PREFIXES.get(name) not in used


def compute_features(tables: Mapping[str, ir.Table | Any], as_of: dt.date | dt.datetime | str,
                     config: FeatureConfig | None = None, *, metrics: MetricRegistry | None = None,
                     keep_private: bool = False, only: Collection[str] | None = None,
                     first_sales: ir.Table | None = None) -> ir.Table:
    """One row per customer with every ``features`` metric of the catalog, ``customer_id`` first.

    ``tables`` maps canonical table names to Ibis tables (or pandas / Polars / Arrow frames, wrapped with
    ``ibis.memtable``). ``orders`` or ``customers`` must be present; every other table is optional.

    ``only`` (metric names) keeps just those metrics (in catalog order) and reads just what they need: a
    table none of them depends on is not aggregated or joined (the values of the kept metrics are the same).
    ``first_sales``: :func:`first_sales` of these tables, computed once for many dates (same values).

    >>> orders = ibis.memtable({"order_id": ["1", "2"], "customer_id": ["a", "a"],
    ...     "order_date": [dt.datetime(2024, 1, 5), dt.datetime(2024, 1, 25)], "amount": [10.0, 5.0],
    ...     "status": ["completed"] * 2})
    >>> f = compute_features({"orders": orders}, "2024-01-31", only=["last_gap_days", "monetary"])
    >>> f.columns, to_frame(f).values.tolist()
    (('customer_id', 'monetary', 'last_gap_days'), [['a', Decimal('15.00'), 20]])

    >>> import ibis
    >>> cust = ibis.memtable({"customer_id": ["a", "b"], "type": ["B2B", "B2C"]})
    >>> f = compute_features({"customers": cust}, as_of="2024-01-31")
    >>> to_frame(f.select("customer_id", "type", "purchase_days", "visits_90d").order_by("customer_id"))
      customer_id type  purchase_days  visits_90d
    0           a  B2B           <NA>        <NA>
    1           b  B2C           <NA>        <NA>
    """
    cfg = config or FeatureConfig()
    registry = metrics or METRICS
    day = normalize_as_of(as_of)
    d = _Dates(day)
    given = {name: to_ibis(t) for name, t in tables.items() if t is not None}
    unknown = sorted(set(given) - set(TABLES))
    if unknown:
        from crmscore.errors import UnknownName

        raise UnknownName("table", unknown[0], TABLES)
    tb = {name: conform(name, t) for name, t in given.items()}
    if "orders" not in tb and "customers" not in tb:
        raise EngineError("compute_features needs an 'orders' or a 'customers' table",
                          "pass tables={'orders': ..., 'customers': ...}")

    wanted, skip = _selection(tables, as_of, cfg, registry, only, first_sales)
    builders: dict[str, tuple[Callable[..., tuple[ir.Table, Fill]], tuple[str, ...]]] = {
        "orders": (lambda o: _orders(o, d, cfg.portable), ("orders",)),
        "order_lines": (lambda ln, o: _order_lines(ln, o, d, first_sales), ("order_lines", "orders")),
        "interactions": (lambda i: _interactions(i, d), ("interactions",)),
        "invoices": (lambda v: _invoices(v, d), ("invoices",)),
        "surveys": (lambda s: _surveys(s, d, cfg), ("surveys",)),
        "tickets": (lambda t: _tickets(t, d), ("tickets",)),
        "opportunities": (lambda p: _opportunities(p, d), ("opportunities",)),
    }
    fills: Fill = {}
    nulls: dict[str, Any] = {}
    present = set()

    # The customer list: customers known at as_of, plus any customer id with orders up to as_of. The profile
    # (every customer row, flagged known or not) is full-joined to the orders aggregate, which has one row per
    # id with orders, in one join (no union of every order row's id, no separate distinct id list).
    profile = None
    if "customers" in tb:
        c = tb["customers"]
        profile = _profile(c.filter(c.customer_id.notnull()), tb.get("owners"), d)
        present.add("customers")
    else:
        nulls |= {n: t for n, t in _profile(_unbound("customers"), None).schema().items() if n != "customer_id"}
    if "orders" in tb:
        agg, fill = builders["orders"][0](tb["orders"])
        fills |= fill
        present.add("orders")
        agg = agg.filter(agg.customer_id.notnull())
        if profile is None:
            result = agg
        else:
            joined = profile.outer_join(agg, profile.customer_id == agg.customer_id)
            keep = profile._known.fill_null(False) | agg.customer_id.notnull()
            # .view(): a relation of its own, so that later joins refer to its customer_id (not the join's).
            result = joined.select(profile.customer_id.coalesce(agg.customer_id).name("customer_id"),
                                   *[agg[c] for c in agg.columns if c != "customer_id"],
                                   *[profile[c] for c in profile.columns if c != "customer_id"],
                                   _keep=keep)
            result = result.filter(result._keep).drop("_keep", "_known").view()
    else:
        assert profile is not None
        result = profile.filter(profile._known).drop("_known")
        nulls |= _null_like(builders["orders"][0](_unbound("orders"))[0])

    for name, (build, needs) in builders.items():
        if name == "orders":
            continue
        if all(n in tb for n in needs) and skip(name):
            present.add(name)
            nulls |= _null_like(build(*(_unbound(x) for x in needs))[0])
        elif all(n in tb for n in needs):
            agg, fill = build(*(tb[n] for n in needs))
            result = _left_join(result, agg)
            fills |= fill
            present.add(name)
        else:
            nulls |= _null_like(build(*(_unbound(x) for x in needs))[0])
    result = result.mutate(**{n: ibis.null(t) for n, t in nulls.items()},
                           **{n: result[n].coalesce(v) for n, v in fills.items()})
    # Private columns become visible to builders; then metrics in catalog order.
    ctx = MetricContext(t=result, as_of=d.lit, config=cfg, present=frozenset(present), registry=registry)
    out = [result.customer_id]
    for metric in registry:
        if metric.stage != "features" or metric.builder is None or (wanted is not None and metric.name not in wanted):
            continue
        out.append(ctx.m(metric.name).cast(metric.dtype).name(metric.name))
    if keep_private:
        out.extend(result[c] for c in result.columns if c.startswith("_"))
    return result.select(out)
