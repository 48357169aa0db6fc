"""The SQL store: tables derived from the SDL, safe migrations, engines for SQLite and PostgreSQL."""

from .engine import create_store_engine, is_sqlite
from .migrate import migrate
from .tables import StoreTables, build_tables

__all__ = ["StoreTables", "build_tables", "create_store_engine", "is_sqlite", "migrate"]
