"""Property-based calls of every operation in the OpenAPI schema (in-process ASGI): never a server error.

Runs as an admin (who reaches every route) with a fresh API token per case, so that a generated call that
revokes a token or logs out does not end the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from crmscore.app import create_app
from crmscore.app.auth import create_token
from crmscore.app.permissions import Principal
from crmscore.app.testing import seed_scope_workspace
from crmscore.app.users import find_user
from crmscore.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Workspace]]:
    ws = Workspace.init(tmp_path_factory.mktemp("fuzz") / "ws")
    seed_scope_workspace(ws)
    app = create_app(ws)
    try:
        yield app, ws
    finally:
        app.state.crmscore.jobs.wait(timeout=60)
        app.state.crmscore.close()
        ws.close()


def _fresh_admin_token(ws: Workspace) -> str:
    with ws.session() as s:
        user = find_user(s, "admin")
        assert user is not None
        _row, raw = create_token(s, Principal.from_user(user), "fuzz", "test")
    return raw


def _operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_server_errors(served: tuple[Any, Workspace]) -> None:
    # (schemathesis' pytest plugin does not load lazy schemas on this pytest; drive Hypothesis directly)
    app, ws = served
    operations = _operations(app)
    assert len(operations) >= 20
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call_and_validate(headers={"Authorization": f"Bearer {_fresh_admin_token(ws)}"},
                                              checks=[not_a_server_error])
            statuses.append(response.status_code)

        check()
    assert len(statuses) >= 3 * len(operations)
    assert any(200 <= s < 300 for s in statuses) and any(s == 422 for s in statuses)
