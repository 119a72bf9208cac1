"""`techscore db upgrade | current` and `audit archive`: the audit store's schema and retention."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from service.cli.common import _fail, console

db_app = typer.Typer(no_args_is_help=True, help="The audit store's database schema (Alembic migrations).")


_DB_URL = typer.Option(None, "--database-url", help="SQLAlchemy URL (default TECHSCORE_DATABASE_URL)")


def _db_url(url: Optional[str]) -> str:
    from service.api.settings import Settings

    return url or Settings.from_env().database_url


@db_app.command("upgrade")
def db_upgrade(database_url: Optional[str] = _DB_URL,
               revision: str = typer.Option("head", "--revision", help="Target revision")) -> None:
    """Apply the migrations the database lacks (the server also does this at start-up)."""
    from service.store.migrations import current, upgrade
    from service.store.audit import make_engine

    engine = make_engine(_db_url(database_url))
    try:
        before = current(engine)
        upgrade(engine, revision)
        console.print(f"audit store at revision {current(engine)} (was {before or 'empty'})")
    finally:
        engine.dispose()


@db_app.command("current")
def db_current(database_url: Optional[str] = _DB_URL) -> None:
    """Print the revision the database is at and the newest one this version knows."""
    from service.store.migrations import current, head
    from service.store.audit import make_engine

    engine = make_engine(_db_url(database_url))
    try:
        console.print(f"database {current(engine) or 'empty'}, code {head()}")
    finally:
        engine.dispose()


audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: archive and retention.")


@audit_app.command("archive")
def audit_archive(
    output: Path = typer.Option(..., "-o", "--output", help="Parquet file to write (not overwritten)"),
    before: Optional[datetime] = typer.Option(None, "--before", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
                                              help="Export the records made before this UTC date or time"),
    older_than_days: Optional[int] = typer.Option(None, "--older-than-days", min=1, help="…or older than this many days"),
    delete: bool = typer.Option(False, "--delete", help="Delete the exported records from the store once the file is safe"),
    database_url: Optional[str] = _DB_URL,
) -> None:
    """Export audit records to Parquet (input and answer as stored), optionally deleting them after."""
    from datetime import timedelta, timezone

    from service.store.archive import archive, exclusive
    from service.store.audit import AuditStore

    if (before is None) == (older_than_days is None):
        _fail("give exactly one of --before and --older-than-days")
    cut = before.replace(tzinfo=timezone.utc) if before else datetime.now(timezone.utc) - timedelta(days=older_than_days or 0)
    store = AuditStore(_db_url(database_url))
    try:
        with exclusive(store.engine) as mine:
            if not mine:
                _fail("another process is archiving this store; try again later")
            result = archive(store, cut, output, delete_after=delete)
    except FileExistsError as exc:
        _fail(str(exc))
    finally:
        store.close()
    if result.path is None:
        console.print(f"no audit records before {cut.isoformat()}; nothing written")
        return
    console.print(f"{result.records:,} records before {cut.isoformat()} → {result.path}"
                  + (f"; {result.deleted:,} deleted from the store" if delete else ""))
