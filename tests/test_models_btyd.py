"""BTYD models on the CDNOW sample: golden values from the literature, plus likelihood cross-checks.

Sources of the golden values (also listed in ``/work/shared/data/README.md`` and issue #5):

- [FHL05] Fader, Hardie & Lee (2005), "'Counting your customers' the easy way: an alternative to the
  Pareto/NBD model", Marketing Science 24(2), 275-284: BG/NBD r = 0.243, alpha = 4.414, a = 0.793,
  b = 2.426, LL = -9582.4; Pareto/NBD r = 0.553, alpha = 10.58, s = 0.606, beta = 11.67, LL = -9595.0;
  holdout (weeks 40-78): correlation of forecast and actual per customer 0.626 (BG/NBD) and 0.630
  (Pareto/NBD); customers with no repeat in calibration: predicted mean 0.225 (BG/NBD), 0.138 (Pareto/NBD),
  actual 0.237.
- [FH13] Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", note, brucehardie.com/notes/025:
  p = 6.25, q = 3.74, gamma = 15.44 on the 946 repeat customers' mean repeat spend.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.optimize import approx_fprime
from scipy.special import betaln, gammaln

from crmscore.datasets import load_cdnow
from crmscore.errors import ConvergenceError, DataError, MissingColumnsError, NotFittedError
from crmscore.models import BetaGeo, GammaGamma, ParetoNBD, clv_table, summary_from_transactions
from crmscore.models import betageo as bg_mod
from crmscore.models import gammagamma as gg_mod
from crmscore.models import paretonbd as pnbd_mod


def sig3(value: float) -> float:
    """``value`` rounded to 3 significant figures."""
    return float(f"{value:.3g}")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    lines = load_cdnow()
    return summary_from_transactions(lines, "customer_id", "date", "dollars", observation_period_end="1998-06-30",
                                     calibration_period_end="1997-09-30", freq="W")


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow)


@pytest.fixture(scope="module")
def pnbd(cdnow: pd.DataFrame) -> ParetoNBD:
    return ParetoNBD().fit(cdnow)


def test_cdnow_summary_counts_purchase_days(cdnow: pd.DataFrame) -> None:
    # FHL05 section 4: 2,357 customers, 2,457 repeat transactions in weeks 1-39, 1,882 in weeks 40-78.
    assert len(cdnow) == 2357
    assert int(cdnow["frequency_cal"].sum()) == 2457
    assert int(cdnow["frequency_holdout"].sum()) == 1882
    assert int((cdnow["frequency_cal"] > 0).sum()) == 946  # FH13: 946 repeat customers
    # a customer who first bought on 1997-01-01 has T = 272 days = 38.86 weeks
    assert cdnow.loc[cdnow["customer_id"] == "00004", "T_cal"].item() == pytest.approx(272 / 7)
    assert (cdnow["duration_holdout"] == 39.0).all()


def test_bgnbd_matches_fhl2005(bgnbd: BetaGeo) -> None:
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert {k: sig3(v) for k, v in bgnbd.params_.items()} == {k: sig3(v) for k, v in published.items()}
    # log-likelihood in weeks, from the formula (not rescaled): -9582.4
    assert round(bgnbd.log_likelihood_, 1) == -9582.4
    assert all(0 < se < bgnbd.params_[k] for k, se in bgnbd.standard_errors_.items())


def test_paretonbd_matches_fhl2005(pnbd: ParetoNBD) -> None:
    published = {"r": 0.553, "alpha": 10.58, "s": 0.606, "beta": 11.67}
    assert {k: sig3(v) for k, v in pnbd.params_.items()} == {k: sig3(v) for k, v in published.items()}
    assert round(pnbd.log_likelihood_, 1) == -9595.0
    assert all(se > 0 for se in pnbd.standard_errors_.values())


def test_gammagamma_matches_fh2013(cdnow: pd.DataFrame) -> None:
    gg = GammaGamma().fit(cdnow)
    assert gg.n_customers_ == 946
    published = {"p": 6.25, "q": 3.74, "v": 15.44}
    assert {k: sig3(v) for k, v in gg.params_.items()} == {k: sig3(v) for k, v in published.items()}
    # E[M] shrinks a customer's mean towards the population mean p*v/(q-1)
    spend = gg.expected_spend(cdnow)
    repeat = cdnow["frequency_cal"].to_numpy() > 0
    assert np.allclose(spend[~repeat], gg.mean_spend_)
    own = cdnow["monetary_value_cal"].to_numpy()[repeat]
    lo, hi = np.minimum(own, gg.mean_spend_), np.maximum(own, gg.mean_spend_)
    assert ((spend[repeat] >= lo - 1e-9) & (spend[repeat] <= hi + 1e-9)).all()


@pytest.mark.parametrize(("model_name", "corr", "zero_mean"), [("bgnbd", 0.626, 0.225), ("pnbd", 0.630, 0.138)])
def test_holdout_forecast_as_in_fhl2005(cdnow: pd.DataFrame, request: pytest.FixtureRequest, model_name: str,
                                        corr: float, zero_mean: float) -> None:
    model = request.getfixturevalue(model_name)
    forecast = model.expected_purchases(39.0, cdnow)
    actual = cdnow["frequency_holdout"].to_numpy()
    assert round(float(np.corrcoef(forecast, actual)[0, 1]), 3) == corr
    zero = cdnow["frequency_cal"].to_numpy() == 0
    assert round(float(forecast[zero].mean()), 3) == zero_mean
    assert round(float(actual[zero].mean()), 3) == 0.237


def test_bgnbd_loglik_equals_formula_term_by_term(cdnow: pd.DataFrame) -> None:
    # FHL05 eq. 6 evaluated directly per customer, without compression or gradients
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    x, t_x, t_cap = (cdnow[c].to_numpy(dtype=float) for c in ("frequency_cal", "recency_cal", "T_cal"))
    total = 0.0
    for xi, ti, Ti in zip(x[:300], t_x[:300], t_cap[:300], strict=True):
        common = math.exp(gammaln(r + xi) - gammaln(r) + r * math.log(alpha))
        lik = math.exp(betaln(a, b + xi) - betaln(a, b)) * common / (alpha + Ti) ** (r + xi)
        if xi > 0:
            lik += math.exp(betaln(a + 1, b + xi - 1) - betaln(a, b)) * common / (alpha + ti) ** (r + xi)
        total += math.log(lik)
    model = BetaGeo()
    model.params_ = {"r": r, "alpha": alpha, "a": a, "b": b}
    assert model.log_likelihood(x[:300], t_x[:300], t_cap[:300]) == pytest.approx(total, rel=1e-10)


def test_paretonbd_hypergeometric_form_equals_integral_form() -> None:
    # Independent check of the 2F1 expression: L = Γ(r+x)α^r β^s/Γ(r) [ (α+T)^-(r+x) (β+T)^-s
    #   + s ∫_{t_x}^{T} (α+τ)^-(r+x) (β+τ)^-(s+1) dτ ], integrated numerically.
    rows = [(0, 0.0, 30.0), (1, 5.0, 30.0), (4, 29.0, 38.9), (12, 20.0, 38.9), (30, 38.0, 38.9), (2, 10.0, 10.0)]
    for params in [(0.553, 10.58, 0.606, 11.67), (0.8, 3.0, 1.4, 40.0), (2.0, 30.0, 0.3, 30.0)]:
        r, alpha, s, beta = params
        x = np.array([row[0] for row in rows], dtype=float)
        t_x = np.array([row[1] for row in rows])
        t_cap = np.array([row[2] for row in rows])
        ix = np.arange(len(rows))
        log_a0 = pnbd_mod._log_a0((x, t_x, ix), (x, t_cap, ix), params)
        ours = pnbd_mod._row_loglik(params, x, t_x, t_cap, log_a0)
        for k, (xi, ti, Ti) in enumerate(rows):
            def integrand(tau: float, xi: float = xi, r: float = r, alpha: float = alpha, s: float = s,
                          beta: float = beta) -> float:
                return float((alpha + tau) ** -(r + xi) * (beta + tau) ** -(s + 1))

            integral, _err = integrate.quad(integrand, ti, Ti, epsabs=0, epsrel=1e-12)
            bracket = (alpha + Ti) ** -(r + xi) * (beta + Ti) ** -s + s * integral
            expected = gammaln(r + xi) - gammaln(r) + r * math.log(alpha) + s * math.log(beta) + math.log(bracket)
            assert ours[k] == pytest.approx(expected, rel=1e-8), (params, rows[k])


def test_analytic_gradients_match_finite_differences(cdnow: pd.DataFrame) -> None:
    x, t_x, t_cap = (cdnow[c].to_numpy(dtype=float) for c in ("frequency_cal", "recency_cal", "T_cal"))
    data = bg_mod._Data(x, t_x, t_cap, None)
    point = np.array([0.3, 4.0, 0.9, 2.2])
    analytic = bg_mod._loglik(point, data, grad=True)[1]
    numeric = approx_fprime(point, lambda p: bg_mod._loglik(p, data, grad=False)[0], 1e-6)
    assert analytic == pytest.approx(numeric, rel=1e-4)

    # Pareto/NBD: analytic chain rule, central differences only inside the hypergeometric terms; both parameter
    # orderings (alpha >= beta and alpha < beta use different 2F1 forms)
    pdata = pnbd_mod._Data(x, t_x, t_cap, None)
    for point in (np.array([0.55, 10.6, 0.6, 11.7]), np.array([0.8, 3.0, 1.4, 40.0]),
                  np.array([2.0, 30.0, 0.3, 12.0])):
        analytic = pnbd_mod._loglik(point, pdata, grad=True)[1]
        h = 1e-6 * point
        numeric = np.array([(pnbd_mod._loglik(point + h[i] * e, pdata)[0]
                             - pnbd_mod._loglik(point - h[i] * e, pdata)[0]) / (2 * h[i])
                            for i, e in enumerate(np.eye(4))])
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-3)
        # the compressed likelihood is the sum of the per-customer likelihoods
        log_a0 = pnbd_mod._log_a0((x, t_x, np.arange(len(x))), (x, t_cap, np.arange(len(x))), tuple(point))
        rows = pnbd_mod._row_loglik(tuple(point), x, t_x, t_cap, log_a0)
        assert pnbd_mod._loglik(point, pdata)[0] == pytest.approx(float(rows.sum()), rel=1e-12)

    rep = x > 0
    gdata = gg_mod._Data(x[rep], cdnow["monetary_value_cal"].to_numpy()[rep], np.ones(int(rep.sum())))
    point = np.array([5.0, 3.0, 12.0])
    analytic = gg_mod._loglik(point, gdata, grad=True)[1]
    numeric = approx_fprime(point, lambda p: gg_mod._loglik(p, gdata, grad=False)[0], 1e-6)
    assert analytic == pytest.approx(numeric, rel=1e-4)


def test_weights_equal_repeated_rows(cdnow: pd.DataFrame) -> None:
    head = cdnow.head(400)
    doubled = pd.concat([head, head])
    a = BetaGeo().fit(doubled)
    b = BetaGeo().fit(head, weights=np.full(len(head), 2.0))
    assert a.params_ == pytest.approx(b.params_, rel=1e-6)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-9)


def test_p_alive_and_clv_on_cdnow(cdnow: pd.DataFrame, bgnbd: BetaGeo, pnbd: ParetoNBD) -> None:
    gg = GammaGamma().fit(cdnow)
    for model in (bgnbd, pnbd):
        table = clv_table(model, gg, cdnow, horizon_months=12, margin=0.3, discount_rate=0.01)
        assert list(table.columns) == ["customer_id", "p_alive", "expected_purchases", "expected_spend", "clv"]
        assert table["p_alive"].between(0, 1).all()
        assert (table["clv"] >= 0).all()
        # a year is 52.18 weeks: the 12-month forecast exceeds the 39-week one
        assert (table["expected_purchases"] > model.expected_purchases(39.0, cdnow) - 1e-12).all()
    # BG/NBD: a customer with no repeat purchase is certainly alive; one who bought often and long ago is not
    p = bgnbd.p_alive([0, 10], [0.0, 5.0], [38.0, 38.0])
    assert p[0] == 1.0 and p[1] < 0.01


def test_unfitted_and_bad_inputs_raise_typed_errors() -> None:
    for model in (BetaGeo(), ParetoNBD()):
        with pytest.raises(NotFittedError, match=r"call .*fit"):
            model.p_alive([1], [1.0], [2.0])
    with pytest.raises(NotFittedError):
        GammaGamma().expected_spend([1], [2.0])
    with pytest.raises(DataError, match="recency must lie in"):
        BetaGeo().fit([1, 2], [5.0, 1.0], [3.0, 3.0])
    with pytest.raises(DataError, match="frequency 0 must have recency 0"):
        BetaGeo().fit([0], [1.0], [3.0])
    with pytest.raises(MissingColumnsError, match="'recency'"):
        BetaGeo().fit(pd.DataFrame({"frequency": [1], "recncy": [1.0], "T": [2.0]}))
    with pytest.raises(DataError, match="fewer than 3 customers"):
        GammaGamma().fit([0, 1], [0.0, 3.0])


def test_unidentified_data_raises_convergence_error() -> None:
    # nobody ever buys again: r -> 0, the optimiser runs into its bounds
    with pytest.raises(ConvergenceError) as info:
        BetaGeo().fit(np.zeros(50), np.zeros(50), np.full(50, 30.0))
    assert info.value.hint and "penalizer" in info.value.hint


def test_clv_equals_its_definition(cdnow: pd.DataFrame, bgnbd: BetaGeo, pnbd: ParetoNBD) -> None:
    # clv_table evaluates the monthly forecasts once per distinct (x, T) pair and multiplies by P(alive); the
    # definition evaluates E[Y(t) | x, t_x, T] per customer and month
    gg = GammaGamma().fit(cdnow)
    x, t_x, t_cap, money = (cdnow[c].to_numpy(dtype=float)
                            for c in ("frequency_cal", "recency_cal", "T_cal", "monetary_value_cal"))
    weeks_per_month = 365.25 / 12 / 7
    for model in (bgnbd, pnbd):
        table = clv_table(model, gg, cdnow, horizon_months=6, margin=0.25, discount_rate=0.02)
        cum = [np.zeros(len(x))] + [model.expected_purchases(k * weeks_per_month, x, t_x, t_cap)
                                    for k in range(1, 7)]
        expected = 0.25 * gg.expected_spend(x, money) * sum(
            (cum[k] - cum[k - 1]) / 1.02 ** k for k in range(1, 7))
        assert table["clv"].to_numpy() == pytest.approx(expected, rel=1e-10, abs=1e-12)
        assert table["expected_purchases"].to_numpy() == pytest.approx(cum[6], rel=1e-12)
        assert table["p_alive"].to_numpy() == pytest.approx(model.p_alive(x, t_x, t_cap), rel=1e-12)
