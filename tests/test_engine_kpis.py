"""Period KPIs: a hand-made whole table, and invariants that make the numbers add up."""

from __future__ import annotations

import datetime as dt
import importlib.util
from decimal import Decimal
from pathlib import Path

import ibis
import pandas as pd
import pytest

from crmscore.engine import period_kpis
from crmscore.engine.frames import to_frame
from crmscore.errors import EngineError, MissingColumnsError

TS = dt.datetime


def _orders() -> pd.DataFrame:
    rows = [("1", "a", TS(2023, 12, 5), "8.00"),      # before start: a is not new in January
            ("2", "a", TS(2024, 1, 3), "10.00"), ("3", "a", TS(2024, 1, 20), "5.00"),
            ("4", "b", TS(2024, 1, 5), "20.00"), ("5", "b", TS(2024, 2, 2), "7.50"),
            ("6", "a", TS(2024, 3, 9), "3.00"), ("7", "c", TS(2024, 3, 9), "8.00"),
            ("8", "c", TS(2024, 3, 10), "-2.00")]
    df = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount"])
    df["amount"] = df.amount.map(Decimal)
    df["status"] = "completed"
    return df


def test_monthly_kpis_whole_table() -> None:
    k = to_frame(period_kpis({"orders": _orders()}, "2024-01-01", "2024-03-31").order_by("period"))
    assert [str(p) for p in k.period] == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert k.active_customers.tolist() == [2, 1, 2]
    assert k.new_customers.tolist() == [1, 0, 1]          # b in Jan, c in Mar
    assert k.retained_customers.tolist() == [1, 1, 0]     # a (Dec->Jan), b (Jan->Feb)
    assert k.reactivated_customers.tolist() == [0, 0, 1]  # a in March
    assert k.churned_customers.tolist() == [0, 1, 1]      # a gone in Feb, b gone in Mar
    assert k.churn_rate.tolist()[1:] == [0.5, 1.0]
    assert k.revenue.tolist() == [Decimal("35.00"), Decimal("7.50"), Decimal("9.00")]
    assert k.revenue_growth.tolist()[1:] == pytest.approx([7.5 / 35 - 1, 9 / 7.5 - 1])
    # a bought on 2 days in Jan; c's second March document is a reversal, not a purchase
    assert k.repeat_purchase_rate.tolist() == [0.5, 0.0, 0.0]


def test_kpis_by_owner_and_by_groups_table() -> None:
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"], "owner_id": ["R1", "R2", None]})
    k = to_frame(period_kpis({"orders": _orders(), "customers": customers}, "2024-01-01", "2024-03-31",
                             by="owner_id").order_by("period", "owner_id"))
    jan = k[k.period.astype(str) == "2024-01-01"]
    assert jan.owner_id.tolist() == ["R1", "R2"] and jan.active_customers.tolist() == [1, 1]
    seg = pd.DataFrame({"customer_id": ["a", "b", "c"], "rfm_segment": ["loyal", "new", "new"]})
    k2 = to_frame(period_kpis({"orders": _orders()}, "2024-01-01", "2024-03-31", freq="quarter",
                              by="rfm_segment", groups=seg))
    assert sorted(k2.rfm_segment) == ["loyal", "new"]
    assert k2.revenue.sum() == Decimal("51.50")
    with pytest.raises(MissingColumnsError):
        period_kpis({"orders": _orders(), "customers": customers}, "2024-01-01", "2024-03-31", by="colour")
    with pytest.raises(EngineError, match="frequency"):
        period_kpis({"orders": _orders()}, "2024-01-01", "2024-03-31", freq="week")  # type: ignore[arg-type]


def test_kpis_add_up_on_synthetic_data() -> None:
    spec = importlib.util.spec_from_file_location("engine_synth", Path(__file__).parent / "fixtures/engine/synth.py")
    assert spec and spec.loader
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    con = ibis.duckdb.connect()
    tables = {n: con.create_table(n, t) for n, t in synth.make_tables(n_customers=600, seed=5).items()}
    k = to_frame(period_kpis(tables, "2021-01-01", "2024-06-30", freq="month").order_by("period"))
    assert (k.active_customers == k.new_customers + k.retained_customers + k.reactivated_customers).all()
    prev_active = k.active_customers.shift(1)
    both = k.iloc[1:]
    assert (both.retained_customers + both.churned_customers == prev_active.iloc[1:]).all()
    rates = both[both.churn_rate.notna()]
    assert ((rates.churn_rate + rates.retention_rate - 1).abs() < 1e-12).all()
    # revenue per month adds up to the net monetary of all orders in the range
    o = to_frame(tables["orders"])
    o = o[(o.order_date < TS(2024, 7, 1)) & (((o.status == "completed") & (o.amount > 0)) | (o.amount < 0))]
    assert k.revenue.sum() == o.amount.sum()
    # per-owner rows add up to the totals
    by = to_frame(period_kpis(tables, "2021-01-01", "2024-06-30", by="owner_id"))
    totals = by.groupby(by.period.astype(str))[["active_customers", "new_customers", "churned_customers"]].sum()
    k_idx = k.set_index(k.period.astype(str))[["active_customers", "new_customers", "churned_customers"]]
    pd.testing.assert_frame_equal(totals.sort_index(), k_idx.sort_index(), check_names=False)
    assert k.avg_csat.between(0, 100).all() and k.nps.dropna().between(-100, 100).all()
