"""Every route called as every role: allowed / forbidden / not found, and no data outside the caller's scope.

The fixture workspace (crmscore.app.testing) has six customers c1-c6 across three reps and two departments.
VISIBLE says which customers each user may see; every count, page, export, KPI and snapshot summary must be
computed on exactly that set.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import crmscore
from crmscore.app import create_app
from crmscore.app.auth import create_token
from crmscore.app.permissions import Principal
from crmscore.app.testing import SCOPE_USERS, VISIBLE, password_for, seed_scope_workspace
from crmscore.app.users import find_user
from crmscore.store.appdb import Job, ScorecardVersion, utcnow
from crmscore.workspace import Workspace

ROLES = ["admin", "manager", "analyst", "rep_a", "rep_b"]
ALL_IDS = {"c1", "c2", "c3", "c4", "c5", "c6"}
NAMES = {"c1": "Acme Shanghai", "c2": "Beta Trading", "c3": "Gamma Hangzhou", "c4": "Delta West",
         "c5": "Epsilon Booked West", "c6": "Zeta Unowned"}


@dataclass
class Env:
    ws: Workspace
    clients: dict[str, TestClient]
    csrf: dict[str, str]
    snaps: dict[str, str]
    ids: dict[str, int]

    def call(self, role: str, method: str, path: str, **kw: Any) -> Any:
        client = self.clients[role]
        headers = {"X-CSRF-Token": self.csrf[role]} if role in self.csrf else {}
        return client.request(method, path, headers=headers, **kw)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    ws = Workspace.init(tmp_path_factory.mktemp("roles") / "ws")
    snaps = seed_scope_workspace(ws)
    with ws.session() as s:
        template = Path(crmscore.__file__).parent / "scorecards" / "templates" / "b2b-default.yaml"
        s.add(ScorecardVersion(name="b2b-default", version=1, content_hash="0" * 64,
                               spec_yaml=template.read_text(encoding="utf-8"),
                               status="published", is_default=True, published_by="admin", published_at=utcnow()))
        s.add(Job(kind="score", status="succeeded", progress=1.0, params={}, created_by="admin",
                  started_at=utcnow()))
        s.commit()
        ids = {"scorecard": 1, "job": 1, "rep_b_user": find_user(s, "rep_b").id}  # type: ignore[union-attr]
    app = create_app(ws)
    clients: dict[str, TestClient] = {"anon": TestClient(app)}
    csrf = {}
    for role in ROLES:
        client = TestClient(app)
        resp = client.post("/api/auth/login", json={"username": role, "password": password_for(role)})
        assert resp.status_code == 200, resp.text
        clients[role], csrf[role] = client, resp.json()["csrf_token"]
    try:
        yield Env(ws, clients, csrf, {k: v.snapshot_id for k, v in snaps.items()}, ids)
    finally:
        app.state.crmscore.close()
        ws.close()


def _rep_a_token(env: Env) -> str:
    with env.ws.session() as s:
        user = find_user(s, "rep_a")
        assert user is not None
        row, _raw = create_token(s, Principal.from_user(user), "matrix", "test")
        return f"/api/auth/tokens/{row.id}"


# --- the matrix ------------------------------------------------------------------------------------------
# Each row: (method, route template, how to build the concrete call, expected status per role). A customer
# detail row exists per customer; 'scoped' rows check the payload against VISIBLE.
OK, CREATED, FORBIDDEN, NOT_FOUND, UNAUTH = 200, 201, 403, 404, 401
EVERYONE = dict.fromkeys(ROLES, OK)
ADMIN_ONLY = {r: (OK if r == "admin" else FORBIDDEN) for r in ROLES}


@dataclass
class Row:
    method: str
    route: str
    expect: dict[str, int]
    path: Callable[[Env], str] | None = None
    kwargs: Callable[[Env, str], dict[str, Any]] | None = None
    check: Callable[[str, Any], None] | None = None
    anon: int = UNAUTH


def _ids(items: list[dict[str, Any]]) -> set[str]:
    return {i["customer_id"] for i in items}


def check_list(role: str, body: Any) -> None:
    assert _ids(body["items"]) == VISIBLE[role]
    assert body["total"] == len(VISIBLE[role])


def check_kpis(role: str, body: Any) -> None:
    assert body["kpis"]["customers"] == len(VISIBLE[role])
    assert sum(d["count"] for d in body["distributions"]["grade"]) == len(VISIBLE[role])
    if SCOPE_USERS[role]["scope"] != "company":
        assert body["snapshot"]["customer_count"] is None


def check_snapshots(role: str, body: Any) -> None:
    assert [s["customer_count"] for s in body] == [len(VISIBLE[role])] * 2


def check_history(role: str, body: Any) -> None:
    assert [h["customers"] for h in body] == [len(VISIBLE[role])] * 2
    assert [sum(h["grades"].values()) for h in body] == [len(VISIBLE[role])] * 2


def check_distribution(role: str, body: Any) -> None:
    assert sum(c["count"] for c in body["classes"]) == len(VISIBLE[role])


def check_migration(role: str, body: Any) -> None:
    assert sum(map(sum, body["counts"])) == len(VISIBLE[role])
    assert {m["customer_id"] for m in body["movers"]} <= VISIBLE[role]


def check_export(role: str, body: Any) -> None:
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert {r["customer_id"] for r in rows} == VISIBLE[role]


def check_users(role: str, body: Any) -> None:
    assert {u["username"] for u in body} >= set(ROLES)
    assert all("password_hash" not in u for u in body)


_new_user_seq = iter(range(1000))


def _current_spec(env: Env) -> dict[str, Any]:
    return dict(env.call("admin", "GET", "/api/scorecards/current").json()["spec"])


def _new_user(env: Env, role: str) -> dict[str, Any]:
    return {"json": {"username": f"new_{role}_{next(_new_user_seq)}", "password": "long enough password",
                     "role": "rep", "scope": "self", "owner_id": "r9"}}


MATRIX: list[Row] = [
    Row("GET", "/", EVERYONE, anon=OK),
    Row("GET", "/api/health", EVERYONE, anon=OK),
    Row("POST", "/api/auth/login", EVERYONE, anon=422,
        kwargs=lambda env, role: {"json": {"username": role, "password": password_for(role)}}
        if role in ROLES else {"json": {}}),
    Row("GET", "/api/auth/me", EVERYONE),
    Row("GET", "/api/auth/tokens", EVERYONE),
    Row("POST", "/api/auth/tokens", dict.fromkeys(ROLES, CREATED), kwargs=lambda env, role: {"json": {"name": "x"}}),
    Row("DELETE", "/api/auth/tokens/{token_id}",
        {"admin": OK, "manager": NOT_FOUND, "analyst": NOT_FOUND, "rep_a": OK, "rep_b": NOT_FOUND},
        path=_rep_a_token),
    Row("GET", "/api/customers", EVERYONE, check=check_list),
    *[Row("GET", "/api/customers/{customer_id}",
          {r: (OK if cid in VISIBLE[r] else NOT_FOUND) for r in ROLES}, path=lambda env, c=cid: f"/api/customers/{c}")
      for cid in sorted(ALL_IDS)],
    Row("GET", "/api/kpis", EVERYONE, check=check_kpis),
    Row("GET", "/api/snapshots", EVERYONE, check=check_snapshots),
    Row("GET", "/api/snapshots/history", EVERYONE, check=check_history),
    Row("GET", "/api/snapshots/migration", EVERYONE, check=check_migration,
        kwargs=lambda env, role: {"params": {"a": env.snaps["old"], "b": env.snaps["new"], "by": "grade"}}),
    Row("GET", "/api/snapshots/{snapshot_id}", EVERYONE, path=lambda env: f"/api/snapshots/{env.snaps['new']}"),
    Row("GET", "/api/snapshots/{snapshot_id}/distribution", EVERYONE, check=check_distribution,
        path=lambda env: f"/api/snapshots/{env.snaps['new']}/distribution"),
    Row("GET", "/api/exports/customers", EVERYONE, check=check_export),
    Row("GET", "/api/jobs", EVERYONE),
    Row("GET", "/api/jobs/{job_id}", {"admin": OK, "manager": NOT_FOUND, "analyst": OK, "rep_a": NOT_FOUND,
                                      "rep_b": NOT_FOUND}, path=lambda env: f"/api/jobs/{env.ids['job']}"),
    Row("GET", "/api/scorecards", EVERYONE),
    Row("GET", "/api/scorecards/versions/{version_id}", EVERYONE,
        path=lambda env: f"/api/scorecards/versions/{env.ids['scorecard']}"),
    Row("GET", "/api/users", ADMIN_ONLY, check=check_users),
    Row("POST", "/api/users", {r: (CREATED if r == "admin" else FORBIDDEN) for r in ROLES}, kwargs=_new_user),
    Row("GET", "/api/users/{user_id}", ADMIN_ONLY, path=lambda env: f"/api/users/{env.ids['rep_b_user']}"),
    Row("PATCH", "/api/users/{user_id}", ADMIN_ONLY, path=lambda env: f"/api/users/{env.ids['rep_b_user']}",
        kwargs=lambda env, role: {"json": {"display_name": f"Bob by {role}"}}),
    Row("GET", "/api/audit", ADMIN_ONLY),
    # dry runs and a scorecard that does not exist: the permission is checked, the data stays as it is
    Row("POST", "/api/imports", {"admin": 202, "manager": FORBIDDEN, "analyst": 202, "rep_a": FORBIDDEN,
                                 "rep_b": FORBIDDEN},
        kwargs=lambda env, role: {"data": {"kind": "customers", "dry_run": "true"},
                                  "files": {"file": ("c.csv", b"customer_id,name\nc9,Nine\n", "text/csv")}}),
    Row("POST", "/api/scoring", {"admin": 202, "manager": FORBIDDEN, "analyst": 202, "rep_a": FORBIDDEN,
                                 "rep_b": FORBIDDEN},
        kwargs=lambda env, role: {"json": {"scorecard": "no-such-scorecard"}}),
    # the dashboard's extra routes (crmscore.app.api.dashboard_extra)
    Row("POST", "/api/imports/preview", {"admin": OK, "manager": FORBIDDEN, "analyst": OK, "rep_a": FORBIDDEN,
                                         "rep_b": FORBIDDEN},
        kwargs=lambda env, role: {"data": {"kind": "customers"},
                                  "files": {"file": ("c.csv", b"customer_id,name\nc9,Nine\n", "text/csv")}}),
    Row("GET", "/api/imports/{job_id}/quarantine", {"admin": NOT_FOUND, "manager": FORBIDDEN, "analyst": NOT_FOUND,
                                                    "rep_a": FORBIDDEN, "rep_b": FORBIDDEN},
        path=lambda env: f"/api/imports/{env.ids['job']}/quarantine"),
    Row("GET", "/api/kpis/periods", EVERYONE),
    Row("GET", "/api/scorecards/current", EVERYONE),
    Row("POST", "/api/scorecards/validate", {r: (FORBIDDEN if r.startswith("rep") else OK) for r in ROLES},
        kwargs=lambda env, role: {"json": {"spec": _current_spec(env)}}),
    Row("POST", "/api/scorecards/preview", {r: (FORBIDDEN if r.startswith("rep") else OK) for r in ROLES},
        kwargs=lambda env, role: {"json": {"spec": _current_spec(env)}}),
    # publishing needs the configure-scoring flag: the manager's role allows it but the flag is off
    Row("POST", "/api/scorecards/publish", {"admin": CREATED, "manager": FORBIDDEN, "analyst": CREATED,
                                            "rep_a": FORBIDDEN, "rep_b": FORBIDDEN},
        kwargs=lambda env, role: {"json": {"spec": _current_spec(env)}}),
    Row("POST", "/api/auth/logout", EVERYONE),  # last: the role's client logs out (a fresh one is used)
]


def _cases() -> list[Any]:
    cases = []
    for i, row in enumerate(MATRIX):
        for role in [*ROLES, "anon"]:
            cases.append(pytest.param(row, role, id=f"{row.method} {row.route} #{i} as {role}"))
    return cases


@pytest.mark.parametrize(("row", "role"), _cases())
def test_route_as_role(env: Env, row: Row, role: str) -> None:
    path = row.path(env) if row.path else row.route
    kwargs = row.kwargs(env, role) if row.kwargs else {}
    if row.route == "/api/auth/logout" and role != "anon":
        client = TestClient(env.clients["anon"].app)
        token = client.post("/api/auth/login", json={"username": role, "password": password_for(role)}).json()
        resp = client.post(path, headers={"X-CSRF-Token": token["csrf_token"]})
    else:
        resp = env.call(role, row.method, path, **kwargs)
    expected = row.anon if role == "anon" else row.expect[role]
    assert resp.status_code == expected, resp.text
    if row.route == "/api/auth/login" and role != "anon":
        env.csrf[role] = resp.json()["csrf_token"]  # a new login is a new session with a new token
    if resp.status_code >= 400:
        body = resp.json()
        assert set(body) == {"status", "code", "message", "hint", "errors"} and body["status"] == expected
    elif row.check is not None:
        row.check(role, resp.content if "exports" in row.route else resp.json())


def test_matrix_covers_every_route(env: Env) -> None:
    app = env.clients["anon"].app
    routes = {(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods}  # type: ignore[attr-defined]
    covered = {(row.method, row.route) for row in MATRIX}
    assert routes - covered == set(), "add the new routes to MATRIX"


@pytest.mark.parametrize("role", ["rep_a", "rep_b"])
def test_rep_cannot_read_list_export_or_infer_other_customers(env: Env, role: str) -> None:
    hidden = ALL_IDS - VISIBLE[role]
    secrets = [NAMES[c] for c in hidden] + [f"{c}@example.com" for c in hidden]
    probes: list[tuple[str, dict[str, Any]]] = [
        ("/api/customers", {}), ("/api/customers", {"limit": 500}),
        ("/api/customers", {"owner": ["r1", "r2", "r3"]}), ("/api/customers", {"q": "a"}),
        ("/api/customers", {"department": "Sales"}), ("/api/customers", {"grade": "A,B,C,D"}),
        ("/api/customers", {"sort": "-monetary"}), ("/api/customers", {"risk_min": 0, "risk_max": 1}),
        ("/api/kpis", {}), ("/api/snapshots", {}), ("/api/snapshots/history", {}),
        ("/api/exports/customers", {}), ("/api/exports/customers", {"format": "xlsx"}),
        ("/api/exports/customers", {"format": "zoho"}), ("/api/exports/customers", {"format": "fxiaoke"}),
        ("/api/snapshots/migration", {"a": env.snaps["old"], "b": env.snaps["new"], "by": "lifecycle_stage"}),
        (f"/api/snapshots/{env.snaps['new']}/distribution", {"by": "rfm_segment"}),
        (f"/api/customers/{sorted(VISIBLE[role])[0]}", {}),
    ]
    for path, params in probes:
        resp = env.call(role, "GET", path, params=params)
        assert resp.status_code == 200, (path, resp.text)
        text = resp.content.decode("utf-8", errors="replace")
        for secret in secrets:
            assert secret not in text, (path, params, secret)
    total = env.call(role, "GET", "/api/customers", params={"owner": "r3"}).json()["total"]
    assert total == 0
    # an out-of-scope customer is indistinguishable from one that does not exist
    for cid in hidden:
        hidden_body = env.call(role, "GET", f"/api/customers/{cid}").json()
        missing_body = env.call(role, "GET", "/api/customers/nope").json()
        assert hidden_body["status"] == missing_body["status"] == 404
        assert hidden_body["message"].replace(cid, "X") == missing_body["message"].replace("nope", "X")


def test_personal_data_masked_without_permission(env: Env) -> None:
    analyst = env.call("analyst", "GET", "/api/customers").json()["items"]
    assert {i["phone"] for i in analyst} == {"***"} and {i["email"] for i in analyst} == {"***"}
    assert {i["contact_name"] for i in analyst} == {"***"}
    detail = env.call("analyst", "GET", "/api/customers/c1").json()
    assert detail["profile"]["phone"] == "***"
    exported = env.call("analyst", "GET", "/api/exports/customers").content.decode("utf-8-sig")
    assert "@example.com" not in exported and "138-0000" not in exported
    # sorting by a masked field would leak its order
    resp = env.call("analyst", "GET", "/api/customers", params={"sort": "phone"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "sort"
    admin = env.call("admin", "GET", "/api/customers/c1").json()
    assert admin["profile"]["phone"] == "138-0000-0000"


def test_department_scopes(tmp_path: Path) -> None:
    """department (exact) vs department_tree, and the owner's department when the customer has none."""
    from crmscore.app.users import create_user

    ws = Workspace.init(tmp_path / "ws")
    try:
        seed_scope_workspace(ws)
        with ws.session() as s:
            create_user(s, "east_exact", "password-east", role="manager", scope="department", department="Sales/East")
            create_user(s, "shanghai", "password-shanghai", role="manager", scope="department",
                        department="Sales/East/Shanghai")
            create_user(s, "west_tree", "password-west", role="manager", scope="department_tree",
                        department="Sales/West")
            s.commit()
        client = TestClient(create_app(ws))
        expected = {"east_exact": {"c6"}, "shanghai": {"c1", "c2"}, "west_tree": {"c4", "c5"}}
        for user, ids in expected.items():
            client.cookies.clear()
            password = {"east_exact": "password-east", "shanghai": "password-shanghai",
                        "west_tree": "password-west"}[user]
            assert client.post("/api/auth/login", json={"username": user, "password": password}).status_code == 200
            assert _ids(client.get("/api/customers").json()["items"]) == ids
    finally:
        ws.close()


def test_list_filters_sort_and_pagination(env: Env) -> None:
    get = lambda **p: env.call("admin", "GET", "/api/customers", params=p).json()  # noqa: E731
    assert _ids(get(grade="A")["items"]) == {"c1", "c4"}
    assert _ids(get(grade=["C", "D"])["items"]) == {"c3", "c5", "c6"}  # new scores 35, 20, 48
    assert _ids(get(segment="Champions")["items"]) == {"c1", "c4"}
    assert _ids(get(lifecycle="churned")["items"]) == {"c5"}
    assert _ids(get(abc="A")["items"]) == {"c1", "c4"}
    assert _ids(get(owner="r2")["items"]) == {"c3", "c5"}
    assert _ids(get(department="Sales/East")["items"]) == {"c1", "c2", "c3", "c6"}
    assert _ids(get(risk_min=0.5)["items"]) == {"c3", "c5"}
    assert _ids(get(risk_max=0.1)["items"]) == {"c1", "c4"}
    assert _ids(get(q="HANGZHOU")["items"]) == {"c3"}
    assert _ids(get(q="上海")["items"]) == {"c1"}
    assert [i["customer_id"] for i in get(sort="-score")["items"]] == ["c4", "c1", "c2", "c6", "c3", "c5"]
    assert [i["customer_id"] for i in get(sort="name")["items"]][:2] == ["c1", "c2"]
    page = get(sort="customer_id", limit=2, offset=2)
    assert page["total"] == 6 and [i["customer_id"] for i in page["items"]] == ["c3", "c4"]
    old = get(snapshot_id=env.snaps["old"], sort="-score")
    assert old["snapshot"]["snapshot_id"] == env.snaps["old"] and old["items"][0]["score"] == 90.0


def test_customer_360_view(env: Env) -> None:
    body = env.call("rep_a", "GET", "/api/customers/c1").json()
    assert body["profile"]["owner_name"] == "Alice" and body["results"]["grade"] == "A"
    assert [h["score"] for h in body["history"]] == [70.0, 85.0]
    assert sum(p["points"] for p in body["points"]) == pytest.approx(body["results"]["score"])
    assert body["activity"]["orders"]["count"] == 2 and body["activity"]["surveys"]["count"] == 1
    assert body["activity"]["tickets"]["count"] == 0


def test_audit_records_exports_and_user_changes(env: Env) -> None:
    env.call("manager", "GET", "/api/exports/customers")
    created = env.call("admin", "POST", "/api/users", json={
        "username": "audited", "password": "long enough password", "role": "analyst", "scope": "company"}).json()
    env.call("admin", "PATCH", f"/api/users/{created['id']}", json={"role": "manager", "scope": "department",
                                                                      "department": "Sales"})
    token = env.call("rep_a", "POST", "/api/auth/tokens", json={"name": "audit"}).json()
    env.call("rep_a", "DELETE", f"/api/auth/tokens/{token['id']}")
    events = env.call("admin", "GET", "/api/audit", params={"limit": 1000}).json()["items"]
    actions = {e["action"] for e in events}
    assert {"login", "export", "user_create", "user_change", "token_create", "token_revoke"} <= actions
    export = next(e for e in events if e["action"] == "export")
    assert export["username"] == "manager" and export["source"] == "testclient" and export["details"]["rows"] == 4
    change = next(e for e in events if e["action"] == "user_change")
    assert change["username"] == "admin" and change["target"] == "audited"
    assert change["details"]["role"] == {"old": "analyst", "new": "manager"}
    # read-only: there is no route to change or delete audit events
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert env.call("admin", method, "/api/audit").status_code == 405
