"""The engine's two order paths and its metric selection give the same values as the full computation.

- DuckDB reads purchase days and inter-purchase gaps from sorted lists of sale days; every other engine (and
  ``FeatureConfig(portable=True)``) from a window over the sales. Both are compared with each other and with
  an independent pandas computation written here (distinct sale days per customer, numpy gaps).
- ``compute_features(only=...)`` / ``build_customer_table(only=...)`` must return the same values for the
  metrics they keep, and leave out tables none of them reads.
Fixture: tests/fixtures/engine/synth.py (seeded; ties, same-day orders, reversals, every optional table),
plus hand-made same-day, pre-1970 and single-day customers.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crmscore.engine import FeatureConfig, build_customer_table, compute_features
from crmscore.engine.features import first_sales
from crmscore.engine.frames import to_frame
from crmscore.engine.pipeline import CLASS_COLUMNS, class_inputs
from crmscore.errors import UnknownName

_spec = importlib.util.spec_from_file_location("engine_synth", Path(__file__).parent / "fixtures/engine/synth.py")
assert _spec and _spec.loader
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)

DAY_METRICS = ["purchase_days", "purchase_days_90d", "purchase_days_365d", "order_count", "first_purchase",
               "last_purchase", "interpurchase_std_days", "last_gap_days"]


def _extra_orders(template: pa.Table) -> pa.Table:
    """Edge cases: same-day orders on the last day, pre-1970 sales, one purchase day with two orders."""
    rows = [  # customer, time, amount, status
        ("X1", dt.datetime(2022, 1, 3, 9), "10.00", "completed"),
        ("X1", dt.datetime(2022, 3, 3, 9), "10.00", "completed"),
        ("X1", dt.datetime(2022, 3, 3, 17), "12.00", "completed"),   # same (last) day: gap 59, not 0
        ("X1", dt.datetime(2022, 3, 3, 18), "-5.00", "returned"),
        ("X2", dt.datetime(1965, 5, 1, 10), "3.00", "completed"),    # before 1970
        ("X2", dt.datetime(1969, 12, 31, 23), "4.00", "completed"),
        ("X2", dt.datetime(1970, 1, 2, 1), "5.00", "completed"),
        ("X3", dt.datetime(2023, 6, 1, 8), "7.00", "completed"),     # one purchase day, two orders
        ("X3", dt.datetime(2023, 6, 1, 20), "8.00", "completed"),
        ("X4", dt.datetime(2023, 6, 1, 8), "9.00", "cancelled"),     # no sale at all
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "order_date", "amount", "status"])
    df["order_id"] = [f"XO{i}" for i in range(len(df))]
    out = {}
    for field in template.schema:
        if field.name in df:
            values = df[field.name]
            if field.name == "amount":
                values = values.map(Decimal)
            out[field.name] = pa.array(values, type=field.type)
        else:
            out[field.name] = pa.nulls(len(df), type=field.type)
    return pa.concat_tables([template, pa.table(out, schema=template.schema)])


@pytest.fixture(scope="module")
def tables() -> dict[str, Any]:
    arrow = synth.make_tables(n_customers=600, seed=11)
    arrow["orders"] = _extra_orders(arrow["orders"])
    con = ibis.duckdb.connect()
    return {name: con.create_table(name, t) for name, t in arrow.items()}


def _features(tables: dict[str, Any], **kw: Any) -> pd.DataFrame:
    return to_frame(compute_features(tables, synth.AS_OF, **kw).order_by("customer_id")).set_index("customer_id")


def _pandas_days(orders: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Independent reference: distinct sale days per customer, their count in windows, gaps with numpy."""
    o = orders[orders.order_date < pd.Timestamp(as_of + dt.timedelta(days=1))]
    sales = o[(o.status == "completed") & (o.amount.map(float) > 0)].copy()
    sales["day"] = sales.order_date.dt.date
    rows = {}
    for cid, g in sales.groupby("customer_id"):
        days = sorted(set(g.day))
        gaps = np.diff([d.toordinal() for d in days])
        rows[cid] = {
            "purchase_days": len(days),
            "purchase_days_90d": sum(d > as_of - dt.timedelta(days=90) for d in days),
            "purchase_days_365d": sum(d > as_of - dt.timedelta(days=365) for d in days),
            "order_count": len(g),
            "first_purchase": days[0], "last_purchase": days[-1],
            "interpurchase_std_days": float(np.std(gaps, ddof=1)) if len(gaps) >= 2 else None,
            "last_gap_days": int(gaps[-1]) if len(gaps) else None,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _plain(values: pd.Series) -> list[Any]:
    return [None if pd.isna(v) else (int(v) if isinstance(v, (int, float, np.integer, np.floating)) else v)
            for v in values]


@pytest.mark.parametrize("portable", [False, True], ids=["lists", "window"])
def test_order_day_metrics_equal_pandas(tables: dict[str, Any], portable: bool) -> None:
    f = _features(tables, config=FeatureConfig(portable=portable))
    ref = _pandas_days(to_frame(tables["orders"]), synth.AS_OF)
    assert len(ref) > 300 and {"X1", "X2", "X3"} <= set(ref.index)
    got = f.loc[ref.index, DAY_METRICS]
    for col in DAY_METRICS:
        if col == "interpurchase_std_days":
            np.testing.assert_allclose(got[col].astype(float), ref[col].astype(float), rtol=1e-9, err_msg=col)
        else:
            assert _plain(got[col]) == _plain(ref[col]), col
    # customers without a sale: no purchase days, no dates or gaps
    no_sale = f.drop(index=ref.index)
    assert "X4" in no_sale.index and (no_sale.purchase_days == 0).all()
    assert no_sale.last_gap_days.isna().all() and no_sale.first_purchase.isna().all()
    assert f.loc["X1", "last_gap_days"] == 59 and pd.isna(f.loc["X3", "last_gap_days"])


def test_list_and_window_paths_identical(tables: dict[str, Any]) -> None:
    a = _features(tables)
    b = _features(tables, config=FeatureConfig(portable=True))
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


def test_only_keeps_values_and_skips_unread_tables(tables: dict[str, Any]) -> None:
    full = _features(tables)
    for keep in (["monetary", "last_gap_days"], ["visits_90d", "nps", "region"], ["product_breadth"],
                 list(class_inputs())):
        part = _features(tables, only=keep)
        assert list(part.columns) == [c for c in full.columns if c in keep]
        pd.testing.assert_frame_equal(part, full[part.columns])
    sql = str(ibis.to_sql(compute_features(tables, synth.AS_OF, only=["monetary"])))
    for name in ("interactions", "invoices", "surveys", "tickets", "opportunities", "order_lines"):
        assert f'"{name}"' not in sql, name
    assert '"orders"' in sql
    with pytest.raises(UnknownName, match="monetry"):
        compute_features(tables, synth.AS_OF, only=["monetry"])


def test_build_customer_table_only_same_classes(tables: dict[str, Any]) -> None:
    full, rfm_full = build_customer_table(tables, synth.AS_OF)
    part, rfm_part = build_customer_table(tables, synth.AS_OF, only=())
    assert rfm_part.bin_edges_ == rfm_full.bin_edges_
    a = to_frame(full.order_by("customer_id"))
    b = to_frame(part.order_by("customer_id"))
    assert list(b.columns) == ["customer_id", *class_inputs_in(a.columns), *CLASS_COLUMNS]
    pd.testing.assert_frame_equal(b, a[b.columns])


def class_inputs_in(columns: Any) -> list[str]:
    return [c for c in columns if c in class_inputs()]


def test_first_sales_give_the_same_product_counts(tables: dict[str, Any]) -> None:
    """A backfill counts products from each (customer, product) pair's first sale, computed once for every date;
    the counts must equal counting distinct products over the order lines at each date."""
    lines = tables["order_lines"].to_pyarrow()
    extra = {  # a NULL product, a product on a cancelled order only, one bought again later
        "order_id": ["XO0", "XO9", "XO1", "XO5"], "line_no": [9] * 4, "product_id": [None, "PY", "PX", "PX"],
        "quantity": [1] * 4, "unit_price": [Decimal("1.00")] * 4}
    added = pa.table({f.name: pa.array(extra[f.name], f.type) if f.name in extra else pa.nulls(4, f.type)
                      for f in lines.schema}, schema=lines.schema)
    con = ibis.duckdb.connect()
    arrow = {name: t.to_pyarrow() for name, t in tables.items()} | {"order_lines": pa.concat_tables([lines, added])}
    both = {name: con.create_table(name, t) for name, t in arrow.items()}
    firsts = con.create_table("firsts", first_sales(both).to_pyarrow())
    assert firsts.count().execute() == firsts.select("customer_id", "product_id").distinct().count().execute()
    for day in (dt.date(1969, 12, 31), dt.date(2022, 3, 3), synth.AS_OF, synth.AS_OF + dt.timedelta(days=400)):
        plain = to_frame(compute_features(both, day, only=["product_breadth"]).order_by("customer_id"))
        fast = to_frame(compute_features(both, day, only=["product_breadth"], first_sales=firsts)
                        .order_by("customer_id"))
        pd.testing.assert_frame_equal(plain, fast)
        counts = plain.set_index("customer_id").product_breadth
        if day >= dt.date(2022, 3, 3):
            assert counts.max() > 1, day
            assert counts["X1"] == 1  # PX on XO1 (its first sale), again on XO5 (no sale); NULL product left out
        if day >= dt.date(1970, 1, 2):
            assert counts["X2"] >= 1
        assert counts.get("X4", 0) == 0  # its only order was cancelled
