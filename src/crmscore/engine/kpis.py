"""Period KPIs for effect evaluation (seed 003): per month, quarter or year, optionally per group.

For each period P (and group, e.g. ``owner_id``, ``department``, ``region`` or an RFM segment):

- ``active_customers``: customers with a sale in P;
- ``new_customers``: active customers whose first sale ever is in P;
- ``retained_customers``: active in P and in the period before; ``reactivated_customers``: the other active
  customers (bought before, but not in the previous period); so active = new + retained + reactivated;
- ``churned_customers``: active in the previous period but not in P; with ``previous = retained + churned``,
  ``churn_rate = churned / previous`` and ``retention_rate = retained / previous`` (they add up to 1);
- ``revenue``: net sales in P (sales minus reversals, as the ``monetary`` metric); ``revenue_growth``:
  revenue / revenue of the previous period - 1 (NULL when that is missing or not positive);
- ``repeat_purchase_rate``: share of active customers with two or more purchase days in P;
- ``avg_csat``: mean survey score of P rescaled to 0-100; ``nps``: 100 x (promoters - detractors) / surveys
  of P (one would-recommend answer per survey);
- ``avg_profit_per_customer``: (gross margin of P's orders with a cost - tickets opened in P x unit cost) /
  active customers.

A customer's group is its current value (from ``customers``/``owners``, or from a ``groups`` table such as a
snapshot with ``rfm_segment``); customers without one are in group ``(none)``. Periods are labelled by their
first day. History before ``start`` is read (to know who is new and who churned) but not reported.

>>> import datetime as dt, ibis
>>> orders = ibis.memtable({"order_id": list("123456"), "customer_id": list("aabbac"),
...     "order_date": [dt.datetime(2024, m, d) for m, d in ((1, 3), (1, 20), (1, 5), (2, 2), (3, 9), (3, 9))],
...     "amount": [10.0, 5.0, 20.0, 7.5, 3.0, 8.0], "status": ["completed"] * 6})
>>> k = period_kpis({"orders": orders}, "2024-01-01", "2024-03-31").order_by("period")
>>> cols = ["period", "active_customers", "new_customers", "retained_customers", "reactivated_customers",
...         "churned_customers", "revenue"]
>>> print(to_frame(k.select(cols)).to_string(index=False))
    period  active_customers  new_customers  retained_customers  reactivated_customers  churned_customers revenue
2024-01-01                 2              2                   0                      0                  0   35.00
2024-02-01                 1              0                   1                      0                  1    7.50
2024-03-01                 2              1                   0                      1                  1   11.00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from crmscore.engine.features import FeatureConfig, _profile, conform, normalize_as_of
from crmscore.engine.frames import to_frame, to_ibis  # noqa: F401  (to_frame: doctests)
from crmscore.errors import EngineError, MissingColumnsError

__all__ = ["FREQUENCIES", "KPI_COLUMNS", "period_kpis"]

Freq = Literal["month", "quarter", "year"]
FREQUENCIES: dict[str, tuple[str, dict[str, int]]] = {
    "month": ("M", {"months": 1}), "quarter": ("Q", {"months": 3}), "year": ("Y", {"years": 1})}
KPI_COLUMNS: tuple[str, ...] = (
    "active_customers", "new_customers", "retained_customers", "reactivated_customers", "churned_customers",
    "churn_rate", "retention_rate", "revenue", "revenue_growth", "repeat_purchase_rate", "avg_csat", "nps",
    "avg_profit_per_customer")
_NONE = "(none)"
_MONEY = "decimal(18, 2)"


def _index(day: ir.DateValue, freq: str) -> ir.IntegerValue:
    year = day.year().cast("int64")
    if freq == "month":
        return year * 12 + day.month().cast("int64") - 1  # type: ignore[no-any-return]
    if freq == "quarter":
        return year * 4 + day.quarter().cast("int64") - 1  # type: ignore[no-any-return]
    return year  # type: ignore[no-any-return]


def period_kpis(tables: Mapping[str, Any], start: dt.date | str, end: dt.date | str, freq: Freq = "month",
                by: str | None = None, groups: Any = None, config: FeatureConfig | None = None) -> ir.Table:
    """KPIs per period between ``start`` and ``end`` (inclusive), per ``by`` group when given.

    ``by`` names a customer attribute (``owner_id``, ``department``, ``region``, ``type``, ``industry``,
    ``size``) or, with ``groups`` (a table with ``customer_id`` and ``by``), any per-customer column such as
    ``rfm_segment``. Columns: ``period``, the group column, then :data:`KPI_COLUMNS`.
    """
    if freq not in FREQUENCIES:
        raise EngineError(f"unknown KPI frequency {freq!r}", "use month, quarter or year")
    cfg = config or FeatureConfig()
    first, last = normalize_as_of(start), normalize_as_of(end)
    unit, step = FREQUENCIES[freq]
    tb = {name: conform(name, to_ibis(t)) for name, t in tables.items() if t is not None}
    if "orders" not in tb:
        raise EngineError("period_kpis needs an 'orders' table", "pass tables={'orders': ...}")
    nxt = last + dt.timedelta(days=1)
    end_ts = ibis.literal(dt.datetime(nxt.year, nxt.month, nxt.day), "timestamp")

    # The group of each customer.
    group_map: ir.Table | None = None
    if by is not None:
        if groups is not None:
            g = to_ibis(groups)
            if "customer_id" not in g.columns or by not in g.columns:
                raise MissingColumnsError("KPI groups", [c for c in ("customer_id", by) if c not in g.columns],
                                          list(g.columns))
            group_map = g.select("customer_id", _g=g[by].cast("string"))
        else:
            if "customers" not in tb:
                raise EngineError(f"grouping by {by!r} needs the 'customers' table or a groups table",
                                  "pass tables['customers'] or groups=<table with customer_id and the column>")
            prof = _profile(tb["customers"], tb.get("owners"))
            col = f"_c_{by}"
            if col not in prof.columns:
                raise MissingColumnsError("KPI grouping", [by], [c[3:] for c in prof.columns if c != "customer_id"])
            group_map = prof.select("customer_id", _g=prof[col].cast("string"))

    def with_group(t: ir.Table) -> ir.Table:
        if group_map is None:
            return t.mutate(_g=ibis.literal(_NONE))
        j = t.left_join(group_map, t.customer_id == group_map.customer_id)
        j = j.select(*[t[c] for c in t.columns], _g=group_map._g)
        return j.mutate(_g=j._g.coalesce(_NONE))

    o = tb["orders"]
    o = o.filter(o.order_date < end_ts)
    sale = (o.status == "completed") & (o.amount > 0)
    counted = sale | (o.amount < 0)
    o = with_group(o.mutate(day=o.order_date.date()))
    o = o.mutate(idx=_index(o.day, freq), period=o.day.truncate(unit))

    # Customer activity per period.
    act = o.filter(sale).group_by(["customer_id", "_g", "idx", "period"]).aggregate(sale_days=o.day.nunique())
    w = ibis.window(group_by=act.customer_id, order_by=act.idx)
    act = act.mutate(prev_idx=act.idx.lag().over(w), next_idx=act.idx.lead().over(w),
                     first_idx=act.idx.min().over(ibis.window(group_by=act.customer_id)))
    is_new = act.idx == act.first_idx
    retained = act.prev_idx.notnull() & (act.prev_idx == act.idx - 1)
    one = ibis.literal(1)
    per = act.group_by(["_g", "idx", "period"]).aggregate(
        active_customers=act.count(),
        new_customers=ibis.ifelse(is_new, one, 0).sum(),
        retained_customers=ibis.ifelse(retained, one, 0).sum(),
        reactivated_customers=ibis.ifelse(~is_new & ~retained, one, 0).sum(),
        repeaters=ibis.ifelse(act.sale_days >= 2, one, 0).sum(),
    )
    gone = act.filter(act.next_idx.isnull() | (act.next_idx != act.idx + 1))
    churn = gone.group_by(_g=gone._g, idx=gone.idx + 1,
                          period=(gone.period + ibis.interval(**step))).aggregate(churned_customers=gone.count())
    money = o.group_by(["_g", "idx", "period"]).aggregate(
        revenue=o.amount.sum(where=counted),
        margin=(o.amount - o.cost).sum(where=counted))
    parts: list[ir.Table] = [per, churn, money]
    if "surveys" in tb:
        s = tb["surveys"]
        s = with_group(s.filter(s.answered_on <= ibis.literal(last, "date")))
        s = s.mutate(idx=_index(s.answered_on, freq), period=s.answered_on.truncate(unit))
        lo = s.scale_min.coalesce(cfg.default_scale_min)
        hi = s.scale_max.coalesce(cfg.default_scale_max)
        norm = ibis.ifelse(hi > lo, (s.score - lo) / (hi - lo) * 100.0, ibis.null("float64"))
        csat = s.group_by(["_g", "idx", "period"]).aggregate(avg_csat=norm.mean())
        one_per = s.group_by(["_g", "idx", "period", "survey_id"]).aggregate(wr=s.would_recommend.max())
        nps = one_per.group_by(["_g", "idx", "period"]).aggregate(
            promoters=ibis.ifelse(one_per.wr >= 9, one, 0).sum(),
            detractors=ibis.ifelse(one_per.wr <= 6, one, 0).sum(),
            answers=ibis.ifelse(one_per.wr.notnull(), one, 0).sum())
        parts += [csat, nps]
    if "tickets" in tb:
        t = tb["tickets"]
        t = with_group(t.filter(t.opened_at < end_ts).mutate(day=t.opened_at.date()))
        t = t.mutate(idx=_index(t.day, freq), period=t.day.truncate(unit))
        parts.append(t.group_by(["_g", "idx", "period"]).aggregate(tickets=t.count()))

    keys = ibis.union(*[p.select("_g", "idx", "period") for p in parts], distinct=True)
    first_idx = _index(ibis.literal(first, "date"), freq)
    last_idx = _index(ibis.literal(last, "date"), freq)
    keys = keys.filter((keys.idx >= first_idx) & (keys.idx <= last_idx))
    result = keys
    for part in parts:
        j = result.left_join(part, [result._g == part._g, result.idx == part.idx])
        result = j.select(*[result[c] for c in result.columns],
                          *[part[c] for c in part.columns if c not in ("_g", "idx", "period")])
    r = result
    zero = {c: r[c].coalesce(0) for c in ("active_customers", "new_customers", "retained_customers",
                                           "reactivated_customers", "repeaters", "churned_customers")}
    r = r.mutate(**zero, revenue=r.revenue.coalesce(Decimal(0)))
    previous = (r.retained_customers + r.churned_customers).cast("float64")
    gw = ibis.window(group_by=r._g, order_by=r.idx)
    prev_rev = r.revenue.lag().over(gw)
    prev_idx = r.idx.lag().over(gw)

    def ratio(num: ir.Value, den: ir.Value) -> ir.Value:
        d = den.cast("float64")  # type: ignore[attr-defined]
        return ibis.ifelse(d > 0, num.cast("float64") / d, ibis.null("float64"))  # type: ignore[attr-defined]

    cols: dict[str, ir.Value] = {
        "period": r.period,
        **({by: ibis.ifelse(r._g == _NONE, ibis.null("string"), r._g)} if by else {}),
        "active_customers": r.active_customers, "new_customers": r.new_customers,
        "retained_customers": r.retained_customers, "reactivated_customers": r.reactivated_customers,
        "churned_customers": r.churned_customers,
        "churn_rate": ratio(r.churned_customers, previous),
        "retention_rate": ratio(r.retained_customers, previous),
        "revenue": r.revenue.cast(_MONEY),
        "revenue_growth": ibis.ifelse(prev_idx == r.idx - 1, ratio(r.revenue, prev_rev) - 1,
                                      ibis.null("float64")),
        "repeat_purchase_rate": ratio(r.repeaters, r.active_customers),
        "avg_csat": r.avg_csat if "avg_csat" in r.columns else ibis.null("float64"),
        "nps": (ratio((r.promoters - r.detractors) * 100, r.answers) if "answers" in r.columns
                else ibis.null("float64")),
    }
    unit_cost = ibis.literal(Decimal(str(cfg.service_cost_per_ticket)), _MONEY)
    service = r.tickets.coalesce(0) * unit_cost if "tickets" in r.columns else ibis.literal(Decimal(0), _MONEY)
    cols["avg_profit_per_customer"] = ratio(r.margin.coalesce(Decimal(0)) - service, r.active_customers)
    out = r.select(**cols)
    return out.mutate(period=out.period.cast("date"))
