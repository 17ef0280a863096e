"""Scheduled re-scoring rules: due times, catch-up once after downtime, never two at once, retention."""

from __future__ import annotations

import datetime as dt
import threading

import pyarrow as pa
import pytest

from crmscore.errors import ConfigError
from crmscore.services.scheduler import Scheduler, apply_retention, due_since
from crmscore.services.snapshots import list_snapshots, write_snapshot
from crmscore.store.warehouse import Warehouse


def test_due_times() -> None:
    daily = "0 2 * * *"
    now = dt.datetime(2024, 5, 10, 12, 0)
    assert due_since(daily, None, now) == dt.datetime(2024, 5, 10, 2, 0)  # never ran: run now
    assert due_since(daily, dt.datetime(2024, 5, 10, 2, 0, 1), now) is None  # already ran today
    # a week of downtime: one catch-up run for the latest missed time, not seven
    assert due_since(daily, dt.datetime(2024, 5, 3, 2, 0), now) == dt.datetime(2024, 5, 10, 2, 0)
    with pytest.raises(ConfigError, match="cron"):
        due_since("every day", None, now)


def test_scheduler_tick_catches_up_once_and_never_overlaps() -> None:
    runs: list[dt.datetime] = []
    running = threading.Event()
    clock = [dt.datetime(2024, 5, 10, 12, 0)]

    def submit() -> None:
        runs.append(clock[0])
        running.set()

    sched = Scheduler("0 * * * *", submit=submit, last_run=lambda: runs[-1] if runs else dt.datetime(2024, 5, 1),
                      busy=running.is_set, clock=lambda: clock[0])
    assert sched.tick() is True  # catch-up after downtime
    assert sched.tick() is False  # still running: never two at once
    running.clear()
    assert sched.tick() is False  # done, and nothing new is due within the same hour
    clock[0] = dt.datetime(2024, 5, 10, 13, 0, 30)
    assert sched.tick() is True
    assert len(runs) == 2
    assert sched.next_run() == dt.datetime(2024, 5, 10, 14, 0)


def test_retention_keeps_newest() -> None:
    wh = Warehouse.in_memory()
    ids = [write_snapshot(wh, as_of=dt.date(2024, m, 1), customers=pa.table({"customer_id": ["a"]})).snapshot_id
           for m in (1, 2, 3, 4)]
    assert apply_retention(wh, 0) == []
    assert apply_retention(wh, 2) == ids[:2]
    assert [s.snapshot_id for s in list_snapshots(wh)] == ids[2:]


def test_server_runs_a_catch_up_scoring_job(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import time

    from fastapi.testclient import TestClient

    from crmscore.app.server import create_app
    from crmscore.services.jobs import list_jobs
    from crmscore.synth import generate
    from crmscore.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    with ws.warehouse.transaction():
        for name, table in generate(80, seed=4).items():
            ws.warehouse.con.insert(name, table)
    ws.close()
    monkeypatch.setenv("CRMSCORE_SCORE_SCHEDULE", "0 3 * * *")  # daily 03:00; never ran: catch up at start
    served = Workspace(tmp_path / "ws", as_server=True)
    try:
        with TestClient(create_app(served)):
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                jobs = [j for j in list_jobs(served, kind="score")]
                if jobs and jobs[0].status in ("succeeded", "failed"):
                    break
                time.sleep(0.5)
        jobs = list_jobs(served, kind="score")
        assert len(jobs) == 1, "exactly one scheduled run, recorded once"
        assert jobs[0].status == "succeeded", jobs[0].error
        assert jobs[0].created_by == "scheduler"
        assert len(list_snapshots(served.warehouse)) == 1
    finally:
        served.close()
