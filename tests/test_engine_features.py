"""Per-customer features on hand-made tables; every expected value is worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
from decimal import Decimal
from pathlib import Path

import ibis
import pandas as pd
import pytest

from crmscore.engine import FeatureConfig, compute_features
from crmscore.engine.frames import to_frame
from crmscore.errors import EngineError, MissingColumnsError, UnknownName

AS_OF = dt.date(2024, 6, 30)
D = Decimal
TS = dt.datetime


def _orders() -> pd.DataFrame:
    rows = [  # order_id, customer, time, amount, cost, status
        ("a1", "a", TS(2024, 1, 1, 9), "100.00", "60.00", "completed"),
        ("a2", "a", TS(2024, 3, 1, 12), "50.25", "30.00", "completed"),
        ("a3", "a", TS(2024, 6, 15, 18), "20.10", None, "completed"),
        ("a4", "a", TS(2024, 6, 20, 8), "-10.00", "-6.00", "returned"),     # reversal
        ("b1", "b", TS(2023, 6, 30, 10), "99.99", None, "completed"),
        ("b2", "b", TS(2024, 6, 1, 10), "500.00", None, "cancelled"),       # counts for nothing
        ("c1", "c", TS(2024, 7, 2, 10), "70.00", None, "completed"),        # after as_of
        ("d1", "d", TS(2024, 6, 30, 23, 59), "10.00", None, "completed"),   # same day twice
        ("d2", "d", TS(2024, 6, 30, 8), "5.00", None, "completed"),
        ("e1", "e", TS(2024, 5, 1, 10), "60.00", None, "completed"),
        ("e2", "e", TS(2024, 5, 1, 11), "40.00", None, "returned"),         # positive returned order
        ("g1", "g", TS(2024, 4, 10, 10), "30.00", None, "completed"),       # not in customers
    ]
    df = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount", "cost", "status"])
    df["amount"] = df.amount.map(D)
    df["cost"] = df.cost.map(lambda v: None if v is None else D(v))
    return df


def _customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "type": ["B2B", "B2C", "B2B", "B2C", "B2C", "B2B"],
        "owner_id": ["R1", "R2", None, None, None, None],
        "department": [None, "KA", None, None, None, None],
        "created_on": [dt.date(2023, 1, 1)] * 5 + [dt.date(2024, 8, 1)],   # f: created after as_of
    })


def _others() -> dict[str, pd.DataFrame]:
    owners = pd.DataFrame({"owner_id": ["R1", "R2"], "department": ["Sales/East", "Sales/West"]})
    interactions = pd.DataFrame([
        ("i1", "a", TS(2024, 6, 1, 10), "visit", 100.0, 3),
        ("i2", "a", TS(2024, 4, 1, 23), "visit", 50.0, 2),      # before the 90-day window (starts 04-02)
        ("i3", "a", TS(2024, 6, 10, 9), "email_open", None, None),
        ("i4", "a", TS(2024, 5, 5, 9), "call", 300.0, None),
        ("i5", "a", TS(2024, 7, 1, 9), "meeting", 600.0, None),  # after as_of
    ], columns=["interaction_id", "customer_id", "occurred_at", "type", "duration_seconds", "pages"])
    invoices = pd.DataFrame([
        ("V1", "a", dt.date(2024, 1, 1), dt.date(2024, 1, 31), D("100.00"), dt.date(2024, 2, 5), D("100.00"), False),
        ("V2", "a", dt.date(2024, 5, 1), dt.date(2024, 5, 31), D("200.00"), None, None, False),
        ("V3", "a", dt.date(2024, 6, 20), dt.date(2024, 7, 20), D("50.00"), None, None, False),
        ("V4", "a", dt.date(2024, 2, 1), dt.date(2024, 3, 2), D("80.00"), dt.date(2024, 3, 1), D("80.00"), True),
        ("V5", "b", dt.date(2024, 3, 1), dt.date(2024, 3, 31), D("10.00"), dt.date(2024, 7, 15), D("10.00"), False),
    ], columns=["invoice_id", "customer_id", "issued_on", "due_on", "amount", "paid_on", "paid_amount", "disputed"])
    surveys = pd.DataFrame([
        ("S1", "a", dt.date(2024, 3, 1), "product", 4.0, None, None, 9),
        ("S1", "a", dt.date(2024, 3, 1), "service", 5.0, None, None, 9),
        ("S2", "a", dt.date(2024, 5, 1), "product", 6.0, 0.0, 10.0, 6),
        ("S3", "b", dt.date(2024, 7, 5), "product", 1.0, None, None, 0),   # after as_of
    ], columns=["survey_id", "customer_id", "answered_on", "dimension", "score", "scale_min", "scale_max",
                "would_recommend"])
    tickets = pd.DataFrame([
        ("T1", "a", TS(2024, 6, 1, 8), TS(2024, 6, 2, 10), True),
        ("T2", "a", TS(2024, 6, 29, 8), None, False),
        ("T3", "a", TS(2024, 7, 2, 8), TS(2024, 7, 2, 9), True),            # after as_of
    ], columns=["ticket_id", "customer_id", "opened_at", "closed_at", "is_complaint"])
    opportunities = pd.DataFrame([
        ("P1", "a", dt.date(2024, 2, 1), 4, 2), ("P2", "a", dt.date(2024, 6, 1), 5, 3),
        ("P3", "b", dt.date(2024, 7, 1), 1, 1),                             # after as_of
    ], columns=["opportunity_id", "customer_id", "created_on", "urgency", "fit"])
    return {"owners": owners, "interactions": interactions, "invoices": invoices, "surveys": surveys,
            "tickets": tickets, "opportunities": opportunities}


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    tables = {"orders": _orders(), "customers": _customers(), **_others()}
    return to_frame(compute_features(tables, AS_OF).order_by("customer_id")).set_index("customer_id")


def test_customer_list(features: pd.DataFrame) -> None:
    # f was created after as_of; g appears only in orders.
    assert list(features.index) == ["a", "b", "c", "d", "e", "g"]


def test_purchase_metrics_whole_table(features: pd.DataFrame) -> None:
    cols = ["recency_days", "purchase_days", "purchase_days_90d", "purchase_days_365d", "order_count",
            "monetary", "monetary_90d", "monetary_365d", "first_purchase", "last_purchase", "tenure_days",
            "last_gap_days"]
    got = features[cols].astype(object)
    got = got.map(lambda v: None if v is pd.NA or v is None or (isinstance(v, float) and math.isnan(v)) else v)
    expected = pd.DataFrame.from_dict({
        # a: sale days 01-01, 03-01, 06-15; net 100 + 50.25 + 20.10 - 10; 90 days = after 04-01
        "a": [15, 3, 1, 3, 3, D("160.35"), D("10.10"), D("160.35"), dt.date(2024, 1, 1), dt.date(2024, 6, 15), 181, 106],
        # b: 2023-06-30 is 366 days back (leap year), outside the 365-day window; cancelled 500 ignored
        "b": [366, 1, 0, 0, 1, D("99.99"), D("0.00"), D("0.00"), dt.date(2023, 6, 30), dt.date(2023, 6, 30), 366, None],
        "c": [None, 0, 0, 0, 0, D("0.00"), D("0.00"), D("0.00"), None, None, None, None],
        # d: two orders on as_of itself -> one purchase day, two orders
        "d": [0, 1, 1, 1, 2, D("15.00"), D("15.00"), D("15.00"), AS_OF, AS_OF, 0, None],
        # e: the positive 'returned' order counts for nothing
        "e": [60, 1, 1, 1, 1, D("60.00"), D("60.00"), D("60.00"), dt.date(2024, 5, 1), dt.date(2024, 5, 1), 60, None],
        "g": [81, 1, 1, 1, 1, D("30.00"), D("30.00"), D("30.00"), dt.date(2024, 4, 10), dt.date(2024, 4, 10), 81, None],
    }, orient="index", columns=cols).astype(object)
    expected = expected.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
    expected.index.name = "customer_id"
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_purchase_ratios(features: pd.DataFrame) -> None:
    a = features.loc["a"]
    assert a.avg_order_value == pytest.approx(160.35 / 3)
    assert a.interpurchase_mean_days == pytest.approx(83.0)            # 166 days / 2 gaps
    assert a.interpurchase_std_days == pytest.approx(46 / math.sqrt(2))  # gaps 60 and 106
    assert a.trend_90d == pytest.approx(10.10 / 50.25 - 1)             # last 90 vs 03-01 sale
    assert a.return_rate == pytest.approx(10 / 170.35)
    assert features.loc["e", "return_rate"] == pytest.approx(0.4)     # 40 / (60 + 40)
    assert features.loc["b", "return_rate"] == 0
    assert pd.isna(features.loc["b", "trend_90d"]) and pd.isna(features.loc["b", "interpurchase_mean_days"])
    assert pd.isna(features.loc["c", "avg_order_value"])


def test_profitability(features: pd.DataFrame) -> None:
    # a: (100-60) + (50.25-30) + (-10 - -6); a3 has no cost. Two tickets x 50.
    assert features.loc["a", "gross_margin"] == D("56.25")
    assert features.loc["a", "service_cost"] == D("100.00")
    assert features.loc["a", "profit"] == D("-43.75")
    assert features.loc["b", "gross_margin"] is None and features.loc["b", "profit"] is None
    assert features.loc["b", "service_cost"] == D("0.00")


def test_engagement(features: pd.DataFrame) -> None:
    a = features.loc["a"]
    assert (a.visits_90d, a.dwell_seconds_total_90d, a.dwell_seconds_avg_90d, a.pages_90d) == (1, 100.0, 100.0, 3)
    assert (a.emails_opened_90d, a.calls_meetings_90d, a.days_since_interaction) == (1, 1, 20)
    b = features.loc["b"]
    assert (b.visits_90d, b.pages_90d) == (0, 0) and pd.isna(b.days_since_interaction)


def test_financial(features: pd.DataFrame) -> None:
    a = features.loc["a"]
    assert a.invoices == 4
    assert a.avg_days_late == pytest.approx((5 + 30 + 0) / 3)  # V3 not yet due
    assert a.max_days_late == 30 and a.on_time_rate == pytest.approx(1 / 3)
    assert a.overdue_amount == D("200.00") and a.disputed_share == 0.25
    assert a.dso == pytest.approx(250 / 430 * 365)              # outstanding V2 + V3 / invoiced
    b = features.loc["b"]  # paid after as_of: still overdue at as_of, 91 days late
    assert (b.max_days_late, b.overdue_amount) == (91, D("10.00"))


def test_satisfaction_and_needs(features: pd.DataFrame) -> None:
    a = features.loc["a"]
    assert a.csat_product == pytest.approx((75 + 60) / 2) and a.csat_service == pytest.approx(100.0)
    assert pd.isna(a.csat_response) and pd.isna(a.csat_after_sales)
    assert a.would_recommend_avg == 7.5 and a.nps_category == "passive" and a.nps == 0
    assert (a.complaints, a.tickets) == (1, 2) and a.time_to_resolve_hours == pytest.approx(26.0)
    assert (a.opportunity_urgency, a.opportunity_fit, a.opportunities) == (4.5, 2.5, 2)
    b = features.loc["b"]
    assert pd.isna(b.csat_product) and b.nps_category is None and pd.isna(b.opportunity_urgency)
    assert (b.complaints, b.opportunities) == (0, 0)


def test_profile(features: pd.DataFrame) -> None:
    assert features.loc["a", "department"] == "Sales/East"  # from the owner
    assert features.loc["b", "department"] == "KA"
    assert features.loc["g", "type"] is None and features.loc["d", "type"] == "B2C"


def test_missing_optional_tables_give_null() -> None:
    f = to_frame(compute_features({"orders": _orders()}, AS_OF))
    for col in ("visits_90d", "invoices", "csat_product", "nps", "complaints", "service_cost", "type",
                "product_breadth", "opportunity_fit"):
        assert f[col].isna().all(), col
    assert f.purchase_days.notna().all()
    # no tickets table: profit is the gross margin
    assert f.set_index("customer_id").loc["a", "profit"] == D("56.25")


def test_service_cost_is_configurable() -> None:
    tables = {"orders": _orders(), "tickets": _others()["tickets"]}
    f = to_frame(compute_features(tables, AS_OF, FeatureConfig(service_cost_per_ticket=D("12.5"))))
    assert f.set_index("customer_id").loc["a", "service_cost"] == D("25.00")


def test_errors_name_the_problem() -> None:
    with pytest.raises(MissingColumnsError, match="customer_id"):
        compute_features({"orders": _orders().drop(columns=["customer_id"])}, AS_OF)
    with pytest.raises(UnknownName, match="ordres"):
        compute_features({"ordres": _orders()}, AS_OF)
    with pytest.raises(EngineError, match="as_of"):
        compute_features({"orders": _orders()}, "30/06/2024")
    with pytest.raises(EngineError, match="orders"):
        compute_features({"surveys": _others()["surveys"]}, AS_OF)


def test_as_of_snapshot_ignores_later_data() -> None:
    """A snapshot at as_of from all data equals the one from the data cut at as_of (historical correctness)."""
    spec = importlib.util.spec_from_file_location("engine_synth", Path(__file__).parent / "fixtures/engine/synth.py")
    assert spec and spec.loader
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    arrow = synth.make_tables(n_customers=400, seed=3)
    as_of = dt.date(2023, 9, 30)
    con = ibis.duckdb.connect()
    full = {n: con.create_table(n, t) for n, t in arrow.items()}
    end = ibis.literal(dt.datetime(2023, 10, 1))
    day = ibis.literal(as_of)
    cut_filters = {"orders": lambda t: t.order_date < end, "interactions": lambda t: t.occurred_at < end,
                   "tickets": lambda t: t.opened_at < end, "invoices": lambda t: t.issued_on <= day,
                   "surveys": lambda t: t.answered_on <= day, "opportunities": lambda t: t.created_on <= day}
    cut = {n: (t.filter(cut_filters[n](t)) if n in cut_filters else t) for n, t in full.items()}
    # payments made after as_of must not count either: blank them in the cut data
    inv = cut["invoices"]
    late = inv.paid_on > day
    cut["invoices"] = inv.mutate(paid_on=ibis.ifelse(late, ibis.null("date"), inv.paid_on),
                                 paid_amount=ibis.ifelse(late, ibis.null("decimal(18, 2)"), inv.paid_amount))
    tk = cut["tickets"]
    cut["tickets"] = tk.mutate(closed_at=ibis.ifelse(tk.closed_at >= end, ibis.null("timestamp"), tk.closed_at))
    a = to_frame(compute_features(full, as_of).order_by("customer_id"))
    b = to_frame(compute_features(cut, as_of).order_by("customer_id"))
    pd.testing.assert_frame_equal(a, b)
    assert (a.purchase_days > 0).sum() > 50
