"""`crmscore users add|list|disable` and `crmscore serve` (lock handling) through the Typer CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmscore.cli.main import app
from crmscore.workspace import Workspace

runner = CliRunner()


def test_users_add_list_disable(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "w").close()
    w = str(tmp_path / "w")
    result = runner.invoke(app, ["users", "add", "li", "--role", "rep", "--scope", "self", "--owner-id", "r1",
                                 "--password", "a long password", "--personal-data", "-w", w, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["can_view_personal_data"] is True
    prompted = runner.invoke(app, ["users", "add", "wang", "--role", "analyst", "--scope", "company", "-w", w],
                             input="another password\nanother password\n")
    assert prompted.exit_code == 0, prompted.output
    listed = json.loads(runner.invoke(app, ["users", "list", "-w", w, "--json"]).stdout)
    assert [u["username"] for u in listed] == ["li", "wang"]
    assert runner.invoke(app, ["users", "disable", "li", "-w", w]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["users", "list", "-w", w, "--json"]).stdout)
    assert [u["disabled"] for u in listed] == [True, False]
    with Workspace(w) as ws, ws.session() as s:
        from sqlalchemy import select

        from crmscore.store.appdb import AuditEvent

        actions = [(e.action, e.target, e.source) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == [("user_create", "li", "cli"), ("user_create", "wang", "cli"), ("user_change", "li", "cli")]


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "boss", "--scope", "self"], "role: must be one of"),
    (["--role", "rep", "--scope", "self"], "owner_id: scope 'self' needs"),
    (["--role", "rep", "--scope", "department", "--password", "x"], "department: scope 'department' needs"),
])
def test_users_add_rejects_bad_fields(tmp_path: Path, args: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    Workspace.init(tmp_path / "w").close()
    from crmscore.cli.main import run

    with pytest.raises(SystemExit) as exc:
        run(["users", "add", "x1", *args, "--password", "long password", "-w", str(tmp_path / "w")])
    assert exc.value.code == 1
    assert message in capsys.readouterr().err.replace("\n", " ")


def test_serve_refuses_a_workspace_served_elsewhere(tmp_path: Path) -> None:
    import socket
    import subprocess

    Workspace.init(tmp_path / "w").close()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "w" / "server.lock").write_text(json.dumps(
            {"pid": sleeper.pid, "hostname": socket.gethostname(), "url": "http://127.0.0.1:9999"}))
        result = runner.invoke(app, ["serve", "-w", str(tmp_path / "w"), "--port", "9998"])
        assert result.exit_code != 0
        assert "in use by the server at http://127.0.0.1:9999" in str(result.exception)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_serve_releases_its_lock_on_sigterm(tmp_path: Path) -> None:
    """A real `crmscore serve` process stopped by SIGTERM (as service managers stop it) leaves no lock."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    Workspace.init(tmp_path / "w").close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "crmscore.cli.main", "serve", "-w", str(tmp_path / "w"),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert proc.poll() is None, "the server exited early"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert (tmp_path / "w" / "server.lock").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "w" / "server.lock").exists()
