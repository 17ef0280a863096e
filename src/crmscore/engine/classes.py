"""Purchase-behaviour classes and value tiers, with their rules as data (see ``docs/classes.md``).

Purchase class (first rule that applies):

1. ``never_purchased``: no sale up to ``as_of`` (``purchase_days`` is 0 or NULL);
2. ``one_time``: exactly one purchase day;
3. ``high_frequency``: at least ``high_frequency_min_days`` purchase days in the last 365 days (default 4);
4. ``low_frequency``: every other repeat buyer.

Value tier, from the M score read on the 1-5 scale (:func:`~crmscore.engine.segments.on_five_scale`): ``high`` when >= 5 (default),
``medium`` when >= 3, ``low`` otherwise, including customers without a purchase.

>>> import pandas as pd
>>> df = pd.DataFrame({"purchase_days": [0, 1, 6, 6], "purchase_days_365d": [0, 1, 5, 1],
...                    "m_score": [None, 2, 5, 3]})
>>> t = to_ibis(df)
>>> to_frame(t.select(c=purchase_class_expr(t), v=value_tier_expr(t))).values.tolist()
[['never_purchased', 'low'], ['one_time', 'low'], ['high_frequency', 'high'], ['low_frequency', 'medium']]
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from crmscore.engine.frames import to_frame, to_ibis  # noqa: F401  (doctests)
from crmscore.engine.segments import on_five_scale
from crmscore.errors import ConfigError, ConfigIssue

__all__ = ["PURCHASE_CLASSES", "VALUE_TIERS", "PurchaseClassRules", "ValueTierRules", "purchase_class_expr",
           "value_tier_expr"]

PURCHASE_CLASSES: dict[str, tuple[str, str]] = {
    "high_frequency": ("High-frequency buyer", "高频购买客户"),
    "low_frequency": ("Low-frequency buyer", "低频购买客户"),
    "one_time": ("One-time buyer", "一次性购买客户"),
    "never_purchased": ("Never purchased", "未购买客户"),
}
VALUE_TIERS: dict[str, tuple[str, str]] = {
    "high": ("High value", "高价值"),
    "medium": ("Medium value", "中价值"),
    "low": ("Low value", "低价值"),
}


@dataclass(frozen=True)
class PurchaseClassRules:
    high_frequency_min_days: int = 4

    def validate(self) -> None:
        if self.high_frequency_min_days < 2:
            raise ConfigError("purchase classes", [ConfigIssue(
                "high_frequency_min_days", f"{self.high_frequency_min_days} is below 2")])


@dataclass(frozen=True)
class ValueTierRules:
    """Minimum M score on the 1-5 scale for the high and medium tiers."""

    high_min_score: int = 5
    medium_min_score: int = 3

    def validate(self) -> None:
        if not 1 <= self.medium_min_score <= self.high_min_score <= 5:
            raise ConfigError("value tiers", [ConfigIssue(
                "high_min_score", "need 1 <= medium_min_score <= high_min_score <= 5")])


def purchase_class_expr(t: ir.Table, rules: PurchaseClassRules | None = None) -> ir.StringValue:
    """The purchase class from ``purchase_days`` and ``purchase_days_365d``."""
    r = rules or PurchaseClassRules()
    r.validate()
    days = t.purchase_days.coalesce(0)
    return ibis.cases(  # type: ignore[return-value]
        (days <= 0, "never_purchased"),
        (days == 1, "one_time"),
        (t.purchase_days_365d.coalesce(0) >= r.high_frequency_min_days, "high_frequency"),
        else_="low_frequency",
    )


def value_tier_expr(t: ir.Table, rules: ValueTierRules | None = None, n_bins: int = 5) -> ir.StringValue:
    """The value tier from ``m_score`` (scores of ``n_bins`` bins read on the 1-5 scale)."""
    r = rules or ValueTierRules()
    r.validate()
    high = [s for s in range(1, n_bins + 1) if on_five_scale(s, n_bins) >= r.high_min_score]
    medium = [s for s in range(1, n_bins + 1) if on_five_scale(s, n_bins) >= r.medium_min_score]
    m = t.m_score
    return ibis.cases((m.isin(high), "high"), (m.isin(medium), "medium"),  # type: ignore[return-value]
                      else_="low")
