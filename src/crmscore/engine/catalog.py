"""The metric catalog: every per-customer metric and class as data, in one registry.

Each :class:`Metric` names a stable snake_case output column and carries its English and Chinese labels, a
description, unit, window, source table, direction (``higher_is_better`` / ``lower_is_better`` / None), family,
the stage that produces it and, for engine metrics, an Ibis expression builder. Built-ins and users share the
registry :data:`METRICS`; the dashboard, the scorecard validator and ``docs/metrics.md`` list metrics from it.

Stages:

- ``features``: computed by :func:`crmscore.engine.compute_features` from the canonical tables. The builder
  receives a :class:`MetricContext` whose table ``t`` holds the per-table aggregates (one group-by per source
  table, windows as conditional aggregates) and returns one Ibis value expression per customer.
- ``classes``: produced by :func:`crmscore.engine.classify` (RFM scores and segment, ABC, purchase class, value
  tier, lifecycle stage). They have no builder here.
- ``external``: computed elsewhere and joined in later (CLV, probability alive, churn risk ...). Registering one
  makes the name valid for scorecards: ``register(Metric("clv", ..., stage="external"))``.

>>> get("recency_days").direction
'lower_is_better'
>>> get("recency_days").label_zh
'最近购买天数'
>>> get("recencey_days")
Traceback (most recent call last):
...
crmscore.errors.UnknownName: unknown metric 'recencey_days' (hint: did you mean 'recency_days'?)
>>> _ = register(Metric("clv_demo", "CLV (demo)", "客户终身价值(示例)", "An externally computed value.",
...                     unit="money", family="value", stage="external"))
>>> "clv_demo" in METRICS
True
>>> METRICS.unregister("clv_demo")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import ibis
import ibis.expr.types as ir

from crmscore.errors import ConfigError, ConfigIssue, UnknownName

__all__ = [
    "DIRECTIONS",
    "FAMILIES",
    "METRICS",
    "STAGES",
    "UNITS",
    "Metric",
    "MetricContext",
    "MetricRegistry",
    "get",
    "register",
    "render_markdown",
]

Direction = Literal["higher_is_better", "lower_is_better"]
DIRECTIONS: tuple[str, ...] = ("higher_is_better", "lower_is_better")
UNITS: tuple[str, ...] = ("days", "count", "money", "ratio", "score", "seconds", "hours", "date", "category",
                          "text", "percent")
FAMILIES: tuple[str, ...] = ("purchase", "profitability", "engagement", "financial", "satisfaction", "needs",
                             "profile", "class", "value")
STAGES: tuple[str, ...] = ("features", "classes", "external")

MONEY = "decimal(18, 2)"


@dataclass
class MetricContext:
    """What a metric builder sees: the joined per-customer aggregate table and the explicit ``as_of``.

    ``t`` has one row per customer and the private aggregate columns (``_o_*`` orders, ``_i_*`` interactions,
    ``_v_*`` invoices, ``_s_*`` surveys, ``_t_*`` tickets, ``_p_*`` opportunities, ``_c_*`` customers).
    ``m(name)`` returns another metric's expression, so metrics compose without extra passes over the data.
    """

    t: ir.Table
    as_of: ir.DateValue
    config: Any
    present: frozenset[str]
    registry: MetricRegistry
    _cache: dict[str, ir.Value] = field(default_factory=dict)

    def m(self, name: str) -> ir.Value:
        """The expression of metric ``name`` (built once)."""
        if name not in self._cache:
            metric = self.registry.get(name)
            if metric.builder is None:
                raise UnknownName("engine metric", name, [m.name for m in self.registry if m.builder])
            self._cache[name] = metric.builder(self)
        return self._cache[name]

    def days_since(self, value: ir.Value) -> ir.IntegerValue:
        """Whole days from a date (or timestamp) to ``as_of``."""
        if value.type().is_timestamp():
            value = value.date()  # type: ignore[attr-defined]
        return self.as_of.delta(value, unit="day")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Metric:
    """One per-customer metric or class column, declared as data."""

    name: str
    label_en: str
    label_zh: str
    description: str
    unit: str
    family: str
    source: str | None = None
    window: str | None = None
    direction: Direction | None = None
    stage: str = "features"
    dtype: str = "float64"
    builder: Callable[[MetricContext], ir.Value] | None = field(default=None, compare=False, repr=False)

    def issues(self) -> list[ConfigIssue]:
        """Problems with this declaration (empty when valid)."""
        out = []
        if not self.name.isidentifier() or self.name != self.name.lower():
            out.append(ConfigIssue("name", f"{self.name!r} is not a snake_case identifier"))
        if self.unit not in UNITS:
            out.append(ConfigIssue("unit", f"unknown unit {self.unit!r}", f"use one of {', '.join(UNITS)}"))
        if self.family not in FAMILIES:
            out.append(ConfigIssue("family", f"unknown family {self.family!r}",
                                   f"use one of {', '.join(FAMILIES)}"))
        if self.direction is not None and self.direction not in DIRECTIONS:
            out.append(ConfigIssue("direction", f"unknown direction {self.direction!r}",
                                   "use higher_is_better, lower_is_better or None"))
        if self.stage not in STAGES:
            out.append(ConfigIssue("stage", f"unknown stage {self.stage!r}", f"use one of {', '.join(STAGES)}"))
        if self.stage == "features" and self.builder is None:
            out.append(ConfigIssue("builder", "a 'features' metric needs an Ibis expression builder",
                                   "pass builder=..., or stage='external' for a column joined in later"))
        return out


class MetricRegistry:
    """An ordered, name-keyed registry of :class:`Metric` shared by built-ins and users."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def register(self, metric: Metric, *, replace: bool = False) -> Metric:
        issues = metric.issues()
        if metric.name in self._metrics and not replace:
            issues.append(ConfigIssue("name", f"metric {metric.name!r} is already registered",
                                      "pass replace=True to redefine it"))
        if issues:
            raise ConfigError(f"metric {metric.name!r}", issues)
        self._metrics[metric.name] = metric
        return metric

    def unregister(self, name: str) -> None:
        self.get(name)
        del self._metrics[name]

    def get(self, name: str) -> Metric:
        try:
            return self._metrics[name]
        except KeyError:
            raise UnknownName("metric", name, self._metrics) from None

    def names(self, stage: str | None = None, family: str | None = None) -> list[str]:
        return [m.name for m in self if (stage is None or m.stage == stage)
                and (family is None or m.family == family)]

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self) -> Iterator[Metric]:
        return iter(list(self._metrics.values()))

    def __len__(self) -> int:
        return len(self._metrics)


METRICS = MetricRegistry()


def get(name: str) -> Metric:
    """The metric called ``name``; :class:`~crmscore.errors.UnknownName` with a did-you-mean hint otherwise.

    >>> get("monetary").unit
    'money'
    """
    return METRICS.get(name)


def register(metric: Metric, *, replace: bool = False) -> Metric:
    """Add a metric to the shared registry (validated; a name clash needs ``replace=True``).

    >>> m = register(Metric("churn_risk_demo", "Churn risk", "流失风险", "Demo.", unit="ratio",
    ...                     family="value", stage="external", direction="lower_is_better"))
    >>> METRICS.unregister(m.name)
    """
    return METRICS.register(metric, replace=replace)


def render_markdown(registry: MetricRegistry | None = None) -> str:
    """The metric reference (``docs/metrics.md``) generated from the registry.

    >>> "| `recency_days` |" in render_markdown()
    True
    """
    reg = registry or METRICS
    lines = ["# Metric catalog", "",
             "Generated from `crmscore.engine.catalog.METRICS` by "
             "`python -m crmscore.engine.catalog > docs/metrics.md`; a test keeps it in sync. Windows are "
             "relative to the explicit `as_of` date; money is DECIMAL(18, 2); ratios are 0-1.", ""]
    for family in FAMILIES:
        members = [m for m in reg if m.family == family]
        if not members:
            continue
        lines += [f"## {family}", "", "| name | label | 中文 | unit | window | source | direction | description |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in members:
            lines.append(f"| `{m.name}` | {m.label_en} | {m.label_zh} | {m.unit} | {m.window or ''} | "
                         f"{m.source or m.stage} | {m.direction or ''} | {m.description} |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Built-in metrics. Aggregate columns are produced by crmscore.engine.features (one group-by per table).

def _col(name: str) -> Callable[[MetricContext], ir.Value]:
    return lambda c: c.t[name]


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    den_f = den.cast("float64")
    return ibis.ifelse(den_f > 0, num.cast("float64") / den_f, ibis.null("float64"))  # type: ignore[return-value]


def _money(value: ir.Value) -> ir.Value:
    return value.cast(MONEY)


def _csat(dim: str) -> Callable[[MetricContext], ir.Value]:
    return lambda c: c.t[f"_s_csat_{dim}"]


def _b(name: str, en: str, zh: str, desc: str, unit: str, family: str, source: str | None, window: str | None,
       direction: Direction | None, dtype: str, builder: Callable[[MetricContext], ir.Value] | None,
       stage: str = "features") -> None:
    METRICS.register(Metric(name, en, zh, desc, unit, family, source, window, direction, stage, dtype, builder))


HB: Direction = "higher_is_better"
LB: Direction = "lower_is_better"

# -- purchase -----------------------------------------------------------------------------------------------
_b("recency_days", "Recency (days)", "最近购买天数",
   "Days from the last purchase day to as_of; NULL when the customer never purchased.",
   "days", "purchase", "orders", "all", LB, "int64", lambda c: c.days_since(c.t["_o_last_purchase"]))
_b("purchase_days", "Purchase days (frequency)", "购买天数(频次)",
   "Distinct days with at least one sale (a completed order with amount > 0).",
   "count", "purchase", "orders", "all", HB, "int64", _col("_o_purchase_days"))
_b("purchase_days_90d", "Purchase days, 90 days", "近90天购买天数",
   "Distinct sale days in the 90 days up to as_of.", "count", "purchase", "orders", "90d", HB, "int64",
   _col("_o_purchase_days_90d"))
_b("purchase_days_365d", "Purchase days, 365 days", "近365天购买天数",
   "Distinct sale days in the 365 days up to as_of.", "count", "purchase", "orders", "365d", HB, "int64",
   _col("_o_purchase_days_365d"))
_b("order_count", "Orders", "订单数", "Number of sales (completed orders with amount > 0).",
   "count", "purchase", "orders", "all", HB, "int64", _col("_o_order_count"))
_b("monetary", "Net monetary value", "净消费金额",
   "Sales minus reversals (negative amounts: returns, credit notes, cancellations); positive cancelled or "
   "returned orders count for nothing.", "money", "purchase", "orders", "all", HB, MONEY,
   lambda c: _money(c.t["_o_monetary"]))
_b("monetary_90d", "Net monetary value, 90 days", "近90天净消费金额",
   "Net monetary value of the 90 days up to as_of.", "money", "purchase", "orders", "90d", HB, MONEY,
   lambda c: _money(c.t["_o_monetary_90d"]))
_b("monetary_365d", "Net monetary value, 365 days", "近365天净消费金额",
   "Net monetary value of the 365 days up to as_of.", "money", "purchase", "orders", "365d", HB, MONEY,
   lambda c: _money(c.t["_o_monetary_365d"]))
_b("avg_order_value", "Average order value", "平均订单金额", "Net monetary value / orders (float).",
   "money", "purchase", "orders", "all", HB, "float64",
   lambda c: _ratio(c.t["_o_monetary"], c.t["_o_order_count"]))
_b("first_purchase", "First purchase", "首次购买日期", "Date of the first sale.", "date", "purchase",
   "orders", "all", None, "date", _col("_o_first_purchase"))
_b("last_purchase", "Last purchase", "最近购买日期", "Date of the last sale.", "date", "purchase",
   "orders", "all", None, "date", _col("_o_last_purchase"))
_b("tenure_days", "Tenure (days)", "客户年限(天)", "Days from the first sale to as_of.", "days", "purchase",
   "orders", "all", HB, "int64", lambda c: c.days_since(c.t["_o_first_purchase"]))
_b("interpurchase_mean_days", "Mean inter-purchase interval", "平均购买间隔(天)",
   "(last - first purchase day) / (purchase days - 1); NULL below two purchase days.", "days", "purchase",
   "orders", "all", LB, "float64",
   lambda c: _ratio(c.t["_o_last_purchase"].delta(c.t["_o_first_purchase"], unit="day"),  # type: ignore[attr-defined]
                    c.t["_o_purchase_days"] - 1))
_b("interpurchase_std_days", "Spread of inter-purchase intervals", "购买间隔标准差(天)",
   "Sample standard deviation of the gaps between consecutive purchase days; NULL below three purchase days.",
   "days", "purchase", "orders", "all", LB, "float64", _col("_o_gap_std"))
_b("last_gap_days", "Last inter-purchase gap", "最近一次购买间隔(天)",
   "Days between the last two purchase days (used for reactivation).", "days", "purchase", "orders", "all",
   None, "int64", _col("_o_last_gap"))
_b("trend_90d", "Trend (last 90 vs prior 90 days)", "近90天趋势",
   "Net monetary of the last 90 days / net monetary of the 90 days before - 1; NULL when the prior value "
   "is not positive.", "ratio", "purchase", "orders", "90d", HB, "float64",
   lambda c: _ratio(c.t["_o_monetary_90d"], c.t["_o_monetary_prev_90d"]) - 1)
_b("product_breadth", "Product breadth", "购买品类数", "Distinct products on the customer's sales (order lines).",
   "count", "purchase", "order_lines", "all", HB, "int64", _col("_l_products"))
_b("return_rate", "Return rate", "退货率",
   "Returned value / sold value: (|negative amounts| + positive 'returned' orders) / (sales + positive "
   "'returned' orders).", "ratio", "purchase", "orders", "all", LB, "float64",
   lambda c: _ratio(c.t["_o_returned_value"], c.t["_o_sold_value"]))

# -- profitability -------------------------------------------------------------------------------------------
_b("gross_margin", "Gross margin", "毛利", "Sum of amount - cost over sales and reversals with a known cost; "
   "NULL when no order has a cost.", "money", "profitability", "orders", "all", HB, MONEY,
   lambda c: _money(ibis.ifelse(c.t["_o_cost_known"] > 0, c.t["_o_margin"], ibis.null(MONEY))))
_b("service_cost", "Service cost", "服务成本", "Tickets x the configured unit cost per ticket.",
   "money", "profitability", "tickets", "all", LB, MONEY,
   lambda c: _money(c.t["_t_tickets"] * ibis.literal(Decimal(str(c.config.service_cost_per_ticket)), MONEY)))
_b("profit", "Profit", "利润", "Gross margin - service cost (no tickets table: gross margin).",
   "money", "profitability", "orders", "all", HB, MONEY,
   lambda c: _money(c.m("gross_margin") - c.m("service_cost").coalesce(0)))  # type: ignore[operator,attr-defined]

# -- engagement ---------------------------------------------------------------------------------------------
_b("visits_90d", "Visits, 90 days", "近90天访问次数", "Interactions of type 'visit' in the 90 days up to as_of.",
   "count", "engagement", "interactions", "90d", HB, "int64", _col("_i_visits_90d"))
_b("dwell_seconds_total_90d", "Dwell time, 90 days", "近90天停留总时长(秒)",
   "Total duration of visits in the 90 days up to as_of.", "seconds", "engagement", "interactions", "90d", HB,
   "float64", _col("_i_dwell_90d"))
_b("dwell_seconds_avg_90d", "Average dwell time, 90 days", "近90天平均停留时长(秒)",
   "Dwell time / visits in the 90 days up to as_of.", "seconds", "engagement", "interactions", "90d", HB,
   "float64", lambda c: _ratio(c.t["_i_dwell_90d"], c.t["_i_visits_90d"]))
_b("pages_90d", "Pages viewed, 90 days", "近90天浏览页面数", "Pages over all interactions in 90 days.",
   "count", "engagement", "interactions", "90d", HB, "int64", _col("_i_pages_90d"))
_b("emails_opened_90d", "E-mails opened, 90 days", "近90天邮件打开数", "Interactions of type 'email_open'.",
   "count", "engagement", "interactions", "90d", HB, "int64", _col("_i_emails_opened_90d"))
_b("calls_meetings_90d", "Calls and meetings, 90 days", "近90天电话与会面数",
   "Interactions of type 'call' or 'meeting' in 90 days.", "count", "engagement", "interactions", "90d", HB,
   "int64", _col("_i_calls_meetings_90d"))
_b("days_since_interaction", "Days since last interaction", "距最近互动天数",
   "Days from the last interaction of any type to as_of.", "days", "engagement", "interactions", "all", LB,
   "int64", lambda c: c.days_since(c.t["_i_last"]))

# -- financial ----------------------------------------------------------------------------------------------
_b("invoices", "Invoices", "发票数", "Invoices issued up to as_of.", "count", "financial", "invoices", "all",
   None, "int64", _col("_v_invoices"))
_b("avg_days_late", "Average days late", "平均逾期天数",
   "Mean days late: paid invoices max(0, paid - due); unpaid ones past due: as_of - due.", "days",
   "financial", "invoices", "all", LB, "float64", _col("_v_avg_late"))
_b("max_days_late", "Maximum days late", "最大逾期天数", "Largest days late.", "days", "financial",
   "invoices", "all", LB, "int64", _col("_v_max_late"))
_b("on_time_rate", "On-time payment rate", "按时付款率", "Share of due invoices paid by the due date.",
   "ratio", "financial", "invoices", "all", HB, "float64",
   lambda c: _ratio(c.t["_v_on_time"], c.t["_v_due"]))
_b("overdue_amount", "Overdue amount", "逾期金额", "Unpaid amount of invoices past due at as_of.", "money",
   "financial", "invoices", "all", LB, MONEY, lambda c: _money(c.t["_v_overdue"]))
_b("disputed_share", "Disputed share", "争议发票占比", "Share of invoices disputed.", "ratio", "financial",
   "invoices", "all", LB, "float64", lambda c: _ratio(c.t["_v_disputed"], c.t["_v_invoices"]))
_b("dso", "Days sales outstanding", "应收账款周转天数",
   "Outstanding receivables at as_of / amount invoiced in the last 365 days x 365.", "days", "financial",
   "invoices", "365d", LB, "float64",
   lambda c: _ratio(c.t["_v_outstanding"], c.t["_v_invoiced_365d"]) * 365)

# -- satisfaction -------------------------------------------------------------------------------------------
for _dim, _en, _zh in (("product", "product", "产品"), ("service", "service", "服务"),
                       ("response", "response", "响应"), ("after_sales", "after-sales", "售后")):
    _b(f"csat_{_dim}", f"CSAT {_en} (0-100)", f"{_zh}满意度(0-100)",
       f"Mean {_en} survey score rescaled to 0-100 with its scale (default 1-5).", "score", "satisfaction",
       "surveys", "all", HB, "float64", _csat(_dim))
_b("would_recommend_avg", "Would recommend (0-10)", "推荐意愿(0-10)",
   "Mean 0-10 would-recommend answer (one per survey).", "score", "satisfaction", "surveys", "all", HB,
   "float64", _col("_s_wr_avg"))
_b("nps_category", "NPS category", "NPS类别",
   "promoter (mean would-recommend >= 9), passive (>= 7) or detractor.", "category", "satisfaction",
   "surveys", "all", None, "string",
   lambda c: ibis.cases((c.t["_s_wr_avg"] >= 9, "promoter"), (c.t["_s_wr_avg"] >= 7, "passive"),
                        (c.t["_s_wr_avg"].notnull(), "detractor"), else_=ibis.null("string")))
_b("nps", "NPS (per customer)", "净推荐值",
   "100 x (promoter answers - detractor answers) / answers, over the customer's surveys (-100..100).",
   "score", "satisfaction", "surveys", "all", HB, "float64",
   lambda c: _ratio((c.t["_s_promoters"] - c.t["_s_detractors"]) * 100, c.t["_s_answers"]))
_b("complaints", "Complaints", "投诉次数", "Tickets flagged as complaints, opened up to as_of.", "count",
   "satisfaction", "tickets", "all", LB, "int64", _col("_t_complaints"))
_b("tickets", "Tickets", "工单数", "Support tickets opened up to as_of.", "count", "satisfaction", "tickets",
   "all", LB, "int64", _col("_t_tickets"))
_b("time_to_resolve_hours", "Time to resolve (hours)", "平均解决时长(小时)",
   "Mean hours from opening to closing over tickets closed up to as_of.", "hours", "satisfaction", "tickets",
   "all", LB, "float64", lambda c: c.t["_t_resolve_seconds"] / 3600.0)

# -- needs ---------------------------------------------------------------------------------------------------
_b("opportunity_urgency", "Opportunity urgency (1-5)", "商机紧迫度",
   "Mean urgency of the customer's opportunities created up to as_of.", "score", "needs", "opportunities",
   "all", HB, "float64", _col("_p_urgency"))
_b("opportunity_fit", "Opportunity fit (1-5)", "商机匹配度",
   "Mean fit of the customer's opportunities created up to as_of.", "score", "needs", "opportunities", "all",
   HB, "float64", _col("_p_fit"))
_b("opportunities", "Opportunities", "商机数", "Opportunities created up to as_of.", "count", "needs",
   "opportunities", "all", HB, "int64", _col("_p_count"))

# -- profile -------------------------------------------------------------------------------------------------
for _name, _en, _zh, _dtype in (("type", "Customer type", "客户类型", "string"),
                                ("size", "Size band", "企业规模", "string"),
                                ("employees", "Employees", "员工人数", "int64"),
                                ("industry", "Industry", "行业", "string"),
                                ("region", "Region", "地区", "string"),
                                ("owner_id", "Owner", "负责人", "string"),
                                ("department", "Department", "所属部门", "string")):
    _b(_name, _en, _zh, f"{_en} from the customer master" + (
        " (else the owner's department)." if _name == "department" else "."),
       "count" if _name == "employees" else "category", "profile", "customers", None, None, _dtype,
       _col(f"_c_{_name}"))

# -- classes (produced by classify) --------------------------------------------------------------------------
for _name, _en, _zh, _desc, _dtype, _dir in (
        ("r_score", "R score", "R得分", "Recency score 1..n (lower recency, higher score).", "int64", HB),
        ("f_score", "F score", "F得分", "Frequency (purchase days) score 1..n.", "int64", HB),
        ("m_score", "M score", "M得分", "Monetary score 1..n.", "int64", HB),
        ("rfm_code", "RFM code", "RFM编码", "R, F and M scores as a string, e.g. '545'.", "string", None),
        ("rfm_segment", "RFM segment", "RFM分群", "Named RFM segment key (see crmscore.engine.segments).",
         "string", None),
        ("abc_class", "ABC class", "ABC分类", "Pareto class A/B/C on cumulative value.", "string", None),
        ("purchase_class", "Purchase class", "购买行为类别",
         "high_frequency, low_frequency, one_time or never_purchased.", "string", None),
        ("value_tier", "Value tier", "价值层级", "high, medium or low.", "string", None),
        ("lifecycle_stage", "Lifecycle stage", "生命周期阶段",
         "prospect, new, repeat, loyal, at_risk, churned or reactivated.", "string", None)):
    _b(_name, _en, _zh, _desc, "score" if _dtype == "int64" else "category", "class", None, None, _dir, _dtype,
       None, stage="classes")

# -- value and risk (computed by crmscore.models in the scoring pipeline, joined in as columns) ---------------
for _name, _en, _zh, _desc, _unit, _dtype, _dir in (
        ("p_alive", "P(alive)", "存活概率", "BG/NBD probability that the customer is still active at as_of.",
         "ratio", "float64", HB),
        ("expected_purchases_12m", "Expected purchases (12 months)", "预计购买次数(12个月)",
         "BG/NBD expected number of purchase days in the next 12 months.", "count", "float64", HB),
        ("expected_spend", "Expected spend per purchase", "预计单次消费",
         "Gamma-Gamma expected spend per purchase day.", "money", "float64", HB),
        ("clv", "Customer lifetime value (12 months)", "客户终身价值(12个月)",
         "Discounted expected spend over the next 12 months (BG/NBD x Gamma-Gamma, monthly discount rate).",
         "money", "float64", HB),
        ("churn_risk", "Churn risk", "流失风险",
         "Calibrated probability of no purchase in the churn horizon (default 90 days), from the supervised "
         "model, or 1 - P(alive) when history is too short.", "ratio", "float64", LB),
        ("churn_reasons", "Churn risk reasons", "流失风险原因", "Top reasons for the churn risk (English).",
         "text", "string", None)):
    _b(_name, _en, _zh, _desc, _unit, "value", None, None, _dir, _dtype, None, stage="external")


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
