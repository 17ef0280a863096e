"""Standalone timing of the BTYD models on synthetic customers: summary, fits, predictions.

``python -m benchmarks.bench_models --customers 1000000 --repeats 3`` generates (once) the synthetic orders with
``crmscore.synth`` (seed 42) under ``/tmp/modelbench/``, then times each stage several times and prints, per
stage, the median wall time and the median CPU time (``time.process_time``: every thread of this process,
so DuckDB's parallel summary can show more CPU than wall time). On a shared machine the CPU time is the
steadier figure. The issue 5 targets at 1M customers: BG/NBD fit <= 1.5 s, Pareto/NBD fit <= 10 s,
Gamma-Gamma fit <= 1 s, predictions for everyone <= 2 s.

The full harness with the lifetimes peer is ``benchmarks/run.py``; this module only times crmscore.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CACHE", "TARGETS", "run"]

CACHE = Path("/tmp/modelbench")
SEED = 42
#: Targets in seconds (issue 5), per stage.
TARGETS = {"bgnbd_fit": 1.5, "paretonbd_fit": 10.0, "gammagamma_fit": 1.0, "predictions": 2.0}


def _orders(customers: int, cache: Path) -> Path:
    from crmscore import synth

    folder = cache / f"{customers}-seed{SEED}"
    path = folder / "orders.parquet"
    if not path.exists():
        print(f"generating {customers:,} customers into {folder} ...", flush=True)
        synth.write(folder, customers, seed=SEED, format="parquet", tables=("orders",))
    return path


def _time(fn: Callable[[], Any], repeats: int) -> tuple[dict[str, float], Any]:
    walls, cpus = [], []
    result = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3),
            "wall_min_s": round(min(walls), 3), "cpu_min_s": round(min(cpus), 3)}, result


def run(customers: int, repeats: int, *, cache: Path = CACHE, stages: tuple[str, ...] | None = None
        ) -> dict[str, Any]:
    """Time every stage ``repeats`` times on ``customers`` synthetic customers; per-stage medians (seconds)."""
    import ibis
    import numpy as np

    from crmscore import synth
    from crmscore.models import BetaGeo, GammaGamma, ParetoNBD, clv_table, summary_from_orders

    path = _orders(customers, cache)
    as_of = synth.DEFAULT_END

    def summary() -> Any:
        con = ibis.duckdb.connect()
        try:
            orders = con.read_parquet(str(path), table_name="orders")
            return con.execute(summary_from_orders(orders, observation_period_end=as_of))
        finally:
            con.disconnect()

    wanted = stages or ("summary", "bgnbd_fit", "paretonbd_fit", "gammagamma_fit", "predictions",
                        "predictions_pnbd")
    out: dict[str, Any] = {"customers": customers, "repeats": repeats, "stages": {}}
    timing, df = _time(summary, repeats if "summary" in wanted else 1)
    if "summary" in wanted:
        out["stages"]["summary"] = timing
    x, t_x, t_cap = (df[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))
    key = np.unique(np.stack([x, t_x, t_cap]), axis=1).shape[1] if customers <= 2_000_000 else -1
    out["data"] = {"customers": len(df), "repeat_days": int(df["frequency"].sum()), "distinct_rows": key}
    rep = df[(df["frequency"] > 0) & (df["monetary_value"] > 0)]

    def params(model: Any) -> dict[str, float]:
        return {k: round(float(v), 5) for k, v in model.params_.items()}

    models: dict[str, Any] = {}
    fits = {"bgnbd_fit": lambda: BetaGeo().fit(df), "paretonbd_fit": lambda: ParetoNBD().fit(df),
            "gammagamma_fit": lambda: GammaGamma().fit(rep["frequency"], rep["monetary_value"])}
    for name, fit in fits.items():
        needed = name in wanted or (name != "paretonbd_fit" and "predictions" in wanted) \
            or (name != "bgnbd_fit" and "predictions_pnbd" in wanted)
        if not needed:
            continue
        timing, models[name] = _time(fit, repeats if name in wanted else 1)
        if name in wanted:
            out["stages"][name] = timing | {"params": params(models[name]),
                                            "n_iter": getattr(models[name], "n_iter_", None)}
    for name, purchase in (("predictions", "bgnbd_fit"), ("predictions_pnbd", "paretonbd_fit")):
        if name in wanted:
            def predict(p: str = purchase) -> Any:
                return clv_table(models[p], models["gammagamma_fit"], df, horizon_months=12, margin=0.3,
                                 time_unit="D")

            timing, table = _time(predict, repeats)
            out["stages"][name] = timing | {"clv_total": round(float(table["clv"].sum()), 2),
                                            "p_alive_mean": round(float(table["p_alive"].mean()), 6)}
    for name, target in TARGETS.items():
        if name in out["stages"]:
            out["stages"][name]["target_s"] = target
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--json", default="", help="also write the result to this file")
    args = parser.parse_args(argv)
    stages = tuple(s for s in args.stages.split(",") if s) or None
    result = run(args.customers, args.repeats, stages=stages)
    print(f"{result['customers']:,} customers; data: {result['data']}")
    print(f"{'stage':<18}{'wall (median)':>15}{'cpu (median)':>14}{'target':>9}")
    for name, t in result["stages"].items():
        target = f"{t['target_s']:.1f}" if "target_s" in t else "-"
        print(f"{name:<18}{t['wall_s']:>13.3f} s{t['cpu_s']:>12.3f} s{target:>9}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
