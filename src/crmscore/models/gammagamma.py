"""Gamma-Gamma: the spend-per-transaction model (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value").

A customer's transactions are Gamma(p, ν) with ν ~ Gamma(q, γ) across customers (γ is ``v`` here), so the
mean z̄ of x transactions has the density

    f(z̄ | p, q, γ, x) = Γ(px + q) / (Γ(px) Γ(q)) · γ^q · z̄^(px − 1) · x^(px) / (γ + x z̄)^(px + q).

Only customers with at least one repeat purchase and a positive mean repeat spend carry information. The
terms that depend on x alone are evaluated once per distinct x and the sums over ``log z̄`` are precomputed,
so each likelihood evaluation costs one logarithm per customer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from crmscore.errors import DataError
from crmscore.models._base import (
    BaseFitter,
    as_float_array,
    pick_columns,
    wdot,
)

__all__ = ["GammaGamma"]


def _inputs(frequency: Any, monetary_value: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(frequency, pd.DataFrame):
        frequency, monetary_value = pick_columns(
            frequency, [("frequency", "frequency_cal"), ("monetary_value", "monetary_value_cal")], where)
    if monetary_value is None:
        raise DataError(f"{where}: pass frequency and monetary_value (or one summary DataFrame)")
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    x, m = np.broadcast_arrays(x, m)
    if (x < 0).any() or (m < 0).any():
        raise DataError(f"{where}: frequency and monetary_value must be non-negative",
                        "compute mean spend over sales only (returns and credit notes excluded)")
    return x.astype(np.float64), m.astype(np.float64)


class _Data:
    def __init__(self, x: np.ndarray, m: np.ndarray, w: np.ndarray) -> None:
        self.x, self.m, self.w = x, m, w
        self.n = float(w.sum())
        codes, self.ux = pd.factorize(x, sort=True)
        self.wx = np.bincount(codes, weights=w, minlength=len(self.ux))  # total weight per distinct x
        self.w_x = w * x
        self.xm = x * m
        log_m = np.log(m)
        self.sum_log_m = wdot(w, log_m)
        self.sum_x_log_m = wdot(self.w_x, log_m)
        self.sum_x_log_x = wdot(self.w_x, np.log(x))


def _loglik(params: np.ndarray, d: _Data, grad: bool) -> tuple[float, np.ndarray]:
    p, q, v = (float(val) for val in params)
    px = p * d.ux
    lg = gammaln(px + q) - gammaln(px) - gammaln(q)
    den = d.xm + v
    log_den = np.log(den)
    # Σ w (p x + q) log(v + x z̄) = p Σ w x log(..) + q Σ w log(..)
    s_x_log, s_log = wdot(d.w_x, log_den), wdot(d.w, log_den)
    total = (wdot(d.wx, lg) + d.n * q * np.log(v) + p * d.sum_x_log_m - d.sum_log_m
             + p * d.sum_x_log_x - p * s_x_log - q * s_log)
    if not grad:
        return total, np.empty(0)
    dig_pq = digamma(px + q)
    inv = np.reciprocal(den, out=den)
    g_p = wdot(d.wx * d.ux, dig_pq - digamma(px)) + d.sum_x_log_m + d.sum_x_log_x - s_x_log
    g_q = wdot(d.wx, dig_pq) - d.n * digamma(q) + d.n * np.log(v) - s_log
    g_v = d.n * q / v - p * wdot(d.w_x, inv) - q * wdot(d.w, inv)
    return total, np.array([g_p, g_q, g_v])


class GammaGamma(BaseFitter):
    """The Gamma-Gamma model of mean spend per transaction.

    ``fit(frequency, monetary_value)`` uses only customers with frequency > 0 and monetary_value > 0
    (``n_customers_`` says how many). ``penalizer`` adds ``penalizer · Σ θ²`` to the mean negative
    log-likelihood. Fitted attributes: ``params_`` (``p, q, v``), ``log_likelihood_``, ``standard_errors_``.

    >>> from crmscore.models.simulate import sample_gammagamma
    >>> rng = np.random.default_rng(0)
    >>> data = sample_gammagamma(rng.integers(1, 10, 4000), {"p": 6.0, "q": 4.0, "v": 15.0}, rng=rng)
    >>> model = GammaGamma().fit(data)
    >>> all(abs(model.params_[k] / true - 1) < 0.15 for k, true in {"p": 6.0, "q": 4.0, "v": 15.0}.items())
    True
    """

    _param_names = ("p", "q", "v")

    def __init__(self, *, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, frequency: Any, monetary_value: Any = None, *, weights: Any = None,
            initial_params: dict[str, float] | None = None) -> GammaGamma:
        """Fit by maximum likelihood on repeat customers; returns self."""
        x, m = _inputs(frequency, monetary_value, "GammaGamma.fit")
        w = np.ones(len(x)) if weights is None else as_float_array(weights, "weights")
        keep = (x > 0) & (m > 0)
        if keep.sum() < 3:
            raise DataError("GammaGamma.fit: fewer than 3 customers with a repeat purchase and positive spend",
                            "the spend model needs repeat customers; collect more history")
        data = _Data(x[keep], m[keep], w[keep])
        self._fit_ml(data, _loglik, lambda rows: _Data(data.x[rows], data.m[rows], data.w[rows]), initial_params)
        return self

    def expected_spend(self, frequency: Any, monetary_value: Any = None) -> np.ndarray:
        """E[M | x, z̄]: expected spend per future transaction (Fader & Hardie 2013, eq. 5).

        A weighted mean of the population mean p·γ/(q − 1) and the customer's own mean z̄, the weight on z̄
        growing with x; customers with x = 0 get the population mean.
        """
        p, q, v = self._params()
        x, m = _inputs(frequency, monetary_value, "GammaGamma.expected_spend")
        if q <= 1.0:
            raise DataError(f"GammaGamma: q = {q:.3g} <= 1, the expected spend is infinite",
                            "the spend distribution is too heavy-tailed; cap outliers or use a penalizer")
        m = np.where(x > 0, m, 0.0)
        return np.asarray(p * (v + x * m) / (p * x + q - 1.0))

    @property
    def mean_spend_(self) -> float:
        """Population mean spend per transaction, p·γ/(q − 1)."""
        p, q, v = self._params()
        return p * v / (q - 1.0) if q > 1.0 else float("inf")
