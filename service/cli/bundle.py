"""`techscore bundle trust | untrust | list | convert`: the trusted-bundles registry."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from models.bundle import BundleError
from service.cli.common import _fail, console, err_console

bundle_app = typer.Typer(no_args_is_help=True, help="Model bundles: the registry of trusted bundles, and converting old ones.")


_TRUSTED_OPTION = typer.Option(None, "--registry", help="Trusted-bundles file (default TECHSCORE_TRUSTED_BUNDLES_FILE)")


def _registry(path: Optional[Path]) -> Path:
    from service.api.settings import Settings

    return path or Settings.from_env().trusted_bundles_file


@bundle_app.command("trust")
def bundle_trust(directory: Path = typer.Argument(..., help="Bundle directory to register"),
                 note: str = typer.Option("", "--note", help="Why it is trusted (kept in the registry)"),
                 registry: Optional[Path] = _TRUSTED_OPTION) -> None:
    """Verify a bundle and register its identity (sha256 of manifest.json): the server may then load it."""
    from models.trust import trust_bundle

    path = _registry(registry)
    try:
        entry = trust_bundle(path, directory, note)
    except BundleError as exc:
        _fail(str(exc))
    err_console.print(f"trusted bundle {entry['version']} in {path}:")
    print(entry["sha256"])


@bundle_app.command("untrust")
def bundle_untrust(sha256: str = typer.Argument(..., help="Bundle sha256 (or 8+ leading characters)"),
                   registry: Optional[Path] = _TRUSTED_OPTION) -> None:
    """Remove a bundle from the registry: servers refuse to load it from then on (the served model stays)."""
    from models.trust import untrust_bundle

    path = _registry(registry)
    try:
        entry = untrust_bundle(path, sha256)
    except BundleError as exc:
        _fail(str(exc))
    err_console.print(f"bundle {entry['sha256']} ({entry.get('version')}) is no longer trusted in {path}")


@bundle_app.command("list")
def bundle_list(registry: Optional[Path] = _TRUSTED_OPTION) -> None:
    """The trusted bundles: sha256, version, when and from where they were registered."""
    from models.trust import read_trusted

    path = _registry(registry)
    try:
        entries = read_trusted(path)
    except BundleError as exc:
        _fail(str(exc))
    err_console.print(f"{len(entries)} trusted bundle(s) in {path} (sha256, version, registered, source, note):")
    for e in entries.values():  # one tab-separated line each: full hashes, for scripts and eyes alike
        print("\t".join(str(e.get(k, "")) for k in ("sha256", "version", "registered_at", "source", "note")))


@bundle_app.command("convert")
def bundle_convert(old: Path = typer.Argument(..., help="Old joblib bundle directory (format 1)"),
                   new: Path = typer.Argument(..., help="Directory for the converted bundle"),
                   trust: bool = typer.Option(False, "--trust", help="Also register the converted bundle as trusted"),
                   registry: Optional[Path] = _TRUSTED_OPTION) -> None:
    """Convert an old joblib bundle to the JSON format. This unpickles OLD: run it only on a bundle you trust."""
    from models.bundle import convert_joblib_bundle

    if new.exists() and any(new.iterdir()):
        _fail(f"{new} is not empty; convert into a new directory")
    try:
        manifest = convert_joblib_bundle(old, new)
    except BundleError as exc:
        _fail(str(exc))
    console.print(f"converted model {manifest['version']} → {new} (bundle sha256 {manifest['bundle_sha256']})")
    if trust:
        bundle_trust(new, "converted from a joblib bundle", registry)
