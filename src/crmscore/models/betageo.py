"""BG/NBD: the beta-geometric / negative-binomial purchase model (Fader, Hardie & Lee 2005).

While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each repeat purchase the
customer drops out with probability p ~ Beta(a, b). Given frequency x, recency t_x and age T (time since the
first purchase, in any one time unit), the individual likelihood is

    L = B(a, b + x) / B(a, b) · Γ(r + x) α^r / (Γ(r) (α + T)^(r + x))
        + [x > 0] B(a + 1, b + x − 1) / B(a, b) · Γ(r + x) α^r / (Γ(r) (α + t_x)^(r + x))

(FHL 2005, eq. 6). It is evaluated in log space (``gammaln``, ``betaln``, ``logaddexp``) with an analytic
gradient, on the distinct (x, t_x, T) rows weighted by their count, so that a million customers fit in
about a second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from crmscore.errors import ConvergenceError
from crmscore.models._base import (
    BaseFitter,
    compress_codes,
    fit_log_params,
    rft_inputs,
    standard_errors,
    warm_start_rows,
)

__all__ = ["BetaGeo"]


class _Data:
    """Distinct rows and the distinct values of each column, for a fast likelihood."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, t_cap: np.ndarray, weights: np.ndarray | None) -> None:
        (uniques, codes), _row, w = compress_codes(x, t_x, t_cap, weights=weights)
        self.w, self.n = w, float(w.sum())
        (self.ux, self.ut, self.uT), (self.ix, self.it, self.iT) = uniques, codes
        self.x, self.t_x, self.T = self.ux[self.ix], self.ut[self.it], self.uT[self.iT]


def _loglik(params: np.ndarray, d: _Data, grad: bool) -> tuple[float, np.ndarray]:
    """Total log-likelihood and its gradient with respect to (r, alpha, a, b)."""
    r, alpha, a, b = params
    ux = d.ux
    xpos = ux > 0
    b_m1 = np.where(xpos, b + ux - 1.0, 1.0)  # b + x - 1, only used where x > 0
    lg = gammaln(r + ux) - gammaln(r)
    ln_b_ab = betaln(a, b)
    B1 = betaln(a, b + ux) - ln_b_ab
    B2 = np.where(xpos, betaln(a + 1.0, b_m1) - ln_b_ab, -np.inf)
    lT = np.log(alpha + d.uT)
    lt = np.log(alpha + d.ut)

    rx = r + d.x
    t1 = B1[d.ix] - rx * lT[d.iT]
    t2 = B2[d.ix] - rx * lt[d.it]
    mix = np.logaddexp(t1, t2)
    ll_rows = lg[d.ix] + mix
    total = float(np.dot(d.w, ll_rows)) + d.n * r * np.log(alpha)
    if not grad:
        return total, np.empty(0)

    w2 = np.exp(t2 - mix)  # posterior weight of "dropped out after the last purchase"; 0 when x == 0
    w1 = 1.0 - w2
    ww1, ww2 = d.w * w1, d.w * w2
    dig_ab = digamma(a + b)
    # per distinct x
    dr_x = digamma(r + ux) - digamma(r)
    da_x = dig_ab - digamma(a + b + ux)
    db_x = dig_ab - digamma(a + b + ux) - digamma(b) + digamma(b + ux)
    inv_bm1 = np.where(xpos, 1.0 / b_m1, 0.0)
    g_r = np.dot(d.w, dr_x[d.ix]) + d.n * np.log(alpha) - np.dot(ww1, lT[d.iT]) - np.dot(ww2, lt[d.it])
    g_alpha = d.n * r / alpha - np.dot(ww1 * rx, 1.0 / (alpha + d.uT)[d.iT]) \
        - np.dot(ww2 * rx, 1.0 / (alpha + d.ut)[d.it])
    g_a = np.dot(d.w, da_x[d.ix]) + ww2.sum() / a
    g_b = np.dot(d.w, db_x[d.ix]) - np.dot(ww2, inv_bm1[d.ix])
    return total, np.array([g_r, g_alpha, g_a, g_b])


class BetaGeo(BaseFitter):
    """The BG/NBD model of repeat purchasing.

    ``penalizer`` adds ``penalizer · Σ θ²`` (θ the four parameters) to the mean negative log-likelihood
    (as in ``lifetimes``); 0 fits by plain maximum likelihood.

    Fitted attributes: ``params_`` (``r, alpha, a, b``), ``log_likelihood_`` (total, in the data's time unit),
    ``standard_errors_`` (from the inverse Hessian), ``n_customers_``, ``n_iter_``.

    >>> from crmscore.models.simulate import sample_betageo
    >>> data = sample_betageo(3000, {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}, T=52.0,
    ...                       rng=np.random.default_rng(0))
    >>> model = BetaGeo().fit(data)
    >>> sorted(model.params_)
    ['a', 'alpha', 'b', 'r']
    >>> p = model.p_alive(data)
    >>> bool(((p >= 0) & (p <= 1)).all())
    True
    """

    _param_names = ("r", "alpha", "a", "b")

    def __init__(self, *, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, frequency: Any, recency: Any = None, T: Any = None, *, weights: Any = None,
            initial_params: dict[str, float] | None = None) -> BetaGeo:
        """Fit by maximum likelihood. Pass three arrays or one summary DataFrame; returns self."""
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "BetaGeo.fit")
        data = _Data(x, t_x, t_cap, None if weights is None else np.asarray(weights, dtype=np.float64))
        pen = float(self.penalizer)
        start = np.ones(4) if initial_params is None else np.array(
            [initial_params[k] for k in self._param_names], dtype=np.float64)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            ll, g = _loglik(params, data, grad=True)
            value = -ll / data.n + pen * float(np.sum(params ** 2))
            grad_nat = -g / data.n + 2.0 * pen * params
            if not np.isfinite(value):
                return 1e100, np.zeros(4)
            return value, grad_nat * params

        x0 = np.log(start)
        sample = warm_start_rows(len(data.w)) if initial_params is None else None
        if sample is not None:  # a quick fit on a systematic sample of the distinct rows first
            full = data
            data = _Data(full.x[sample], full.t_x[sample], full.T[sample], full.w[sample])
            try:
                x0 = fit_log_params(objective, x0, jac=True, model="BetaGeo", n_obs=data.n).x
            except ConvergenceError:
                x0 = np.log(start)
            data = full
        res = fit_log_params(objective, x0, jac=True, model="BetaGeo", n_obs=data.n)
        params = np.exp(res.x)
        self.params_ = {k: float(v) for k, v in zip(self._param_names, params, strict=True)}
        self.log_likelihood_ = _loglik(params, data, grad=False)[0]
        self.standard_errors_ = standard_errors(lambda p: -_loglik(p, data, grad=False)[0], params,
                                                self._param_names, "BetaGeo",
                                                neg_grad=lambda p: -_loglik(p, data, grad=True)[1])
        self.n_customers_ = round(data.n)
        self.n_iter_ = int(res.nit)
        return self

    def log_likelihood(self, frequency: Any, recency: Any = None, T: Any = None) -> float:
        """Total log-likelihood of data under the fitted parameters."""
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "BetaGeo.log_likelihood")
        return _loglik(np.array(self._params()), _Data(x, t_x, t_cap, None), grad=False)[0]

    def p_alive(self, frequency: Any, recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T) per customer (FHL 2005, eq. 13 of the technical note); 1 when x = 0."""
        r, alpha, a, b = self._params()
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "BetaGeo.p_alive")
        return expit(-self._log_odds_dead(x, t_x, t_cap, r, alpha, a, b))

    @staticmethod
    def _log_odds_dead(x: np.ndarray, t_x: np.ndarray, t_cap: np.ndarray, r: float, alpha: float, a: float,
                       b: float) -> np.ndarray:
        xpos = x > 0
        bm1 = np.where(xpos, b + x - 1.0, 1.0)
        lo = np.log(a) - np.log(bm1) + (r + x) * (np.log(alpha + t_cap) - np.log(alpha + t_x))
        return np.where(xpos, lo, -np.inf)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any = None, T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` time units, per customer (FHL eq. 10).

        ``t`` is a scalar or an array broadcast against the customers.
        """
        r, alpha, a, b = self._params()
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "BetaGeo.expected_purchases")
        t_arr = np.asarray(t, dtype=np.float64)
        # (1 - z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) with z = t / (alpha+T+t), rewritten by Euler's transformation
        # as (1 - z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): bounded parameters, no overflow for large x.
        one_minus_z = (alpha + t_cap) / (alpha + t_cap + t_arr)
        z = 1.0 - one_minus_z
        head = 1.0 - one_minus_z ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        numer = (a + b + x - 1.0) / (a - 1.0) * head
        return np.asarray(numer * expit(-self._log_odds_dead(x, t_x, t_cap, r, alpha, a, b)))

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected repeat purchases in (0, t] of a customer who just made a first purchase."""
        r, alpha, a, b = self._params()
        t_arr = np.asarray(t, dtype=np.float64)
        z = t_arr / (alpha + t_arr)
        return np.asarray((a + b - 1.0) / (a - 1.0) * (
            1.0 - (alpha / (alpha + t_arr)) ** r * hyp2f1(r, b, a + b - 1.0, z)))
