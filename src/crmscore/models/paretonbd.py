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
from scipy.special import expit, gammaln, hyp2f1

from crmscore.errors import ConvergenceError
from crmscore.models._base import (
    BaseFitter,
    compress_codes,
    fit_log_params,
    rft_inputs,
    standard_errors,
    warm_start_rows,
    wdot,
)

__all__ = ["ParetoNBD"]


class _Data:
    def __init__(self, x: np.ndarray, t_x: np.ndarray, t_cap: np.ndarray, weights: np.ndarray | None) -> None:
        (uniques, codes), _row, w = compress_codes(x, t_x, t_cap, weights=weights)
        self.w, self.n = w, float(w.sum())
        (self.ux, ut, self.uT), (self.ix, it, self.iT) = uniques, codes
        self.x, self.t_x, self.T = self.ux[self.ix], ut[it], self.uT[self.iT]
        # distinct (x, t_x) and (x, T) pairs: the hypergeometric terms are evaluated once per pair
        (pair_u, pair_c), self.ipt, _w = compress_codes(self.x, self.t_x)
        self.px_t, self.pt = pair_u[0][pair_c[0]], pair_u[1][pair_c[1]]
        (pair_u, pair_c), self.ipT, _w = compress_codes(self.x, self.T)
        self.px_T, self.pT = pair_u[0][pair_c[0]], pair_u[1][pair_c[1]]


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


def _loglik(params: np.ndarray, d: _Data) -> float:
    r, alpha, s, beta = (float(v) for v in params)
    log_a0 = _log_a0((d.px_t, d.pt, d.ipt), (d.px_T, d.pT, d.ipT), (r, alpha, s, beta))
    first = -(r + d.x) * np.log(alpha + d.uT)[d.iT] - s * np.log(beta + d.uT)[d.iT]
    second = (np.log(s) - np.log(r + s + d.ux))[d.ix] + log_a0
    lg = (gammaln(r + d.ux) - gammaln(r))[d.ix]
    rows = lg + np.logaddexp(first, second)
    return wdot(d.w, rows) + d.n * (r * np.log(alpha) + s * np.log(beta))


class ParetoNBD(BaseFitter):
    """The Pareto/NBD model of repeat purchasing.

    ``penalizer`` adds ``penalizer · Σ θ²`` to the mean negative log-likelihood (0: plain maximum likelihood).
    The gradient is taken numerically (central differences on the compressed data).

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
        pen = float(self.penalizer)
        start = np.ones(4) if initial_params is None else np.array(
            [initial_params[k] for k in self._param_names], dtype=np.float64)

        def value(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                v = -_loglik(params, data) / data.n + pen * float(np.sum(params ** 2))
            return v if np.isfinite(v) else 1e100

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            f0 = value(log_params)
            grad = np.empty(4)
            h = 1e-6
            for i in range(4):
                step = np.zeros(4)
                step[i] = h
                grad[i] = (value(log_params + step) - value(log_params - step)) / (2 * h)
            return f0, grad

        x0 = np.log(start)
        sample = warm_start_rows(len(data.w)) if initial_params is None else None
        if sample is not None:  # a quick fit on a systematic sample of the distinct rows first
            full = data
            data = _Data(full.x[sample], full.t_x[sample], full.T[sample], full.w[sample])
            try:
                x0 = fit_log_params(objective, x0, jac=True, model="ParetoNBD", n_obs=data.n).x
            except ConvergenceError:
                x0 = np.log(start)
            data = full
        res = fit_log_params(objective, x0, jac=True, model="ParetoNBD", n_obs=data.n)
        params = np.exp(res.x)
        self.params_ = {k: float(v) for k, v in zip(self._param_names, params, strict=True)}
        self.log_likelihood_ = _loglik(params, data)
        self.standard_errors_ = standard_errors(lambda p: -_loglik(p, data), params, self._param_names,
                                                "ParetoNBD")
        self.n_customers_ = round(data.n)
        self.n_iter_ = int(res.nit)
        return self

    def log_likelihood(self, frequency: Any, recency: Any = None, T: Any = None) -> float:
        """Total log-likelihood of data under the fitted parameters."""
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "ParetoNBD.log_likelihood")
        return _loglik(np.array(self._params()), _Data(x, t_x, t_cap, None))

    def _log_odds_dead(self, x: np.ndarray, t_x: np.ndarray, t_cap: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = self._params()
        ix = np.arange(len(x))
        log_a0 = _log_a0((x, t_x, ix), (x, t_cap, ix), (r, alpha, s, beta))
        return (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + t_cap) + s * np.log(beta + t_cap)
                + log_a0)

    def p_alive(self, frequency: Any, recency: Any = None, T: Any = None) -> np.ndarray:
        """P(alive at T | x, t_x, T) per customer (Fader & Hardie 2005 note, eq. 18)."""
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "ParetoNBD.p_alive")
        with np.errstate(over="ignore"):
            return np.asarray(expit(-self._log_odds_dead(x, t_x, t_cap)))

    def expected_purchases(self, t: Any, frequency: Any, recency: Any = None, T: Any = None) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` time units (Fader & Hardie note, eq. 19)."""
        r, alpha, s, beta = self._params()
        x, t_x, t_cap = rft_inputs(frequency, recency, T, "ParetoNBD.expected_purchases")
        t_arr = np.asarray(t, dtype=np.float64)
        alive = self.p_alive(x, t_x, t_cap)
        ratio = (beta + t_cap) / (beta + t_cap + t_arr)
        horizon = np.log(1.0 / ratio) if abs(s - 1.0) < 1e-9 else (1.0 - ratio ** (s - 1.0)) / (s - 1.0)
        return np.asarray((r + x) * (beta + t_cap) / (alpha + t_cap) * horizon * alive)

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)]: expected purchases in (0, t] of a newly acquired customer."""
        r, alpha, s, beta = self._params()
        t_arr = np.asarray(t, dtype=np.float64)
        ratio = beta / (beta + t_arr)
        horizon = np.log(1.0 / ratio) if abs(s - 1.0) < 1e-9 else (1.0 - ratio ** (s - 1.0)) / (s - 1.0)
        return np.asarray(r * beta / alpha * horizon)
