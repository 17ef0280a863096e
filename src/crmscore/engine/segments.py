"""Named RFM segments as data: ordered rules over the R, F and M scores (first match wins), editable.

Rules are written for scores 1-5. With another number of bins a score ``s`` of ``n`` is read on the 1-5 scale
as ``round(1 + 4 (s - 1) / (n - 1))`` (halves up; :func:`on_five_scale`), so 1 stays 1 and n becomes 5. The built-in rules cover every (R, F, M) combination, so every purchaser gets exactly
one segment; a customer who never purchased gets :data:`NO_PURCHASE`.

=====================  =====  =====  =====
segment                R      F      M
=====================  =====  =====  =====
champions              4-5    4-5    4-5
loyal                  3-5    3-5    3-5
potential_loyalist     4-5    2-5    1-5
new                    5      1      1-5
promising              4      1      1-5
need_attention         3      2-5    1-5
about_to_sleep         3      1      1-5
cant_lose              1      4-5    4-5
at_risk                1-2    3-5    1-5
hibernating            2      1-2    1-5
lost                   1      1-2    1-5
=====================  =====  =====  =====

>>> [s.key for s in SEGMENTS][:3]
['champions', 'loyal', 'potential_loyalist']
>>> match_segment(5, 5, 5), match_segment(1, 1, 3), match_segment(2, 5, 5)
('champions', 'lost', 'at_risk')
>>> label("cant_lose", "zh")
'重要挽留客户'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from crmscore.errors import ConfigError, ConfigIssue, UnknownName

__all__ = ["NO_PURCHASE", "SEGMENTS", "Segment", "label", "match_segment", "on_five_scale", "segment_expr",
           "validate_segments"]

Range = tuple[int, int]


@dataclass(frozen=True)
class Segment:
    """One named segment: inclusive score ranges on the 1-5 scale for R, F and M."""

    key: str
    label_en: str
    label_zh: str
    r: Range = (1, 5)
    f: Range = (1, 5)
    m: Range = (1, 5)
    description: str = ""

    def matches(self, r: int, f: int, m: int) -> bool:
        return all(lo <= v <= hi for v, (lo, hi) in ((r, self.r), (f, self.f), (m, self.m)))


NO_PURCHASE = Segment("no_purchase", "No purchase", "未购买客户", description="Never purchased up to as_of.")

SEGMENTS: list[Segment] = [
    Segment("champions", "Champions", "重要价值客户", (4, 5), (4, 5), (4, 5),
            "Bought recently, buy often and spend the most."),
    Segment("loyal", "Loyal", "忠诚客户", (3, 5), (3, 5), (3, 5), "Buy regularly and spend well."),
    Segment("potential_loyalist", "Potential loyalist", "潜力忠诚客户", (4, 5), (2, 5), (1, 5),
            "Recent customers with repeat purchases."),
    Segment("new", "New", "新客户", (5, 5), (1, 1), (1, 5), "Bought most recently, only once."),
    Segment("promising", "Promising", "有潜力客户", (4, 4), (1, 1), (1, 5), "Recent one-time buyers."),
    Segment("need_attention", "Need attention", "需关注客户", (3, 3), (2, 5), (1, 5),
            "Repeat buyers whose recency is slipping to average."),
    Segment("about_to_sleep", "About to sleep", "即将沉睡客户", (3, 3), (1, 1), (1, 5),
            "One-time buyers of average recency."),
    Segment("cant_lose", "Can't lose", "重要挽留客户", (1, 1), (4, 5), (4, 5),
            "Used to buy often and spend the most, but long ago."),
    Segment("at_risk", "At risk", "流失风险客户", (1, 2), (3, 5), (1, 5),
            "Good repeat customers who have not bought for a long time."),
    Segment("hibernating", "Hibernating", "沉睡客户", (2, 2), (1, 2), (1, 5), "Few, old purchases."),
    Segment("lost", "Lost", "流失客户", (1, 1), (1, 2), (1, 5), "Lowest recency and frequency."),
]


def label(key: str, lang: str = "en", segments: Sequence[Segment] | None = None) -> str:
    """The English (``en``) or Chinese (``zh``) label of a segment key."""
    for seg in [*(segments or SEGMENTS), NO_PURCHASE]:
        if seg.key == key:
            return seg.label_zh if lang.startswith("zh") else seg.label_en
    raise UnknownName("RFM segment", key, [s.key for s in [*(segments or SEGMENTS), NO_PURCHASE]])


def match_segment(r: int, f: int, m: int, segments: Sequence[Segment] | None = None) -> str | None:
    """The first segment whose rule matches 1-5 scores (None if no rule matches)."""
    for seg in segments or SEGMENTS:
        if seg.matches(r, f, m):
            return seg.key
    return None


def validate_segments(segments: Sequence[Segment]) -> None:
    """Raise :class:`~crmscore.errors.ConfigError` listing every bad rule and uncovered (R, F, M) cell."""
    issues = []
    keys = [s.key for s in segments]
    for i, seg in enumerate(segments):
        if keys.count(seg.key) > 1:
            issues.append(ConfigIssue(f"segments[{i}].key", f"duplicate key {seg.key!r}"))
        for part in ("r", "f", "m"):
            lo, hi = getattr(seg, part)
            if not (1 <= lo <= hi <= 5):
                issues.append(ConfigIssue(f"segments[{i}].{part}", f"range {lo}-{hi} is not within 1-5",
                                          "use lo <= hi between 1 and 5"))
    if not issues:
        holes = [(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)
                 if match_segment(r, f, m, segments) is None]
        if holes:
            issues.append(ConfigIssue("segments", f"{len(holes)} score combinations match no rule, e.g. "
                                      f"R{holes[0][0]} F{holes[0][1]} M{holes[0][2]}",
                                      "add a catch-all rule at the end"))
    if issues:
        raise ConfigError("RFM segments", issues)


def on_five_scale(score: int, n_bins: int) -> int:
    """A score of ``n_bins`` bins read on the 1-5 scale.

    >>> [on_five_scale(s, 3) for s in (1, 2, 3)], [on_five_scale(s, 10) for s in (1, 5, 10)]
    ([1, 3, 5], [1, 3, 5])
    """
    return math.floor(1 + 4 * (score - 1) / (n_bins - 1) + 0.5)


def _values(rng: Range, n_bins: int) -> list[int]:
    lo, hi = rng
    return [s for s in range(1, n_bins + 1) if lo <= on_five_scale(s, n_bins) <= hi]


def segment_expr(r: ir.IntegerValue, f: ir.IntegerValue, m: ir.IntegerValue, n_bins: int = 5,
                 segments: Sequence[Segment] | None = None) -> ir.StringValue:
    """An Ibis expression giving the segment key of (r, f, m) scores of ``n_bins`` bins; NULL scores give
    :data:`NO_PURCHASE`.

    >>> import ibis
    >>> t = ibis.memtable({"r": [5, 1, None], "f": [5, 1, None], "m": [5, 1, None]})
    >>> t.select(s=segment_expr(t.r, t.f, t.m)).to_pandas().s.tolist()
    ['champions', 'lost', 'no_purchase']
    """
    segs = list(segments or SEGMENTS)
    validate_segments(segs)
    # One lookup: the scores index a literal array of the n_bins**3 segment keys. A rule tree (or a CASE over
    # packed scores) makes the engine evaluate the score expressions once per branch, dozens of times a row.
    keys = [match_segment(on_five_scale(rs, n_bins), on_five_scale(fs, n_bins), on_five_scale(ms, n_bins), segs)
            for rs, fs, ms in itertools.product(range(1, n_bins + 1), repeat=3)]
    index = ((r - 1) * (n_bins * n_bins) + (f - 1) * n_bins + (m - 1)).cast("int32")
    # NULL scores are tested explicitly: engines disagree on an array indexed by NULL (Spark).
    scored = r.notnull() & f.notnull() & m.notnull()
    return ibis.ifelse(scored, ibis.literal(keys, type="array<string>")[index],  # type: ignore[no-any-return]
                       NO_PURCHASE.key)
