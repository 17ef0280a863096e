"""The server's bearer-token principal cache: an expired entry is checked again by one request at a time."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from crmscore.app import state as st
from crmscore.app.permissions import Principal
from crmscore.workspace import Workspace


def test_an_expired_principal_is_checked_by_one_request(workspace: Workspace,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(st, "time", SimpleNamespace(monotonic=lambda: now[0]))
    app_state = st.AppState(workspace)
    try:
        admin = Principal(user_id=1, username="a", role="admin", scope="company", via="token")
        app_state.remember_principal("k", admin)
        assert app_state.cached_principal("k") is admin
        now[0] += st.PRINCIPAL_TTL + 0.1
        assert app_state.cached_principal("k") is None  # expired and nobody checks it: a peek misses
        assert app_state.cached_principal("k", claim=True) is None  # this request checks it again
        assert app_state.cached_principal("k") is admin  # meanwhile the others keep the expired entry
        assert app_state.cached_principal("k", claim=True) is admin  # ... and do not check it too
        app_state.remember_principal("k", admin)  # the check passed: fresh again
        now[0] += st.PRINCIPAL_TTL + 0.1
        assert app_state.cached_principal("k", claim=True) is None
        app_state.drop_principal("k")  # the check failed (a revoked token): nobody gets the entry any more
        assert app_state.cached_principal("k") is None and app_state.cached_principal("k", claim=True) is None
        # past the grace an expired entry is never used, and an unsafe request forgets every entry at once
        app_state.remember_principal("k", admin)
        now[0] += st.PRINCIPAL_TTL + 0.1
        assert app_state.cached_principal("k", claim=True) is None
        now[0] += st.PRINCIPAL_REFRESH_GRACE
        assert app_state.cached_principal("k") is None
        app_state.remember_principal("k", admin)
        app_state.forget_principals()
        assert app_state.cached_principal("k") is None
    finally:
        app_state.close()
