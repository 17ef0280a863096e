"""Bundled sample data: CDNOW, UCI Online Retail and an accounts-receivable sample.

The files ship inside the package (``crmscore/datasets/data/``, sources and licences in ``SOURCES.md`` there),
so that demos, docs and tests work offline and without the project's shared data folder.

- :func:`load_cdnow` -- the CDNOW 1/10 sample (Fader & Hardie): 6,919 purchase lines of 2,357 customers,
  1997-01-01..1998-06-30. The classic test bed for BG/NBD, Pareto/NBD and Gamma-Gamma.
- :func:`load_online_retail` -- UCI "Online Retail": 541,909 invoice lines, 4,372 customers, with the traps
  of a real export (float customer ids, missing customers, ``C`` cancellation invoices).
- :func:`load_accounts_receivable` -- 2,466 B2B invoices of 100 customers with due, settled dates and disputes.

:func:`path` returns a file's location for the importer (``crmscore import``) and the demo; the
``*_orders`` / ``*_invoices`` helpers return the data already shaped as the canonical tables of
:mod:`crmscore.schema`.

>>> sorted(DATASETS)
['accounts_receivable', 'cdnow', 'online_retail']
>>> path("cdnow").name
'CDNOW_sample.txt'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from crmscore.errors import UnknownName

__all__ = [
    "DATASETS",
    "accounts_receivable_invoices",
    "cdnow_orders",
    "load_accounts_receivable",
    "load_cdnow",
    "load_online_retail",
    "online_retail_orders",
    "path",
]

# Logical name -> file name inside crmscore/datasets/data.
DATASETS: dict[str, str] = {
    "accounts_receivable": "WA_Fn-UseC_-Accounts-Receivable.csv",
    "cdnow": "CDNOW_sample.txt",
    "online_retail": "online_retail_all.parquet",
}

CDNOW_COLUMNS = ["customer_id", "sample_id", "date", "cds", "dollars"]


def path(name: str) -> Path:
    """The path of a bundled data file, by its logical name (see :data:`DATASETS`).

    >>> path("online_retail").suffix
    '.parquet'
    >>> path("cdnow").is_file()
    True
    >>> path("cdnw")
    Traceback (most recent call last):
    ...
    crmscore.errors.UnknownName: unknown data set 'cdnw' (hint: did you mean 'cdnow'?)
    """
    try:
        file_name = DATASETS[name]
    except KeyError:
        raise UnknownName("data set", name, DATASETS) from None
    return Path(str(resources.files("crmscore.datasets").joinpath("data", file_name)))


def load_cdnow() -> pd.DataFrame:
    """The CDNOW sample as read from the file: one row per purchase line.

    Columns: ``customer_id`` (text, 5 digits with leading zeros), ``sample_id`` (text, 0001-2357),
    ``date`` (datetime64), ``cds`` (int), ``dollars`` (float, as in the file: two decimals).
    Several lines can fall on one customer and day; BTYD models count purchase *days*, so aggregate per
    customer-day first (:func:`cdnow_orders` does that). 8 lines have $0.

    >>> df = load_cdnow()
    >>> len(df), df["customer_id"].nunique()
    (6919, 2357)
    >>> df["customer_id"].iloc[0], str(df["date"].min().date()), str(df["date"].max().date())
    ('00004', '1997-01-01', '1998-06-30')
    >>> int((df["dollars"] == 0).sum())
    8
    """
    df = pd.read_csv(path("cdnow"), sep=r"\s+", header=None, names=CDNOW_COLUMNS,
                     dtype={"customer_id": str, "sample_id": str, "date": str, "cds": np.int64,
                            "dollars": np.float64}, engine="c")
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


def load_online_retail() -> pd.DataFrame:
    """UCI Online Retail as stored: 541,909 invoice lines, 2010-12-01..2011-12-09.

    Columns ``InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country``.
    Traps, kept on purpose (the importer must handle them; nothing here cleans them away):

    - ``CustomerID`` is a float (``17850.0``) and missing (NaN) on 135,080 lines (24.9%).
    - ``InvoiceNo`` starting with ``C`` is a cancellation (9,288 lines, negative quantity); 3 ``A`` invoices
      are bad-debt adjustments; 1,336 further negative-quantity lines without customer are stock adjustments.
    - 2,515 lines have price 0, 5,268 lines are exact duplicates, and non-product stock codes exist
      (``POST``, ``DOT``, ``M``, ``D`` discount, ``BANK CHARGES``, ``AMAZONFEE`` ...).

    >>> df = load_online_retail()
    >>> len(df), df["CustomerID"].nunique(), int(df["CustomerID"].isna().sum())
    (541909, 4372, 135080)
    >>> int(df["InvoiceNo"].str.startswith("C").sum())
    9288
    """
    return pd.read_parquet(path("online_retail"))


def load_accounts_receivable() -> pd.DataFrame:
    """The IBM accounts-receivable sample: 2,466 B2B invoices of 100 customers (fictional).

    Identifiers stay text (``invoiceNumber`` keeps its leading zeros); ``PaperlessDate``, ``InvoiceDate``,
    ``DueDate`` and ``SettledDate`` are parsed (the file writes M/D/YYYY); ``Disputed`` becomes a boolean.
    Every invoice is due 30 days after issue and settled; about 35.6% were paid late.

    >>> df = load_accounts_receivable()
    >>> len(df), df["customerID"].nunique()
    (2466, 100)
    >>> df["invoiceNumber"].iloc[0], df["Disputed"].dtype.name
    ('0000611365', 'bool')
    >>> round(float((df["DaysLate"] > 0).mean()), 3)
    0.356
    """
    df = pd.read_csv(path("accounts_receivable"),
                     dtype={"countryCode": str, "customerID": str, "invoiceNumber": str})
    for col in ("PaperlessDate", "InvoiceDate", "DueDate", "SettledDate"):
        df[col] = pd.to_datetime(df[col], format="%m/%d/%Y")
    df["Disputed"] = df["Disputed"].eq("Yes")
    return df


def cdnow_orders() -> pd.DataFrame:
    """CDNOW as canonical ``orders``: one completed order per customer and purchase day.

    Lines on the same customer and day are summed into one order (the BTYD convention), so ``order_id`` is
    ``<customer_id>-<YYYYMMDD>``. ``amount`` is rounded to cents; ``currency`` is USD.

    >>> orders = cdnow_orders()
    >>> len(orders), orders["customer_id"].nunique()
    (6696, 2357)
    >>> list(orders.columns)
    ['order_id', 'customer_id', 'order_date', 'amount', 'cost', 'currency', 'status', 'channel']
    """
    lines = load_cdnow()
    orders = lines.groupby(["customer_id", "date"], as_index=False, sort=True)["dollars"].sum()
    return pd.DataFrame({
        "order_id": orders["customer_id"] + "-" + orders["date"].dt.strftime("%Y%m%d"),
        "customer_id": orders["customer_id"],
        "order_date": orders["date"],
        "amount": orders["dollars"].round(2),
        "cost": np.nan,
        "currency": "USD",
        "status": "completed",
        "channel": "online",
    })


def online_retail_orders() -> pd.DataFrame:
    """Online Retail as canonical ``orders``: one row per invoice that names a customer.

    ``amount`` is the sum of quantity x unit price (rounded to cents). ``C`` invoices become negative
    ``returned`` reversal documents (status semantics in :mod:`crmscore.schema`); everything else is
    ``completed``. Lines without a customer are left out here -- the importer reports them instead.

    >>> orders = online_retail_orders()
    >>> orders["customer_id"].nunique(), int((orders["status"] == "returned").sum())
    (4372, 3654)
    >>> orders["customer_id"].iloc[0]
    '12346'
    """
    df = load_online_retail()
    df = df[df["CustomerID"].notna()]
    df = df.assign(customer_id=df["CustomerID"].astype(np.int64).astype(str),
                   line_amount=df["Quantity"] * df["UnitPrice"])
    orders = df.groupby(["InvoiceNo", "customer_id"], as_index=False, sort=False).agg(
        order_date=("InvoiceDate", "min"), amount=("line_amount", "sum"), country=("Country", "first"))
    cancelled = orders["InvoiceNo"].str.startswith("C")
    out = pd.DataFrame({
        "order_id": orders["InvoiceNo"],
        "customer_id": orders["customer_id"],
        "order_date": orders["order_date"],
        "amount": orders["amount"].round(2),
        "cost": np.nan,
        "currency": "GBP",
        "status": np.where(cancelled, "returned", "completed"),
        "channel": "online",
    })
    return out.sort_values(["customer_id", "order_date", "order_id"], kind="stable").reset_index(drop=True)


def accounts_receivable_invoices() -> pd.DataFrame:
    """The accounts-receivable sample as canonical ``invoices`` (every invoice is settled in full).

    >>> inv = accounts_receivable_invoices()
    >>> len(inv), inv["customer_id"].nunique(), int(inv["disputed"].sum()) > 0
    (2466, 100, True)
    >>> bool((inv["paid_on"] > inv["due_on"]).mean().round(3) == 0.356)
    True
    """
    ar = load_accounts_receivable()
    return pd.DataFrame({
        "invoice_id": ar["invoiceNumber"],
        "customer_id": ar["customerID"],
        "issued_on": ar["InvoiceDate"],
        "due_on": ar["DueDate"],
        "amount": ar["InvoiceAmount"].round(2),
        "paid_on": ar["SettledDate"],
        "paid_amount": ar["InvoiceAmount"].round(2),
        "disputed": ar["Disputed"],
        "currency": "USD",
    })
