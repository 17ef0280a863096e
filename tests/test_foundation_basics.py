"""Workspace, settings, errors and the warehouse on DuckDB and PostgreSQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import crmscore
from crmscore.errors import ConfigError, ConfigIssue, WorkspaceError, WorkspaceInUse
from crmscore.settings import Settings, settings_table
from crmscore.store.warehouse import SCHEMA_VERSION, Warehouse
from crmscore.workspace import Workspace


def test_every_setting_is_documented() -> None:
    for env, _default, help_text in settings_table():
        assert env.startswith("CRMSCORE_")
        assert help_text.strip(), f"{env} has no description"
    docs = (Path(__file__).resolve().parents[1] / "docs" / "settings.md").read_text(encoding="utf-8")
    for env, _default, _help in settings_table():
        assert env in docs, f"{env} missing from docs/settings.md"


def _isort_key(name: str) -> tuple[int, str]:
    # The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions.
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def test_public_all_is_sorted_and_exists() -> None:
    src = Path(crmscore.__file__).parent
    for module in src.rglob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                names = ast.literal_eval(node.value)
                assert names == sorted(names, key=_isort_key), f"__all__ of {module} is not sorted"


def test_config_error_lists_every_issue() -> None:
    err = ConfigError("card.yaml", [ConfigIssue("a.b", "bad"), ConfigIssue("c[0]", "worse", "try x")])
    assert "2 problems" in err.message and "a.b: bad" in err.message and "c[0]: worse; try x" in err.message
    assert [e["field"] for e in err.to_dict()["errors"]] == ["a.b", "c[0]"]


def test_workspace_requires_init(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a crmscore workspace"):
        Workspace(tmp_path)


def test_workspace_settings_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.init(tmp_path / "w")
    ws.close()
    cfg = tmp_path / "w" / "crmscore.toml"
    cfg.write_text(cfg.read_text() + "day_first = true\nrfm_bins = 4\n")
    monkeypatch.setenv("CRMSCORE_RFM_BINS", "3")
    with Workspace(tmp_path / "w") as ws2:
        assert ws2.settings.day_first is True
        assert ws2.settings.rfm_bins == 3  # the environment wins over the file


def test_server_lock_blocks_cli(tmp_path: Path) -> None:
    import json
    import socket
    import subprocess

    ws = Workspace.init(tmp_path / "w")
    ws.close()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "w" / "server.lock").write_text(json.dumps(
            {"pid": sleeper.pid, "hostname": socket.gethostname(), "url": "http://127.0.0.1:8000"}))
        with pytest.raises(WorkspaceInUse, match=r"in use by the server at http://127\.0\.0\.1:8000"):
            Workspace(tmp_path / "w")
    finally:
        sleeper.kill()
        sleeper.wait()
    # the server process is gone: the stale lock is cleared
    Workspace(tmp_path / "w").close()
    assert not (tmp_path / "w" / "server.lock").exists()


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError):
        Settings(rfm_bins=1)


@pytest.mark.postgres
def test_warehouse_on_postgres(pg_urls: dict[str, str]) -> None:
    wh = Warehouse.open(pg_urls["warehouse"])
    try:
        assert wh.schema_version() == SCHEMA_VERSION
        assert str(wh.table("orders").schema()["amount"]) == "decimal(18, 2)"
        with pytest.raises(RuntimeError), wh.transaction():
            wh.execute("INSERT INTO owners (owner_id) VALUES ('r1')")
            raise RuntimeError("boom")
        assert wh.table("owners").count().execute() == 0
        wh.migrate()  # idempotent
    finally:
        wh.close()


def test_warehouse_transaction_rolls_back_on_duckdb(tmp_path: Path) -> None:
    wh = Warehouse.open(path=tmp_path / "w.duckdb")
    with pytest.raises(RuntimeError), wh.transaction():
        wh.execute("INSERT INTO owners (owner_id) VALUES ('r1')")
        raise RuntimeError("boom")
    assert wh.table("owners").count().execute() == 0
    wh.close()


@pytest.mark.postgres
def test_workspace_with_postgres_app_database(tmp_path: Path, pg_urls: dict[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMSCORE_WAREHOUSE_URL", pg_urls["warehouse"])
    monkeypatch.setenv("CRMSCORE_DATABASE_URL", pg_urls["database"])
    with Workspace.init(tmp_path / "pgws") as ws:
        assert ws.app_engine.dialect.name == "postgresql"
        assert ws.warehouse.dialect == "postgres"
        assert not (tmp_path / "pgws" / "warehouse.duckdb").exists()
