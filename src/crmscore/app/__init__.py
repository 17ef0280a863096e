"""The crmscore server: REST API with users, roles, data scope, field masking and an audit log.

Build it with :func:`create_app` (``crmscore serve`` runs it under uvicorn).
"""

from __future__ import annotations

from crmscore.app.server import create_app

__all__ = ["create_app"]
