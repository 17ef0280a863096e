"""UCI Online Retail (package copy): the engine's RFM summary equals an independent pandas computation.

Clean purchase lines (dataset README in src/crmscore/datasets/data/SOURCES.md and the issue text): invoice not
starting with 'C', quantity > 0, unit price > 0, customer present -> 4,338 customers, GBP 8,911,407.90.
Each invoice becomes one canonical order (amount = sum of its lines, in cents).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from crmscore.engine import RFM, build_customer_table
from crmscore.engine.frames import to_frame

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    path = resources.files("crmscore.datasets") / "data" / "online_retail_all.parquet"
    df = pd.read_parquet(str(path))
    keep = (~df.InvoiceNo.astype(str).str.startswith("C")) & (df.Quantity > 0) & (df.UnitPrice > 0) \
        & df.CustomerID.notna()
    df = df[keep].copy()
    df["cents"] = (df.Quantity * df.UnitPrice * 100).round().astype("int64")
    df["customer_id"] = df.CustomerID.astype("int64").astype(str)
    return df


def _orders(lines: pd.DataFrame) -> pd.DataFrame:
    o = lines.groupby("InvoiceNo").agg(customer_id=("customer_id", "first"), order_date=("InvoiceDate", "min"),
                                       cents=("cents", "sum")).reset_index()
    return pd.DataFrame({"order_id": o.InvoiceNo, "customer_id": o.customer_id, "order_date": o.order_date,
                         "amount": [Decimal(int(c)).scaleb(-2) for c in o.cents], "status": "completed"})


def test_clean_lines_match_the_reference_numbers(lines: pd.DataFrame) -> None:
    assert lines.customer_id.nunique() == 4338
    assert Decimal(int(lines.cents.sum())).scaleb(-2) == Decimal("8911407.90")


def test_rfm_summary_equals_pandas(lines: pd.DataFrame) -> None:
    as_of = lines.InvoiceDate.max().date()  # 2011-12-09
    table, rfm = build_customer_table({"orders": _orders(lines)}, as_of)
    got = to_frame(table.select("customer_id", "recency_days", "purchase_days", "monetary", "r_score", "f_score",
                                "m_score", "rfm_code")).set_index("customer_id").sort_index()

    # Independent pandas: recency from the last purchase day, frequency = distinct days, monetary in cents.
    lines = lines.assign(day=lines.InvoiceDate.dt.normalize())
    per = lines.groupby("customer_id").agg(last=("day", "max"), days=("day", "nunique"), cents=("cents", "sum"))
    per["recency"] = (pd.Timestamp(as_of) - per["last"]).dt.days
    per = per.sort_index()
    assert len(got) == len(per) == 4338
    assert got.recency_days.tolist() == per.recency.tolist()
    assert got.purchase_days.tolist() == per.days.tolist()
    assert [int(m * 100) for m in got.monetary] == per.cents.tolist()
    assert sum(got.monetary) == Decimal("8911407.90")

    # Quantile edges by the inverted-CDF definition, scores = number of edges below the value.
    def edges(values: pd.Series) -> np.ndarray:
        v = np.sort(values.to_numpy())
        return np.array([v[math.ceil(q / 5 * len(v)) - 1] for q in range(1, 5)])

    e_r, e_f, e_m = edges(per.recency), edges(per.days), edges(per.cents)
    assert rfm.bin_edges_["recency"] == e_r.tolist() and rfm.bin_edges_["frequency"] == e_f.tolist()
    assert [int(x * 100) for x in rfm.bin_edges_["monetary"]] == e_m.tolist()
    r = 5 - np.searchsorted(e_r, per.recency, side="left")
    f = 1 + np.searchsorted(e_f, per.days, side="left")
    m = 1 + np.searchsorted(e_m, per.cents, side="left")
    assert got.r_score.tolist() == r.tolist()
    assert got.f_score.tolist() == f.tolist()
    assert got.m_score.tolist() == m.tolist()
    summary = got.groupby("rfm_code").size().sort_index()
    expected = pd.Series([f"{a}{b}{c}" for a, b, c in zip(r, f, m, strict=True)]).value_counts().sort_index()
    assert summary.tolist() == expected.tolist() and list(summary.index) == list(expected.index)
    assert isinstance(rfm, RFM) and as_of == dt.date(2011, 12, 9)
