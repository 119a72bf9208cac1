"""`techscore keys create | list | revoke | rotate`: the API keys file."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from service.cli.common import _fail, console, err_console

keys_app = typer.Typer(no_args_is_help=True, help="API keys (stored only as sha256 hashes).")


@keys_app.command("create")
def keys_create(
    role: str = typer.Option("officer", "--role", help="officer (score, read own assessments) or admin"),
    key_id: Optional[str] = typer.Option(None, "--id", help="Key id recorded in the audit trail"),
    keys_file: Optional[Path] = typer.Option(None, "--keys-file", help="Keys file (default TECHSCORE_KEYS_FILE)"),
    if_none: bool = typer.Option(False, "--if-none", help="Do nothing when the file already holds a key of this role"),
) -> None:
    """Create an API key; the secret is printed once and only its hash is stored."""
    from service.api.auth import create_key, read_keys
    from service.api.settings import Settings

    path = keys_file or Settings.from_env().keys_file
    try:
        if if_none and any(k.role == role and k.active for k in read_keys(path)):
            err_console.print(f"{path} already holds an {role} key; none created")
            return
        key, secret = create_key(path, role, key_id)  # type: ignore[arg-type]
    except ValueError as exc:
        _fail(str(exc))
    err_console.print(f"created {key.role} key [bold]{key.id}[/] in {path}; keep the secret, only its hash is stored:")
    print(secret)  # alone on stdout, so scripts can capture it


def _keys_path(keys_file: Optional[Path]) -> Path:
    from service.api.settings import Settings

    return keys_file or Settings.from_env().keys_file


_KEYS_FILE_OPTION = typer.Option(None, "--keys-file", help="Keys file (default TECHSCORE_KEYS_FILE)")


@keys_app.command("list")
def keys_list(keys_file: Optional[Path] = _KEYS_FILE_OPTION,
              show_revoked: bool = typer.Option(True, "--revoked/--active-only", help="Also list revoked keys")) -> None:
    """List keys: id, role, created, revoked, and the first characters of the hash (never a secret)."""
    from service.api.auth import read_keys

    path = _keys_path(keys_file)
    try:
        keys = read_keys(path)
    except ValueError as exc:
        _fail(str(exc))
    table = Table(title=f"API keys in {path}")
    for col in ("id", "role", "status", "created", "revoked", "sha256"):
        table.add_column(col)
    for k in keys:
        if show_revoked or k.active:
            table.add_row(k.id, k.role, "active" if k.active else "revoked", k.created_at or "", k.revoked_at or "",
                          k.sha256[:12] + "…")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="Id of the key to revoke"),
                keys_file: Optional[Path] = _KEYS_FILE_OPTION) -> None:
    """Revoke a key: every running server refuses it within a second (the entry stays, marked revoked)."""
    from service.api.auth import revoke_key

    path = _keys_path(keys_file)
    try:
        key = revoke_key(path, key_id)
    except ValueError as exc:
        _fail(str(exc))
    err_console.print(f"revoked {key.role} key [bold]{key.id}[/] at {key.revoked_at} in {path}")


@keys_app.command("rotate")
def keys_rotate(key_id: str = typer.Argument(..., help="Id of the key to give a new secret"),
                keys_file: Optional[Path] = _KEYS_FILE_OPTION) -> None:
    """Give a key a new secret (same id and role, so its audit history stays its own); the old secret stops working."""
    from service.api.auth import rotate_key

    path = _keys_path(keys_file)
    try:
        key, secret = rotate_key(path, key_id)
    except ValueError as exc:
        _fail(str(exc))
    err_console.print(f"rotated {key.role} key [bold]{key.id}[/] in {path}; the old secret stops working within a second. New secret:")
    print(secret)
