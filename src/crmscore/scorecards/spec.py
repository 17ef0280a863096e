"""The scorecard specification: pydantic models of the YAML document.

A scorecard has weighted **dimensions** (basic information, behaviour, needs, ...), each with weighted
**criteria**. A criterion reads a catalog ``metric`` (or a safe ``expression`` over metrics), turns it into a
fraction of its points with a scoring ``method`` (see :mod:`crmscore.scorecards.methods`), handles a missing
value by its ``missing`` policy and may ``decay`` with the time since the last activity. Dimensions may have a
``cap``; ``vetoes`` cap the grade; ``grades`` map the 0-100 score to bands; ``applies_to`` says which customers
the scorecard covers. Weights of any scale are normalised. Semantic checks (metric names, bins, bands ...)
live in :mod:`crmscore.scorecards.validate`, which reports every problem of a document at once.

>>> card = Scorecard.model_validate({
...     "name": "mini", "dimensions": [{"name": "value", "weight": 1, "criteria": [
...         {"name": "revenue", "metric": "monetary_365d", "method": {"type": "percentile"}}]}]})
>>> card.dimensions[0].criteria[0].method.type
'percentile'
>>> [(g.grade, g.min) for g in card.grades]
[('A', 80.0), ('B', 60.0), ('C', 40.0), ('D', 0.0)]
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from crmscore.scorecards.methods import Method, parse_method

__all__ = [
    "DEFAULT_GRADES",
    "Applicability",
    "Criterion",
    "Decay",
    "Dimension",
    "GradeBand",
    "MissingPolicy",
    "Scorecard",
    "Veto",
]

_IDENT = r"^[a-z][a-z0-9_]*$"
_SLUG = r"^[a-z0-9][a-z0-9_-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MissingPolicy(StrEnum):
    """What a criterion earns when its value is missing."""

    NEUTRAL = "neutral"  #: ``neutral_value`` of its points (default half)
    ZERO = "zero"  #: nothing
    EXCLUDE = "exclude"  #: left out; the other criteria (and dimensions) are re-weighted


class Decay(_Model):
    """Time decay of a behaviour criterion, by a days-since metric (default ``recency_days``).

    Either a ``window_days`` (full points inside the window, none after) or linear decay per period:
    ``factor = max(0, 1 - rate * floor(days / period_days))``. A missing days value means no activity: 0.
    """

    metric: str = "recency_days"
    window_days: float | None = Field(None, gt=0)
    period_days: float | None = Field(None, gt=0)
    rate: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Decay:
        linear = self.period_days is not None or self.rate is not None
        if self.window_days is not None and linear:
            raise ValueError("give either window_days or period_days with rate, not both")
        if self.window_days is None and not (self.period_days is not None and self.rate is not None):
            raise ValueError("give window_days, or both period_days and rate")
        return self


class Criterion(_Model):
    name: str = Field(pattern=_IDENT)
    label_en: str | None = None
    label_zh: str | None = None
    metric: str | None = None
    expression: str | None = None
    method: SerializeAsAny[Method]
    weight: float = 1.0
    direction: str | None = Field(None, pattern="^(higher|lower)$")
    missing: MissingPolicy = MissingPolicy.NEUTRAL
    neutral_value: float = Field(0.5, ge=0, le=1)
    decay: Decay | None = None
    unit: str | None = None  # display unit for an expression (money, days, ratio, count ...)
    #: also rank customers on this criterion (percentile column, "top 8%"); always on for method percentile
    show_percentile: bool = False

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Method:
        return parse_method(value)

    @model_validator(mode="after")
    def _source(self) -> Criterion:
        if (self.metric is None) == (self.expression is None):
            raise ValueError("give exactly one of metric or expression")
        return self

    @property
    def source(self) -> str:
        """The metric name, or the expression text."""
        return self.metric if self.metric is not None else str(self.expression)


class Dimension(_Model):
    name: str = Field(pattern=_IDENT)
    label_en: str | None = None
    label_zh: str | None = None
    weight: float = 1.0
    #: share (0, 1] of the criteria's points that earns the whole dimension; beyond, points are scaled down
    cap: float | None = Field(None, gt=0, le=1)
    criteria: list[Criterion] = Field(min_length=1)


class GradeBand(_Model):
    grade: str = Field(min_length=1, max_length=20)
    min: float = Field(ge=0, le=100)
    label_en: str | None = None
    label_zh: str | None = None


DEFAULT_GRADES = (GradeBand(grade="A", min=80), GradeBand(grade="B", min=60), GradeBand(grade="C", min=40),
                  GradeBand(grade="D", min=0))


class Veto(_Model):
    """A rule that caps the grade (and the score just below the next band): ``when`` is a condition."""

    name: str = Field(pattern=_IDENT)
    when: str
    max_grade: str
    reason_en: str | None = None
    reason_zh: str | None = None


class Applicability(_Model):
    """Which customers a scorecard covers: metric -> allowed values (all must match); empty = everyone."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def conditions(self) -> dict[str, list[str]]:
        extra = self.model_extra or {}
        return {k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in extra.items()}


class Scorecard(_Model):
    name: str = Field(pattern=_SLUG, max_length=100)
    label_en: str | None = None
    label_zh: str | None = None
    description: str | None = None
    currency: str = "¥"
    default: bool = False
    applies_to: Applicability = Field(default_factory=Applicability)
    dimensions: list[Dimension] = Field(min_length=1)
    grades: list[GradeBand] = Field(default_factory=lambda: list(DEFAULT_GRADES), min_length=1)
    vetoes: list[Veto] = Field(default_factory=list)

    def canonical_json(self) -> str:
        """The spec as canonical JSON (sorted keys, defaults filled): what the content hash covers."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False)

    @property
    def content_hash(self) -> str:
        """sha256 of :meth:`canonical_json`: two documents that parse the same have the same hash."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def grade_bands(self) -> list[GradeBand]:
        """The grade bands from the best (highest min) to the worst."""
        return sorted(self.grades, key=lambda g: -g.min)
