"""The server with PostgreSQL as the app database (and as the warehouse): auth, scope, audit, users."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crmscore.app import create_app
from crmscore.app.testing import VISIBLE, password_for, seed_scope_workspace
from crmscore.workspace import Workspace

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("warehouse_on_postgres", [False, True], ids=["duckdb-warehouse", "pg-warehouse"])
def test_server_on_postgres(tmp_path: Path, pg_urls: dict[str, str], warehouse_on_postgres: bool) -> None:
    overrides = {"database_url": pg_urls["database"], "login_max_attempts": 2}
    if warehouse_on_postgres:
        overrides["warehouse_url"] = pg_urls["warehouse"]
    ws = Workspace.init(tmp_path / "ws", **overrides)
    try:
        assert ws.app_engine.dialect.name == "postgresql"
        assert ws.warehouse.dialect == ("postgres" if warehouse_on_postgres else "duckdb")
        seed_scope_workspace(ws)
        app = create_app(ws)
        rep = TestClient(app)
        csrf = rep.post("/api/auth/login", json={"username": "rep_a", "password": password_for("rep_a")}).json()
        body = rep.get("/api/customers", params={"sort": "-score"}).json()
        assert {i["customer_id"] for i in body["items"]} == VISIBLE["rep_a"] and body["total"] == 2
        assert rep.get("/api/customers/c3").status_code == 404
        assert rep.get("/api/kpis").json()["kpis"]["customers"] == 2
        assert rep.post("/api/auth/tokens", json={"name": "x"}).status_code == 403  # no CSRF header
        token = rep.post("/api/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf["csrf_token"]})
        assert token.status_code == 201
        manager = TestClient(app)
        manager.post("/api/auth/login", json={"username": "manager", "password": password_for("manager")})
        assert {i["customer_id"] for i in manager.get("/api/customers").json()["items"]} == VISIBLE["manager"]
        export = manager.get("/api/exports/customers").content.decode("utf-8-sig")
        assert export.count("\n") == len(VISIBLE["manager"]) + 1
        for _ in range(2):
            TestClient(app).post("/api/auth/login", json={"username": "rep_b", "password": "wrong"})
        locked = TestClient(app).post("/api/auth/login", json={"username": "rep_b",
                                                              "password": password_for("rep_b")})
        assert locked.status_code == 429
        admin = TestClient(app)
        a = admin.post("/api/auth/login", json={"username": "admin", "password": password_for("admin")}).json()
        created = admin.post("/api/users", headers={"X-CSRF-Token": a["csrf_token"]}, json={
            "username": "pg_user", "password": "long password", "role": "analyst", "scope": "company"})
        assert created.status_code == 201
        actions = {e["action"] for e in admin.get("/api/audit", params={"limit": 1000}).json()["items"]}
        assert {"login", "login_failed", "export", "token_create", "user_create"} <= actions
        app.state.crmscore.close()
    finally:
        ws.close()
