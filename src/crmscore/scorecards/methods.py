"""Scoring methods: how a criterion turns a metric value into a fraction of its points (0..1).

Methods are data-defined types in one registry (:data:`METHODS`) that built-ins and users share: each is a
pydantic model with a ``type`` tag, its parameters, ``issues()`` (semantic checks reported with paths
relative to the method) and ``fraction()`` (an Ibis expression in [0, 1], NULL when the value is missing).

>>> sorted(METHODS)
['bins', 'boolean', 'category', 'linear', 'percentile']
>>> m = parse_method({"type": "linear", "floor": 0, "cap": 10})
>>> import ibis
>>> t = ibis.memtable({"v": [-5.0, 2.5, 20.0, None]})
>>> t.select(f=m.fraction(t.v, "higher", None)).f.to_list()
[0.0, 0.25, 1.0, None]
"""

from __future__ import annotations

from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from crmscore.errors import suggest

__all__ = [
    "METHODS",
    "BinsMethod",
    "BooleanMethod",
    "CategoryMethod",
    "LinearMethod",
    "Method",
    "MethodIssue",
    "PercentileMethod",
    "parse_method",
    "register_method",
]

MethodIssue = tuple[str, str, str | None]  # (path relative to the method, message, suggestion)


class Method(BaseModel):
    """Base of every scoring method. Subclasses set ``type`` (a Literal), ``needs`` and ``fraction()``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    #: 'number' (cast to float), 'category' (labels) or 'any'
    needs: ClassVar[str] = "number"
    #: whether the criterion's direction (higher/lower is better) matters
    uses_direction: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def issues(self) -> list[MethodIssue]:
        """Semantic problems of the parameters (beyond their types)."""
        return []

    def fraction(self, value: ir.Value, direction: str, percentile: ir.FloatingValue | None) -> ir.FloatingValue:
        """Fraction of the criterion's points earned for ``value`` (NULL when value is NULL)."""
        raise NotImplementedError


METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Add a method type to the registry (usable as a class decorator); its ``type`` default names it."""
    name = cls.model_fields["type"].default
    if not isinstance(name, str):
        raise TypeError(f"{cls.__name__}.type needs a string default naming the method")
    METHODS[name] = cls
    return cls


def parse_method(data: Any) -> Method:
    """Validate a method mapping into its registered type (pydantic errors keep their nested paths)."""
    if isinstance(data, Method):
        return data
    if isinstance(data, str):
        data = {"type": data}
    if not isinstance(data, dict):
        raise PydanticCustomError("method_type", "a method must be a mapping with a 'type'")
    kind = data.get("type")
    if kind not in METHODS:
        close = suggest(str(kind), METHODS) if kind is not None else None
        raise PydanticCustomError(
            "unknown_method", "unknown method {name}",
            {"name": repr(kind) if kind is not None else "(no type)",
             "suggestion": f"did you mean {close!r}?" if close else "known: " + ", ".join(sorted(METHODS))})
    return METHODS[kind].model_validate(data)


def _clip01(x: ir.NumericValue) -> ir.FloatingValue:
    # GREATEST/LEAST skip NULLs in DuckDB and PostgreSQL: keep a missing value missing
    return ibis.ifelse(x.isnull(), ibis.null("float64"), ibis.least(ibis.greatest(x.cast("float64"), 0.0), 1.0))


@register_method
class PercentileMethod(Method):
    """Points in proportion to the customer's percentile rank among customers with a value (ties share the
    middle rank; with one customer, 0.5)."""

    type: str = "percentile"
    uses_direction: ClassVar[bool] = True
    description: ClassVar[str] = "percentile rank among customers (1 = best)"

    def fraction(self, value: ir.Value, direction: str, percentile: ir.FloatingValue | None) -> ir.FloatingValue:
        assert percentile is not None, "the percentile column is computed by compile.py"
        return percentile


class Bin(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lower: float | None = Field(None, description="inclusive lower bound (none: no lower bound)")
    upper: float | None = Field(None, description="exclusive upper bound (none: no upper bound)")
    points: float


@register_method
class BinsMethod(Method):
    """Thresholds: a value in ``[lower, upper)`` earns the bin's points (relative to the best bin)."""

    type: str = "bins"
    bins: list[Bin] = Field(min_length=1)
    description: ClassVar[str] = "thresholds/bins: [lower, upper) -> points"

    def issues(self) -> list[MethodIssue]:
        out: list[MethodIssue] = []
        for i, b in enumerate(self.bins):
            if b.points < 0:
                out.append((f"bins[{i}].points", f"points must be >= 0, got {b.points:g}", None))
            if b.lower is not None and b.upper is not None and b.lower >= b.upper:
                out.append((f"bins[{i}]", f"lower {b.lower:g} must be below upper {b.upper:g}", None))
            if i > 0 and i - 1 < len(self.bins):
                prev = self.bins[i - 1]
                lo = float("-inf") if b.lower is None else b.lower
                prev_lo = float("-inf") if prev.lower is None else prev.lower
                prev_hi = float("inf") if prev.upper is None else prev.upper
                if lo < prev_lo:
                    out.append((f"bins[{i}].lower", "bins are not sorted by their lower bound",
                                "list bins from the lowest values to the highest"))
                elif lo < prev_hi:
                    out.append((f"bins[{i}].lower",
                                f"overlaps bins[{i - 1}] (lower {lo:g} < previous upper {prev_hi:g})",
                                f"set lower to {prev_hi:g}"))
                elif lo > prev_hi:
                    out.append((f"bins[{i}].lower", f"gap between {prev_hi:g} and {lo:g} earns no bin",
                                f"set lower to {prev_hi:g}"))
        if self.bins and max(b.points for b in self.bins) <= 0:
            out.append(("bins", "no bin earns points", "give the best bin points > 0"))
        return out

    def fraction(self, value: ir.Value, direction: str, percentile: ir.FloatingValue | None) -> ir.FloatingValue:
        top = max(b.points for b in self.bins) or 1.0
        v = value.cast("float64")
        cases = []
        for b in self.bins:
            cond = ibis.literal(True)
            if b.lower is not None:
                cond = cond & (v >= b.lower)
            if b.upper is not None:
                cond = cond & (v < b.upper)
            cases.append((cond, b.points / top))
        return ibis.ifelse(v.isnull(), ibis.null("float64"), ibis.cases(*cases, else_=0.0))


@register_method
class LinearMethod(Method):
    """Linear between ``floor`` and ``cap``: full points at the good end, none at the other (the direction
    says which end is good), clipped outside."""

    type: str = "linear"
    floor: float
    cap: float
    uses_direction: ClassVar[bool] = True
    description: ClassVar[str] = "linear between floor and cap, clipped"

    def issues(self) -> list[MethodIssue]:
        if self.floor >= self.cap:
            return [("cap", f"cap {self.cap:g} must be above floor {self.floor:g}", "swap them, and set "
                     "direction: lower if smaller values are better")]
        return []

    def fraction(self, value: ir.Value, direction: str, percentile: ir.FloatingValue | None) -> ir.FloatingValue:
        v = value.cast("float64")
        span = self.cap - self.floor
        share = (v - self.floor) / span if direction != "lower" else (self.cap - v) / span
        return _clip01(share)


@register_method
class CategoryMethod(Method):
    """A label -> points map (industry, region ...); other labels earn ``default``."""

    type: str = "category"
    points: dict[str, float] = Field(min_length=1)
    default: float = 0.0
    needs: ClassVar[str] = "category"
    description: ClassVar[str] = "category map: label -> points"

    def issues(self) -> list[MethodIssue]:
        out: list[MethodIssue] = [(f"points.{k}", f"points must be >= 0, got {v:g}", None)
                                  for k, v in self.points.items() if v < 0]
        if self.default < 0:
            out.append(("default", f"points must be >= 0, got {self.default:g}", None))
        if max([*self.points.values(), self.default]) <= 0:
            out.append(("points", "no category earns points", "give at least one category points > 0"))
        return out

    def fraction(self, value: ir.Value, direction: str, percentile: ir.FloatingValue | None) -> ir.FloatingValue:
        top = max([*self.points.values(), self.default]) or 1.0
        v = value.cast("string")
        cases = [(v == label, pts / top) for label, pts in self.points.items()]
        return ibis.ifelse(v.isnull(), ibis.null("float64"), ibis.cases(*cases, else_=self.default / top))


@register_method
class BooleanMethod(Method):
    """Yes/no: ``true_points`` when the value is true (non-zero), ``false_points`` otherwise."""

    type: str = "boolean"
    true_points: float = 1.0
    false_points: float = 0.0
    needs: ClassVar[str] = "any"
    description: ClassVar[str] = "yes/no -> points"

    def issues(self) -> list[MethodIssue]:
        out: list[MethodIssue] = []
        for key in ("true_points", "false_points"):
            if getattr(self, key) < 0:
                out.append((key, f"points must be >= 0, got {getattr(self, key):g}", None))
        if max(self.true_points, self.false_points) <= 0:
            out.append(("true_points", "neither answer earns points", "set true_points > 0"))
        return out

    def fraction(self, value: ir.Value, direction: str, percentile: ir.FloatingValue | None) -> ir.FloatingValue:
        top = max(self.true_points, self.false_points) or 1.0
        flag = value if value.type().is_boolean() else (value.cast("float64") != 0)
        return ibis.ifelse(value.isnull(), ibis.null("float64"),
                           ibis.ifelse(flag, self.true_points / top, self.false_points / top))
