"""Persistence: SQLAlchemy Core over SQLite (WAL, default) or PostgreSQL (asyncpg)."""

from .db import Store, WriteOp, rows_to_dicts
from .repo import Repo

__all__ = ["Repo", "Store", "WriteOp", "rows_to_dicts"]
