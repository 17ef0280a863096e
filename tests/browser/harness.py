"""Browser-test harness: a scored test workspace, a real uvicorn server in a thread, Debian's Chromium.

Used by ``tests/test_dashboard_*.py`` (loaded by path: the tests directory is not a package).
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import uvicorn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TABLE_ORDER = ("owners", "products", "customers", "orders", "order_lines", "invoices", "interactions", "surveys",
               "tickets", "opportunities")
USERS = {  # username: (password, fields)
    "admin": ("admin-password-1", {"role": "admin", "scope": "company", "can_configure_scoring": True,
                                   "can_view_personal_data": True}),
    "analyst": ("analyst-password-1", {"role": "analyst", "scope": "company", "can_configure_scoring": True}),
}


@dataclass
class TestWorkspace:
    path: Path
    rep: str
    rep_password: str
    rep_customers: set[str]
    customers: int
    first_as_of: dt.date


def chromium_available() -> bool:
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()


def build_workspace(path: Path, customers: int = 250, seed: int = 11) -> TestWorkspace:
    """Synthetic data in the warehouse, one scoring snapshot half a year before the data's end, and users:
    admin, analyst and one sales rep (scope 'self') owning some of the customers."""
    from crmscore.app.users import create_user
    from crmscore.services.pipeline import run_scoring
    from crmscore.synth import generate
    from crmscore.workspace import Workspace

    ws = Workspace.init(path)
    try:
        wh = ws.warehouse
        tables = generate(customers, seed=seed)
        for name in TABLE_ORDER:
            table = tables[name]
            columns = [c for c in wh.table(name).schema().names if c in table.column_names]
            wh.con.insert(name, ibis.memtable(table.select(columns)))
        owners = wh.table("customers").group_by("owner_id").aggregate(n=ibis._.count()).order_by(
            [ibis.desc("n"), "owner_id"]).to_pyarrow().to_pylist()
        rep_owner = next(o["owner_id"] for o in owners if o["owner_id"] is not None and o["n"] < customers / 2)
        c = wh.table("customers")
        mine = set(c.filter(c.owner_id == rep_owner).customer_id.to_pyarrow().to_pylist())
        first = dt.date(2024, 6, 30)
        run_scoring(ws, as_of=first, created_by="fixture")
        with ws.session() as s:
            for username, (password, fields) in USERS.items():
                create_user(s, username, password, **fields)
            create_user(s, "rep", "rep-password-1", role="rep", scope="self", owner_id=rep_owner)
            s.commit()
        return TestWorkspace(path=path, rep="rep", rep_password="rep-password-1", rep_customers=mine,
                             customers=customers, first_as_of=first)
    finally:
        ws.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(path: Path) -> Iterator[str]:
    """``crmscore``'s app on a free 127.0.0.1 port in a background thread; yields the base URL."""
    from crmscore.app.server import create_app

    port = free_port()
    config = uvicorn.Config(create_app(path), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="crmscore-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def wait_ready(page: Any, page_name: str, timeout: float = 60_000) -> None:
    """Wait until the single-page app has rendered ``page_name`` completely."""
    page.wait_for_selector(f'#view[data-page="{page_name}"][data-ready="true"]', timeout=timeout)


def login(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    wait_ready(page, "login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login-card button[type=submit]")
    wait_ready(page, "overview")


def chart_data(page: Any, name: str, series: int = 0) -> list[Any]:
    """The data of one series of the ECharts chart ``data-chart=name`` as drawn (JSON)."""
    result: list[Any] = page.evaluate(
        """([name, series]) => {
            const el = document.querySelector(`[data-chart="${name}"]`);
            const chart = el && echarts.getInstanceByDom(el);
            if (!chart) return null;
            const s = chart.getOption().series[series];
            return s.type === "sankey" ? s.links : s.data;
        }""", [name, series])
    return result


def canvas_has_pixels(page: Any, name: str) -> bool:
    """Whether the chart's canvas has any non-transparent pixel (it is not an empty canvas)."""
    return bool(page.evaluate(
        """(name) => {
            const canvas = document.querySelector(`[data-chart="${name}"] canvas`);
            if (!canvas || !canvas.width) return false;
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
            return false;
        }""", name))
