"""Alembic migrations of the audit store, shipped in the package and applied on start-up
(`AuditStore`) or by `techscore db upgrade`.

A database made before migrations existed (tables created straight from the metadata) is
recognised by its `assessments` table without an `alembic_version` and stamped as the baseline
first, then upgraded like any other. On PostgreSQL an advisory lock serialises workers that start
together, so exactly one of them migrates.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

BASELINE = "0001"
_LOCK_KEY = 0x7EC5_A0D1  # pg_advisory_xact_lock id of the migration (any constant of our own)


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = conn
    return cfg


def _lock(conn: Connection) -> None:
    """On PostgreSQL, wait for other processes' migrations (held until the transaction ends)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


def head() -> str:
    """The newest revision this code knows."""
    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: not migrated yet)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (idempotent; safe when several processes start at once)."""
    if current(engine) == head() and revision == "head":
        return  # the usual start: nothing to lock or do
    with engine.begin() as conn:
        _lock(conn)
        names = set(inspect(conn).get_table_names())
        cfg = _config(conn)
        if "assessments" in names and "alembic_version" not in names:
            command.stamp(cfg, BASELINE)  # created by create_all before there were migrations
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to `revision` (the data converted back where a migration changed its form)."""
    with engine.begin() as conn:
        _lock(conn)
        command.downgrade(_config(conn), revision)
