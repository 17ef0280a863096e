"""The web dashboard: a single-page app under ``/app/`` over the REST API.

The page is plain HTML, CSS and ES modules from :data:`STATIC_DIR` (no Node.js at run time; Apache ECharts is
vendored under ``static/vendor/echarts``). Every number on the page comes from the REST API (``/api/...``);
this module only serves files. Routes:

- ``/app/`` (and any ``/app/<page>`` path): the app shell, ``index.html``; pages are addressed by the URL
  fragment (``/app/#/customers``), so a reload or a shared link opens the same page;
- ``/app/static/...``: the scripts, styles and vendored libraries (see :func:`mount`).

>>> import tempfile, pathlib
>>> from fastapi.testclient import TestClient
>>> from crmscore.app.server import create_app
>>> from crmscore.workspace import Workspace
>>> ws = Workspace.init(pathlib.Path(tempfile.mkdtemp()) / "ws")
>>> client = TestClient(create_app(ws))
>>> client.get("/", follow_redirects=False).headers["location"]
'/app/'
>>> page = client.get("/app/")
>>> page.status_code, "crmscore" in page.text, page.headers["cache-control"]
(200, True, 'no-cache')
>>> client.get("/app/static/js/app.js").headers["content-type"].split(";")[0]
'text/javascript'
>>> ws.close()
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

import crmscore

__all__ = ["STATIC_DIR", "mount", "router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = APIRouter()


def _shell() -> str:
    # The version string busts browser caches of the static files between releases.
    return (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace("{{version}}", crmscore.__version__)


def app_root(_request: Request) -> Response:
    return RedirectResponse("/app/")


def app_shell(_request: Request) -> Response:
    return HTMLResponse(_shell(), headers={"Cache-Control": "no-cache"})


# Plain routes, not API operations: they are pages, outside the OpenAPI document and the API's role matrix.
router.add_route("/app", app_root, methods=["GET"], include_in_schema=False)
router.add_route("/app/", app_shell, methods=["GET"], include_in_schema=False)


def mount(app: FastAPI) -> None:
    """Serve the dashboard's static files at ``/app/static``."""
    app.mount("/app/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
