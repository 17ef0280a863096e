"""ABC (Pareto) classes on cumulative value: revenue (``monetary``), profit or any numeric metric.

Customers are ordered by value descending, then ``customer_id`` ascending (deterministic on every engine).
With thresholds ``(a, b)`` in percent (default 80 and 15, leaving 5 for C) a customer is **A** while the
cumulative value *before* them is below ``a`` % of the total (so the customer who crosses the line is A),
**B** while it is below ``a + b`` %, and **C** otherwise. Customers with a value <= 0 or NULL are C. The
arithmetic stays exact in DECIMAL (``cum * 100 < total * a``).

>>> import pandas as pd
>>> df = pd.DataFrame({"customer_id": list("abcdef"), "monetary": [50.0, 30.0, 10.0, 5.0, 5.0, 0.0]})
>>> t = to_ibis(df)
>>> to_frame(t.mutate(abc_class=abc_expr(t)).order_by("customer_id")).abc_class.tolist()
['A', 'A', 'B', 'B', 'C', 'C']
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import ibis
import ibis.expr.types as ir

from crmscore.engine.frames import to_frame, to_ibis  # noqa: F401  (doctests)
from crmscore.errors import ConfigError, ConfigIssue, MissingColumnsError

__all__ = ["ABC_CLASSES", "ABCConfig", "abc_expr", "abc_table"]

ABC_CLASSES: dict[str, tuple[str, str]] = {
    "A": ("A: top customers by value", "A类:核心价值客户"),
    "B": ("B: middle customers by value", "B类:一般价值客户"),
    "C": ("C: low-value customers", "C类:低价值客户"),
}


@dataclass(frozen=True)
class ABCConfig:
    """Value column and thresholds (percent of cumulative value for A and for B; C gets the rest)."""

    value: str = "monetary"
    a_percent: Decimal = Decimal("80")
    b_percent: Decimal = Decimal("15")

    def validate(self) -> None:
        a, b = Decimal(str(self.a_percent)), Decimal(str(self.b_percent))
        issues = []
        if not 0 < a <= 100:
            issues.append(ConfigIssue("a_percent", f"{a} is not in (0, 100]"))
        if not 0 <= b <= 100 - a:
            issues.append(ConfigIssue("b_percent", f"{b} is not in [0, {100 - a}]", "a + b must be <= 100"))
        if issues:
            raise ConfigError("ABC thresholds", issues)


def abc_expr(t: ir.Table, config: ABCConfig | None = None) -> ir.StringValue:
    """The ABC class of each row of ``t`` (needs ``customer_id`` and the value column)."""
    cfg = config or ABCConfig()
    cfg.validate()
    missing = [c for c in ("customer_id", cfg.value) if c not in t.columns]
    if missing:
        raise MissingColumnsError("ABC input", missing, list(t.columns))
    raw = t[cfg.value]
    zero = ibis.literal(Decimal(0), raw.type()) if raw.type().is_decimal() else ibis.literal(0, raw.type())
    value = ibis.greatest(raw.coalesce(zero), zero)
    order = ibis.cumulative_window(order_by=[ibis.desc(value), t.customer_id])
    before = value.sum().over(order) - value
    total = value.sum().over(ibis.window())
    a = Decimal(str(cfg.a_percent))
    ab = a + Decimal(str(cfg.b_percent))
    return ibis.cases(  # type: ignore[return-value]
        ((value > zero) & (before * 100 < total * a), "A"),
        ((value > zero) & (before * 100 < total * ab), "B"),
        else_="C",
    )


def abc_table(t: ir.Table, config: ABCConfig | None = None) -> ir.Table:
    """``customer_id`` and ``abc_class`` of each row of ``t``: :func:`abc_expr` over just those two columns.

    The cumulative sum sorts every row it carries, so sorting a narrow table and joining the class back is
    much cheaper than sorting a wide feature table.

    >>> import pandas as pd
    >>> t = to_ibis(pd.DataFrame({"customer_id": list("abc"), "monetary": [5.0, 90.0, 5.0], "x": [1, 2, 3]}))
    >>> to_frame(abc_table(t).order_by("customer_id")).values.tolist()
    [['a', 'B'], ['b', 'A'], ['c', 'C']]
    """
    cfg = config or ABCConfig()
    missing = [c for c in ("customer_id", cfg.value) if c not in t.columns]
    if missing:
        raise MissingColumnsError("ABC input", missing, list(t.columns))
    narrow = t.select("customer_id", cfg.value)
    return narrow.select("customer_id", abc_class=abc_expr(narrow, cfg))
