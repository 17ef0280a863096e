"""A workspace: one folder holding the settings file, the warehouse, the app database and import reports.

```
my-workspace/
  crmscore.toml        settings for this workspace ([settings] table, same names as CRMSCORE_* variables)
  warehouse.duckdb     the warehouse (unless CRMSCORE_WAREHOUSE_URL points elsewhere)
  app.sqlite           the app database (unless CRMSCORE_DATABASE_URL points elsewhere)
  imports/             one report and one quarantine file per import
  server.lock          present while `crmscore serve` owns the workspace
```

>>> import tempfile, pathlib
>>> ws = Workspace.init(pathlib.Path(tempfile.mkdtemp()) / "ws")
>>> ws.warehouse.table("customers").count().execute()
0
>>> ws.close()
"""

from __future__ import annotations

import json
import os
import socket
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from crmscore.errors import WorkspaceError, WorkspaceInUse
from crmscore.settings import Settings
from crmscore.store.appdb import make_engine, upgrade
from crmscore.store.warehouse import Warehouse

if TYPE_CHECKING:
    from crmscore.services.snapshots import Snapshots

__all__ = ["CONFIG_FILE", "LOCK_FILE", "Workspace", "pid_alive", "resolve_workspace_path"]

CONFIG_FILE = "crmscore.toml"
LOCK_FILE = "server.lock"
WAREHOUSE_FILE = "warehouse.duckdb"
APPDB_FILE = "app.sqlite"


def resolve_workspace_path(path: str | Path | None) -> Path:
    """The workspace folder: the given path, else ``CRMSCORE_WORKSPACE``, else the current folder."""
    if path:
        return Path(path).expanduser().resolve()
    env = Settings().workspace
    return (env or Path.cwd()).expanduser().resolve()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Workspace:
    """An initialised workspace folder. Opening it checks that no server owns it (unless ``as_server``)."""

    def __init__(self, path: str | Path | None = None, *, as_server: bool = False, **overrides: Any) -> None:
        self.path = resolve_workspace_path(path)
        config = self.path / CONFIG_FILE
        if not config.is_file():
            raise WorkspaceError(f"{self.path} is not a crmscore workspace (no {CONFIG_FILE})",
                                 f"create one with: crmscore init {self.path}")
        try:
            file_settings = tomllib.loads(config.read_text(encoding="utf-8")).get("settings", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise WorkspaceError(f"{config}: cannot read settings: {exc}", "fix or delete the file") from exc
        env_settings = Settings()
        merged = {k: v for k, v in file_settings.items() if k not in env_settings.model_fields_set}
        self.settings = Settings(**(merged | overrides))
        self.as_server = as_server
        if not as_server:
            self.check_not_served()
        self._warehouse: Warehouse | None = None
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    @classmethod
    def init(cls, path: str | Path | None = None, **overrides: Any) -> Workspace:
        """Create (or reopen) a workspace folder with its settings file, warehouse and app database."""
        target = resolve_workspace_path(path)
        target.mkdir(parents=True, exist_ok=True)
        (target / "imports").mkdir(exist_ok=True)
        config = target / CONFIG_FILE
        if not config.exists():
            created = datetime.now(UTC).isoformat(timespec="seconds")
            config.write_text(
                "# crmscore workspace settings. Any CRMSCORE_* setting may be set here in lower case,\n"
                "# e.g. day_first = true or service_cost_per_ticket = \"80\". Environment variables win.\n"
                f"[workspace]\ncreated = \"{created}\"\n\n[settings]\n", encoding="utf-8")
        ws = cls(target, **overrides)
        ws.warehouse  # noqa: B018 - creates and migrates the warehouse
        ws.app_engine  # noqa: B018
        return ws

    # -- locations ------------------------------------------------------------------------------------
    @property
    def imports_dir(self) -> Path:
        folder = self.path / "imports"
        folder.mkdir(exist_ok=True)
        return folder

    @property
    def warehouse_url(self) -> str:
        return self.settings.warehouse_url or f"duckdb://{self.path / WAREHOUSE_FILE}"

    @property
    def database_url(self) -> str:
        return self.settings.database_url or f"sqlite:///{self.path / APPDB_FILE}"

    # -- stores ---------------------------------------------------------------------------------------
    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse.open(self.warehouse_url)
        return self._warehouse

    @property
    def app_engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
            upgrade(self._engine)
        return self._engine

    @property
    def snapshots(self) -> Snapshots:
        """The workspace's snapshots as DataFrames: ``ws.snapshots[-1]``, ``ws.snapshots["s2024..."]``."""
        from crmscore.services.snapshots import Snapshots

        return Snapshots(self.warehouse)

    def session(self) -> Session:
        """A new app-database session (use as a context manager)."""
        if self._sessions is None:
            self._sessions = sessionmaker(self.app_engine, expire_on_commit=False)
        return self._sessions()

    def close(self) -> None:
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._sessions = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- server lock ----------------------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_FILE

    def server_lock(self) -> dict[str, Any] | None:
        """The running server's lock record, or None (stale locks of dead processes are removed)."""
        try:
            info = json.loads(self.lock_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            return None
        same_host = info.get("hostname") == socket.gethostname()
        if same_host and not pid_alive(int(info.get("pid", 0))):
            self.lock_path.unlink(missing_ok=True)
            return None
        return dict(info)

    def check_not_served(self) -> None:
        info = self.server_lock()
        if info and info.get("pid") != os.getpid():
            raise WorkspaceInUse(
                f"workspace in use by the server at {info.get('url')} (pid {info.get('pid')})",
                "use the dashboard or the REST API of that server, or stop it first")

    def acquire_server_lock(self, url: str) -> None:
        self.check_not_served()
        record = {"pid": os.getpid(), "hostname": socket.gethostname(), "url": url,
                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
        self.lock_path.write_text(json.dumps(record), encoding="utf-8")

    def release_server_lock(self) -> None:
        info = self.server_lock()
        if info and info.get("pid") == os.getpid():
            self.lock_path.unlink(missing_ok=True)
