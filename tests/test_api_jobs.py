"""Imports (multipart upload, background job with its report) and scoring runs through the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crmscore.app import create_app
from crmscore.app.testing import password_for, seed_scope_workspace
from crmscore.workspace import Workspace


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Any, Workspace]]:
    ws = Workspace.init(tmp_path / "ws")
    seed_scope_workspace(ws)
    app = create_app(ws)
    try:
        yield app, ws
    finally:
        app.state.crmscore.close()
        ws.close()


def client_for(app: Any, user: str) -> TestClient:
    client = TestClient(app)
    csrf = client.post("/api/auth/login", json={"username": user, "password": password_for(user)}).json()
    client.headers["X-CSRF-Token"] = csrf["csrf_token"]
    return client


def test_import_upload_runs_as_a_job(api: tuple[Any, Workspace]) -> None:
    app, ws = api
    analyst = client_for(app, "analyst")
    csv = "customer_id,name,owner_id\nc7,New Co,r1\nc8,Other Co,r3\n"
    resp = analyst.post("/api/imports", data={"kind": "customers"},
                        files={"file": ("new.csv", csv.encode(), "text/csv")})
    assert resp.status_code == 202 and resp.json()["status"] in ("queued", "running", "succeeded")
    app.state.crmscore.jobs.wait(timeout=120)
    job = analyst.get(f"/api/jobs/{resp.json()['id']}").json()
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["result"]["inserted"] == 2
    assert ws.warehouse.table("customers").count().execute() == 8
    # the new customers follow the scope rules at once: c7 belongs to rep_a
    rep_a = client_for(app, "rep_a")
    assert {i["customer_id"] for i in rep_a.get("/api/customers").json()["items"]} == {"c1", "c2", "c7"}
    # reps may not import, and do not see the analyst's job
    rep = rep_a.post("/api/imports", data={"kind": "customers"}, files={"file": ("x.csv", b"customer_id\nz\n")})
    assert rep.status_code == 403
    assert rep_a.get(f"/api/jobs/{job['id']}").status_code == 404
    admin = client_for(app, "admin")
    audit = admin.get("/api/audit", params={"action": "import"}).json()["items"]
    assert audit[0]["username"] == "analyst" and audit[0]["target"] == "customers new.csv"


def test_failed_import_keeps_a_failed_job_with_the_report(api: tuple[Any, Workspace]) -> None:
    app, ws = api
    analyst = client_for(app, "analyst")
    csv = "order_id,customer_id,order_date,amount\no9,c1,not a date,12\n"
    resp = analyst.post("/api/imports", data={"kind": "orders"}, files={"file": ("bad.csv", csv.encode())})
    app.state.crmscore.jobs.wait(timeout=120)
    job = analyst.get(f"/api/jobs/{resp.json()['id']}").json()
    assert job["status"] == "failed" and job["error"]
    assert job["result"]["report"]["rejected"] == 1
    assert ws.warehouse.table("orders").count().execute() == 6  # all-or-nothing


def test_import_rejects_unknown_kind(api: tuple[Any, Workspace]) -> None:
    app, _ws = api
    resp = client_for(app, "analyst").post("/api/imports", data={"kind": "ordres"},
                                           files={"file": ("a.csv", b"x\n1\n")})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "kind"
    assert "did you mean 'orders'" in resp.json()["errors"][0]["message"]


@pytest.mark.slow
def test_scoring_job_writes_a_snapshot(api: tuple[Any, Workspace]) -> None:
    app, _ws = api
    analyst = client_for(app, "analyst")
    before = len(analyst.get("/api/snapshots").json())
    resp = analyst.post("/api/scoring", json={"as_of": "2024-03-31"})
    assert resp.status_code == 202
    app.state.crmscore.jobs.wait(timeout=300)
    job = analyst.get(f"/api/jobs/{resp.json()['id']}").json()
    assert job["status"] == "succeeded", job
    snaps = analyst.get("/api/snapshots").json()
    assert len(snaps) == before + 1 and job["result"]["snapshot"]["snapshot_id"] == snaps[-1]["snapshot_id"]
    assert snaps[-1]["as_of"] == "2024-03-31"
    manager = client_for(app, "manager")
    assert manager.post("/api/scoring", json={}).status_code == 403
    bad = analyst.post("/api/scoring", json={"as_of": "not a date"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "as_of"
