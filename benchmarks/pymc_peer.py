"""PyMC-Marketing MAP fits as an optional peer: only when it is importable in the project environment.

It is not installed by default (PyMC pulls a large dependency tree and compiles models); the stage is skipped
with a note otherwise. Install it into ``.venv`` by hand to include it.
"""

from __future__ import annotations

from typing import Any

from benchmarks.registry import DataSpec, Timed, Unavailable, stage

__all__: list[str] = []


@stage("pymc_marketing_bgnbd_map", group="bgnbd_fit", engine="pymc-marketing", title="PyMC-Marketing BetaGeoModel MAP",
       timeout_s=600)
def pymc_bgnbd(data: DataSpec) -> Timed:
    try:
        from pymc_marketing.clv import BetaGeoModel
    except ImportError:
        raise Unavailable("pymc-marketing is not installed (optional peer; see benchmarks/README.md)") from None
    from benchmarks.lifetimes_peer import _sales

    sales = _sales(data)
    from pymc_marketing.clv.utils import rfm_summary

    summary = rfm_summary(sales, "customer_id", "order_date", monetary_value_col="amount",
                          observation_period_end=str(data.as_of), time_unit="D")

    def run() -> dict[str, Any]:
        model = BetaGeoModel(data=summary)
        model.fit(method="map")
        return {"params": {k: round(float(v), 4) for k, v in model.fit_summary().items()}
                if hasattr(model.fit_summary(), "items") else {}}

    return Timed(run)
