"""The benchmark harness on a tiny data set: workers, records, ratios, report; the RFM peers agree.

No timing assertions (speed lives in benchmarks/results); this checks the machinery and the peers' answers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not put the project root on the path
    sys.path.insert(0, str(ROOT))

from benchmarks import data as bench_data  # noqa: E402
from benchmarks import run as bench_run  # noqa: E402
from benchmarks._measure import Timed, Unavailable, measure  # noqa: E402
from benchmarks.registry import GROUPS, load_all  # noqa: E402

PEERS = ["duckdb_rfm", "polars_rfm", "pandas_rfm"]


@pytest.mark.slow
def test_harness_runs_rfm_peers_and_they_agree(tmp_path: Path) -> None:
    spec = bench_data.ensure("2k", seed=3, cache=tmp_path / "cache", log=False)
    assert spec.customers == 2000 and spec.orders_csv.exists() and spec.parquet("orders").exists()
    # A second call reuses the cache instead of regenerating.
    before = spec.parquet("orders").stat().st_mtime_ns
    assert bench_data.ensure("2k", seed=3, cache=tmp_path / "cache", log=False).parquet(
        "orders").stat().st_mtime_ns == before
    doc = bench_run.run_suite(spec, runs=1, only=PEERS, lifetimes=False, log=False)
    records = {r["stage"]: r for r in doc["stages"]}
    assert sorted(records) == sorted(PEERS)
    for rec in records.values():
        assert rec["status"] == "ok", rec
        assert len(rec["seconds"]) == 1 and rec["peak_rss_mib"] > 0
    results = [records[name]["result"] for name in PEERS]
    assert results[0] == results[1] == results[2]
    assert 0 < results[0]["customers"] <= 2000
    md = bench_run.render_markdown(doc)
    assert ("duckdb_rfm" in md and "AMD" in md) or "cores" in md


def test_every_stage_is_in_a_known_group_and_named_once() -> None:
    stages = load_all()
    assert {s.group for s in stages.values()} <= set(GROUPS)
    assert {"duckdb_rfm", "polars_rfm", "pandas_rfm", "lifetimes_bgnbd_fit"} <= set(stages)
    # Every group that has a target has a crmscore stage to hold it to.
    crm_groups = {s.group for s in stages.values() if s.is_crmscore}
    assert {g for g, info in GROUPS.items() if info["target"]} <= crm_groups


def test_measure_records_runs_and_skips_unavailable() -> None:
    calls: list[str] = []
    rec = measure(lambda: Timed(lambda: {"n": len(calls)}, before=lambda: calls.append("x")), runs=3)
    assert rec["status"] == "ok" and len(rec["seconds"]) == 3 and calls == ["x", "x", "x"]
    assert rec["min_s"] <= rec["median_s"] <= rec["max_s"] and rec["result"] == {"n": 3}

    def missing() -> Timed:
        raise Unavailable("not yet available: crmscore.models.churn")

    assert measure(missing, runs=3) == {"status": "skipped", "note": "not yet available: crmscore.models.churn"}


def test_ratios_pair_crmscore_with_each_peer() -> None:
    records = [
        {"stage": "crm", "group": "rfm", "engine": "crmscore", "status": "ok", "median_s": 3.0},
        {"stage": "duck", "group": "rfm", "engine": "duckdb", "status": "ok", "median_s": 2.0},
        {"stage": "slow", "group": "rfm", "engine": "lifetimes", "status": "timeout", "timeout_s": 300.0,
         "note": "> 300 s"},
        {"stage": "other", "group": "bgnbd_fit", "engine": "lifetimes", "status": "ok", "median_s": 1.0},
    ]
    rows = bench_run.ratios(records)
    assert [(r["peer"], r["ratio"]) for r in rows] == [("duck", 1.5), ("slow", None)]
    assert "ratio < 0.0100" in rows[1]["note"]


def test_parse_scale() -> None:
    assert bench_data.parse_scale("100k") == 100_000
    assert bench_data.parse_scale("1m") == 1_000_000
    assert bench_data.parse_scale("2500") == 2500
    with pytest.raises(ValueError, match="scale"):
        bench_data.parse_scale("lots")
