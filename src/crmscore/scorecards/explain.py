"""Explanations of points in English and Chinese, built as Ibis string expressions (no Python loops).

``+12.0: revenue in the last 365 days ¥85,300, top 8%`` / ``+12.0：近365天收入 ¥85,300，前8%``.
Numbers are formatted from integers (thousands separators, one decimal) so that every backend prints the
same text.

>>> import ibis
>>> t = ibis.memtable({"x": [0, 999, 1000, 123456, 1234567]})
>>> t.select(s=thousands(t.x)).s.to_list()
['0', '999', '1,000', '123,456', '1,234,567']
>>> v = ibis.memtable({"v": [85300.4, -0.25, 0.925]})
>>> v.select(m=display_value(v.v, "money", "¥", "en"), r=display_value(v.v, "ratio", "¥", "zh")).to_pyarrow().to_pylist()
[{'m': '¥85,300', 'r': '8,530,040%'}, {'m': '¥0', 'r': '-25%'}, {'m': '¥1', 'r': '92.5%'}]
>>> u = ibis.memtable({"p": [120, -5, 0]})
>>> u.select(s=signed_tenths(u.p)).s.to_list()
['+12.0', '-0.5', '+0.0']
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

__all__ = [
    "display_value",
    "format_number",
    "group_digits",
    "number_text",
    "render_text",
    "render_value",
    "signed_tenths",
    "thousands",
    "top_percent",
    "value_parts",
]


def thousands(x: ir.IntegerValue) -> ir.StringValue:
    """A non-negative integer (below 10**18) with ',' between groups of three digits.

    Built from substrings of the digits, so that the SQL stays small and every backend prints the same.
    """
    return group_digits(x.cast("string"))


def group_digits(text: ir.StringValue, n: ir.IntegerValue | None = None) -> ir.StringValue:
    """Digits (``text``, of length ``n`` if known) with ',' between groups of three."""
    # int32 positions: PostgreSQL has substring(text, int, int) but no bigint overload
    n = (text.length() if n is None else n).cast("int32")
    head = text.substr(0, (n - ((n - 1) // 3) * 3).cast("int32"))
    out = head
    for k in range(5, 0, -1):
        out = out.concat(ibis.ifelse(n > 3 * k, ibis.literal(",").concat(text.substr((n - 3 * k).cast("int32"), 3)), ""))
    return out


def signed_tenths(units: ir.IntegerValue) -> ir.StringValue:
    """Points held as integer tenths -> ``+12.3`` / ``-0.5``."""
    sign = ibis.ifelse(units < 0, "-", "+")
    mag = units.abs()
    return sign.concat((mag // 10).cast("string"), ".", (mag % 10).cast("string"))


def value_parts(v: ir.Value, unit: str) -> dict[str, ir.Value]:
    """Integer parts of a number to display (compute them one level before :func:`render_value`):
    ``q`` whole part, ``d`` tenths digit, ``neg`` sign, scaled by the unit (ratios as percent, money whole)."""
    unit = (unit or "").lower()
    num = v.cast("float64")
    if unit in ("currency", "money"):
        tenths = num.round(0).cast("int64") * 10
    elif unit in ("ratio", "share"):
        tenths = (num * 1000).round(0).cast("int64")
    else:
        tenths = (num * 10).round(0).cast("int64")
    return {"q": tenths.abs() // 10, "d": tenths.abs() % 10, "neg": tenths < 0}


def render_value(q: ir.IntegerValue, d: ir.IntegerValue, neg: ir.BooleanValue, unit: str, currency: str,
                 lang: str) -> ir.StringValue:
    """The text of a number from :func:`value_parts`: ``¥85,300``, ``92.5%``, ``95 days`` / ``95天``."""
    unit = (unit or "").lower()
    body = thousands(q)
    if unit not in ("currency", "money"):
        body = ibis.ifelse(d == 0, body, body.concat(".", d.cast("string")))
    prefix = {"currency": currency, "money": currency}.get(unit, "")
    suffix = {"ratio": "%", "share": "%", "percent": "%", "pct": "%",
              "days": " days" if lang == "en" else "天", "seconds": " s" if lang == "en" else "秒",
              "hours": " h" if lang == "en" else "小时"}.get(unit, "")
    return ibis.ifelse(neg, "-", "").concat(prefix, body, suffix)


def number_text(digits: ir.StringValue, length: ir.IntegerValue, d: ir.IntegerValue, unit: str) -> ir.StringValue:
    """The unsigned number of :func:`value_parts` as text, without unit: ``85,300``, ``92.5``."""
    body = group_digits(digits, length)
    if (unit or "").lower() in ("currency", "money"):
        return body
    return ibis.ifelse(d == 0, body, body.concat(".", d.cast("string")))


def render_text(number: ir.StringValue, neg: ir.BooleanValue, unit: str, currency: str,
                lang: str) -> ir.StringValue:
    """:func:`number_text` with its sign and unit: ``¥85,300``, ``92.5%``, ``95 days`` / ``95天``."""
    unit = (unit or "").lower()
    prefix = {"currency": currency, "money": currency}.get(unit, "")
    suffix = {"ratio": "%", "share": "%", "percent": "%", "pct": "%",
              "days": " days" if lang == "en" else "天", "seconds": " s" if lang == "en" else "秒",
              "hours": " h" if lang == "en" else "小时"}.get(unit, "")
    return ibis.ifelse(neg, "-", "").concat(prefix, number, suffix)


def format_number(v: ir.NumericValue) -> ir.StringValue:
    """A number with thousands separators and at most one decimal: ``1,234.5``, ``12``."""
    parts = value_parts(v, "number")
    return render_value(parts["q"], parts["d"], parts["neg"], "number", "", "en")


def top_percent(percentile: ir.FloatingValue) -> ir.StringValue:
    """``percentile`` (1 = best) -> the share of customers at least this good, as ``8`` (for 'top 8%')."""
    share = ((1 - percentile) * 100).ceil().cast("int64")
    return ibis.greatest(share, 1).cast("string")


def display_value(v: ir.Value, unit: str, currency: str, lang: str) -> ir.StringValue:
    """A metric value for people, by its unit (money, ratio, days, seconds, hours, category, flag, number)."""
    if v.type().is_boolean():
        return ibis.ifelse(v, "yes" if lang == "en" else "是", "no" if lang == "en" else "否")
    if v.type().is_string():
        return v
    parts = value_parts(v, unit)
    return render_value(parts["q"], parts["d"], parts["neg"], unit, currency, lang)
