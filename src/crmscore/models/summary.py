"""Per-customer BTYD summaries: frequency, recency, T and mean repeat spend, with a calibration/holdout split.

Conventions (those of the BTYD literature, Fader, Hardie & Lee 2005, and of ``lifetimes``):

- Purchases are counted in *days*: several purchases by one customer on one day are one purchase day whose
  spend is their sum.
- ``frequency`` = number of purchase days after the first one (repeat purchases);
  ``recency`` = time from the first to the last purchase day; ``T`` = time from the first purchase day to the
  end of the (calibration) period; both in the time unit ``freq`` (``'D'`` days or ``'W'`` weeks = 7 days).
- ``monetary_value`` = mean spend per *repeat* purchase day (the first day's spend is left out); 0 when the
  customer has no repeat purchase.
- With ``calibration_period_end``: the columns get a ``_cal`` suffix and are computed on purchases up to and
  including that day; ``frequency_holdout`` counts purchase days in (calibration end, observation end],
  ``monetary_value_holdout`` is their mean spend and ``duration_holdout`` the holdout length. Customers whose
  first purchase falls in the holdout are not in the result.

One implementation serves two callers: :func:`summary_expr` builds an Ibis expression (so the pipeline
computes the summary inside DuckDB, PostgreSQL or Spark), and :func:`summary_from_transactions` runs that
expression on an in-memory DuckDB over a pandas, Polars or Arrow table. :func:`summary_from_orders` applies
the canonical ``orders`` sale rule (a completed order with amount > 0) first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crmscore.errors import DataError, MissingColumnsError, UnknownName

__all__ = ["TIME_UNITS", "summary_expr", "summary_from_orders", "summary_from_transactions", "time_unit_days"]

#: Days per model time unit.
TIME_UNITS: dict[str, float] = {"D": 1.0, "W": 7.0}

_EPOCH = dt.date(1970, 1, 1)


def time_unit_days(freq: str | float) -> float:
    """Days in one model time unit: ``'D'`` -> 1, ``'W'`` -> 7; a number is taken as days.

    >>> time_unit_days("W")
    7.0
    >>> time_unit_days("fortnight")
    Traceback (most recent call last):
    ...
    crmscore.errors.UnknownName: unknown time unit 'fortnight' (hint: known: D, W)
    """
    if isinstance(freq, int | float) and not isinstance(freq, bool):
        if freq <= 0:
            raise DataError(f"time unit must be a positive number of days, got {freq}")
        return float(freq)
    key = str(freq).upper()
    if key not in TIME_UNITS:
        raise UnknownName("time unit", str(freq), TIME_UNITS)
    return TIME_UNITS[key]


def _as_date(value: Any, name: str) -> dt.date:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{name}: cannot read {value!r} as a date", "use YYYY-MM-DD") from exc
    if pd.isna(ts):
        raise DataError(f"{name} is missing", "pass a date such as 1997-09-30")
    return ts.date()


def _epoch_days(day: dt.date) -> int:
    return (day - _EPOCH).days


def summary_expr(table: ir.Table, *, customer_id_col: str = "customer_id", datetime_col: str = "order_date",
                 monetary_value_col: str | None = None, observation_period_end: Any,
                 calibration_period_end: Any = None, freq: str | float = "D") -> ir.Table:
    """The summary as an Ibis expression over a transactions table (one row per purchase or purchase line).

    The result has the customer id column (same name as in the input) and the columns described in the
    module docstring; executing it is the caller's job (``con.execute(expr)`` or ``.to_pandas()``).

    >>> t = ibis.memtable({"cid": ["a", "a", "a", "b"],
    ...                    "day": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-05"]),
    ...                    "amount": [10.0, 5.0, 20.0, 7.0]})
    >>> expr = summary_expr(t, customer_id_col="cid", datetime_col="day", monetary_value_col="amount",
    ...                     observation_period_end="2024-01-15", freq="W")
    >>> ibis.duckdb.connect().execute(expr).round(3).to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'cid': 'a', 'frequency': 1, 'recency': 1.0, 'T': 2.0, 'monetary_value': 20.0},
     {'cid': 'b', 'frequency': 0, 'recency': 0.0, 'T': 1.429, 'monetary_value': 0.0}]
    """
    needed = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise MissingColumnsError("summary_from_transactions", missing, list(table.columns))
    unit = time_unit_days(freq)
    end = _as_date(observation_period_end, "observation_period_end")
    end_n = _epoch_days(end)
    cal_n = None
    if calibration_period_end is not None:
        cal = _as_date(calibration_period_end, "calibration_period_end")
        if cal >= end:
            raise DataError(f"calibration_period_end {cal} must be before observation_period_end {end}")
        cal_n = _epoch_days(cal)

    amount = (table[monetary_value_col].cast("float64") if monetary_value_col
              else ibis.literal(0.0, type="float64"))
    base = table.select(_cid=table[customer_id_col], _dn=table[datetime_col].cast("date").epoch_days(),
                        _amt=amount)
    base = base.filter(base._cid.notnull(), base._dn.notnull(), base._dn <= end_n)
    daily = base.group_by(["_cid", "_dn"]).aggregate(_spend=base._amt.sum())

    def per_customer(days: ir.Table, period_end_n: int) -> ir.Table:
        # repeat spend = total spend - the first purchase day's spend (arg_min over the customer's days, which
        # are distinct): one aggregation, no window over the ~one-row-per-order daily table
        agg = days.group_by("_cid").aggregate(
            _n=days.count(), _first=days._dn.min(), _last=days._dn.max(),
            _repeat=days._spend.sum() - days._spend.argmin(days._dn))
        freq_ = (agg._n - 1).cast("int64")
        out = agg.select(
            _cid=agg._cid,
            frequency=freq_,
            recency=(agg._last - agg._first).cast("float64") / unit,
            T=(ibis.literal(period_end_n) - agg._first).cast("float64") / unit,
            monetary_value=ibis.ifelse(freq_ > 0, agg._repeat.fill_null(0.0) / freq_.cast("float64"), 0.0),
        )
        return out

    if cal_n is None:
        result = per_customer(daily, end_n)
        cols = ["frequency", "recency", "T"] + (["monetary_value"] if monetary_value_col else [])
        result = result.select("_cid", *cols)
    else:
        cal_days = daily.filter(daily._dn <= cal_n)
        hold_days = daily.filter(daily._dn > cal_n)
        cal_summary = per_customer(cal_days, cal_n)
        hold = hold_days.group_by("_cid").aggregate(_hf=hold_days.count(), _hm=hold_days._spend.mean())
        joined = cal_summary.left_join(hold, cal_summary._cid == hold._cid)
        cal_cols: dict[str, Any] = {
            "frequency_cal": joined.frequency, "recency_cal": joined.recency, "T_cal": joined.T,
        }
        if monetary_value_col:
            cal_cols["monetary_value_cal"] = joined.monetary_value
        cal_cols["frequency_holdout"] = joined._hf.fill_null(0).cast("int64")
        if monetary_value_col:
            cal_cols["monetary_value_holdout"] = joined._hm.fill_null(0.0)
        cal_cols["duration_holdout"] = ibis.literal((end_n - cal_n) / unit, type="float64")
        result = joined.select(_cid=joined._cid, **cal_cols)
    return result.rename({customer_id_col: "_cid"}).order_by(customer_id_col)


def _to_ibis(transactions: Any, columns: list[str]) -> ir.Table:
    if isinstance(transactions, ir.Table):
        return transactions
    if isinstance(transactions, pd.DataFrame):
        missing = [c for c in columns if c not in transactions.columns]
        if missing:
            raise MissingColumnsError("summary_from_transactions", missing, [str(c) for c in transactions.columns])
        return ibis.memtable(transactions[columns])
    mod = type(transactions).__module__.split(".")[0]
    if mod in ("polars", "pyarrow"):
        available = list(transactions.columns if mod == "polars" else transactions.column_names)
        missing = [c for c in columns if c not in available]
        if missing:
            raise MissingColumnsError("summary_from_transactions", missing, available)
        return ibis.memtable(transactions.select(columns))
    raise DataError(f"summary_from_transactions: unsupported input type {type(transactions).__name__}",
                    "pass a pandas or Polars DataFrame, a pyarrow Table or an Ibis table")


def summary_from_transactions(transactions: Any, customer_id_col: str = "customer_id",
                              datetime_col: str = "order_date", monetary_value_col: str | None = None,
                              observation_period_end: Any = None, freq: str | float = "D",
                              calibration_period_end: Any = None) -> pd.DataFrame:
    """Per-customer frequency, recency, T (and mean repeat spend) from a transactions table.

    ``transactions`` is a pandas or Polars DataFrame, a pyarrow Table or an Ibis table; the result is a
    pandas DataFrame sorted by customer id (see the module docstring for the columns). Without
    ``observation_period_end`` the latest transaction date is used. ``df.attrs["time_unit_days"]`` records
    the time unit, which :func:`crmscore.models.customer_lifetime_value` reads.

    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                    "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11", "2024-01-05"]),
    ...                    "amount": [10.0, 5.0, 20.0, 7.0]})
    >>> summary_from_transactions(tx, monetary_value_col="amount", observation_period_end="2024-01-31")
      customer_id  frequency  recency     T  monetary_value
    0           a          1     10.0  30.0            20.0
    1           b          0      0.0  26.0             0.0
    >>> s = summary_from_transactions(tx, observation_period_end="2024-01-31",
    ...                               calibration_period_end="2024-01-05")
    >>> s[["customer_id", "frequency_cal", "T_cal", "frequency_holdout", "duration_holdout"]]
      customer_id  frequency_cal  T_cal  frequency_holdout  duration_holdout
    0           a              0    4.0                  1              26.0
    1           b              0    0.0                  0              26.0
    """
    columns = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    table = _to_ibis(transactions, columns)
    con = ibis.duckdb.connect()
    try:
        if observation_period_end is None:
            latest = con.execute(table[datetime_col].max())
            if latest is None or pd.isna(latest):
                raise DataError("summary_from_transactions: no transactions",
                                "pass at least one transaction or an observation_period_end")
            observation_period_end = latest
        expr = summary_expr(table, customer_id_col=customer_id_col, datetime_col=datetime_col,
                            monetary_value_col=monetary_value_col,
                            observation_period_end=observation_period_end,
                            calibration_period_end=calibration_period_end, freq=freq)
        result = con.execute(expr)
    finally:
        con.disconnect()
    result = result.reset_index(drop=True)
    for col in result.columns:
        if col.startswith("frequency"):
            result[col] = result[col].astype(np.int64)
        elif col != customer_id_col:
            result[col] = result[col].astype(np.float64)
    result.attrs["time_unit_days"] = time_unit_days(freq)
    return result


def summary_from_orders(orders: ir.Table, *, observation_period_end: Any, calibration_period_end: Any = None,
                        freq: str | float = "D") -> ir.Table:
    """The summary over a canonical ``orders`` warehouse table, as an Ibis expression.

    A sale is a ``completed`` order (a missing status counts as completed) with ``amount > 0``;
    cancellations, returns and reversal documents are left out. Money comes from ``amount``.

    >>> orders = ibis.memtable({"order_id": ["1", "2", "3", "4"], "customer_id": ["a", "a", "a", "b"],
    ...     "order_date": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-04", "2024-01-02"]),
    ...     "amount": [10.0, 30.0, -30.0, 8.0], "status": ["completed", "completed", "returned", "cancelled"]})
    >>> expr = summary_from_orders(orders, observation_period_end="2024-01-10")
    >>> ibis.duckdb.connect().execute(expr).to_dict("records")
    [{'customer_id': 'a', 'frequency': 1, 'recency': 2.0, 'T': 9.0, 'monetary_value': 30.0}]
    """
    needed = ["customer_id", "order_date", "amount", "status"]
    missing = [c for c in needed if c not in orders.columns]
    if missing:
        raise MissingColumnsError("summary_from_orders", missing, list(orders.columns))
    sales = orders.filter(orders.status.fill_null("completed") == "completed", orders.amount > 0)
    return summary_expr(sales, customer_id_col="customer_id", datetime_col="order_date",
                        monetary_value_col="amount", observation_period_end=observation_period_end,
                        calibration_period_end=calibration_period_end, freq=freq)
