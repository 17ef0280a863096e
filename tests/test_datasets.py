"""Bundled data sets: loaders read the package copies with the right types; canonical helpers fit the schema."""

from __future__ import annotations

import pandas as pd
import pytest

from crmscore import datasets
from crmscore.errors import UnknownName
from crmscore.schema import TABLES


def test_every_bundled_file_exists_and_is_listed_in_sources() -> None:
    sources = (datasets.path("cdnow").parent / "SOURCES.md").read_text(encoding="utf-8")
    for name, file_name in datasets.DATASETS.items():
        assert datasets.path(name).is_file()
        assert f"`{file_name}`" in sources, f"{file_name} has no source/licence note"


def test_unknown_dataset_suggests() -> None:
    with pytest.raises(UnknownName, match="online_retail"):
        datasets.path("online-retail")


def test_cdnow_types_and_leading_zeros() -> None:
    df = datasets.load_cdnow()
    assert df["customer_id"].map(len).eq(5).all()
    assert df["sample_id"].map(len).eq(4).all()
    assert df["customer_id"].str.startswith("0").any()
    assert pd.api.types.is_datetime64_any_dtype(df["date"])
    # Totals recomputed from the raw text file, independently of the pandas parser.
    raw = [line.split() for line in datasets.path("cdnow").read_text().splitlines() if line.strip()]
    assert len(raw) == len(df)
    assert df["cds"].sum() == sum(int(r[3]) for r in raw)
    assert round(df["dollars"].sum(), 2) == round(sum(float(r[4]) for r in raw), 2)


def test_cdnow_orders_aggregate_customer_days() -> None:
    lines = datasets.load_cdnow()
    orders = datasets.cdnow_orders()
    assert orders["order_id"].is_unique
    assert round(orders["amount"].sum(), 2) == round(lines["dollars"].sum(), 2)
    assert len(orders) == len(lines.drop_duplicates(["customer_id", "date"]))
    assert list(orders.columns) == TABLES["orders"].column_names


def test_online_retail_orders_signed_amounts() -> None:
    orders = datasets.online_retail_orders()
    assert list(orders.columns) == TABLES["orders"].column_names
    assert orders["order_id"].is_unique
    returned = orders[orders["status"] == "returned"]
    assert returned["order_id"].str.startswith("C").all()
    assert (returned["amount"] <= 0).all()
    assert set(orders["status"]) <= set(TABLES["orders"].column("status").choices)


def test_accounts_receivable_invoices_fit_schema() -> None:
    inv = datasets.accounts_receivable_invoices()
    assert list(inv.columns) == TABLES["invoices"].column_names
    assert inv["invoice_id"].is_unique
    # The source says every invoice is due 30 days after issue.
    assert ((inv["due_on"] - inv["issued_on"]).dt.days == 30).all()
