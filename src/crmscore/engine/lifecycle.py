"""Lifecycle stages from each customer's own purchase rhythm, with thresholds as data.

A customer's *usual interval* is their mean inter-purchase interval (``interpurchase_mean_days``), or
``default_interval_days`` after a single purchase, and never less than ``min_interval_days``. With
``recency = recency_days``, the churn threshold is ``min(churn_factor x interval, churn_after_days)`` and the
at-risk threshold ``min(at_risk_factor x interval, churn threshold)``. First rule that applies:

1. ``prospect``: no purchase up to ``as_of``;
2. ``churned``: recency > churn threshold;
3. ``at_risk``: recency > at-risk threshold;
4. ``reactivated``: the last purchase came after a gap (``last_gap_days``) longer than the churn threshold of
   the rhythm before it (mean interval of the earlier purchases, or the default after one purchase);
5. ``new``: one purchase day;
6. ``loyal``: at least ``loyal_min_purchase_days`` purchase days and ``loyal_min_tenure_days`` of tenure;
7. ``repeat``: every other repeat buyer.

>>> import pandas as pd
>>> df = pd.DataFrame({"purchase_days": [0, 1, 1, 3, 5, 5, 3],
...                    "recency_days": [None, 10, 400, 10, 20, 95, 5],
...                    "tenure_days": [None, 10, 400, 100, 500, 500, 300],
...                    "interpurchase_mean_days": [None, None, None, 45.0, 120.0, 30.0, 147.5],
...                    "last_gap_days": [None, None, None, 40, 110, 25, 290]})
>>> t = to_ibis(df)
>>> to_frame(t.select(s=lifecycle_expr(t))).s.tolist()
['prospect', 'new', 'churned', 'repeat', 'loyal', 'at_risk', 'reactivated']
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import ibis
import ibis.expr.types as ir

from crmscore.engine.frames import to_frame, to_ibis  # noqa: F401  (doctests)
from crmscore.errors import ConfigError, ConfigIssue

__all__ = ["LIFECYCLE_STAGES", "LifecycleRules", "lifecycle_expr"]

LIFECYCLE_STAGES: dict[str, tuple[str, str]] = {
    "prospect": ("Prospect", "潜在客户"),
    "new": ("New", "新客户"),
    "repeat": ("Repeat", "复购客户"),
    "loyal": ("Loyal", "忠诚客户"),
    "at_risk": ("At risk", "流失风险客户"),
    "churned": ("Churned", "已流失客户"),
    "reactivated": ("Reactivated", "召回客户"),
}


@dataclass(frozen=True)
class LifecycleRules:
    at_risk_factor: float = 2.0
    churn_factor: float = 4.0
    churn_after_days: int = 730
    min_interval_days: float = 30.0
    default_interval_days: float = 90.0
    loyal_min_purchase_days: int = 4
    loyal_min_tenure_days: int = 365

    def validate(self) -> None:
        issues = [ConfigIssue(f.name, f"{getattr(self, f.name)!r} must be positive")
                  for f in fields(self) if not getattr(self, f.name) > 0]
        if self.churn_factor < self.at_risk_factor:
            issues.append(ConfigIssue("churn_factor", "must be >= at_risk_factor"))
        if issues:
            raise ConfigError("lifecycle rules", issues)


def lifecycle_expr(t: ir.Table, rules: LifecycleRules | None = None) -> ir.StringValue:
    """The lifecycle stage from purchase_days, recency_days, tenure_days, interpurchase_mean_days and
    last_gap_days."""
    r = rules or LifecycleRules()
    r.validate()
    days = t.purchase_days.coalesce(0)
    rec = t.recency_days.cast("float64")
    lo = ibis.literal(float(r.min_interval_days), "float64")
    default = ibis.literal(float(r.default_interval_days), "float64")
    cap = ibis.literal(float(r.churn_after_days), "float64")
    interval = ibis.greatest(t.interpurchase_mean_days.cast("float64").coalesce(default), lo)
    churn = ibis.least(interval * float(r.churn_factor), cap)
    at_risk = ibis.least(interval * float(r.at_risk_factor), churn)
    # Rhythm before the last purchase: span of the earlier purchases / their gaps.
    span = t.interpurchase_mean_days.cast("float64") * (days - 1).cast("float64")
    earlier = (span - t.last_gap_days.cast("float64")) / (days - 2).cast("float64")
    prior = ibis.greatest(ibis.ifelse(days >= 3, earlier, default), lo)
    prior_churn = ibis.least(prior * float(r.churn_factor), cap)
    return ibis.cases(  # type: ignore[return-value]
        (days <= 0, "prospect"),
        (rec > churn, "churned"),
        (rec > at_risk, "at_risk"),
        ((days >= 2) & (t.last_gap_days.cast("float64") > prior_churn), "reactivated"),
        (days == 1, "new"),
        ((days >= r.loyal_min_purchase_days) & (t.tenure_days >= r.loyal_min_tenure_days), "loyal"),
        else_="repeat",
    )
