"""The lifetimes 0.11.3 path as peer: summary, BG/NBD, Pareto/NBD, Gamma-Gamma and predictions.

lifetimes needs ``pandas<3 scipy<1.16 setuptools<82``, so these stages run in their own environment,
``benchmarks/.venv-lifetimes`` (created on demand by :mod:`benchmarks.run`). Sales (completed orders with a
positive amount, as crmscore counts them) are read from the cached Parquet with pandas; money as float64.
The summary is computed once by lifetimes itself and cached next to the data for the fit stages.
"""

from __future__ import annotations

from typing import Any

from benchmarks.registry import DataSpec, Timed, Unavailable, stage

__all__: list[str] = []

LIFETIMES_REQUIREMENTS = ("lifetimes==0.11.3", "pandas<3", "scipy<1.16", "setuptools<82", "pyarrow")


def _versions() -> dict[str, str]:
    import lifetimes
    import numpy
    import pandas
    import scipy

    return {"lifetimes": lifetimes.__version__, "pandas": pandas.__version__, "scipy": scipy.__version__,
            "numpy": numpy.__version__}


def _sales(data: DataSpec) -> Any:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(data.parquet("orders"), columns=["customer_id", "order_date", "amount", "status"])
    t = t.set_column(2, "amount", pc.cast(t["amount"], pa.float64()))
    df = t.to_pandas()
    end = pd.Timestamp(data.as_of) + pd.Timedelta(days=1)
    return df[(df["status"] == "completed") & (df["amount"] > 0) & (df["order_date"] < end)]


def _summary_now(data: DataSpec, sales: Any) -> Any:
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(sales, "customer_id", "order_date", monetary_value_col="amount",
                                              observation_period_end=str(data.as_of), freq="D")


def _summary(data: DataSpec) -> Any:
    import pandas as pd

    cached = data.dir / "lifetimes_summary.parquet"
    if cached.exists():
        return pd.read_parquet(cached)
    df = _summary_now(data, _sales(data))
    df.to_parquet(cached)
    return df


def _import_lifetimes() -> None:
    try:
        import lifetimes  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"lifetimes is not installed in this environment ({exc})") from None


def _params(fitter: Any) -> dict[str, float]:
    return {str(k): round(float(v), 4) for k, v in fitter.params_.items()}


@stage("lifetimes_summary", group="btyd_summary", engine="lifetimes", venv="lifetimes",
       title="lifetimes summary_data_from_transaction_data", timeout_s=900)
def lifetimes_summary(data: DataSpec) -> Timed:
    _import_lifetimes()
    sales = _sales(data)

    def run() -> dict[str, Any]:
        df = _summary_now(data, sales)
        return {"customers": len(df), "repeat_days": int(df["frequency"].sum()), "versions": _versions()}

    return Timed(run)


@stage("lifetimes_bgnbd_fit", group="bgnbd_fit", engine="lifetimes", venv="lifetimes",
       title="lifetimes BetaGeoFitter.fit", timeout_s=300)
def lifetimes_bgnbd(data: DataSpec) -> Timed:
    _import_lifetimes()
    from lifetimes import BetaGeoFitter

    df = _summary(data)

    def run() -> dict[str, Any]:
        fitter = BetaGeoFitter().fit(df["frequency"], df["recency"], df["T"])
        return {"params": _params(fitter), "versions": _versions()}

    return Timed(run)


@stage("lifetimes_paretonbd_fit", group="paretonbd_fit", engine="lifetimes", venv="lifetimes",
       title="lifetimes ParetoNBDFitter.fit", timeout_s=120)
def lifetimes_paretonbd(data: DataSpec) -> Timed:
    _import_lifetimes()
    from lifetimes import ParetoNBDFitter

    df = _summary(data)

    def run() -> dict[str, Any]:
        fitter = ParetoNBDFitter().fit(df["frequency"], df["recency"], df["T"])
        return {"params": _params(fitter), "versions": _versions()}

    return Timed(run)


@stage("lifetimes_gammagamma_fit", group="gammagamma_fit", engine="lifetimes", venv="lifetimes",
       title="lifetimes GammaGammaFitter.fit", timeout_s=300)
def lifetimes_gammagamma(data: DataSpec) -> Timed:
    _import_lifetimes()
    from lifetimes import GammaGammaFitter

    df = _summary(data)
    rep = df[(df["frequency"] > 0) & (df["monetary_value"] > 0)]

    def run() -> dict[str, Any]:
        fitter = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        return {"params": _params(fitter), "versions": _versions()}

    return Timed(run)


@stage("lifetimes_predictions", group="predictions", engine="lifetimes", venv="lifetimes",
       title="lifetimes P(alive) + expected purchases + customer_lifetime_value (12 months)", timeout_s=600)
def lifetimes_predictions(data: DataSpec) -> Timed:
    _import_lifetimes()
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    df = _summary(data)
    bg = BetaGeoFitter().fit(df["frequency"], df["recency"], df["T"])
    rep = df[(df["frequency"] > 0) & (df["monetary_value"] > 0)]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])

    def run() -> dict[str, Any]:
        p_alive = bg.conditional_probability_alive(df["frequency"], df["recency"], df["T"])
        purchases = bg.conditional_expected_number_of_purchases_up_to_time(365, df["frequency"], df["recency"],
                                                                           df["T"])
        clv = gg.customer_lifetime_value(bg, df["frequency"], df["recency"], df["T"], df["monetary_value"],
                                         time=12, freq="D", discount_rate=0.01)
        return {"customers": len(df), "p_alive_mean": round(float(p_alive.mean()), 4),
                "purchases_total": round(float(purchases.sum()), 1), "clv_total": round(float(clv.sum()), 2)}

    return Timed(run)
