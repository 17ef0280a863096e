"""Parameter recovery on data drawn from each model, and invariants of the predictions (hypothesis)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmscore.models import BetaGeo, GammaGamma, ParetoNBD, customer_lifetime_value
from crmscore.models.simulate import sample_betageo, sample_gammagamma, sample_paretonbd


def assert_recovered(model: BetaGeo | ParetoNBD | GammaGamma, truth: dict[str, float], z: float = 4.0) -> None:
    for name, true in truth.items():
        est, se = model.params_[name], model.standard_errors_[name]
        assert abs(est - true) < z * se, f"{name}: estimate {est:.4g} +- {se:.3g}, truth {true}"


def test_betageo_recovers_parameters() -> None:
    truth = {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0}
    rng = np.random.default_rng(20240501)
    data = sample_betageo(20_000, truth, T=rng.uniform(20, 80, 20_000), rng=rng)
    model = BetaGeo().fit(data)
    assert_recovered(model, truth)
    # the posterior P(alive) is calibrated against the simulated truth
    p = model.p_alive(data)
    assert abs(float(p.mean()) - float(data["alive"].mean())) < 0.02


def test_paretonbd_recovers_parameters() -> None:
    truth = {"r": 0.6, "alpha": 9.0, "s": 0.8, "beta": 14.0}
    rng = np.random.default_rng(20240502)
    data = sample_paretonbd(20_000, truth, T=rng.uniform(20, 80, 20_000), rng=rng)
    model = ParetoNBD().fit(data)
    assert_recovered(model, truth)
    p = model.p_alive(data)
    assert abs(float(p.mean()) - float(data["alive"].mean())) < 0.02


def test_gammagamma_recovers_parameters() -> None:
    truth = {"p": 6.0, "q": 3.5, "v": 15.0}
    rng = np.random.default_rng(20240503)
    data = sample_gammagamma(rng.integers(1, 12, 20_000), truth, rng=rng)
    model = GammaGamma().fit(data)
    assert_recovered(model, truth)


@pytest.mark.parametrize("kind", ["bg", "pnbd"])
def test_conditional_forecast_matches_simulated_holdout(kind: str) -> None:
    # customers simulated for T + 26 weeks: with the true parameters, the conditional expectation given the
    # first T weeks predicts the purchases of the last 26, overall and for the x = 0 group
    rng = np.random.default_rng(7)
    n, t_hold = 40_000, 26.0
    ages = rng.uniform(10, 60, n)
    if kind == "bg":
        truth = {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0}
        data = sample_betageo(n, truth, T=ages, rng=rng, holdout=t_hold)
    else:
        truth = {"r": 0.6, "alpha": 9.0, "s": 0.8, "beta": 14.0}
        data = sample_paretonbd(n, truth, T=ages, rng=rng, holdout=t_hold)
    model = _model(kind, truth)
    forecast = model.expected_purchases(t_hold, data)
    actual = data["frequency_holdout"].to_numpy()
    for group in (np.ones(n, dtype=bool), data["frequency"].to_numpy() == 0):
        err = 4 * actual[group].std() / np.sqrt(group.sum())
        assert abs(forecast[group].mean() - actual[group].mean()) < err
    # unconditional: a new customer's expected purchases over T + 26 weeks
    new = float(model.expected_purchases_new(40.0))
    fresh = (sample_betageo if kind == "bg" else sample_paretonbd)(n, truth, T=40.0, rng=rng)["frequency"]
    assert abs(new - fresh.mean()) < 4 * fresh.std() / np.sqrt(n)


PARAMS_BG = st.fixed_dictionaries({"r": st.floats(0.05, 5), "alpha": st.floats(0.5, 50), "a": st.floats(0.1, 5),
                                   "b": st.floats(0.1, 10)})
PARAMS_PNBD = st.fixed_dictionaries({"r": st.floats(0.05, 5), "alpha": st.floats(0.5, 50),
                                     "s": st.floats(0.05, 5), "beta": st.floats(0.5, 50)})
CUSTOMER = st.tuples(st.integers(0, 60), st.floats(0.0, 1.0), st.floats(0.5, 200.0)).map(
    lambda c: (c[0], 0.0 if c[0] == 0 else c[1] * c[2], c[2]))


def _model(kind: str, params: dict[str, float]) -> BetaGeo | ParetoNBD:
    model: BetaGeo | ParetoNBD = BetaGeo() if kind == "bg" else ParetoNBD()
    model.params_ = params
    return model


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["bg", "pnbd"]), data=st.data(), customers=st.lists(CUSTOMER, min_size=1, max_size=8))
def test_p_alive_in_unit_interval_and_forecast_grows_with_horizon(kind: str, data: st.DataObject,
                                                                 customers: list[tuple[int, float, float]]) -> None:
    params = data.draw(PARAMS_BG if kind == "bg" else PARAMS_PNBD)
    if kind == "bg" and abs(params["a"] - 1.0) < 1e-3:
        params["a"] = 1.01  # the BG/NBD forecast has a removable singularity at a = 1
    model = _model(kind, params)
    x, t_x, t_cap = (np.array(col, dtype=float) for col in zip(*customers, strict=True))
    p = model.p_alive(x, t_x, t_cap)
    assert np.all((p >= 0) & (p <= 1))
    horizons = [1.0, 10.0, 52.0, 200.0]
    forecasts = [model.expected_purchases(h, x, t_x, t_cap) for h in horizons]
    for f in forecasts:
        assert np.all(np.isfinite(f)) and np.all(f >= -1e-9)
    for short, long in itertools.pairwise(forecasts):
        assert np.all(long >= short - 1e-9 * (1 + np.abs(short)))


@settings(max_examples=25, deadline=None)
@given(customers=st.lists(CUSTOMER, min_size=1, max_size=6), spend=st.floats(1.0, 500.0),
       rate=st.floats(0.0, 0.1), months=st.integers(1, 36))
def test_clv_zero_for_zero_margin_and_monotone_in_margin(customers: list[tuple[int, float, float]], spend: float,
                                                        rate: float, months: int) -> None:
    bg = _model("bg", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    gg = GammaGamma()
    gg.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    x, t_x, t_cap = (np.array(col, dtype=float) for col in zip(*customers, strict=True))
    summary = pd.DataFrame({"frequency": x, "recency": t_x, "T": t_cap, "monetary_value": np.where(x > 0, spend, 0)})
    zero = customer_lifetime_value(bg, gg, summary, horizon_months=months, margin=0.0, discount_rate=rate,
                                   time_unit="W")
    assert np.all(zero == 0.0)
    low = customer_lifetime_value(bg, gg, summary, horizon_months=months, margin=0.2, discount_rate=rate,
                                  time_unit="W")
    high = customer_lifetime_value(bg, gg, summary, horizon_months=months, margin=0.4, discount_rate=rate,
                                   time_unit="W")
    assert np.all(low >= 0) and np.allclose(high, 2 * low)
    longer = customer_lifetime_value(bg, gg, summary, horizon_months=months + 12, margin=0.2, discount_rate=rate,
                                     time_unit="W")
    assert np.all(longer >= low - 1e-9)


def test_clv_needs_a_time_unit() -> None:
    from crmscore.errors import DataError

    bg = _model("bg", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
    gg = GammaGamma()
    gg.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
    summary = pd.DataFrame({"frequency": [1], "recency": [3.0], "T": [10.0], "monetary_value": [20.0]})
    with pytest.raises(DataError, match="time unit"):
        customer_lifetime_value(bg, gg, summary)
    with pytest.raises(DataError, match="margin"):
        customer_lifetime_value(bg, gg, summary, margin=25, time_unit="D")


@pytest.mark.parametrize("kind", ["bg", "pnbd", "gg"])
def test_warm_start_path_reaches_the_plain_optimum(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Large data is fitted on a sample first, then refined by Newton steps with the sample's Hessian. Shrink
    # the threshold so that 12,000 customers take that path, and compare with plain L-BFGS-B on all rows
    # (initial_params disables the warm start).
    from crmscore.models import _base

    calls: list[bool] = []
    refine = _base.newton_refine

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = refine(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_base, "WARM_START_ROWS", 1500)
    monkeypatch.setattr(_base, "newton_refine", spy)
    rng = np.random.default_rng(11)
    n = 12_000
    fast: BetaGeo | ParetoNBD | GammaGamma
    plain: BetaGeo | ParetoNBD | GammaGamma
    if kind == "gg":
        data = sample_gammagamma(rng.integers(1, 12, n), {"p": 6.0, "q": 3.5, "v": 15.0}, rng=rng)
        fast = GammaGamma().fit(data)
        plain = GammaGamma().fit(data, initial_params={"p": 1.0, "q": 1.0, "v": 1.0})
    else:
        ages = rng.uniform(20, 80, n)
        if kind == "bg":
            data = sample_betageo(n, {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0}, T=ages, rng=rng)
            fast, plain = BetaGeo().fit(data), BetaGeo().fit(data, initial_params=dict.fromkeys(["r", "alpha", "a", "b"], 1.0))
        else:
            data = sample_paretonbd(n, {"r": 0.6, "alpha": 9.0, "s": 0.8, "beta": 14.0}, T=ages, rng=rng)
            fast = ParetoNBD().fit(data)
            plain = ParetoNBD().fit(data, initial_params=dict.fromkeys(["r", "alpha", "s", "beta"], 1.0))
    assert calls == [True]  # the Newton refinement ran and converged (no fallback)
    assert fast.params_ == pytest.approx(plain.params_, rel=1e-5)
    assert fast.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-10)
    assert fast.standard_errors_ == pytest.approx(plain.standard_errors_, rel=1e-3)
