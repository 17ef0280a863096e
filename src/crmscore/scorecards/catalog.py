"""The metric catalog as scorecards see it: name -> label (en, zh), unit, direction, kind.

Scorecards only need a small protocol from the engine's metric catalog (:class:`MetricLike`). When the
engine's registry is importable it is used; otherwise :data:`FALLBACK_METRICS` (the stable metric names of the
design) keeps validation and tests working. Pass ``catalog=`` explicitly to validate against another set.

>>> cat = resolve_catalog()
>>> cat["monetary_365d"].unit
'money'
>>> cat["recency_days"].direction
'lower'
>>> is_categorical(cat["industry"])
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "CATEGORICAL_UNITS",
    "FALLBACK_METRICS",
    "Catalog",
    "MetricInfo",
    "MetricLike",
    "is_categorical",
    "resolve_catalog",
]

CATEGORICAL_UNITS = frozenset({"category", "text", "label", "string"})


@runtime_checkable
class MetricLike(Protocol):
    """What a scorecard needs to know about a metric."""

    @property
    def name(self) -> str: ...
    @property
    def label_en(self) -> str: ...
    @property
    def label_zh(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def direction(self) -> str: ...  # 'higher' | 'lower' | 'none'


Catalog = Mapping[str, MetricLike]


@dataclass(frozen=True)
class MetricInfo:
    """A plain catalog entry (also used for the fallback catalog)."""

    name: str
    label_en: str
    label_zh: str
    unit: str = "count"
    direction: str = "higher"


def is_categorical(metric: Any) -> bool:
    """A metric holding labels (industry, region ...) rather than numbers."""
    return str(getattr(metric, "unit", "")).lower() in CATEGORICAL_UNITS or getattr(metric, "kind", "") == "category"


def _m(name: str, en: str, zh: str, unit: str = "count", direction: str = "higher") -> MetricInfo:
    return MetricInfo(name, en, zh, unit, direction)


FALLBACK_METRICS: dict[str, MetricInfo] = {m.name: m for m in [
    _m("recency_days", "Recency (days)", "最近购买天数", "days", "lower"),
    _m("purchase_days", "Purchase days (frequency)", "购买天数(频次)"),
    _m("purchase_days_365d", "Purchase days, 365 days", "近365天购买天数"),
    _m("order_count", "Orders", "订单数"),
    _m("monetary", "Net monetary value", "净消费金额", "money"),
    _m("monetary_365d", "Net monetary value, 365 days", "近365天净消费金额", "money"),
    _m("avg_order_value", "Average order value", "平均订单金额", "money"),
    _m("tenure_days", "Tenure (days)", "客户年限(天)", "days"),
    _m("visits_90d", "Visits, 90 days", "近90天访问次数"),
    _m("dwell_seconds_avg_90d", "Average dwell time, 90 days", "近90天平均停留时长(秒)", "seconds"),
    _m("emails_opened_90d", "E-mails opened, 90 days", "近90天邮件打开数"),
    _m("days_since_interaction", "Days since last interaction", "距最近互动天数", "days", "lower"),
    _m("opportunity_urgency", "Opportunity urgency (1-5)", "商机紧迫度", "score"),
    _m("opportunity_fit", "Opportunity fit (1-5)", "商机匹配度", "score"),
    _m("csat_product", "CSAT product (0-100)", "产品满意度(0-100)", "score"),
    _m("csat_service", "CSAT service (0-100)", "服务满意度(0-100)", "score"),
    _m("nps", "NPS (per customer)", "净推荐值", "score"),
    _m("would_recommend_avg", "Would recommend (0-10)", "推荐意愿(0-10)", "score"),
    _m("complaints", "Complaints", "投诉次数", "count", "lower"),
    _m("return_rate", "Return rate", "退货率", "ratio", "lower"),
    _m("on_time_rate", "On-time payment rate", "按时付款率", "ratio"),
    _m("max_days_late", "Maximum days late", "最大逾期天数", "days", "lower"),
    _m("avg_days_late", "Average days late", "平均逾期天数", "days", "lower"),
    _m("overdue_amount", "Overdue amount", "逾期金额", "money", "lower"),
    _m("type", "Customer type", "客户类型", "category", "none"),
    _m("industry", "Industry", "行业", "category", "none"),
    _m("region", "Region", "地区", "category", "none"),
    _m("size", "Size band", "企业规模", "category", "none"),
    _m("employees", "Employees", "员工人数"),
    _m("lifecycle_stage", "Lifecycle stage", "生命周期阶段", "category", "none"),
    _m("rfm_segment", "RFM segment", "RFM分群", "category", "none"),
    _m("r_score", "R score", "R得分", "score"),
    _m("f_score", "F score", "F得分", "score"),
    _m("m_score", "M score", "M得分", "score"),
]}


_DIRECTIONS = {"higher_is_better": "higher", "lower_is_better": "lower", "higher": "higher", "lower": "lower"}


def _adapt(metric: Any) -> MetricInfo:
    return MetricInfo(str(metric.name), str(metric.label_en), str(metric.label_zh), str(metric.unit),
                      _DIRECTIONS.get(str(metric.direction), "none"))


def _engine_catalog() -> dict[str, MetricInfo] | None:
    """The engine's metric registry (``crmscore.engine.catalog.METRICS``) if importable, adapted."""
    try:
        from crmscore.engine.catalog import METRICS
    except ImportError:  # pragma: no cover - the engine ships with the package
        return None
    return {m.name: _adapt(m) for m in METRICS}


def resolve_catalog(catalog: Catalog | Iterable[Any] | None = None) -> Catalog:
    """The catalog to validate and label with: the given one (a mapping or an iterable of metrics), else the
    engine's live registry (metrics registered later, like ``clv``, are seen), else the fallback."""
    if catalog is None:
        engine = _engine_catalog()
        return engine if engine else FALLBACK_METRICS
    items: Iterable[Any] = catalog.values() if isinstance(catalog, Mapping) else catalog
    return {m.name: _adapt(m) for m in items}
