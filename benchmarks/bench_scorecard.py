"""Standalone timing of scorecard scoring (issue 4: score 1M customers with ``b2b-default`` in <= 5 s).

``python -m benchmarks.bench_scorecard --scales 100k,1m --repeats 3`` builds (once) the per-customer feature
table of the cached synthetic data set (``benchmarks/.cache/<scale>-seed42``, all ten tables, through
``crmscore.engine.pipeline.build_customer_table``) and keeps it as
``benchmarks/.cache/scorecard-features-<scale>-seed42.parquet``. Each run loads it into a fresh in-memory
DuckDB table (untimed: scoring starts from features) and times:

- ``score`` (the target): ``score(features, b2b-default, cache=True)`` plus ``CREATE TABLE`` of its
  ``customers`` output. Materialised in the warehouse afterwards: every customer's score, grade, six
  dimension scores, and for every criterion its value, percentile, points (tenths that sum exactly to the
  score), maximum points, decay factor and the veto adjustment (the cached per-customer table that
  ``result.points`` is a projection of).
  Not included: the zh/en explanation *strings*; they are rendered from those numbers when the long points
  table is read or written (next stage).
- ``points_long`` (reported, no target): ``CREATE TABLE`` of ``result.points``, the long table (one row per
  customer and criterion, 16 per customer) with its value text and zh/en explanations, i.e. what a snapshot
  stores today. Timed after ``score`` on the same cached table.
- ``baseline`` (optional, ``--baseline REV``): the ``score`` stage with ``compile.py`` of git revision REV in
  the same run, for a same-machine ratio (the machine is shared, absolute times are noisy).

Wall time (median of the runs) and CPU time of this process (``time.process_time``: every DuckDB thread) are
recorded, with the load average before each stage. Results: ``benchmarks/results/scorecard.{json,md}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["TARGET_S", "features_path", "run"]

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache"
RESULTS = ROOT / "results"
TARGET_S = 5.0  # issue 4, at 1M customers
CARD = "b2b-default"


def features_path(scale: str, seed: int = 42) -> Path:
    """The cached feature table of one scale (built on first use, about a minute at 1M)."""
    path = CACHE / f"scorecard-features-{scale}-seed{seed}.parquet"
    if path.exists():
        return path
    import ibis
    import pyarrow.parquet as pq

    from benchmarks.crm_stages import ALL_TABLES
    from benchmarks.data import ensure
    from crmscore.engine.pipeline import build_customer_table

    data = ensure(scale, seed=seed)
    print(f"building the {scale} feature table (once) ...", flush=True)
    con = ibis.duckdb.connect()
    try:
        tables = {n: con.read_parquet(str(data.parquet(n)), table_name=n) for n in ALL_TABLES}
        features, _ = build_customer_table(tables, data.as_of)
        tmp = path.with_suffix(".tmp")
        pq.write_table(features.to_pyarrow(), tmp)
        tmp.rename(path)
    finally:
        con.disconnect()
    return path


def _load_compile(rev: str) -> Any:
    """``crmscore.scorecards.compile`` as of git revision ``rev`` (a separate module object)."""
    text = subprocess.run(["git", "show", f"{rev}:src/crmscore/scorecards/compile.py"], cwd=ROOT.parent,
                          check=True, capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="crmscore-bench-compile-"))
    file = folder / "compile_baseline.py"
    file.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("compile_baseline", file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run(scale: str, repeats: int, *, baseline: str | None = None, points_long: bool = True) -> dict[str, Any]:
    """Time the stages at one scale; see the module docstring."""
    import ibis
    import pyarrow.parquet as pq

    from crmscore.scorecards import compile as current
    from crmscore.scorecards.validate import read_scorecard

    spec = read_scorecard(CARD)
    features = pq.read_table(features_path(scale))
    out: dict[str, Any] = {"scale": scale, "customers": features.num_rows, "scorecard": CARD, "stages": {}}

    def measure(module: Any, with_points: bool) -> dict[str, Any]:
        runs = []
        for _ in range(repeats):
            load = round(os.getloadavg()[0], 2)
            con = ibis.duckdb.connect()
            con.create_table("features", features)
            feats = con.table("features")
            w0, c0 = time.perf_counter(), time.process_time()
            result = module.score(feats, spec, cache=True)
            scores = con.create_table("scores", result.customers)
            rows = int(scores.count().execute())
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            run_info: dict[str, Any] = {"wall_s": wall, "cpu_s": cpu, "load_avg_1m": load, "rows": rows}
            if with_points:
                w1, c1 = time.perf_counter(), time.process_time()
                points = con.create_table("points", result.points)
                run_info["points_rows"] = int(points.count().execute())
                run_info["points_wall_s"] = time.perf_counter() - w1
                run_info["points_cpu_s"] = time.process_time() - c1
            del result, scores
            gc.collect()  # drop the cached table before the connection closes
            con.disconnect()
            runs.append(run_info)
            print(f"  {scale} {'baseline' if module is not current else 'score'}: "
                  f"{wall:.2f} s wall, {cpu:.2f} s cpu (load {load})"
                  + (f"; points_long {run_info['points_wall_s']:.2f} s" if with_points else ""), flush=True)

        def med(key: str) -> float:
            return round(statistics.median(r[key] for r in runs), 3)

        res: dict[str, Any] = {"wall_s": med("wall_s"), "cpu_s": med("cpu_s"),
                               "walls_s": [round(r["wall_s"], 3) for r in runs],
                               "load_avg_1m": [r["load_avg_1m"] for r in runs], "rows": runs[0]["rows"]}
        if with_points:
            res["points_long"] = {"wall_s": med("points_wall_s"), "cpu_s": med("points_cpu_s"),
                                  "walls_s": [round(r["points_wall_s"], 3) for r in runs],
                                  "rows": runs[0]["points_rows"]}
        return res

    out["stages"]["score"] = measure(current, points_long)
    if baseline:
        out["stages"]["baseline"] = measure(_load_compile(baseline), False) | {"revision": baseline}
        out["ratio_baseline_over_score"] = round(out["stages"]["baseline"]["wall_s"]
                                                 / out["stages"]["score"]["wall_s"], 2)
    return out


def _markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Scorecard scoring benchmark (issue 4)", "",
        f"Recorded {meta['date']} on {meta['machine']} by `{meta['command']}` "
        f"({meta['repeats']} runs per stage, median; the machine is shared, see the load averages).", "",
        "What `score` includes: `score(features, b2b-default, cache=True)` and `CREATE TABLE` of its customers "
        "output, starting from the per-customer feature table already in DuckDB. Materialised in the "
        "warehouse afterwards: score, grade and six dimension scores of every customer, and for every "
        "criterion its value, percentile, points (tenths summing exactly to the score), maximum points, "
        "decay factor and veto adjustment. Not included: the zh/en explanation strings, rendered from those "
        "numbers by the long points table (`points_long`, reported separately, no target).", "",
        "| customers | stage | wall (median) | CPU | walls | load avg (1 min) | target |",
        "|---:|---|---:|---:|---|---|---:|",
    ]
    for res in results:
        n = f"{res['customers']:,}"
        for name, st in res["stages"].items():
            target = f"{TARGET_S:.0f} s" if name == "score" and res["customers"] >= 1_000_000 else "-"
            label = name if name != "baseline" else f"baseline ({st['revision']})"
            lines.append(f"| {n} | {label} | {st['wall_s']:.2f} s | {st['cpu_s']:.2f} s | "
                         f"{', '.join(f'{w:.2f}' for w in st['walls_s'])} | "
                         f"{', '.join(str(x) for x in st['load_avg_1m'])} | {target} |")
            if "points_long" in st:
                pl = st["points_long"]
                lines.append(f"| {n} | points_long ({pl['rows']:,} rows, with explanations) | "
                             f"{pl['wall_s']:.2f} s | {pl['cpu_s']:.2f} s | "
                             f"{', '.join(f'{w:.2f}' for w in pl['walls_s'])} | | - |")
        if "ratio_baseline_over_score" in res:
            lines.append(f"| {n} | baseline / score | {res['ratio_baseline_over_score']:.1f}x | | | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scales", default="100k,1m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="", help="git revision of compile.py to time in the same run")
    parser.add_argument("--baseline-scales", default="100k", help="scales at which to time the baseline")
    parser.add_argument("--no-points-long", action="store_true", help="skip the long points table")
    parser.add_argument("--out", default=str(RESULTS / "scorecard"), help="results path without suffix")
    args = parser.parse_args(argv)
    results = []
    for scale in [s for s in args.scales.split(",") if s]:
        base = args.baseline if args.baseline and scale in args.baseline_scales.split(",") else None
        results.append(run(scale, args.repeats, baseline=base, points_long=not args.no_points_long))
    meta = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "repeats": args.repeats,
            "machine": f"{os.cpu_count()} CPUs", "command": "python -m benchmarks.bench_scorecard "
            + " ".join(argv if argv is not None else sys.argv[1:])}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    out.with_suffix(".md").write_text(_markdown(results, meta))
    print(_markdown(results, meta))


if __name__ == "__main__":
    main()
