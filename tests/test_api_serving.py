"""The serving view (crmscore.app.serving) answers exactly as the reference Ibis path.

The customer list and the 360 view are served from an in-memory materialisation of the customer view with
cached sets and orders. These tests build a workspace with the awkward cases (null and NaN scores, ties, null
names and grades, Chinese names, customers without an owner or booked to another department, several
snapshots with explanations and activity) and compare the served answer with the reference answer
(``serving=None``) for many seeded random queries, as every kind of user: same total, same rows in the same
order, same masking, same errors.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from crmscore.app import create_app
from crmscore.app.auth import create_token
from crmscore.app.customers import CustomerQuery, customer_detail, list_customers, serving_view
from crmscore.app.errors import FieldError
from crmscore.app.permissions import Principal
from crmscore.app.serving import ServingView, _byte_trigrams
from crmscore.app.testing import insert_rows
from crmscore.app.users import create_user, find_user
from crmscore.errors import NotFound
from crmscore.services.snapshots import write_snapshot
from crmscore.workspace import Workspace

N = 240
DEPTS = ["Sales/East/Shanghai", "Sales/East/Hangzhou", "Sales/West", "Sales/Eastern", None]
PRINCIPALS = [
    Principal(user_id=1, username="admin", role="admin", scope="company", can_view_personal_data=True),
    Principal(user_id=2, username="analyst", role="analyst", scope="company"),
    Principal(user_id=3, username="mgr", role="manager", scope="department_tree", department="Sales/East",
              can_view_personal_data=True),
    Principal(user_id=4, username="dept", role="manager", scope="department", department="Sales/West"),
    Principal(user_id=5, username="rep", role="rep", scope="self", owner_id="r1"),
    Principal(user_id=6, username="rep0", role="rep", scope="self", owner_id=None),
    Principal(user_id=7, username="lost", role="manager", scope="department_tree", department=None),
]
SORTS = [None, "-score", "score", "name", "-name", "-clv,name", "grade,-score", "churn_risk", "customer_id",
         "-created_on", "owner_department,-p_alive", "phone", "department,score,-name"]


def _name(rng: random.Random, i: int) -> str | None:
    if i % 37 == 0:
        return None
    return rng.choice(["Acme", "上海贸易", "Beta", "ÄRGER Gmbh", "delta", "Customer"]) + f" {i % 50} " + \
        rng.choice(["Ltd", "有限公司", "co", ""])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, ServingView]]:
    rng = random.Random(7)
    ws = Workspace.init(tmp_path_factory.mktemp("serving") / "ws")
    wh = ws.warehouse
    insert_rows(wh, "owners", [{"owner_id": f"r{i}", "name": f"Rep {i}", "department": DEPTS[i % len(DEPTS)]}
                               for i in range(8)])
    insert_rows(wh, "customers", [
        {"customer_id": f"c{i:04d}", "name": _name(rng, i), "owner_id": None if i % 11 == 0 else f"r{rng.randrange(9)}",
         "department": rng.choice([None, None, None, "Sales/West", "Sales/East"]), "type": "B2B",
         "phone": f"138{i:08d}" if i % 5 else None, "email": f"c{i}@example.com", "contact_name": f"Contact {i}",
         "created_on": date(2023, 1, 1) + timedelta(days=i % 17)}
        for i in range(N)])
    insert_rows(wh, "orders", [
        {"order_id": f"o{j}", "customer_id": f"c{j % 20:04d}", "order_date": datetime(2024, 1, 1 + j % 28),
         "amount": Decimal(f"{10 * j}.25"), "status": "completed"} for j in range(90)])
    for k, as_of in enumerate([date(2024, 1, 31), date(2024, 2, 29)]):
        scores = [None if i % 13 == 0 else float("nan") if i % 17 == 0 else float(rng.randrange(5) * 10 + k)
                  for i in range(N)]
        results = pa.table({
            "customer_id": [f"c{i:04d}" for i in range(N) if i % 29 != 5],  # some customers are not scored
            "score": [s for i, s in enumerate(scores) if i % 29 != 5],
            "grade": [None if s is None or s != s else "A" if s >= 30 else "B" for i, s in enumerate(scores)
                      if i % 29 != 5],
            "rfm_segment": [rng.choice(["Champions", "At Risk", "New"]) for i in range(N) if i % 29 != 5],
            "clv": [float(rng.randrange(4)) for i in range(N) if i % 29 != 5],
            "p_alive": [rng.random() for i in range(N) if i % 29 != 5],
            "churn_risk": [round(rng.random(), 1) for i in range(N) if i % 29 != 5],
        })
        points = pa.table({"customer_id": [f"c{i:04d}" for i in range(N) for _ in range(2)],
                           "dimension": ["loyalty", "behaviour"] * N, "criterion": ["x", "y"] * N,
                           "points": [float(i % 9) for i in range(2 * N)]})
        write_snapshot(wh, as_of=as_of, customers=results, points=points, meta={"created_by": "test"})
    view = serving_view(wh)
    try:
        yield ws, view
    finally:
        view.close()
        ws.close()


def _answer(call: Any) -> Any:
    try:
        return call()
    except (FieldError, NotFound) as exc:
        return type(exc).__name__, str(exc)


def _random_query(rng: random.Random) -> CustomerQuery:
    q = CustomerQuery(limit=rng.choice([1, 7, 50]), offset=rng.choice([0, 0, 3, 20, 100, 500]),
                      sort=rng.choice(SORTS))
    for _ in range(rng.randrange(3)):
        kind = rng.randrange(8)
        if kind == 0:
            q.grade = [rng.choice(["A", "B", "A,B", "Z"])]
        elif kind == 1:
            q.segment = [rng.choice(["Champions", "At Risk", "New"])]
        elif kind == 2:
            q.owner = [rng.choice(["r1", "r2,r3", "nobody"])]
        elif kind == 3:
            q.department = rng.choice(["Sales/East", "Sales/East/", "Sales/West", "Sales"])
        elif kind == 4:
            q.risk_min = rng.choice([0.0, 0.5, 0.9])
        elif kind == 5:
            q.risk_max = rng.choice([0.2, 0.5, 1.0])
        else:
            q.q = rng.choice(["acme", "ACME 1", "上海", "贸易 3", "ärger", "e", "er", "customer 4", "zz", "1 "])
    return q


@pytest.mark.parametrize("principal", PRINCIPALS, ids=[p.username for p in PRINCIPALS])
def test_list_matches_the_reference(served: tuple[Workspace, ServingView], principal: Principal) -> None:
    ws, view = served
    wh = ws.warehouse
    rng = random.Random(principal.user_id)
    seen_totals = set()
    for _ in range(35):
        query = _random_query(rng)
        reference = _answer(lambda: list_customers(wh, principal, query))  # noqa: B023
        fast = _answer(lambda: list_customers(wh, principal, query, serving=view))  # noqa: B023
        assert fast == reference, query
        if isinstance(reference, dict):
            seen_totals.add(reference["total"])
    assert len(seen_totals) > 3 or principal.username in ("rep0", "lost")  # the queries are not all empty


@pytest.mark.parametrize("principal", PRINCIPALS, ids=[p.username for p in PRINCIPALS])
def test_detail_matches_the_reference(served: tuple[Workspace, ServingView], principal: Principal) -> None:
    ws, view = served
    wh = ws.warehouse
    found = 0
    for i in [*range(0, N, 7), 5, 13, 17, 37]:
        cid = f"c{i:04d}"
        reference = _answer(lambda: customer_detail(wh, principal, cid))  # noqa: B023
        fast = _answer(lambda: customer_detail(wh, principal, cid, serving=view))  # noqa: B023
        assert fast == reference, cid
        found += isinstance(reference, dict)
    for cid in ["c0001", "c0002", "c0019"]:  # a full activity page: the count comes from its own query
        assert _answer(lambda: customer_detail(wh, principal, cid, activity_limit=2, serving=view)) == \
            _answer(lambda: customer_detail(wh, principal, cid, activity_limit=2))  # noqa: B023
    for missing in ["nope", "", "c0001'--"]:
        assert _answer(lambda: customer_detail(wh, principal, missing, serving=view)) == \
            _answer(lambda: customer_detail(wh, principal, missing))  # noqa: B023
    assert found > 0 or principal.username in ("rep0", "lost")


def test_older_snapshot_falls_back_to_the_reference(served: tuple[Workspace, ServingView]) -> None:
    ws, view = served
    old = view.snapshots[0].snapshot_id
    admin = PRINCIPALS[0]
    query = CustomerQuery(snapshot_id=old, sort="-score")
    assert list_customers(ws.warehouse, admin, query, serving=view)["snapshot"]["snapshot_id"] == old
    assert customer_detail(ws.warehouse, admin, "c0001", old, serving=view)["snapshot"]["snapshot_id"] == old


def test_byte_trigrams_cover_every_window() -> None:
    names = pa.array(["abcd", None, "上海", "ab", "abc"])
    codes, rows = _byte_trigrams(names)
    pairs = set(zip(codes.tolist(), rows.tolist(), strict=True))
    expected = set()
    for row, name in enumerate(names.to_pylist()):
        raw = (name or "").encode("utf-8")
        expected |= {((raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2], row) for i in range(len(raw) - 2)}
    assert pairs == expected
    assert list(codes) == sorted(codes)


def test_server_rebuilds_the_view_after_a_job_and_drops_cached_principals(served: Any, tmp_path: Any) -> None:
    ws = Workspace.init(tmp_path / "ws")
    try:
        insert_rows(ws.warehouse, "customers", [{"customer_id": "a1", "name": "Alpha"}])
        with ws.session() as s:
            create_user(s, "boss", "long enough pw", role="admin", scope="company")
            s.commit()
            token = create_token(s, Principal.from_user(find_user(s, "boss")), "t", "test")[1]
        app = create_app(ws)
        with TestClient(app) as client:
            auth = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/customers", headers=auth).json()["total"] == 1
            state = app.state.crmscore

            def work(_progress: Any) -> dict[str, Any]:
                insert_rows(ws.warehouse, "customers", [{"customer_id": "a2", "name": "Beta"}])
                return {}

            state.jobs.submit("import", {}, PRINCIPALS[0], work)
            state.jobs.wait(30)
            assert client.get("/api/customers", headers=auth).json()["total"] == 2
            assert client.get("/api/customers/a2", headers=auth).json()["profile"]["name"] == "Beta"
            assert state._principals  # the token's principal is cached ...
            client.cookies.clear()
            # an unsafe request (here: one that fails) forgets every cached principal
            client.post("/api/auth/logout", headers=auth)
            assert not state._principals  # ... and forgotten
    finally:
        ws.close()


def test_concurrent_first_requests_agree(served: tuple[Workspace, ServingView]) -> None:
    """Many threads asking a fresh serving view for different orders and sets at once (its DuckDB connection
    is shared: a result must be read whole before the next query runs)."""
    from concurrent.futures import ThreadPoolExecutor

    ws, _ = served
    wh = ws.warehouse
    fresh = serving_view(wh)
    queries = [CustomerQuery(sort=s, grade=["A"] if i % 2 else []) for i, s in enumerate(SORTS)]
    expected = [list_customers(wh, PRINCIPALS[0], q) for q in queries]
    try:
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda q: list_customers(wh, PRINCIPALS[0], q, serving=fresh), queries))
        assert got == expected
    finally:
        fresh.close()
