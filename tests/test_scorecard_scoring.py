"""Golden tests of scoring on small hand-made feature tables: every method, decay, cap, veto and missing
policy, compared whole. Expected values are computed by hand in the comments (the formulas are the ones
documented in crmscore.scorecards.compile and docs/scorecards.md)."""

from __future__ import annotations

from typing import Any

import ibis
import pytest

from crmscore.errors import MissingColumnsError
from crmscore.scorecards.compile import score
from crmscore.scorecards.spec import Scorecard


def card(dimensions: list[dict[str, Any]], **extra: Any) -> Scorecard:
    return Scorecard.model_validate({"name": "golden", "dimensions": dimensions, **extra})


def run(spec: Scorecard, rows: dict[str, list[Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    result = score(ibis.memtable(rows), spec)
    customers = result.customers.order_by("customer_id").to_pyarrow().to_pylist()
    points = result.points.order_by(["customer_id", "dimension", "criterion"]).to_pyarrow().to_pylist()
    return customers, points


def brief(customers: list[dict[str, Any]], *extra: str) -> list[tuple[Any, ...]]:
    return [(c["customer_id"], c["score"], c["grade"], *(c[e] for e in extra)) for c in customers]


def pts(points: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(p["customer_id"], p["criterion"], p["points"], p["max_points"]) for p in points]


def test_linear_bins_category_with_neutral_missing_and_largest_remainder() -> None:
    spec = card([
        {"name": "a", "weight": 3, "criteria": [
            {"name": "lin", "metric": "monetary_365d", "method": {"type": "linear", "floor": 0, "cap": 1000}},
            {"name": "size", "metric": "employees", "method": {"type": "bins", "bins": [
                {"upper": 10, "points": 0}, {"lower": 10, "upper": 100, "points": 5}, {"lower": 100, "points": 10}]}},
        ]},
        {"name": "b", "weight": 1, "criteria": [
            {"name": "ind", "metric": "industry", "method": {"type": "category",
                                                              "points": {"Finance": 10, "Retail": 5}}}]},
    ])
    customers, points = run(spec, {
        "customer_id": ["x", "y", "z"], "monetary_365d": [500.0, 2000.0, None], "employees": [50, 5, 100],
        "industry": ["Finance", "Other", "Retail"]})
    # x: a = 0.75 * (0.5 * 0.5 + 0.5 * 0.5) -> 18.75 + 18.75, b = 25 -> 62.5; the tie of remainders goes to
    #    the first criterion: 18.8 + 18.7 + 25.0 = 62.5
    # y: lin clipped to 1 -> 37.5, bins 0, default category 0 -> 37.5
    # z: missing lin is neutral (0.5) -> 18.75, bins 37.5, Retail 5/10 -> 12.5: 68.75 rounds to 68.8
    assert brief(customers, "score_a", "score_b") == [
        ("x", 62.5, "B", 50.0, 100.0), ("y", 37.5, "D", 50.0, 0.0), ("z", 68.8, "B", 75.0, 50.0)]
    assert pts(points) == [
        ("x", "lin", 18.8, 37.5), ("x", "size", 18.7, 37.5), ("x", "ind", 25.0, 25.0),
        ("y", "lin", 37.5, 37.5), ("y", "size", 0.0, 37.5), ("y", "ind", 0.0, 25.0),
        ("z", "lin", 18.8, 37.5), ("z", "size", 37.5, 37.5), ("z", "ind", 12.5, 25.0)]
    assert [p["explanation_en"] for p in points if p["customer_id"] == "z"] == [
        "+18.8: Net monetary value, 365 days: no data (neutral)",
        "+37.5: Employees 100",
        "+12.5: Industry Retail"]
    assert [p["explanation_zh"] for p in points if p["customer_id"] == "x"] == [
        "+18.8：近365天净消费金额 ¥500", "+18.7：员工人数 50", "+25.0：行业 Finance"]
    assert [(p["value"], p["value_num"]) for p in points if p["customer_id"] == "x"] == [
        ("¥500", 500.0), ("50", 50.0), ("Finance", None)]
    assert customers[0]["scorecard"] == "golden" and customers[0]["scorecard_hash"] == spec.content_hash
    assert customers[0]["scorecard_version"] is None


@pytest.mark.parametrize(("direction", "expected"), [
    ("higher", [0.0, 50.0, 50.0, 100.0, 0.0]),
    ("lower", [100.0, 50.0, 50.0, 0.0, 0.0]),
])
def test_percentile_midrank_both_directions(direction: str, expected: list[float]) -> None:
    spec = card([{"name": "v", "criteria": [
        {"name": "spend", "metric": "monetary_365d", "method": {"type": "percentile"}, "direction": direction,
         "missing": "zero"}]}])
    customers, points = run(spec, {"customer_id": ["a", "b", "c", "d", "e"],
                                   "monetary_365d": [10.0, 20.0, 20.0, 40.0, None]})
    # non-missing n = 4: 10 has 0 worse -> 0/3; the two 20s share the middle (1 + 0.5) / 3; 40 -> 3/3
    assert [c["score"] for c in customers] == expected
    assert [p["percentile"] for p in points] == [e / 100 if i < 4 else None for i, e in enumerate(expected)]
    if direction == "higher":
        assert [p["explanation_en"] for p in points] == [
            "+0.0: Net monetary value, 365 days ¥10, bottom 1%",
            "+50.0: Net monetary value, 365 days ¥20, top 50%",
            "+50.0: Net monetary value, 365 days ¥20, top 50%",
            "+100.0: Net monetary value, 365 days ¥40, top 1%",
            "+0.0: Net monetary value, 365 days: no data"]
        assert points[3]["explanation_zh"] == "+100.0：近365天净消费金额 ¥40，前1%"


def test_percentile_of_a_single_customer_is_neutral() -> None:
    spec = card([{"name": "v", "criteria": [{"name": "n", "metric": "order_count",
                                              "method": {"type": "percentile"}}]}])
    customers, _ = run(spec, {"customer_id": ["a"], "order_count": [3]})
    assert brief(customers) == [("a", 50.0, "C")]


def test_boolean_method_on_a_condition_and_on_a_count() -> None:
    spec = card([{"name": "v", "criteria": [
        {"name": "pays", "expression": "on_time_rate >= 0.9", "method": {"type": "boolean"}},
        {"name": "has_opps", "metric": "opportunities", "method": {"type": "boolean", "true_points": 2,
                                                                     "false_points": 1}},
    ]}])
    customers, points = run(spec, {"customer_id": ["a", "b"], "on_time_rate": [0.95, 0.5],
                                   "opportunities": [0, 3]})
    # a: 1 * 50 + (1/2) * 50 = 75; b: 0 + 50 = 50
    assert brief(customers) == [("a", 75.0, "B"), ("b", 50.0, "C")]
    assert [p["explanation_en"] for p in points] == [
        "+25.0: Opportunities 0", "+50.0: pays yes", "+50.0: Opportunities 3", "+0.0: pays no"]


def test_expression_criterion_with_money_unit() -> None:
    spec = card([{"name": "v", "criteria": [
        {"name": "per_order", "label_en": "revenue per order", "label_zh": "单均收入",
         "expression": "monetary_365d / max(order_count, 1)", "unit": "money",
         "method": {"type": "linear", "floor": 0, "cap": 100}, "missing": "zero"}]}])
    customers, points = run(spec, {"customer_id": ["a", "b", "c"], "monetary_365d": [300.0, 50.0, None],
                                   "order_count": [3, 0, 2]})
    # a: 300/3 = 100 -> 100; b: 50 / max(0, 1) = 50 -> 50; c: missing -> 0
    assert brief(customers) == [("a", 100.0, "A"), ("b", 50.0, "C"), ("c", 0.0, "D")]
    assert [p["explanation_en"] for p in points] == [
        "+100.0: revenue per order ¥100", "+50.0: revenue per order ¥50", "+0.0: revenue per order: no data"]
    assert points[0]["metric"] == "monetary_365d / max(order_count, 1)"


def test_missing_exclude_reweights_criteria_and_dimensions() -> None:
    spec = card([
        {"name": "d1", "criteria": [
            {"name": "visits", "metric": "visits_90d", "method": {"type": "linear", "floor": 0, "cap": 10},
             "missing": "exclude"},
            {"name": "orders", "metric": "order_count", "method": {"type": "linear", "floor": 0, "cap": 10},
             "missing": "zero"}]},
        {"name": "d2", "criteria": [
            {"name": "nps", "metric": "nps", "method": {"type": "linear", "floor": 0, "cap": 10},
             "missing": "exclude"}]},
        {"name": "d3", "criteria": [
            {"name": "fit", "metric": "opportunity_fit", "method": {"type": "linear", "floor": 0, "cap": 10},
             "missing": "neutral", "neutral_value": 0.2}]},
    ], grades=[{"grade": "hi", "min": 50}, {"grade": "lo", "min": 0}])
    customers, points = run(spec, {"customer_id": ["p", "q"], "visits_90d": [None, 10.0],
                                   "order_count": [5, None], "nps": [10.0, None], "opportunity_fit": [None, 10.0]})
    # p: d1 keeps only 'orders' (0.5 earned of 1) -> 1/3 * 50; d2 full -> 33.3; d3 neutral 0.2 -> 6.7
    #    16.67 + 33.33 + 6.67 = 56.67 -> 56.7
    # q: d2 has no data: excluded, d1 and d3 get 1/2 each: visits 1 * 25, orders 0, fit 1 * 50 -> 75
    assert brief(customers, "score_d1", "score_d2", "score_d3") == [
        ("p", 56.7, "hi", 50.0, 100.0, 20.0), ("q", 75.0, "hi", 50.0, None, 100.0)]
    assert pts(points) == [
        ("p", "orders", 16.7, 33.3), ("p", "visits", 0.0, 0.0), ("p", "nps", 33.3, 33.3), ("p", "fit", 6.7, 33.3),
        ("q", "orders", 0.0, 25.0), ("q", "visits", 25.0, 25.0), ("q", "nps", 0.0, 0.0), ("q", "fit", 50.0, 50.0)]
    assert points[1]["explanation_en"] == \
        "+0.0: Visits, 90 days: no data, left out and the other criteria re-weighted"


def test_everything_missing_scores_zero() -> None:
    spec = card([{"name": "d", "criteria": [
        {"name": "nps", "metric": "nps", "method": {"type": "percentile"}, "missing": "exclude"}]}])
    customers, points = run(spec, {"customer_id": ["a"], "nps": [None]})
    assert brief(customers, "score_d") == [("a", 0.0, "D", None)]
    assert pts(points) == [("a", "nps", 0.0, 0.0)]


def test_linear_and_window_decay() -> None:
    spec = card([{"name": "b", "criteria": [
        {"name": "spend", "metric": "monetary_365d", "method": {"type": "linear", "floor": 0, "cap": 100},
         "decay": {"metric": "recency_days", "period_days": 30, "rate": 0.25}},
        {"name": "visits", "metric": "visits_90d", "method": {"type": "linear", "floor": 0, "cap": 10},
         "decay": {"metric": "days_since_interaction", "window_days": 90}},
    ]}])
    customers, points = run(spec, {
        "customer_id": ["a", "b", "c", "d"], "monetary_365d": [100.0, 100.0, 100.0, 100.0],
        "recency_days": [0, 45, 130, None], "visits_90d": [10.0, 10.0, 10.0, 10.0],
        "days_since_interaction": [90, 91, 10, None]})
    # spend: 45 days = 1 whole period -> 75%; 130 days = 4 periods -> 0; no activity at all -> 0
    # visits: inside the 90-day window full, outside nothing
    assert brief(customers) == [("a", 100.0, "A"), ("b", 37.5, "D"), ("c", 50.0, "C"), ("d", 0.0, "D")]
    assert [p["explanation_en"] for p in points if p["customer_id"] == "b"] == [
        "+37.5: Net monetary value, 365 days ¥100; decayed to 75% (recency_days)",
        "+0.0: Visits, 90 days 10; decayed to 0% (days_since_interaction)"]
    assert next(p["explanation_zh"] for p in points if p["customer_id"] == "b") == \
        "+37.5：近365天净消费金额 ¥100；因未活跃衰减至75%"


def test_dimension_cap() -> None:
    spec = card([{"name": "d", "cap": 0.5, "criteria": [
        {"name": "c1", "metric": "visits_90d", "method": {"type": "linear", "floor": 0, "cap": 10}},
        {"name": "c2", "metric": "order_count", "method": {"type": "linear", "floor": 0, "cap": 10}}]}])
    customers, points = run(spec, {"customer_id": ["a", "b", "c"], "visits_90d": [10.0, 10.0, 5.0],
                                   "order_count": [0, 10, 0]})
    # a: earned 0.5 of the 0.5 needed -> full dimension, all from c1; b: both full -> 50/50;
    # c: earned 0.25 of 0.5 -> 50
    assert brief(customers, "score_d") == [("a", 100.0, "A", 100.0), ("b", 100.0, "A", 100.0),
                                           ("c", 50.0, "C", 50.0)]
    assert pts(points) == [("a", "c1", 100.0, 50.0), ("a", "c2", 0.0, 50.0), ("b", "c1", 50.0, 50.0),
                           ("b", "c2", 50.0, 50.0), ("c", "c1", 50.0, 50.0), ("c", "c2", 0.0, 50.0)]


def test_vetoes_cap_grade_and_score_with_an_explained_row() -> None:
    spec = card([{"name": "v", "criteria": [
        {"name": "spend", "metric": "monetary_365d", "method": {"type": "linear", "floor": 0, "cap": 100}}]}],
        vetoes=[{"name": "late", "when": "max_days_late > 90", "max_grade": "C",
                 "reason_en": "paid more than 90 days late", "reason_zh": "逾期超过90天"},
                {"name": "fraud", "when": "complaints >= 10", "max_grade": "D"}])
    customers, points = run(spec, {"customer_id": ["a", "b", "c", "d"], "monetary_365d": [90.0, 30.0, 90.0, 90.0],
                                   "max_days_late": [120, 120, 10, 120], "complaints": [0, 0, None, 12]})
    # a: 90 capped just below B (60): 59.9, C; b: 30 is already below: D, a 0.0 row; c: no veto;
    # d: both trigger, the strictest (D: below 40) takes the adjustment
    assert brief(customers) == [("a", 59.9, "C"), ("b", 30.0, "D"), ("c", 90.0, "A"), ("d", 39.9, "D")]
    vetoes = [(p["customer_id"], p["criterion"], p["points"], p["explanation_en"]) for p in points
              if p["dimension"] == "veto"]
    assert vetoes == [
        ("a", "late", -30.1, "-30.1: grade capped at C: paid more than 90 days late"),
        ("b", "late", 0.0, "+0.0: grade capped at C: paid more than 90 days late"),
        ("d", "fraud", -50.1, "-50.1: grade capped at D: complaints >= 10"),
        ("d", "late", 0.0, "+0.0: grade capped at C: paid more than 90 days late")]
    zh = next(p["explanation_zh"] for p in points if p["criterion"] == "late")
    assert zh == "-30.1：等级最高为C：逾期超过90天"
    totals: dict[str, float] = {}
    for p in points:
        totals[p["customer_id"]] = round(totals.get(p["customer_id"], 0.0) + p["points"], 1)
    assert totals == {c["customer_id"]: c["score"] for c in customers}


def test_custom_grade_bands() -> None:
    spec = card([{"name": "v", "criteria": [
        {"name": "spend", "metric": "monetary_365d", "method": {"type": "linear", "floor": 0, "cap": 100}}]}],
        grades=[{"grade": "gold", "min": 90}, {"grade": "silver", "min": 50.5}, {"grade": "bronze", "min": 0}])
    customers, _ = run(spec, {"customer_id": ["a", "b", "c", "d"], "monetary_365d": [95.0, 90.0, 50.5, 50.4]})
    assert brief(customers) == [("a", 95.0, "gold"), ("b", 90.0, "gold"), ("c", 50.5, "silver"),
                                ("d", 50.4, "bronze")]


def test_missing_feature_columns_are_named() -> None:
    spec = card([{"name": "v", "criteria": [{"name": "s", "metric": "monetary_365d",
                                              "method": {"type": "percentile"}}]}])
    with pytest.raises(MissingColumnsError, match="monetary_365d"):
        score(ibis.memtable({"customer_id": ["a"], "monetary": [1.0]}), spec)


def test_applies_filters_by_customer_type() -> None:
    from crmscore.scorecards.compile import applies
    from crmscore.scorecards.validate import read_scorecard

    t = ibis.memtable({"customer_id": ["a", "b", "c"], "type": ["B2B", "B2C", None]})
    assert t.filter(applies(t, read_scorecard("b2b-default"))).customer_id.to_list() == ["a"]



def test_largest_remainder_ties_within_float_noise_go_to_the_earlier_criterion() -> None:
    spec = card([{"name": "d", "criteria": [
        {"name": "first", "metric": "visits_90d", "method": {"type": "linear", "floor": 0, "cap": 1}},
        {"name": "second", "metric": "order_count", "method": {"type": "linear", "floor": 0, "cap": 1}},
    ]}])
    customers, points = run(spec, {"customer_id": ["a"], "visits_90d": [0.003], "order_count": [0.029]})
    # 50 points each: 0.15 and 1.45 (1.5 and 14.5 tenths), 1.6 in all: one tenth to hand out, and both
    # remainders are half a tenth. In binary floating point the second is 0.5000000000000018 tenths, but a
    # tie within float noise goes to the earlier criterion: 0.2 + 1.4
    assert (50 * 0.029 * 10) % 1 > (50 * 0.003 * 10) % 1  # the noise this test is about
    assert brief(customers) == [("a", 1.6, "D")]
    assert [p["points"] for p in points] == [0.2, 1.4]
