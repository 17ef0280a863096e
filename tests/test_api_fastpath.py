"""The hot routes' fast paths: warm requests are answered from the serving view without a database, either in
front of FastAPI (crmscore.app.fastpath) or inside the route on the event loop (crmscore.app.api.customers),
and give the same status, headers and bytes as the worker-thread path and FastAPI's encoder."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from crmscore.app import create_app
from crmscore.app.api.customers import json_response
from crmscore.app.auth import create_token
from crmscore.app.permissions import Principal
from crmscore.app.state import AppState
from crmscore.app.testing import insert_rows
from crmscore.app.users import create_user, find_user
from crmscore.services.snapshots import write_snapshot
from crmscore.workspace import Workspace

N = 120
USERS: dict[str, dict[str, Any]] = {"admin": {"role": "admin", "scope": "company", "can_view_personal_data": True},
         "analyst": {"role": "analyst", "scope": "company"},
         "mgr": {"role": "manager", "scope": "department_tree", "department": "Sales/East"},
         "rep": {"role": "rep", "scope": "self", "owner_id": "r1"}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict[str, str]]]:
    """One snapshot, no score points and no activity: every detail can take the fast path."""
    rng = random.Random(3)
    ws = Workspace.init(tmp_path_factory.mktemp("fastpath") / "ws")
    wh = ws.warehouse
    insert_rows(wh, "owners", [{"owner_id": f"r{i}", "name": f"Rep {i}",
                                "department": ["Sales/East/A", "Sales/East", "Sales/West"][i % 3]} for i in range(5)])
    insert_rows(wh, "customers", [
        {"customer_id": f"c{i:04d}", "name": None if i % 31 == 0 else f"{rng.choice(['Acme', '上海', 'Beta'])} {i}",
         "owner_id": f"r{i % 5}", "type": "B2B", "phone": f"138{i:08d}" if i % 4 else None,
         "email": f"c{i}@example.com", "annual_revenue": Decimal(f"{i * 1000}.25") if i % 3 else None,
         "created_on": date(2023, 1, 1) + timedelta(days=i % 40)} for i in range(N)])
    scores = [None if i % 13 == 0 else float("nan") if i % 17 == 0 else float(rng.randrange(60)) for i in range(N)]
    write_snapshot(wh, as_of=date(2024, 6, 30), meta={"created_by": "test"}, customers=pa.table({
        "customer_id": [f"c{i:04d}" for i in range(N)], "score": scores,
        "grade": [rng.choice(["A", "B", None]) for _ in range(N)],
        "rfm_segment": [rng.choice(["Champions", "New"]) for _ in range(N)],
        "churn_risk": [round(rng.random(), 2) for _ in range(N)]}))
    tokens = {}
    with ws.session() as s:
        for name, flags in USERS.items():
            create_user(s, name, "long enough pw", **flags)
        s.commit()
        for name in USERS:
            user = find_user(s, name)
            assert user is not None
            tokens[name] = create_token(s, Principal.from_user(user), "t", "test")[1]
    try:
        yield ws, tokens
    finally:
        ws.close()


def _paths(rng: random.Random) -> list[str]:
    out = []
    for _ in range(40):
        params = [f"limit={rng.choice([1, 5, 50])}", f"offset={rng.choice([0, 0, 3, 40, 200])}"]
        params.append(rng.choice(["", "grade=A", "segment=New", "risk_min=0.5", "q=acme", "q=%E4%B8%8A", "grade=A,B",
                                  "department=Sales/East", "owner=r1", "risk_min=0.9&risk_max=0.1"]))
        params.append(rng.choice(["", "sort=-score", "sort=name", "sort=-churn_risk,name", "sort=phone",
                                  "sort=nope", "sort=created_on"]))
        out.append("/api/customers?" + "&".join(p for p in params if p))
    out += [f"/api/customers/c{i:04d}" for i in (0, 1, 2, 13, 17, 31, 44, 119)]
    return [*out, "/api/customers/nope", "/api/customers/c0001?snapshot_id=unknown"]


def _responses(app: Any, tokens: dict[str, str], paths: list[str]) -> list[tuple[str, int, dict[str, str], bytes]]:
    with TestClient(app) as client:
        return [(user, r.status_code, dict(r.headers), r.content)
                for _round in range(2)  # the first round computes sets and orders, the second is warm
                for user, token in tokens.items() for path in paths
                for r in [client.get(path, headers={"Authorization": f"Bearer {token}"})]]


def test_fast_path_answers_like_the_worker_thread(served: tuple[Workspace, dict[str, str]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from crmscore.app import server

    ws, tokens = served
    paths = _paths(random.Random(11))
    answered: list[bool] = []

    def counting(app_state: AppState, scope: Any) -> bytes | None:
        body = server_answer(app_state, scope)
        answered.append(body is not None)
        return body

    server_answer = server.answer
    with monkeypatch.context() as patch:
        patch.setattr(server, "answer", counting)
        fast = _responses(create_app(ws), tokens, paths)
    assert sum(answered) > len(paths)  # the warm round went through the ASGI fast path
    with monkeypatch.context() as patch:
        patch.setattr(server, "answer", lambda _state, _scope: None)  # FastAPI, route-level fast path
        route = _responses(create_app(ws), tokens, paths)
    with monkeypatch.context() as patch:
        patch.setattr(AppState, "current_serving", lambda _self: None)  # every request in a worker thread
        slow = _responses(create_app(ws), tokens, paths)
    assert fast == slow
    assert route == slow
    statuses = {status for _user, status, _headers, _body in fast}
    assert {200, 404, 422} <= statuses  # found, out of scope or unknown, invalid sort or risk range


def test_fast_path_cannot_shadow_another_route(served: tuple[Workspace, dict[str, str]]) -> None:
    """The ASGI fast path takes any GET /api/customers/<id>: no other route may live under that prefix."""
    ws, _tokens = served
    paths = [p for p in create_app(ws).openapi()["paths"] if p.startswith("/api/customers")]
    assert sorted(paths) == ["/api/customers", "/api/customers/{customer_id}"]


def test_unusual_requests_are_left_to_fastapi(served: tuple[Workspace, dict[str, str]]) -> None:
    from crmscore.app.fastpath import answer

    ws, tokens = served
    app = create_app(ws)
    auth = [(b"authorization", f"Bearer {tokens['admin']}".encode())]
    with TestClient(app) as client:
        client.get("/api/customers?limit=5", headers={"Authorization": f"Bearer {tokens['admin']}"})
        state = app.state.crmscore

        def scope(path: str, query: bytes = b"", method: str = "GET", headers: Any = None) -> dict[str, Any]:
            return {"type": "http", "method": method, "path": path, "query_string": query,
                    "headers": auth if headers is None else headers, "root_path": ""}

        assert answer(state, scope("/api/customers", b"limit=5")) is not None
        assert answer(state, scope("/api/customers/c0001")) is not None
        for unusual in [scope("/api/customers", b"limit=5", method="HEAD"), scope("/api/customers", headers=[]),
                        scope("/api/customers", b"limit=5&limit=6"), scope("/api/customers", b"limit=0"),
                        scope("/api/customers", b"limit=05"), scope("/api/customers", b"other=1"),
                        scope("/api/customers", b"risk_min=2"), scope("/api/customers", b"sort=nope"),
                        scope("/api/customers", b"q=%00"), scope("/api/customers/c9999"),
                        scope("/api/customers/c0001", b"x=1"), scope("/api/customers/a/b"),
                        scope("/api/customers/"), scope("/api/customersx"),
                        scope("/api/customers", headers=[(b"authorization", b"Bearer crm_unknown")])]:
            assert answer(state, unusual) is None, unusual


def test_warm_requests_use_no_reader_and_cold_ones_do(served: tuple[Workspace, dict[str, str]],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ws, tokens = served
    readers = []
    original = AppState.reader

    def counting(self: AppState) -> Any:
        readers.append(1)
        return original(self)

    monkeypatch.setattr(AppState, "reader", counting)
    app = create_app(ws)
    auth = {"Authorization": f"Bearer {tokens['mgr']}"}
    with TestClient(app) as client:  # the lifespan builds the serving view
        readers.clear()
        first = client.get("/api/customers?sort=-churn_risk,name&grade=A", headers=auth)
        assert first.status_code == 200 and len(readers) == 1  # a new order and set: computed in a thread
        again = client.get("/api/customers?sort=-churn_risk,name&grade=A&offset=1", headers=auth)
        detail = client.get("/api/customers/c0001", headers=auth)
        assert (again.status_code, detail.status_code) == (200, 200)
        assert len(readers) == 1  # warm: answered from the serving view alone
        assert again.json()["items"] == first.json()["items"][1:]
        assert detail.headers["content-type"] == "application/json"


def test_detail_with_activity_reads_the_warehouse(tmp_path: Any) -> None:
    from crmscore.app.testing import password_for, seed_scope_workspace

    ws = Workspace.init(tmp_path / "ws")
    try:
        seed_scope_workspace(ws)
        with TestClient(create_app(ws)) as client:
            client.post("/api/auth/login", json={"username": "rep_a", "password": password_for("rep_a")})
            body = client.get("/api/customers/c1").json()
            assert body["activity"]["orders"]["count"] > 0 and body["points"]
            assert client.get("/api/customers/c3").status_code == 404  # another rep's customer
    finally:
        ws.close()


def test_json_matches_fastapis_encoder() -> None:
    """FastAPI serialises a ``dict[str, Any]`` return value with pydantic; the fast path's orjson bytes are the
    same, including datetimes (UTC as Z), non-ASCII text, NaN and decimals."""
    body = {"floats": [1, None, 2.5, 1e16, 1e-7, 0.1 + 0.2, -0.0, 2**60], "day": date(2024, 1, 2),
            "naive": datetime(2024, 1, 2, 3, 4, 5, 120), "utc": datetime(2024, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
            "cst": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8))),
            "text": 'é上海\u2028"\\</', "nan": float("nan"), "inf": float("-inf"), "money": Decimal("1.50"),
            "nested": {"a": [{"b": True}], "empty": {}}}
    assert json_response(body).body == TypeAdapter(dict[str, Any]).dump_json(body)


@pytest.mark.parametrize("scan_rows", [0, 10**9], ids=["index", "scan"])
def test_name_search_with_or_without_the_index_is_a_substring_match(monkeypatch: pytest.MonkeyPatch,
                                                                     scan_rows: int) -> None:
    """The trigram index only narrows the candidates: the answer is the plain substring match, for every row
    set (the index is used for sets larger than _SCAN_ROWS and when the rarest trigram has fewer rows)."""
    import numpy as np

    from crmscore.app import serving
    from crmscore.app.serving import ServingView

    monkeypatch.setattr(serving, "_SCAN_ROWS", scan_rows)
    rng = random.Random(5)
    words = ["acme", "上海贸易", "ärger", "customer", "12", "3", "beta co", ""]
    names = [None if i % 23 == 0 else " ".join(rng.choice(words) for _ in range(3)) for i in range(600)]
    view = ServingView(pa.table({"customer_id": [f"c{i}" for i in range(600)], "name": names}), snapshot=None,
                       snapshots=[], customer_columns=frozenset({"customer_id", "name"}))
    try:
        for text in ["acme", "海贸", "customer 12", "ärger 3", "r 1", "zz", "a", "12 3"]:
            for rows in [None, np.arange(0, 600, 3), np.arange(0, 600, 97), np.array([], dtype=np.int64)]:
                lowered = [name.lower() if name is not None else None for name in names]
                expected = [i for i in (range(600) if rows is None else rows.tolist())
                            if (low := lowered[i]) is not None and text in low]
                assert view.search(rows, text).tolist() == expected, (text, rows)
    finally:
        view.close()


def test_a_long_name_search_is_not_done_on_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from crmscore.app import serving
    from crmscore.app.serving import ServingCold, ServingView

    monkeypatch.setattr(serving, "_INLINE_SEARCH", 10)
    view = ServingView(pa.table({"customer_id": [f"c{i}" for i in range(40)], "name": [f"n{i}" for i in range(40)]}),
                       snapshot=None, snapshots=[], customer_columns=frozenset({"customer_id", "name"}))
    try:
        with ServingView.cached_only():
            assert view.search(np.arange(5), "n").tolist() == [0, 1, 2, 3, 4]  # few names: inline
            with pytest.raises(ServingCold):
                view.search(None, "n")  # every name: a worker thread's job
        assert len(view.search(None, "n")) == 40
    finally:
        view.close()
