"""Customer lifetime value: discounted expected margin over a horizon, from a purchase and a spend model.

    CLV = margin · E[spend] · Σ_{k=1..H} (E[Y(k months)] − E[Y(k−1 months)]) / (1 + d)^k

where E[Y(t)] is the purchase model's conditional expected number of purchases in the next t (BG/NBD or
Pareto/NBD), E[spend] the Gamma-Gamma expected spend per purchase, H the horizon in months and d the
monthly discount rate. A month is 365.25/12 days, converted to the summary's time unit.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from crmscore.errors import DataError
from crmscore.models._base import distinct_pairs, pick_columns, rft_inputs, unique_rows
from crmscore.models.gammagamma import GammaGamma
from crmscore.models.summary import time_unit_days

__all__ = ["DAYS_PER_MONTH", "PurchaseModel", "clv_table", "customer_lifetime_value"]

DAYS_PER_MONTH = 365.25 / 12


class PurchaseModel(Protocol):
    """What CLV needs from a purchase model (``BetaGeo`` and ``ParetoNBD`` qualify)."""

    def expected_purchases(self, t: Any, frequency: Any, recency: Any = None, T: Any = None) -> np.ndarray: ...

    def p_alive(self, frequency: Any, recency: Any = None, T: Any = None) -> np.ndarray: ...


def _unit(summary: pd.DataFrame, time_unit: str | float | None) -> float:
    if time_unit is not None:
        return time_unit_days(time_unit)
    if "time_unit_days" in summary.attrs:
        return float(summary.attrs["time_unit_days"])
    raise DataError("the summary's time unit is unknown",
                    "pass time_unit='D' or 'W' (the freq used to build the summary)")


def _check_terms(horizon_months: int, margin: float, discount_rate: float) -> None:
    if horizon_months < 1:
        raise DataError(f"horizon_months must be at least 1, got {horizon_months}")
    if not 0.0 <= margin <= 1.0:
        raise DataError(f"margin must be between 0 and 1, got {margin}", "pass a share such as 0.25 for 25 %")
    if discount_rate <= -1.0:
        raise DataError(f"discount_rate must be greater than -1, got {discount_rate}")


def customer_lifetime_value(transaction_model: PurchaseModel, spend_model: GammaGamma, summary: pd.DataFrame, *,
                            horizon_months: int = 12, margin: float = 1.0, discount_rate: float = 0.01,
                            time_unit: str | float | None = None) -> np.ndarray:
    """Discounted CLV per customer of a summary (rows in order), in the summary's money unit.

    ``margin`` is the share of spend that is profit (0..1; 1 gives discounted revenue), ``discount_rate`` is
    monthly. The summary needs frequency, recency, T and monetary_value (or their ``_cal`` versions).

    >>> from crmscore.models import BetaGeo, GammaGamma
    >>> from crmscore.models.simulate import sample_betageo, sample_gammagamma
    >>> rng = np.random.default_rng(0)
    >>> summary = sample_betageo(2000, {"r": 0.25, "alpha": 4.4, "a": 0.8, "b": 2.4}, T=39.0, rng=rng)
    >>> repeat = summary["frequency"] > 0
    >>> summary["monetary_value"] = 0.0
    >>> summary.loc[repeat, "monetary_value"] = sample_gammagamma(
    ...     summary.loc[repeat, "frequency"], {"p": 6.25, "q": 3.74, "v": 15.44}, rng=rng)["monetary_value"].values
    >>> bg, gg = BetaGeo().fit(summary), GammaGamma().fit(summary)
    >>> clv = customer_lifetime_value(bg, gg, summary, horizon_months=12, margin=0.3, time_unit="W")
    >>> bool((clv >= 0).all()), bool(clv[repeat].mean() > clv[~repeat].mean())
    (True, True)
    >>> customer_lifetime_value(bg, gg, summary.head(3), margin=0.0, time_unit="W").tolist()
    [0.0, 0.0, 0.0]
    """
    _check_terms(horizon_months, margin, discount_rate)
    return _predict(transaction_model, spend_model, summary, horizon_months=horizon_months, margin=margin,
                    discount_rate=discount_rate, time_unit=time_unit, where="customer_lifetime_value")["clv"]


def _predict(transaction_model: PurchaseModel, spend_model: GammaGamma, summary: pd.DataFrame, *,
             horizon_months: int, margin: float, discount_rate: float, time_unit: str | float | None,
             where: str) -> dict[str, np.ndarray]:
    """p_alive, expected purchases in the horizon, expected spend and CLV per customer (rows in order).

    E[Y(t) | x, t_x, T] = E[Y(t) | alive, x, T] · P(alive | x, t_x, T): the first factor depends on (x, T)
    only, so the monthly forecasts are evaluated once per distinct (x, T) pair and P(alive) once per
    customer. A purchase model without ``_expected_if_alive`` is evaluated once per distinct (x, t_x, T).
    """
    freq, rec, t_cap, money = pick_columns(
        summary, [("frequency", "frequency_cal"), ("recency", "recency_cal"), ("T", "T_cal"),
                  ("monetary_value", "monetary_value_cal")], where)
    unit = _unit(summary, time_unit)
    x, t_x, age = rft_inputs(freq, rec, t_cap, where)
    spend = spend_model.expected_spend(x, np.asarray(money, dtype=np.float64))
    months = np.arange(1, horizon_months + 1, dtype=np.float64)
    discount = (1.0 + discount_rate) ** -months
    if_alive = getattr(transaction_model, "_expected_if_alive", None)
    if if_alive is not None:
        code, px, p_age = distinct_pairs(x, age)
        cum = np.stack([if_alive(k * DAYS_PER_MONTH / unit, px, p_age) for k in months])  # (months, pairs)
        increments = np.diff(cum, axis=0, prepend=0.0)
        alive = transaction_model.p_alive(x, t_x, age)
        expected = cum[-1][code] * alive
        discounted = (discount @ increments)[code] * alive
    else:
        (ux, ut, uT), inverse = unique_rows(x, t_x, age)
        cum = np.stack([transaction_model.expected_purchases(k * DAYS_PER_MONTH / unit, ux, ut, uT)
                        for k in months])
        alive = transaction_model.p_alive(ux, ut, uT)[inverse]
        expected = cum[-1][inverse]
        discounted = (discount @ np.diff(cum, axis=0, prepend=0.0))[inverse]
    return {"p_alive": np.asarray(alive), "expected_purchases": np.asarray(expected), "expected_spend": spend,
            "clv": np.asarray(margin * spend * discounted)}


def clv_table(transaction_model: PurchaseModel, spend_model: GammaGamma, summary: pd.DataFrame, *,
              customer_id_col: str = "customer_id", horizon_months: int = 12, margin: float = 1.0,
              discount_rate: float = 0.01, time_unit: str | float | None = None) -> pd.DataFrame:
    """Per customer: p_alive, expected purchases and spend over the horizon, and CLV, as one DataFrame.

    Columns: ``customer_id`` (when the summary has it), ``p_alive``, ``expected_purchases`` (in the horizon),
    ``expected_spend`` (per purchase), ``clv``.
    """
    _check_terms(horizon_months, margin, discount_rate)
    out = pd.DataFrame(index=summary.index)
    if customer_id_col in summary.columns:
        out[customer_id_col] = summary[customer_id_col]
    parts = _predict(transaction_model, spend_model, summary, horizon_months=horizon_months, margin=margin,
                     discount_rate=discount_rate, time_unit=time_unit, where="clv_table")
    for name in ("p_alive", "expected_purchases", "expected_spend", "clv"):
        out[name] = parts[name]
    return out
