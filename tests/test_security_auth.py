"""Security: lockout, rate limit, expired sessions, CSRF, revoked tokens, cookie flags, hashing, injection,
and the one error shape for every failure (without leaking internals)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from crmscore.app import create_app
from crmscore.app.testing import password_for, seed_scope_workspace
from crmscore.store.appdb import ApiToken, AuditEvent, BrowserSession, User, utcnow
from crmscore.workspace import Workspace

ERROR_KEYS = {"status", "code", "message", "hint", "errors"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path_factory.mktemp("sec") / "ws", login_max_attempts=3,
                               login_lockout_seconds=600)
    seed_scope_workspace(workspace)
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture(scope="module")
def app(ws: Workspace):  # type: ignore[no-untyped-def]
    application = create_app(ws)
    yield application
    application.state.crmscore.close()


def login(client: TestClient, user: str, password: str | None = None) -> str:
    resp = client.post("/api/auth/login", json={"username": user, "password": password or password_for(user)})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["csrf_token"])


def test_passwords_are_argon2_and_tokens_sha256(ws: Workspace, app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = login(client, "rep_a")
    raw = client.post("/api/auth/tokens", json={"name": "t"}, headers={"X-CSRF-Token": csrf}).json()["token"]
    with ws.session() as s:
        user = s.scalar(select(User).where(User.username == "rep_a"))
        assert user is not None and user.password_hash.startswith("$argon2id$")
        hashes = list(s.scalars(select(ApiToken.token_hash)))
        assert raw not in hashes and len(hashes[-1]) == 64
        sessions = list(s.scalars(select(BrowserSession.id)))
        assert client.cookies.get("crmscore_session") not in sessions


def test_wrong_password_lockout(ws: Workspace, app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    for _ in range(3):
        resp = client.post("/api/auth/login", json={"username": "rep_b", "password": "wrong password"})
        assert resp.status_code == 401 and resp.json()["message"] == "invalid username or password"
    # locked: even the right password is refused now
    resp = client.post("/api/auth/login", json={"username": "rep_b", "password": password_for("rep_b")})
    assert resp.status_code == 429 and resp.json()["code"] == "too_many_attempts"
    assert "seconds" in resp.json()["hint"]
    with ws.session() as s:
        user = s.scalar(select(User).where(User.username == "rep_b"))
        assert user is not None and user.locked_until is not None
        assert user.locked_until > utcnow() + timedelta(seconds=500)
        reasons = [e.details["reason"] for e in s.scalars(select(AuditEvent).where(
            AuditEvent.action == "login_failed", AuditEvent.username == "rep_b"))]
        assert reasons.count("bad_password") == 2 and "bad_password_locked" in reasons and "locked" in reasons
        # the lockout has run out
        s.execute(update(User).where(User.username == "rep_b").values(locked_until=utcnow() - timedelta(seconds=1)))
        s.commit()
    login(client, "rep_b")


def test_address_rate_limit_across_accounts(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "w", login_max_attempts=2, login_lockout_seconds=60) as ws:
        client = TestClient(create_app(ws))
        statuses = [client.post("/api/auth/login", json={"username": f"nobody{i}", "password": "x"}).status_code
                    for i in range(25)]
        assert statuses[0] == 401 and statuses[-1] == 429  # unknown names count per address too


def test_expired_session(ws: Workspace, app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    login(client, "manager")
    assert client.get("/api/customers").status_code == 200
    with ws.session() as s:
        s.execute(update(BrowserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    resp = client.get("/api/customers")
    assert resp.status_code == 401 and resp.json()["message"] == "your session has expired"
    assert resp.headers["www-authenticate"] == "Bearer"


def test_csrf_required_for_cookie_sessions(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = login(client, "analyst")
    missing = client.post("/api/auth/tokens", json={"name": "x"})
    assert missing.status_code == 403 and missing.json()["code"] == "csrf_failed"
    wrong = client.post("/api/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf[::-1]})
    assert wrong.status_code == 403
    assert client.cookies.get("crmscore_csrf") == csrf  # double-submit cookie readable by the page
    ok = client.post("/api/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # bearer tokens are not sent automatically by browsers: no CSRF token needed
    bearer = TestClient(app, cookies=None)
    resp = bearer.post("/api/auth/tokens", json={"name": "y"},
                       headers={"Authorization": f"Bearer {ok.json()['token']}"})
    assert resp.status_code == 201


def test_cookie_flags(app) -> None:  # type: ignore[no-untyped-def]
    http = TestClient(app).post("/api/auth/login", json={"username": "admin", "password": password_for("admin")})
    cookie = next(c for c in http.headers.get_list("set-cookie") if c.startswith("crmscore_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    https = TestClient(app, base_url="https://testserver").post(
        "/api/auth/login", json={"username": "admin", "password": password_for("admin")})
    cookie = next(c for c in https.headers.get_list("set-cookie") if c.startswith("crmscore_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_revoked_token(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = login(client, "rep_a")
    created = client.post("/api/auth/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf}).json()
    script = TestClient(app)
    auth = {"Authorization": f"Bearer {created['token']}"}
    assert script.get("/api/customers", headers=auth).status_code == 200
    assert client.delete(f"/api/auth/tokens/{created['id']}", headers={"X-CSRF-Token": csrf}).status_code == 200
    resp = script.get("/api/customers", headers=auth)
    assert resp.status_code == 401 and resp.json()["message"] == "invalid or revoked API token"
    assert script.get("/api/customers", headers={"Authorization": "Bearer crm_made_up"}).status_code == 401
    assert script.get("/api/customers", headers={"Authorization": "Basic abc"}).status_code == 401


def test_logout_ends_the_session(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    csrf = login(client, "rep_a")
    stolen = client.cookies.get("crmscore_session")
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    replay = TestClient(app, cookies={"crmscore_session": stolen})
    assert replay.get("/api/customers").status_code == 401


def test_disabled_user_is_shut_out(ws: Workspace, app) -> None:  # type: ignore[no-untyped-def]
    admin = TestClient(app)
    csrf = login(admin, "admin")
    created = admin.post("/api/users", headers={"X-CSRF-Token": csrf}, json={
        "username": "temp", "password": "long enough pw", "role": "rep", "scope": "self", "owner_id": "r1"}).json()
    temp = TestClient(app)
    login(temp, "temp", "long enough pw")
    assert admin.patch(f"/api/users/{created['id']}", json={"disabled": True},
                       headers={"X-CSRF-Token": csrf}).status_code == 200
    assert temp.get("/api/customers").status_code == 401
    resp = TestClient(app).post("/api/auth/login", json={"username": "temp", "password": "long enough pw"})
    assert resp.status_code == 401
    # an admin cannot lock themselves out
    me = admin.get("/api/auth/me").json()
    resp = admin.patch(f"/api/users/{me['id']}", json={"disabled": True}, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 422


INJECTION_SORTS = ["score; DROP TABLE customers", "score desc", "(SELECT 1)", "customer_id--", "1", 'name"',
                   "-", "score,,name", "phone) UNION SELECT password_hash FROM users --", "snap_customers"]
INJECTION_FILTERS = [
    {"q": "' OR '1'='1"}, {"q": "%"}, {"q": "_"}, {"q": "\\"}, {"owner": "r1' OR '1'='1"},
    {"department": "Sales' OR '1'='1"}, {"grade": "A' OR 1=1 --"}, {"segment": "x\"; DROP TABLE orders; --"},
    {"snapshot_id": "s20240229_000000; DROP TABLE snapshots"},
]


@pytest.mark.parametrize("sort", INJECTION_SORTS)
def test_sort_injection_is_a_field_error(app, sort: str) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    login(client, "admin")
    resp = client.get("/api/customers", params={"sort": sort})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "sort"


@pytest.mark.parametrize("params", INJECTION_FILTERS)
def test_filter_injection_matches_nothing(ws: Workspace, app, params: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    login(client, "rep_b")
    resp = client.get("/api/customers", params=params)
    if "snapshot_id" in params:
        assert resp.status_code == 404
    else:
        assert resp.status_code == 200, resp.text
        assert resp.json()["total"] == 0
    assert client.get("/api/customers/c1' OR '1'='1").status_code == 404
    assert ws.warehouse.table("customers").count().execute() == 6
    assert ws.warehouse.table("orders").count().execute() == 6


def test_control_characters_are_rejected(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    login(client, "admin")
    resp = client.get("/api/customers", params={"q": "a\x00b"})
    assert resp.status_code == 422 and resp.json()["errors"] == [
        {"field": "q", "message": "must not contain control characters"}]


def test_one_error_shape(app) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    login(client, "admin")
    for resp, status in [(client.get("/api/nowhere"), 404), (client.put("/api/health"), 405),
                         (client.get("/api/customers", params={"limit": 0}), 422),
                         (client.get("/api/customers/nope"), 404), (TestClient(app).get("/api/kpis"), 401),
                         (client.get("/api/users/99999"), 404)]:
        body = resp.json()
        assert resp.status_code == status and set(body) == ERROR_KEYS and body["status"] == status
    body = client.get("/api/customers", params={"limit": 0, "risk_min": 2}).json()
    assert {e["field"] for e in body["errors"]} == {"limit", "risk_min"}


def test_unexpected_errors_do_not_leak(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "w") as ws:
        application = create_app(ws)

        def boom() -> None:
            raise RuntimeError("secret connection string postgres://u:pw@db")

        application.add_api_route("/api/boom", boom)
        resp = TestClient(application, raise_server_exceptions=False).get("/api/boom")
        assert resp.status_code == 500 and set(resp.json()) == ERROR_KEYS
        assert "secret" not in resp.text and "RuntimeError" not in resp.text
