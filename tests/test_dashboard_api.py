"""The dashboard's extra API routes in-process: roles, data scope, error shape (the browser suite drives them too).

Fixture: crmscore.app.testing (six customers, three reps, one user per role; see VISIBLE there).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crmscore.app import create_app
from crmscore.app.testing import password_for, seed_scope_workspace
from crmscore.workspace import Workspace

ROLES = ("admin", "manager", "analyst", "rep_a", "rep_b")


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ws = Workspace.init(tmp_path_factory.mktemp("dash-api") / "ws")
    seed_scope_workspace(ws)
    app = create_app(ws)
    out: dict[str, Any] = {}
    for role in ROLES:
        client = TestClient(app)
        resp = client.post("/api/auth/login", json={"username": role, "password": password_for(role)})
        client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
        out[role] = client
    try:
        yield out
    finally:
        app.state.crmscore.close()
        ws.close()


def test_period_kpis_count_only_the_callers_customers(clients: dict[str, Any]) -> None:
    # orders in January 2024: c1 (twice), c2, c3, c4, c5 -> rep_a (c1 c2) sees 2 active customers, admin 5
    last = {role: clients[role].get("/api/kpis/periods", params={"freq": "month", "periods": 2}).json()["items"][-1]
            for role in ("admin", "rep_a", "rep_b")}
    assert last["admin"]["active_customers"] == 5
    assert last["rep_a"]["active_customers"] == 2
    assert last["rep_b"]["active_customers"] == 2  # c3 and c5
    assert float(last["rep_a"]["revenue"]) == pytest.approx(100.5 + 200.5 + 300.5)


def test_import_preview_reads_headers_and_proposes_a_mapping(clients: dict[str, Any]) -> None:
    data = b"Order No,customer_id,order_date,Spend\nW1,c1,2024-02-01,10.00\n"
    files = {"file": ("o.csv", data, "text/csv")}
    resp = clients["analyst"].post("/api/imports/preview", data={"kind": "orders"}, files=files)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["headers"] == ["Order No", "customer_id", "order_date", "Spend"]
    assert body["rows"] == 1 and body["sample"] == [["W1", "c1", "2024-02-01", "10.00"]]
    assert body["mapping"]["customer_id"] == "customer_id" and "amount" not in body["mapping"]
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["amount"]["required"] and fields["order_id"]["key"]
    for role in ("manager", "rep_a"):
        assert clients[role].post("/api/imports/preview", data={"kind": "orders"}, files=files).status_code == 403
    bad = clients["admin"].post("/api/imports/preview", data={"kind": "nonsense"}, files=files)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "kind"


def test_quarantine_of_a_job_without_rejections_is_not_found(clients: dict[str, Any]) -> None:
    files = {"file": ("c.csv", b"customer_id,name\nc7,Seven\n", "text/csv")}
    job = clients["admin"].post("/api/imports", data={"kind": "customers", "dry_run": "true"}, files=files).json()
    clients["admin"].app.state.crmscore.jobs.wait(60)
    resp = clients["admin"].get(f"/api/imports/{job['id']}/quarantine")
    assert resp.status_code == 404 and set(resp.json()) == {"status", "code", "message", "hint", "errors"}
    assert clients["rep_a"].get(f"/api/imports/{job['id']}/quarantine").status_code == 403


def test_scorecard_current_validate_and_publish_permissions(clients: dict[str, Any]) -> None:
    current = clients["rep_a"].get("/api/scorecards/current").json()
    spec = current["spec"]
    assert spec["dimensions"] and current["spec_yaml"].startswith("name:")
    broken = {**spec, "dimensions": [{**spec["dimensions"][0], "weight": -1}, *spec["dimensions"][1:]]}
    resp = clients["analyst"].post("/api/scorecards/validate", json={"spec": broken})
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json()["errors"]] == ["dimensions[0].weight"]
    assert clients["analyst"].post("/api/scorecards/validate", json={"spec": spec}).json()["valid"] is True
    assert clients["rep_a"].post("/api/scorecards/validate", json={"spec": spec}).status_code == 403
    # publishing needs the configure-scoring flag: the manager of the fixture has the role but not the flag
    assert clients["manager"].post("/api/scorecards/publish", json={"spec": spec}).status_code == 403
    assert clients["rep_a"].post("/api/scorecards/publish", json={"spec": spec}).status_code == 403
    changed = {**spec, "dimensions": [{**spec["dimensions"][0], "weight": 77}, *spec["dimensions"][1:]]}
    first = clients["analyst"].post("/api/scorecards/publish", json={"spec": changed})
    assert first.status_code == 201, first.text
    second = clients["admin"].post("/api/scorecards/publish", json={"spec_yaml": current["spec_yaml"]}).json()
    assert second["version"] == first.json()["version"] + 1 and second["is_default"]
    now = clients["rep_b"].get("/api/scorecards/current").json()
    assert now["version"] == second["version"] and now["spec"] == spec
    audit = clients["admin"].get("/api/audit", params={"action": "scorecard_publish"}).json()
    assert [e["username"] for e in audit["items"]] == ["admin", "analyst"]
