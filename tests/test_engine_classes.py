"""RFM, segments, ABC, purchase classes, value tiers and lifecycle stages on hand-made tables, plus invariants."""

from __future__ import annotations

import itertools
from decimal import Decimal

import ibis
import pandas as pd
import pytest

from crmscore.engine import RFM, Segment
from crmscore.engine.abc import ABCConfig, abc_expr
from crmscore.engine.classes import PurchaseClassRules, purchase_class_expr, value_tier_expr
from crmscore.engine.frames import to_frame, to_ibis
from crmscore.engine.lifecycle import LifecycleRules, lifecycle_expr
from crmscore.engine.segments import SEGMENTS, match_segment, validate_segments
from crmscore.errors import ConfigError, MissingColumnsError, NotFittedError

D = Decimal


def _rfm_frame() -> pd.DataFrame:
    # 10 purchasers (values chosen so the 20/40/60/80 % inverted-cdf quantiles are easy to read) + 1 prospect.
    return pd.DataFrame({
        "customer_id": [f"c{i:02d}" for i in range(11)],
        "recency_days": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, None],
        "purchase_days": [1, 1, 1, 1, 2, 2, 3, 5, 8, 13, 0],
        "monetary": [D(x) for x in ("10.00", "10.00", "10.01", "20.00", "20.00", "35.50", "35.50", "99.99",
                                    "100.00", "1000.00", "0.00")],
    })


def test_rfm_edges_and_scores_whole_table() -> None:
    df = _rfm_frame()
    rfm = RFM().fit(df)
    # inverted_cdf on 10 values: the 2nd, 4th, 6th and 8th smallest
    assert rfm.bin_edges_ == {"recency": [2, 4, 6, 8], "frequency": [1, 1, 2, 5],
                              "monetary": [D("10.00"), D("20.00"), D("35.50"), D("99.99")]}
    out = rfm.transform(df)
    assert out.r_score.tolist()[:10] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert out.f_score.tolist()[:10] == [1, 1, 1, 1, 3, 3, 4, 4, 5, 5]   # ties: equal values, equal scores
    assert out.m_score.tolist()[:10] == [1, 1, 2, 2, 2, 3, 3, 4, 5, 5]
    assert out.rfm_code.tolist()[:3] == ["511", "511", "412"]
    assert out.rfm_segment.tolist() == [match_segment(r, f, m) for r, f, m in
                                        zip(out.r_score[:10], out.f_score[:10], out.m_score[:10], strict=True)
                                        ] + ["no_purchase"]
    assert pd.isna(out.r_score[10]) and out.rfm_code[10] is None


def test_rfm_edges_apply_to_later_periods() -> None:
    rfm = RFM().fit(_rfm_frame())
    later = pd.DataFrame({"customer_id": ["x", "y"], "recency_days": [3, 500], "purchase_days": [40, 1],
                          "monetary": [D("5000.00"), D("10.00")]})
    out = rfm.transform(later)
    assert out[["r_score", "f_score", "m_score"]].values.tolist() == [[4, 5, 5], [1, 1, 1]]
    assert RFM.from_dict(rfm.to_dict()).bin_edges_ == rfm.bin_edges_


def test_rfm_is_order_independent() -> None:
    df = _rfm_frame()
    shuffled = df.sample(frac=1.0, random_state=1)
    a = RFM().fit_transform(df).sort_values("customer_id").reset_index(drop=True)
    b = RFM().fit_transform(shuffled).sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_rfm_errors() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        RFM().transform(_rfm_frame())
    with pytest.raises(ConfigError, match="n_bins"):
        RFM(n_bins=1).fit(_rfm_frame())
    with pytest.raises(MissingColumnsError, match="monetary"):
        RFM().fit(_rfm_frame().drop(columns=["monetary"]))


def test_rfm_other_bin_counts() -> None:
    out = RFM(n_bins=3).fit_transform(_rfm_frame())
    assert set(out.r_score.dropna()) <= {1, 2, 3}
    assert out.rfm_segment.notna().all()


def test_segments_cover_every_score_combination_once() -> None:
    validate_segments(SEGMENTS)
    cells = list(itertools.product(range(1, 6), repeat=3))
    keys = [match_segment(*c) for c in cells]
    assert None not in keys
    assert set(keys) == {s.key for s in SEGMENTS}  # every rule is reachable
    assert match_segment(5, 5, 5) == "champions" and match_segment(1, 5, 5) == "cant_lose"
    assert match_segment(5, 1, 1) == "new" and match_segment(1, 1, 1) == "lost"


def test_custom_segments_are_data_and_validated() -> None:
    two = [Segment("best", "Best", "最佳", r=(4, 5)), Segment("rest", "Rest", "其他")]
    out = RFM(segments=two).fit_transform(_rfm_frame())
    assert set(out.rfm_segment) == {"best", "rest", "no_purchase"}
    with pytest.raises(ConfigError, match="match no rule"):
        validate_segments([Segment("only", "Only", "仅", r=(5, 5))])
    with pytest.raises(ConfigError, match="range 0-3"):
        validate_segments([Segment("bad", "Bad", "坏", f=(0, 3)), Segment("rest", "Rest", "其他")])


def _abc(values: list[object], config: ABCConfig | None = None) -> list[str]:
    t = to_ibis(pd.DataFrame({"customer_id": [f"c{i:04d}" for i in range(len(values))], "monetary": values}))
    return to_frame(t.mutate(k=abc_expr(t, config)).order_by("customer_id")).k.tolist()


def test_abc_whole_tables() -> None:
    # cumulative before: 0, 40, 70, 85, 95, 100 % of 100
    assert _abc([D("40"), D("30"), D("15"), D("10"), D("5"), D("0")]) == ["A", "A", "A", "B", "C", "C"]
    # ties broken by customer_id; negative and NULL values are C
    assert _abc([D("25"), D("25"), D("25"), D("25"), D("-5"), None]) == ["A", "A", "A", "A", "C", "C"]
    assert _abc([D("50"), D("50")], ABCConfig(a_percent=D("50"), b_percent=D("50"))) == ["A", "B"]
    with pytest.raises(ConfigError, match="b_percent"):
        _abc([D("1")], ABCConfig(a_percent=D("90"), b_percent=D("20")))


def test_abc_shares_invariant() -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    cents = rng.integers(0, 100000, 500)
    values = [D(int(c)).scaleb(-2) for c in cents]
    classes = _abc(values)
    total = sum(values)
    a_share = sum(v for v, k in zip(values, classes, strict=True) if k == "A") / total
    ab_share = sum(v for v, k in zip(values, classes, strict=True) if k in "AB") / total
    assert D("0.80") <= a_share and D("0.95") <= ab_share
    # removing the smallest A customer drops A below 80 %
    smallest_a = min(v for v, k in zip(values, classes, strict=True) if k == "A")
    assert a_share - smallest_a / total < D("0.80")


def test_purchase_class_and_value_tier() -> None:
    t = to_ibis(pd.DataFrame({"purchase_days": [0, None, 1, 2, 7, 7], "purchase_days_365d": [0, 0, 1, 2, 4, 3],
                              "m_score": [None, None, 1, 3, 5, 4]}))
    got = to_frame(t.select(c=purchase_class_expr(t), v=value_tier_expr(t))).values.tolist()
    assert got == [["never_purchased", "low"], ["never_purchased", "low"], ["one_time", "low"],
                   ["low_frequency", "medium"], ["high_frequency", "high"], ["low_frequency", "medium"]]
    got2 = to_frame(t.select(c=purchase_class_expr(t, PurchaseClassRules(high_frequency_min_days=2)))).c
    assert got2.tolist()[3] == "high_frequency"


def test_lifecycle_whole_table() -> None:
    df = pd.DataFrame([
        # purchase_days, recency, tenure, mean interval, last gap -> expected
        (0, None, None, None, None, "prospect"),
        (1, 100, 100, None, None, "new"),          # default interval 90: at risk after 180
        (1, 200, 200, None, None, "at_risk"),
        (1, 361, 361, None, None, "churned"),      # > 4 x 90
        (2, 10, 40, 30.0, 30, "repeat"),
        (5, 10, 400, 97.5, 100, "loyal"),
        (5, 10, 300, 72.5, 100, "repeat"),         # tenure below 365
        (3, 70, 80, 5.0, 5, "at_risk"),            # interval floored at 30: at risk after 60
        (3, 125, 140, 7.5, 10, "churned"),         # > 4 x 30
        (10, 731, 2000, 140.0, 100, "churned"),    # absolute cap 730 days
        (4, 10, 900, 296.67, 700, "reactivated"),  # earlier rhythm (890-700)/2 = 95 -> churn after 380
    ], columns=["purchase_days", "recency_days", "tenure_days", "interpurchase_mean_days", "last_gap_days",
                "expected"])
    t = to_ibis(df)
    got = to_frame(t.select(s=lifecycle_expr(t))).s.tolist()
    assert got == df.expected.tolist()
    strict = to_frame(t.select(s=lifecycle_expr(t, LifecycleRules(churn_after_days=100)))).s.tolist()
    assert strict[1] == "new" and strict[2] == "churned"
    with pytest.raises(ConfigError, match="churn_factor"):
        lifecycle_expr(t, LifecycleRules(at_risk_factor=5.0, churn_factor=2.0))


def test_classes_partition_every_customer() -> None:
    """On the synthetic fixture every customer has exactly one value of every class, and purchasers agree."""
    import datetime as dt
    import importlib.util
    from pathlib import Path

    from crmscore.engine import CLASS_COLUMNS, build_customer_table

    spec = importlib.util.spec_from_file_location("engine_synth", Path(__file__).parent / "fixtures/engine/synth.py")
    assert spec and spec.loader
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    con = ibis.duckdb.connect()
    tables = {n: con.create_table(n, t) for n, t in synth.make_tables(n_customers=800, seed=11).items()}
    table, _ = build_customer_table(tables, dt.date(2024, 6, 30))
    df = to_frame(table)
    assert df.customer_id.is_unique
    for col in ("rfm_segment", "abc_class", "purchase_class", "value_tier", "lifecycle_stage"):
        assert df[col].notna().all(), col
    never = df.purchase_days == 0
    assert (df.rfm_segment[never] == "no_purchase").all()
    assert (df.purchase_class[never] == "never_purchased").all()
    assert (df.lifecycle_stage[never] == "prospect").all()
    assert df.loc[~never, ["r_score", "f_score", "m_score"]].notna().all().all()
    assert (df.lifecycle_stage[~never] != "prospect").all()
    assert set(CLASS_COLUMNS) <= set(df.columns)
