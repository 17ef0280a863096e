"""The demo workspace: synthetic CRM data from the package's generator, imported through the real importers,
scored once, with demo users for every role. Works offline."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crmscore.services.snapshots import SnapshotInfo, latest_snapshot
from crmscore.workspace import Workspace

__all__ = ["DEMO_USERS", "DemoResult", "build_demo"]

# Import order matters: owners and customers before the tables that refer to them. Order lines are left out:
# a line file derives its orders, and the generated orders already carry their status and amount.
_IMPORT_ORDER = ("owners", "customers", "products", "orders", "invoices", "surveys", "tickets",
                 "opportunities", "interactions")
# (username, password, role, scope, owner_id, department, configure scoring, personal data)
DEMO_USERS = (
    ("admin", "admin-demo-pass", "admin", "company", None, None, True, True),
    ("manager", "manager-demo-pass", "manager", "department_tree", None, "Sales", True, True),
    ("analyst", "analyst-demo-pass", "analyst", "company", None, None, False, False),
    ("rep", "rep-demo-pass", "rep", "self", "U0001", None, False, True),
)


@dataclass
class DemoResult:
    workspace: Path
    snapshot: SnapshotInfo | None
    imported: dict[str, int]
    created: bool


def build_demo(path: Path, customers: int = 2000, seed: int = 42,
               progress: Callable[[str], None] | None = None) -> DemoResult:
    """Create (or reuse) the demo workspace at ``path``: generate, import, score, add demo users."""
    from crmscore.ingest import import_file
    from crmscore.services.pipeline import run_scoring
    from crmscore.synth import write

    say = progress or (lambda _msg: None)
    ws = Workspace.init(path)
    try:
        existing = latest_snapshot(ws.warehouse)
        if existing is not None:
            return DemoResult(ws.path, existing, {}, created=False)
        imported: dict[str, int] = {}
        with tempfile.TemporaryDirectory(prefix="crmscore-demo-") as tmp:
            say(f"generating {customers:,} synthetic customers (seed {seed})")
            write(tmp, customers, seed=seed)
            for name in _IMPORT_ORDER:
                file = Path(tmp) / f"{name}.csv"
                if not file.exists():
                    continue
                say(f"importing {name}")
                report = import_file(ws, name.replace("_", "-"), file, write_files=False)
                imported[name] = report.inserted
        say("scoring")
        snapshot = run_scoring(ws, created_by="demo")
        _add_demo_users(ws)
        return DemoResult(ws.path, snapshot, imported, created=True)
    finally:
        ws.close()


def _add_demo_users(ws: Workspace) -> None:
    from crmscore.app.users import create_user, find_user

    with ws.session() as session:
        for username, password, role, scope, owner_id, department, configure, personal in DEMO_USERS:
            if find_user(session, username) is None:
                create_user(session, username, password, role=role, scope=scope, owner_id=owner_id,
                            department=department, can_configure_scoring=configure,
                            can_view_personal_data=personal)
        session.commit()
