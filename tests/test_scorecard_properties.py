"""Property tests of scoring: scores within [0, 100], points summing to the score, monotonicity in a
higher-is-better metric, and invariance of the result to the scale of the weights."""

from __future__ import annotations

from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmscore.scorecards.compile import score
from crmscore.scorecards.spec import Scorecard

# Each example compiles and runs Ibis queries (about a second each): few examples, marked slow.
SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.slow

values = st.one_of(st.none(), st.floats(min_value=0, max_value=1000, allow_nan=False).map(lambda x: round(x, 2)))
weights = st.integers(min_value=1, max_value=9)


def spec_for(w: list[int], cap: float | None, missing: str, vetoes: bool = True) -> Scorecard:
    return Scorecard.model_validate({
        "name": "prop",
        "dimensions": [
            {"name": "behaviour", "weight": w[0], "cap": cap, "criteria": [
                {"name": "spend", "metric": "monetary_365d", "method": {"type": "percentile"}, "weight": w[1],
                 "missing": missing},
                {"name": "visits", "metric": "visits_90d", "method": {"type": "linear", "floor": 0, "cap": 500},
                 "weight": w[2], "missing": missing,
                 "decay": {"metric": "recency_days", "period_days": 100, "rate": 0.3}}]},
            {"name": "loyalty", "weight": w[3], "criteria": [
                {"name": "orders", "metric": "order_count", "weight": w[4], "missing": missing,
                 "method": {"type": "bins", "bins": [{"upper": 100, "points": 1}, {"lower": 100, "upper": 400,
                                                                                 "points": 4},
                                                     {"lower": 400, "points": 9}]}},
                {"name": "per_order", "expression": "monetary_365d / max(order_count, 1)", "weight": w[5],
                 "method": {"type": "linear", "floor": 0, "cap": 50}, "missing": missing}]},
        ],
        "vetoes": [{"name": "late", "when": "max_days_late > 900", "max_grade": "C"}] if vetoes else [],
    })


@st.composite
def tables(draw: Any) -> dict[str, list[Any]]:
    n = draw(st.integers(min_value=1, max_value=6))
    cols = ["monetary_365d", "visits_90d", "order_count", "recency_days", "max_days_late"]
    data: dict[str, list[Any]] = {"customer_id": [f"c{i}" for i in range(n)]}
    for col in cols:
        data[col] = [draw(values) for _ in range(n)]
    return data


def run(spec: Scorecard, data: dict[str, list[Any]]) -> tuple[dict[str, float], dict[str, float]]:
    result = score(ibis.memtable(data, schema={c: "string" if c == "customer_id" else "float64" for c in data}),
                   spec)
    scores = {r["customer_id"]: r["score"] for r in result.customers.to_pyarrow().to_pylist()}
    sums: dict[str, float] = {}
    for r in result.points.to_pyarrow().to_pylist():
        sums[r["customer_id"]] = sums.get(r["customer_id"], 0.0) + r["points"]
    return scores, sums


@SETTINGS
@given(data=tables(), w=st.lists(weights, min_size=6, max_size=6),
       cap=st.sampled_from([None, 0.6, 1.0]), missing=st.sampled_from(["neutral", "zero", "exclude"]))
def test_scores_in_range_and_points_sum_to_score(data: dict[str, list[Any]], w: list[int], cap: float | None,
                                                  missing: str) -> None:
    scores, sums = run(spec_for(w, cap, missing), data)
    assert set(scores) == set(data["customer_id"])
    for cid, value in scores.items():
        assert 0.0 <= value <= 100.0
        assert round(value * 10) == value * 10 or abs(round(value, 1) - value) < 1e-9
        assert round(sums[cid], 1) == value


@SETTINGS
@given(data=tables(), w=st.lists(weights, min_size=6, max_size=6), factor=st.sampled_from([3, 10, 1000]),
       missing=st.sampled_from(["neutral", "exclude"]))
def test_weights_of_any_scale_give_the_same_result(data: dict[str, list[Any]], w: list[int], factor: int,
                                                    missing: str) -> None:
    base, _ = run(spec_for(w, None, missing), data)
    scaled, _ = run(spec_for([x * factor for x in w], None, missing), data)
    assert base == scaled


@SETTINGS
@given(data=tables(), w=st.lists(weights, min_size=6, max_size=6), who=st.integers(min_value=0, max_value=5),
       column=st.sampled_from(["monetary_365d", "visits_90d", "order_count"]),
       bump=st.floats(min_value=0.01, max_value=500), missing=st.sampled_from(["zero", "exclude"]))
def test_raising_a_higher_is_better_metric_never_lowers_the_score(
        data: dict[str, list[Any]], w: list[int], who: int, column: str, bump: float, missing: str) -> None:
    who = who % len(data["customer_id"])
    # the expression criterion divides by order_count: keep it out of the monotone set by fixing revenue
    spec = spec_for([*w[:5], 1], None, missing, vetoes=False)
    if column == "order_count":
        data["monetary_365d"] = [None] * len(data["customer_id"])
    if data[column][who] is None:  # going from missing to a value is not "raising" it
        data[column][who] = 0.0
    before, _ = run(spec, data)
    raised = {k: list(v) for k, v in data.items()}
    raised[column][who] = data[column][who] + bump
    after, _ = run(spec, raised)
    cid = data["customer_id"][who]
    assert after[cid] >= before[cid] - 1e-9
