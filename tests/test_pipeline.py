"""Scoring runs end to end: snapshots complete, reproducible, atomic under kill -9, on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from crmscore.cli.main import app
from crmscore.services.customers import customer_360
from crmscore.services.jobs import list_jobs
from crmscore.services.migration import migration
from crmscore.services.pipeline import run_backfill, run_scoring
from crmscore.services.snapshots import customers_table, delete_snapshot, list_snapshots, points_table
from crmscore.synth import generate
from crmscore.workspace import Workspace

N_CUSTOMERS = 300


def _load_synthetic(ws: Workspace, n: int = N_CUSTOMERS, seed: int = 3) -> None:
    wh = ws.warehouse
    with wh.transaction():
        for name, table in generate(n, seed=seed).items():
            wh.con.insert(name, table)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ws = Workspace.init(tmp_path_factory.mktemp("pipe") / "ws")
    _load_synthetic(ws)
    first = run_scoring(ws, as_of=dt.date(2024, 6, 30), created_by="test")
    second = run_scoring(ws, as_of=dt.date(2024, 6, 30), created_by="test")
    yield ws, first, second
    ws.close()


def test_snapshot_is_complete_and_consistent(scored) -> None:  # type: ignore[no-untyped-def]
    ws, first, _ = scored
    df = customers_table(ws.warehouse, first.snapshot_id).to_pandas()
    assert first.customer_count == len(df) > 0
    assert df.customer_id.is_unique
    for col in ("score", "grade", "rfm_segment", "lifecycle_stage", "abc_class", "p_alive", "value_tier"):
        assert col in df.columns
    assert df.score.between(0, 100).all()
    assert df.p_alive.dropna().between(0, 1).all()
    points = points_table(ws.warehouse, first.snapshot_id).to_pandas()
    sums = points.groupby("customer_id").points.sum().round(6)
    merged = df.set_index("customer_id").score.round(6)
    assert (sums.reindex(merged.index).fillna(0.0) - merged).abs().max() < 1e-6  # points sum to the score
    assert first.scorecard == "b2b-default" and first.scorecard_hash
    # each customer is scored by its applicable scorecard: B2C customers by b2c-retail, the rest by the default
    by_type = df.groupby("type").scorecard.unique().to_dict()
    assert list(by_type["B2B"]) == ["b2b-default"] and list(by_type["B2C"]) == ["b2c-retail"]
    assert {c["name"] for c in first.params["scorecards"]} == {"b2b-default", "b2c-retail"}
    assert set(first.timings) >= {"features", "models", "scorecard", "write"}
    assert first.input_fingerprint and first.params["rfm"]["bin_edges"]


def test_rescoring_same_inputs_is_identical(scored) -> None:  # type: ignore[no-untyped-def]
    ws, first, second = scored
    assert first.snapshot_id != second.snapshot_id
    assert first.input_fingerprint == second.input_fingerprint
    a = customers_table(ws.warehouse, first.snapshot_id).to_pandas().sort_values("customer_id")
    b = customers_table(ws.warehouse, second.snapshot_id).to_pandas().sort_values("customer_id")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    pa_ = points_table(ws.warehouse, first.snapshot_id).to_pandas()
    pb = points_table(ws.warehouse, second.snapshot_id).to_pandas()
    keys = ["customer_id", "dimension", "criterion"]
    pd.testing.assert_frame_equal(pa_.sort_values(keys).reset_index(drop=True),
                                  pb.sort_values(keys).reset_index(drop=True))


def test_show_explains_the_score(scored) -> None:  # type: ignore[no-untyped-def]
    ws, first, _ = scored
    top = customers_table(ws.warehouse, first.snapshot_id).order_by("customer_id").limit(1).to_pandas()
    cid = top.customer_id[0]
    view = customer_360(ws.warehouse, cid, first.snapshot_id)
    assert view["results"]["customer_id"] == cid
    assert sum(p["points"] for p in view["points"]) == pytest.approx(view["results"]["score"], abs=1e-9)
    assert all(p["explanation_en"] and p["explanation_zh"] for p in view["points"])


def test_backfill_and_migration_margins(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    _load_synthetic(ws, 200, seed=5)
    path = str(ws.path)
    ws.close()
    res = CliRunner().invoke(app, ["score", "--from", "2024-01-01", "--to", "2024-03-31", "--every", "month",
                                   "--workspace", path, "--json"])
    assert res.exit_code == 0, res.output
    snaps = json.loads(res.stdout)
    assert [s["as_of"] for s in snaps] == ["2024-01-31", "2024-02-29", "2024-03-31"]
    with Workspace(path) as ws2:
        a, b = snaps[0]["snapshot_id"], snaps[-1]["snapshot_id"]
        for by in ("grade", "rfm_segment", "lifecycle_stage", "abc_class"):
            m = migration(ws2.warehouse, a, b, by=by)
            ca = customers_table(ws2.warehouse, a).to_pandas()[by].fillna("(none)").value_counts()
            cb = customers_table(ws2.warehouse, b).to_pandas()[by].fillna("(none)").value_counts()
            rows = m.counts.sum(axis=1).drop("(none)", errors="ignore")
            cols = m.counts.sum(axis=0)
            for cls, n in ca.items():
                assert rows[cls] == n
            for cls, n in cb.items():
                assert cols[cls] == n
        # RFM edges come from the reference (first) snapshot, so scores compare across snapshots
        infos = list_snapshots(ws2.warehouse)
        assert len({json.dumps(i.params["rfm"]) for i in infos}) == 1
        # one churn model for the whole range (refitted every churn_refit_months = 6 months), fitted as of
        # its first date; every snapshot says which fit it used
        churn = [i.params["churn"] for i in sorted(infos, key=lambda i: i.as_of)]
        assert [c["mode"] for c in churn] == ["supervised"] * 3
        assert [c["fitted_as_of"] for c in churn] == ["2024-01-31"] * 3


def test_backfill_is_reproducible_and_refits_on_schedule(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    _load_synthetic(ws, 200, seed=5)
    ws.settings.churn_refit_months = 2
    days = [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31)]
    first = run_backfill(ws, days)
    again = run_backfill(ws, days)
    assert [i.params["churn"]["fitted_as_of"] for i in first] == ["2024-01-31", "2024-01-31", "2024-03-31"]
    for a, b in zip(first, again, strict=True):
        assert a.params["churn"] == b.params["churn"]
        ta = customers_table(ws.warehouse, a.snapshot_id).to_pandas().sort_values("customer_id")
        tb = customers_table(ws.warehouse, b.snapshot_id).to_pandas().sort_values("customer_id")
        pd.testing.assert_frame_equal(ta.reset_index(drop=True), tb.reset_index(drop=True))
    # a single run fits its own model as of its date ...
    single = run_scoring(ws, as_of=days[1])
    assert single.params["churn"]["fitted_as_of"] == "2024-02-29"
    # ... and where the models agree, a single run and the backfill (scorecards compiled once) agree exactly
    alone = run_scoring(ws, as_of=days[0])
    assert first[0].params["scorecards"] == alone.params["scorecards"]
    assert [c["name"] for c in alone.params["scorecards"]] == ["b2b-default", "b2c-retail"]
    for table in (customers_table, points_table):
        ta, tb = table(ws.warehouse, first[0].snapshot_id).to_pandas(), table(ws.warehouse, alone.snapshot_id).to_pandas()
        keys = [c for c in ("customer_id", "dimension", "criterion") if c in ta.columns]
        pd.testing.assert_frame_equal(ta.sort_values(keys).reset_index(drop=True),
                                      tb.sort_values(keys).reset_index(drop=True))
    # the points are a view over compact per-customer rows; deleting the snapshot removes all of it
    assert {t for t in ws.warehouse.con.list_tables() if alone.snapshot_id in t} == {
        f"snap_customers_{alone.snapshot_id}", f"snap_points_{alone.snapshot_id}",
        f"snap_pointrows_{alone.snapshot_id}_0", f"snap_pointrows_{alone.snapshot_id}_1"}
    delete_snapshot(ws.warehouse, alone.snapshot_id)
    assert not [t for t in ws.warehouse.con.list_tables() if alone.snapshot_id in t]
    ws.close()


def _snapshot_frames(ws: Workspace, infos: list[Any]) -> list[pd.DataFrame]:
    return [customers_table(ws.warehouse, i.snapshot_id).to_pandas().sort_values("customer_id")
            .reset_index(drop=True) for i in infos]


def test_backfill_is_the_same_on_one_or_two_workers(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    _load_synthetic(ws, 200, seed=5)
    ws.settings.churn_refit_months = 2
    days = [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 30)]
    one = run_backfill(ws, days, workers=1)
    two = run_backfill(ws, days, workers=2)
    assert [i.params["churn"] for i in one] == [i.params["churn"] for i in two]
    assert [i.params["churn"]["fitted_as_of"] for i in two] == ["2024-01-31", "2024-01-31", "2024-03-31",
                                                                  "2024-03-31"]
    for a, b in zip(_snapshot_frames(ws, one), _snapshot_frames(ws, two), strict=True):
        pd.testing.assert_frame_equal(a, b)
    # the worker connections are gone and DuckDB's thread setting is back
    assert ws.warehouse.execute("SELECT current_setting('threads')").fetchone()[0] == (os.cpu_count() or 1)
    ws.close()


def test_backfill_date_equals_a_single_run_when_it_fits_its_own_model(tmp_path: Path) -> None:
    """A refit every month: each date's churn model is fitted for it, from month-end origins, partly from the
    features the backfill computed for its earlier dates (2024-01-31 for 2024-04-30). The customer table comes
    from SQL compiled once and moved to each date. Still the snapshot equals a single run's."""
    ws = Workspace.init(tmp_path / "ws")
    _load_synthetic(ws, 200, seed=5)
    ws.settings.churn_refit_months = 1
    days = [dt.date(2023, 12, 31), dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31),
            dt.date(2024, 4, 30)]
    infos = run_backfill(ws, days, workers=2)
    last = infos[-1].params["churn"]
    assert last["fitted_as_of"] == "2024-04-30" and "2024-01-31" in last["origins"]
    alone = run_scoring(ws, as_of=days[-1])
    assert alone.params["churn"] == last
    backfilled, single = _snapshot_frames(ws, [infos[-1], alone])
    pd.testing.assert_frame_equal(backfilled, single)
    ws.close()


def test_a_failing_date_stops_the_backfill_and_keeps_what_was_written(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import crmscore.services.pipeline as pipeline

    ws = Workspace.init(tmp_path / "ws")
    _load_synthetic(ws, 200, seed=5)
    days = [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31), dt.date(2024, 4, 30),
            dt.date(2024, 5, 31)]
    real = pipeline.write_snapshot

    def failing(wh: Any, **kwargs: Any) -> Any:
        if kwargs["as_of"] == days[2]:
            raise RuntimeError("disk full (injected)")
        return real(wh, **kwargs)

    monkeypatch.setattr(pipeline, "write_snapshot", failing)
    with pytest.raises(RuntimeError, match="injected"):
        run_backfill(ws, days, workers=2)
    written = {s.as_of for s in list_snapshots(ws.warehouse)}
    assert {days[0], days[1]} <= written and days[2] not in written  # started before it: finished and kept
    jobs = list_jobs(ws, kind="score", limit=10)
    assert [j.status for j in jobs].count("failed") == 1 and all(j.status != "running" for j in jobs)
    ws.close()


_SCORE_SCRIPT = """
import sys
from crmscore.workspace import Workspace
from crmscore.services.pipeline import run_backfill, run_scoring
ws = Workspace(sys.argv[1])
print("started", flush=True)
run_scoring(ws, created_by="victim")
"""


@pytest.mark.slow
def test_killed_scoring_leaves_no_partial_snapshot(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    _load_synthetic(ws, 150, seed=9)
    run_scoring(ws, created_by="baseline")
    path = str(ws.path)
    ws.close()
    # How long does one run take here? Kill at random points within it.
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _SCORE_SCRIPT, path], check=True, capture_output=True)
    duration = time.perf_counter() - start
    rng = random.Random(20240101)
    kills = 0
    for _ in range(20):
        proc = subprocess.Popen([sys.executable, "-c", _SCORE_SCRIPT, path], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, duration * 1.1))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        with Workspace(path) as check:
            wh = check.warehouse
            snaps = list_snapshots(wh)
            ids = {s.snapshot_id for s in snaps}
            tables = {t for t in wh.con.list_tables() if t.startswith("snap_")}
            expected = {f"snap_customers_{i}" for i in ids} | {f"snap_points_{i}" for i in ids}
            rows = {t for t in tables if t.startswith("snap_pointrows_")}  # what the points view reads
            assert tables - rows == expected, "orphan or missing snapshot tables"
            assert {t.removeprefix("snap_pointrows_").rsplit("_", 1)[0] for t in rows} == ids, "orphan point rows"
            for s in snaps:
                assert customers_table(wh, s.snapshot_id).count().execute() == s.customer_count
            jobs = list_jobs(check, kind="score", limit=100)
            assert all(j.status in ("succeeded", "failed") for j in jobs)
    assert kills >= 10, f"only {kills} runs were actually killed"


@pytest.mark.postgres
def test_backfill_on_postgres_matches_duckdb(tmp_path: Path, pg_urls: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    days = [dt.date(2024, 4, 30), dt.date(2024, 5, 31)]
    duck = Workspace.init(tmp_path / "duck")
    _load_synthetic(duck, 120, seed=11)
    d_infos = run_backfill(duck, days)
    d_frames = _snapshot_frames(duck, d_infos)
    duck.close()
    monkeypatch.setenv("CRMSCORE_WAREHOUSE_URL", pg_urls["warehouse"])
    monkeypatch.setenv("CRMSCORE_DATABASE_URL", pg_urls["database"])
    with Workspace.init(tmp_path / "pg") as pg:
        _load_synthetic(pg, 120, seed=11)
        p_infos = run_backfill(pg, days, workers=2)  # one connection on PostgreSQL: one date at a time
        p_frames = _snapshot_frames(pg, p_infos)
    assert [i.params["churn"]["fitted_as_of"] for i in p_infos] == [i.params["churn"]["fitted_as_of"]
                                                                    for i in d_infos]
    cols = ["customer_id", "score", "grade", "rfm_code", "rfm_segment", "abc_class", "lifecycle_stage"]
    for left, right in zip(d_frames, p_frames, strict=True):
        pd.testing.assert_frame_equal(left[cols].astype(str), right[cols].astype(str))


@pytest.mark.postgres
def test_scoring_on_postgres_matches_duckdb(tmp_path: Path, pg_urls: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    day = dt.date(2024, 6, 30)
    duck = Workspace.init(tmp_path / "duck")
    _load_synthetic(duck, 120, seed=11)
    d_info = run_scoring(duck, as_of=day)
    d_df = customers_table(duck.warehouse, d_info.snapshot_id).to_pandas()
    duck.close()
    monkeypatch.setenv("CRMSCORE_WAREHOUSE_URL", pg_urls["warehouse"])
    monkeypatch.setenv("CRMSCORE_DATABASE_URL", pg_urls["database"])
    with Workspace.init(tmp_path / "pg") as pg:
        _load_synthetic(pg, 120, seed=11)
        p_info = run_scoring(pg, as_of=day)
        p_df = customers_table(pg.warehouse, p_info.snapshot_id).to_pandas()
        assert [s.snapshot_id for s in list_snapshots(pg.warehouse)] == [p_info.snapshot_id]
    assert d_info.input_fingerprint == p_info.input_fingerprint
    cols = ["customer_id", "score", "grade", "rfm_code", "rfm_segment", "abc_class", "lifecycle_stage"]
    left = d_df[cols].sort_values("customer_id").reset_index(drop=True)
    right = p_df[cols].sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(left.astype(str), right.astype(str))
    assert p_df.p_alive.to_numpy() == pytest.approx(
        d_df.set_index("customer_id").loc[p_df.customer_id, "p_alive"].to_numpy(), rel=1e-6, nan_ok=True)
