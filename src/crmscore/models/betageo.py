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

from crmscore.models._base import (
    BaseFitter,
    compress_codes,
    rft_inputs,
    wdot,
)

__all__ = ["BetaGeo"]


class _Data:
    """The data arranged for a fast likelihood.

    Terms that depend on x alone are summed per distinct x, terms in T alone per distinct T (with the total
    weight and the total weight·x per T); only the "dropped out after the last purchase" term needs a pass
    over the distinct (x, t_x, T) rows with x > 0, and it reads log(α + T) and log(α + t_x) from tables over
    the distinct T and t_x values.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, t_cap: np.ndarray, weights: np.ndarray | None) -> None:
        (uniques, codes), _row, w = compress_codes(x, t_x, t_cap, weights=weights)
        self.w, self.n = w, float(w.sum())
        (self.ux, self.ut, self.uT), (self.ix, self.it, self.iT) = uniques, codes
        self.x, self.t_x, self.T = self.ux[self.ix], self.ut[self.it], self.uT[self.iT]
        self.wx = np.bincount(self.ix, weights=w, minlength=len(self.ux))  # weight per distinct x
        self.wT = np.bincount(self.iT, weights=w, minlength=len(self.uT))  # weight per distinct T
        self.wxT = np.bincount(self.iT, weights=w * self.x, minlength=len(self.uT))  # weight · x per T
        pos = self.x > 0
        self.p_w, self.p_x = w[pos], self.x[pos]
        self.p_wx = self.p_w * self.p_x
        self.p_ix, self.p_it, self.p_iT = (c[pos].astype(np.intp) for c in (self.ix, self.it, self.iT))


def _loglik(params: np.ndarray, d: _Data, grad: bool) -> tuple[float, np.ndarray]:
    """Total log-likelihood and its gradient with respect to (r, alpha, a, b).

    Per row, log L = lg(x) + r log α + log B(a, b + x) − log B(a, b) − (r + x) log(α + T) + [x > 0] softplus(δ)
    with δ = log a − log(b + x − 1) + (r + x)(log(α + T) − log(α + t_x)), the log-odds of "dropped out after
    the last purchase" (FHL 2005 eq. 6 with the two terms factored).
    """
    r, alpha, a, b = (float(v) for v in params)
    ux, xpos = d.ux, d.ux > 0
    lg = gammaln(r + ux) - gammaln(r)
    B1 = betaln(a, b + ux) - betaln(a, b)
    c_x = np.log(a) - np.log(np.where(xpos, b + ux - 1.0, 1.0))
    lT = np.log(alpha + d.uT)
    lt = np.log(alpha + d.ut)
    # the pass over the rows with x > 0
    dl = lT[d.p_iT]
    dl -= lt[d.p_it]
    rx = d.p_x + r
    delta = rx * dl
    delta += c_x[d.p_ix]
    soft = np.logaddexp(0.0, delta)
    total = (wdot(d.wx, lg + B1) + d.n * r * np.log(alpha) - wdot(r * d.wT + d.wxT, lT)
             + wdot(d.p_w, soft))
    if not grad:
        return total, np.empty(0)

    ws = expit(delta, out=soft)  # posterior weight of "dropped out after the last purchase"
    ws *= d.p_w
    ws_x = np.bincount(d.p_ix, weights=ws, minlength=len(ux))  # per distinct x
    inv_T, inv_t = 1.0 / (alpha + d.uT), 1.0 / (alpha + d.ut)
    dinv = inv_T[d.p_iT]
    dinv -= inv_t[d.p_it]
    dinv *= rx
    dig_ab = digamma(a + b)
    dig_abx = digamma(a + b + ux)
    g_r = (wdot(d.wx, digamma(r + ux) - digamma(r)) + d.n * np.log(alpha) - wdot(d.wT, lT)
           + wdot(ws, dl))
    g_alpha = d.n * r / alpha - wdot(r * d.wT + d.wxT, inv_T) + wdot(ws, dinv)
    g_a = wdot(d.wx, dig_ab - dig_abx) + float(ws_x.sum()) / a
    g_b = (wdot(d.wx, dig_ab - dig_abx - digamma(b) + digamma(b + ux))
           - wdot(ws_x, np.where(xpos, 1.0 / np.where(xpos, b + ux - 1.0, 1.0), 0.0)))
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
        self._fit_ml(data, _loglik, lambda rows: _Data(data.x[rows], data.t_x[rows], data.T[rows], data.w[rows]),
                     initial_params)
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
        alive = expit(-self._log_odds_dead(x, t_x, t_cap, r, alpha, a, b))
        return np.asarray(self._expected_if_alive(t, x, t_cap) * alive)

    def _expected_if_alive(self, t: Any, x: np.ndarray, t_cap: np.ndarray) -> np.ndarray:
        """E[Y(t) | alive at T, x, T]: the forecast of a customer known to be alive (depends on x and T only)."""
        r, alpha, a, b = self._params()
        t_arr = np.asarray(t, dtype=np.float64)
        # (1 - z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z) with z = t / (alpha+T+t), rewritten by Euler's transformation
        # as (1 - z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): bounded parameters, no overflow for large x.
        one_minus_z = (alpha + t_cap) / (alpha + t_cap + t_arr)
        z = 1.0 - one_minus_z
        head = 1.0 - one_minus_z ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
        return np.asarray((a + b + x - 1.0) / (a - 1.0) * head)

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected repeat purchases in (0, t] of a customer who just made a first purchase."""
        r, alpha, a, b = self._params()
        t_arr = np.asarray(t, dtype=np.float64)
        z = t_arr / (alpha + t_arr)
        return np.asarray((a + b - 1.0) / (a - 1.0) * (
            1.0 - (alpha / (alpha + t_arr)) ** r * hyp2f1(r, b, a + b - 1.0, z)))
