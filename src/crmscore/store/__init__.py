"""The workspace's storage: the analytical warehouse (Ibis) and the transactional app database (SQLAlchemy)."""

from crmscore.store.warehouse import Warehouse

__all__ = ["Warehouse"]
