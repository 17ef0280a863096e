"""summary_from_transactions / summary_expr / summary_from_orders: hand-made tables compared whole."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from crmscore.datasets import cdnow_orders, load_cdnow
from crmscore.errors import DataError, MissingColumnsError, UnknownName
from crmscore.models import summary_from_orders, summary_from_transactions
from crmscore.store.warehouse import Warehouse

TX = pd.DataFrame({
    "cust": ["a", "a", "a", "a", "b", "c", "c"],
    "when": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 17:00", "2024-01-15 00:00", "2024-02-05 00:00",
                            "2024-01-20 00:00", "2024-01-10 00:00", "2024-03-01 00:00"]),
    "spend": [10.0, 5.0, 20.0, 40.0, 7.0, 3.0, 9.0],
})


def test_summary_whole_table_days() -> None:
    got = summary_from_transactions(TX, "cust", "when", "spend", observation_period_end="2024-02-29")
    expected = pd.DataFrame({
        "cust": ["a", "b", "c"],
        "frequency": [2, 0, 0],            # a: purchase days 01-01 (two orders), 01-15, 02-05
        "recency": [35.0, 0.0, 0.0],
        "T": [59.0, 40.0, 50.0],          # c's 03-01 purchase lies after the observation end
        "monetary_value": [30.0, 0.0, 0.0],  # mean of the repeat days 20 and 40; the first day is left out
    })
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs["time_unit_days"] == 1.0


def test_summary_weeks_and_holdout() -> None:
    got = summary_from_transactions(TX, "cust", "when", "spend", observation_period_end="2024-03-10",
                                    calibration_period_end="2024-01-21", freq="W")
    expected = pd.DataFrame({
        "cust": ["a", "b", "c"],
        "frequency_cal": [1, 0, 0],
        "recency_cal": [2.0, 0.0, 0.0],
        "T_cal": [20 / 7, 1 / 7, 11 / 7],
        "monetary_value_cal": [20.0, 0.0, 0.0],
        "frequency_holdout": [1, 0, 1],
        "monetary_value_holdout": [40.0, 0.0, 9.0],
        "duration_holdout": [7.0, 7.0, 7.0],
    })
    pd.testing.assert_frame_equal(got, expected)
    assert got.attrs["time_unit_days"] == 7.0


def test_polars_arrow_and_pandas_agree() -> None:
    base = summary_from_transactions(TX, "cust", "when", "spend", observation_period_end="2024-03-31")
    for other in (pl.from_pandas(TX), pa.Table.from_pandas(TX)):
        got = summary_from_transactions(other, "cust", "when", "spend", observation_period_end="2024-03-31")
        pd.testing.assert_frame_equal(got, base)
    # without an observation end, the latest transaction date is used
    pd.testing.assert_frame_equal(summary_from_transactions(TX, "cust", "when", "spend"), base.assign(
        T=base["T"] - 30.0))


def test_daily_counting_differs_from_weekly_bucketing() -> None:
    # CDNOW: purchase days give the literature's 2,457 calibration repeats; calendar-week buckets (pandas
    # 'W' periods, what lifetimes does with freq='W') merge purchases and give 2,216
    lines = load_cdnow()
    cal = lines[lines["date"] <= "1997-09-30"]
    weeks = cal["date"].dt.to_period("W")
    weekly_repeats = int(cal.assign(w=weeks).groupby("customer_id")["w"].nunique().sub(1).sum())
    assert weekly_repeats == 2216
    summary = summary_from_transactions(lines, "customer_id", "date", observation_period_end="1997-09-30",
                                        freq="W")
    assert int(summary["frequency"].sum()) == 2457
    assert "monetary_value" not in summary.columns


def test_warehouse_expression_matches_in_memory() -> None:
    orders = cdnow_orders()
    # add documents that are not sales: a return, a cancelled order and a zero-amount line
    extra = pd.DataFrame({"order_id": ["r1", "c1", "z1"], "customer_id": ["00004"] * 3,
                          "order_date": pd.to_datetime(["1997-03-01", "1997-03-02", "1997-03-03"]),
                          "amount": [-20.0, 50.0, 0.0], "cost": np.nan, "currency": "USD",
                          "status": ["returned", "cancelled", "completed"], "channel": "online"})
    wh = Warehouse.in_memory()
    try:
        wh.con.create_table("orders_test", pd.concat([orders, extra], ignore_index=True))
        expr = summary_from_orders(wh.con.table("orders_test"), observation_period_end="1998-06-30",
                                   calibration_period_end="1997-09-30", freq="W")
        in_warehouse = wh.con.execute(expr).reset_index(drop=True)
    finally:
        wh.close()
    sales = orders[orders["amount"] > 0]
    in_memory = summary_from_transactions(sales, "customer_id", "order_date", "amount",
                                          observation_period_end="1998-06-30",
                                          calibration_period_end="1997-09-30", freq="W")
    pd.testing.assert_frame_equal(in_warehouse, in_memory, check_dtype=False, atol=1e-9)


def test_summary_errors_name_the_problem() -> None:
    with pytest.raises(MissingColumnsError, match="'amount'") as info:
        summary_from_transactions(TX, "cust", "when", "amount")
    assert info.value.hint and "spend" not in info.value.message
    with pytest.raises(DataError, match="must be before"):
        summary_from_transactions(TX, "cust", "when", observation_period_end="2024-01-01",
                                  calibration_period_end="2024-02-01")
    with pytest.raises(UnknownName, match="time unit"):
        summary_from_transactions(TX, "cust", "when", freq="Q")
    with pytest.raises(DataError, match="unsupported input type"):
        summary_from_transactions([1, 2, 3], "cust", "when")
    with pytest.raises(MissingColumnsError):
        summary_from_orders(ibis.memtable(TX), observation_period_end="2024-03-01")
