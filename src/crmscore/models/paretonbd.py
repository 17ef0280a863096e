"""Pareto/NBD: Poisson purchasing with an exponential lifetime (Schmittlein, Morrison & Colombo 1987).

While alive a customer buys at rate λ ~ Gamma(r, α) and dies at an exponential time with rate μ ~ Gamma(s, β).
The individual likelihood (Fader & Hardie 2005, "A note on deriving the Pareto/NBD model and related
expressions", eq. 22) is

    L = Γ(r + x) α^r β^s / Γ(r) · [ 1 / ((α + T)^(r + x) (β + T)^s) + s / (r + s + x) · A0 ]

with, for α ≥ β (the other case swaps the roles of α and β and uses r + x as the second parameter),

    A0 = 2F1(r+s+x, s+1; r+s+x+1; (α−β)/(α+t_x)) / (α+t_x)^(r+s+x)
         − 2F1(r+s+x, s+1; r+s+x+1; (α−β)/(α+T)) / (α+T)^(r+s+x).

A0 is a difference of two positive terms: it is computed as ``log(u) + log1p(−v/u)`` and the bracket with
``logaddexp``. The Gauss hypergeometric terms depend on (x, t_x) and (x, T) only, so they are evaluated once
per distinct pair, which is what makes a million customers tractable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import digamma, expit, gammaln, hyp2f1

from crmscore.models._base import (
    BaseFitter,
    compress_codes,
    distinct_pairs,
    rft_inputs,
    wdot,
)

__all__ = ["ParetoNBD"]


class _Data:
    """Distinct (x, t_x, T) rows, and the distinct (x, t_x) and (x, T) pairs the hypergeometric terms need.

    Rows with t_x = T (A0 = 0: their likelihood is the "alive throughout" term alone, which depends on (x, T)
    only) are folded into per-pair weights; only the rows with t_x < T are visited per evaluation.
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, t_cap: np.ndarray, weights: np.ndarray | None) -> None:
        (uniques, codes), _row, w = compress_codes(x, t_x, t_cap, weights=weights)
        self.w, self.n = w, float(w.sum())
        (self.ux, ut, self.uT), (self.ix, it, self.iT) = uniques, codes
        self.x, self.t_x, self.T = self.ux[self.ix], ut[it], self.uT[self.iT]
        self.wx = np.bincount(self.ix, weights=w, minlength=len(self.ux))
        # distinct (x, t_x) and (x, T) pairs: the hypergeometric terms are evaluated once per pair
        self.ipt, pair = pd.factorize(self.ix * len(ut) + it)
        self.px_t, self.pt = self.ux[pair // len(ut)], ut[pair % len(ut)]
        self.ipT, pair = pd.factorize(self.ix * len(self.uT) + self.iT)
        self.px_T, self.pT = self.ux[pair // len(self.uT)], self.uT[pair % len(self.uT)]
        self.wpT = np.bincount(self.ipT, weights=w, minlength=len(self.pT))  # weight per (x, T) pair
        # rows with t_x < T, the only ones with a per-row term
        inner = self.t_x < self.T
        self.r_w = w[inner]
        self.r_ix, self.r_ipt, self.r_ipT = (c[inner].astype(np.intp) for c in (self.ix, self.ipt, self.ipT))


def _log_hyp_term(x: np.ndarray, t: np.ndarray, r: float, alpha: float, s: float, beta: float) -> np.ndarray:
    """log( 2F1(...; z(t)) / (max(α,β) + t)^(r+s+x) ), the building block of log A0."""
    k = r + s + x
    if alpha >= beta:
        big, second = alpha, np.full_like(x, s + 1.0)
        z = (alpha - beta) / (alpha + t)
    else:
        big, second = beta, r + x
        z = (beta - alpha) / (beta + t)
    return np.log(hyp2f1(k, second, k + 1.0, z)) - k * np.log(big + t)


def _log_a0(d_x_t: tuple[np.ndarray, np.ndarray, np.ndarray], d_x_T: tuple[np.ndarray, np.ndarray, np.ndarray],
            params: tuple[float, float, float, float]) -> np.ndarray:
    (xt, tt, it), (xT, TT, iT) = d_x_t, d_x_T
    u = _log_hyp_term(xt, tt, *params)[it]
    v = _log_hyp_term(xT, TT, *params)[iT]
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = v - u
        out = u + np.log1p(-np.exp(np.minimum(diff, 0.0)))
    return np.where(diff >= 0.0, -np.inf, out)  # t_x == T: A0 = 0


def _row_loglik(params: tuple[float, float, float, float], x: np.ndarray, t_x: np.ndarray, t_cap: np.ndarray,
                log_a0: np.ndarray) -> np.ndarray:
    r, alpha, s, beta = params
    first = -(r + x) * np.log(alpha + t_cap) - s * np.log(beta + t_cap)
    second = np.log(s) - np.log(r + s + x) + log_a0
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + np.logaddexp(first, second)


def _hyp_terms(x: np.ndarray, t: np.ndarray, r: float, alpha: float, s: float, beta: float,
               grad: bool) -> tuple[np.ndarray, np.ndarray]:
    """``_log_hyp_term`` and, with ``grad``, its derivatives with respect to (r, alpha, s, beta) (4 × n).

    The derivative in z is analytic (d/dz 2F1(a, b; c; z) = ab/c · 2F1(a+1, b+1; c+1; z)); those in the
    parameters are central differences of log 2F1 (the shift of a and c together, and of b).
    """
    k = r + s + x
    if alpha >= beta:
        big, small, second = alpha, beta, np.full_like(x, s + 1.0)
    else:
        big, small, second = beta, alpha, r + x
    z = (big - small) / (big + t)
    f0 = hyp2f1(k, second, k + 1.0, z)
    log_big = np.log(big + t)
    value = np.log(f0) - k * log_big
    if not grad:
        return value, np.empty((4, 0))
    h = 1e-5
    d_k = (np.log(hyp2f1(k + h, second, k + 1.0 + h, z)) - np.log(hyp2f1(k - h, second, k + 1.0 - h, z))) / (2 * h)
    d_b = (np.log(hyp2f1(k, second + h, k + 1.0, z)) - np.log(hyp2f1(k, second - h, k + 1.0, z))) / (2 * h)
    d_z = k * second / (k + 1.0) * hyp2f1(k + 1.0, second + 1.0, k + 2.0, z) / f0
    dz_big, dz_small = (small + t) / (big + t) ** 2, -1.0 / (big + t)
    d_big = d_z * dz_big - k / (big + t)
    d_small = d_z * dz_small
    if alpha >= beta:  # second = s + 1
        out = (d_k - log_big, d_big, d_k + d_b - log_big, d_small)
    else:  # second = r + x
        out = (d_k + d_b - log_big, d_small, d_k - log_big, d_big)
    return value, np.stack(out)


def _loglik(params: np.ndarray, d: _Data, grad: bool = False) -> tuple[float, np.ndarray]:
    """Total log-likelihood and its gradient with respect to (r, alpha, s, beta).

    Per row, log L = lg(x) + r log α + s log β + F(x, T) + softplus(S(x) + log A0 − F(x, T)) with
    F = −(r + x) log(α + T) − s log(β + T) and S = log s − log(r + s + x); the gradient is the chain rule
    through softplus and log A0 = u + log(1 − e^(v−u)), with the per-row weights summed per pair before they
    meet the per-pair derivatives.
    """
    r, alpha, s, beta = (float(v) for v in params)
    ux = d.ux
    u_p, du_p = _hyp_terms(d.px_t, d.pt, r, alpha, s, beta, grad)
    v_p, dv_p = _hyp_terms(d.px_T, d.pT, r, alpha, s, beta, grad)
    lTa, lTb = np.log(alpha + d.pT), np.log(beta + d.pT)
    f_p = -(r + d.px_T) * lTa - s * lTb
    s_x = np.log(s) - np.log(r + s + ux)
    # rows with t_x < T
    u = u_p[d.r_ipt]
    diff = v_p[d.r_ipT]
    diff -= u
    np.minimum(diff, -1e-12, out=diff)  # v < u there; guards rounding
    e = np.exp(diff, out=diff)
    lse = np.log1p(-e)
    lse += u
    lse += s_x[d.r_ix]
    lse -= f_p[d.r_ipT]  # = log-odds of "died in (t_x, T)" against "alive at T"
    soft = np.logaddexp(0.0, lse)
    lg = gammaln(r + ux) - gammaln(r)
    total = (wdot(d.wx, lg) + d.n * (r * np.log(alpha) + s * np.log(beta)) + wdot(d.wpT, f_p)
             + wdot(d.r_w, soft))
    if not grad:
        return total, np.empty(0)

    w_pi = expit(lse, out=soft)
    w_pi *= d.r_w
    c_x = np.bincount(d.r_ix, weights=w_pi, minlength=len(ux))  # weight on S(x)
    b_T = d.wpT - np.bincount(d.r_ipT, weights=w_pi, minlength=len(d.pT))  # weight on F(x, T)
    one_m_e = np.subtract(1.0, e, out=lse)
    w_u = np.divide(w_pi, one_m_e, out=w_pi)  # d log A0 = (du - e dv) / (1 - e)
    a_t = np.bincount(d.r_ipt, weights=w_u, minlength=len(d.pt))
    w_u *= e
    a_T = np.bincount(d.r_ipT, weights=w_u, minlength=len(d.pT))
    dig_r = digamma(r + ux) - digamma(r)
    inv_rsx = 1.0 / (r + s + ux)
    g = du_p @ a_t - dv_p @ a_T
    g[0] += wdot(d.wx, dig_r) + d.n * np.log(alpha) - wdot(b_T, lTa) - wdot(c_x, inv_rsx)
    g[1] += d.n * r / alpha - wdot(b_T, (r + d.px_T) / (alpha + d.pT))
    g[2] += d.n * np.log(beta) - wdot(b_T, lTb) + wdot(c_x, 1.0 / s - inv_rsx)
    g[3] += d.n * s / beta - wdot(b_T, s / (beta + d.pT))
    return total, g


class ParetoNBD(BaseFitter):
    """The Pareto/NBD model of repeat purchasing.

    ``penalizer`` adds ``penalizer · Σ θ²`` to the mean negative log-likelihood (0: plain maximum likelihood).
    The gradient is analytic except for the hypergeometric terms' parameter derivatives (central
    differences, once per distinct (x, t_x) and (x, T) pair).

    Fitted attributes: ``params_`` (``r, alpha, s, beta``), ``log_likelihood_``, ``standard_errors_``,
    ``n_customers_``, ``n_iter_``.

    >>> from crmscore.models.simulate import sample_paretonbd
    >>> data = sample_paretonbd(2000, {"r": 0.5, "alpha": 10.0, "s": 0.6, "beta": 12.0}, T=39.0,
    ...                         rng=np.random.default_rng(0))
    >>> model = ParetoNBD().fit(data)
    >>> e = model.expected_purchases(10.0, data)
    >>> bool((e >= 0).all()) and bool((model.expected_purchases(20.0, data) >= e).all())
    True
    """

    _param_names = ("r", "alpha", "s", "beta")

    def __init__(self, *, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, frequency: Any, recency: Any = None, T: Any = None, *, weights: Any = None,
            initial_params: dict[str, float] | None = None) -> ParetoNBD:
        """Fit by maximum likelihood. Pass three arrays or one summary DataFrame; returns self."""
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "ParetoNBD.fit")
        data = _Data(x, t_x, t_cap, None if weights is None else np.asarray(weights, dtype=np.float64))
        self._fit_ml(data, _loglik, lambda rows: _Data(data.x[rows], data.t_x[rows], data.T[rows], data.w[rows]),
                     initial_params)
        return self

    def log_likelihood(self, frequency: Any, recency: Any = None, T: Any = None) -> float:
        """Total log-likelihood of data under the fitted parameters."""
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "ParetoNBD.log_likelihood")
        return _loglik(np.array(self._params()), _Data(x, t_x, t_cap, None))[0]

    def _log_odds_dead(self, x: np.ndarray, t_x: np.ndarray, t_cap: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = self._params()
        # the hypergeometric terms once per distinct (x, t_x) and (x, T) pair
        (i_t, px_t, pt), (i_T, px_T, pT) = distinct_pairs(x, t_x), distinct_pairs(x, t_cap)
        log_a0 = _log_a0((px_t, pt, i_t), (px_T, pT, i_T), (r, alpha, s, beta))
        return (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + t_cap) + s * np.log(beta + t_cap)
                + log_a0)

    def p_alive(self, frequency: Any, recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T) per customer (Fader & Hardie 2005 note, eq. 18)."""
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "ParetoNBD.p_alive")
        with np.errstate(over="ignore"):
            return np.asarray(expit(-self._log_odds_dead(x, t_x, t_cap)))

    def expected_purchases(self, t: Any, frequency: Any, recency: Any = None, T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` time units (Fader & Hardie note, eq. 19)."""
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "ParetoNBD.expected_purchases")
        alive = self.p_alive(x, t_x, t_cap)
        return np.asarray(self._expected_if_alive(t, x, t_cap) * alive)

    def _expected_if_alive(self, t: Any, x: np.ndarray, t_cap: np.ndarray) -> np.ndarray:
        """E[Y(t) | alive at T, x, T]: the forecast of a customer known to be alive (depends on x and T only)."""
        r, alpha, s, beta = self._params()
        t_arr = np.asarray(t, dtype=np.float64)
        ratio = (beta + t_cap) / (beta + t_cap + t_arr)
        horizon = np.log(1.0 / ratio) if abs(s - 1.0) < 1e-9 else (1.0 - ratio ** (s - 1.0)) / (s - 1.0)
        return np.asarray((r + x) * (beta + t_cap) / (alpha + t_cap) * horizon)

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected purchases in (0, t] of a newly acquired customer."""
        r, alpha, s, beta = self._params()
        t_arr = np.asarray(t, dtype=np.float64)
        ratio = beta / (beta + t_arr)
        horizon = np.log(1.0 / ratio) if abs(s - 1.0) < 1e-9 else (1.0 - ratio ** (s - 1.0)) / (s - 1.0)
        return np.asarray(r * beta / alpha * horizon)
