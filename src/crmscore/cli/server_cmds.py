"""`crmscore serve` and `crmscore users add|list|disable`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from crmscore.cli.common import JsonOption, WorkspaceOption, console, emit_json, open_workspace
from crmscore.workspace import Workspace

users_app = typer.Typer(help="Manage users of the server: add, list, disable.", no_args_is_help=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def serve_workspace(path: Path | str | None, host: str | None = None, port: int | None = None,
                    access_log: bool = False) -> None:
    """Serve the workspace at ``path`` with uvicorn until stopped, holding the workspace's server lock.

    uvicorn runs on uvloop and the httptools parser when they are installed (both are dependencies); the
    access log (one line per request, a measurable cost under load) is off unless ``access_log``.
    """
    import uvicorn

    from crmscore.app import create_app

    ws = Workspace(path, as_server=True)
    bind_host = host or ws.settings.host
    bind_port = port or ws.settings.port
    url = f"http://{bind_host}:{bind_port}"
    ws.acquire_server_lock(url)
    # uvicorn shuts down gracefully on SIGTERM and then raises the signal again: with the default action the
    # process would die before the lock is released; this handler ends it through the finally below instead
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        console.print(f"crmscore serving {ws.path} at [bold]{url}[/] (API reference: {url}/docs)")
        uvicorn.run(create_app(ws, freeze_gc=True), host=bind_host, port=bind_port, log_level="info", proxy_headers=True,
                    access_log=access_log, loop=_event_loop(), http="auto")
    finally:
        ws.release_server_lock()
        ws.close()


def _event_loop() -> str:
    """uvicorn's event loop: uvloop when importable (a dependency; absent on Windows), else asyncio."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def serve(
    workspace: WorkspaceOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: CRMSCORE_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: CRMSCORE_PORT, 8000).")] = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log",
                                             help="Log one line per request (off by default: it costs under load; "
                                                  "the audit log records logins and changes either way).")] = False,
) -> None:
    """Run the REST API (and dashboard) on this workspace; the workspace is locked while it runs."""
    serve_workspace(workspace, host, port, access_log=access_log)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option("--role", help="admin, manager, analyst or rep.")],
    scope: Annotated[str, typer.Option("--scope", help="self, department, department_tree or company.")],
    owner_id: Annotated[str | None, typer.Option("--owner-id", help="The rep this user is (scope self).")] = None,
    department: Annotated[str | None, typer.Option(help="Department path, e.g. Sales/East.")] = None,
    password: Annotated[str | None, typer.Option(help="Password (prompted for when omitted).")] = None,
    configure_scoring: Annotated[bool, typer.Option("--configure-scoring",
                                                    help="May publish scorecards.")] = False,
    personal_data: Annotated[bool, typer.Option("--personal-data",
                                                help="May see phone, e-mail and contact names.")] = False,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the dashboard.")] = None,
    workspace: WorkspaceOption = None,
    json_out: JsonOption = False,
) -> None:
    """Add a user."""
    from crmscore.app.audit import record
    from crmscore.app.users import create_user, user_dict

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_workspace(workspace) as ws, ws.session() as s:
        user = create_user(s, username, password, role=role, scope=scope, owner_id=owner_id, department=department,
                           display_name=display_name, can_configure_scoring=configure_scoring,
                           can_view_personal_data=personal_data)
        record(s, "user_create", username=None, target=username, source="cli",
               details={"role": role, "scope": scope, "owner_id": owner_id, "department": department,
                        "can_configure_scoring": configure_scoring, "can_view_personal_data": personal_data})
        s.commit()
        info = user_dict(user)
    if json_out:
        emit_json(info)
    else:
        console.print(f"Added user [bold]{username}[/] ({role}, scope {scope})")


@users_app.command("list")
def users_list(workspace: WorkspaceOption = None, json_out: JsonOption = False) -> None:
    """List users."""
    from rich.table import Table

    from crmscore.app.users import list_users, user_dict

    with open_workspace(workspace) as ws, ws.session() as s:
        users = [user_dict(u) for u in list_users(s)]
    if json_out:
        emit_json(users)
        return
    table = Table("username", "role", "scope", "owner_id", "department", "scoring", "personal data", "disabled")
    for u in users:
        table.add_row(u["username"], u["role"], u["scope"], u["owner_id"] or "", u["department"] or "",
                      "yes" if u["can_configure_scoring"] else "", "yes" if u["can_view_personal_data"] else "",
                      "disabled" if u["disabled"] else "")
    console.print(table)


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="Login name.")],
                  workspace: WorkspaceOption = None, json_out: JsonOption = False) -> None:
    """Disable a user: their sessions and API tokens stop working at once."""
    from crmscore.app.audit import record
    from crmscore.app.users import find_user, update_user, user_dict
    from crmscore.errors import NotFound

    with open_workspace(workspace) as ws, ws.session() as s:
        user = find_user(s, username)
        if user is None:
            raise NotFound(f"no user {username!r}", "list users with: crmscore users list")
        diff = update_user(s, user, {"disabled": True})
        if diff:
            record(s, "user_change", username=None, target=username, source="cli", details=diff)
        s.commit()
        info = user_dict(user)
    if json_out:
        emit_json(info)
    else:
        console.print(f"Disabled user [bold]{username}[/]")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
