"""The registry of trusted model bundles: the bundle identities (sha256 of manifest.json) an admin
has vouched for. A server loads only registered bundles; `techscore bundle trust|untrust|list` and
`techscore train` (for the served model) edit the file, under a lock, atomically."""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from models.bundle import _HEX64, BundleError, atomic_write_bytes, load_bundle

DEFAULT_TRUSTED_FILE = Path("var/trusted_bundles.json")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock beside `path` (read-modify-write by concurrent commands)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_trusted(path: Path) -> dict[str, dict[str, Any]]:
    """sha256 → entry of every trusted bundle; empty when the file does not exist."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"the trusted-bundles registry cannot be read: {exc}") from exc
    entries = data.get("bundles") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("sha256"), str)
                                               and _HEX64.fullmatch(e["sha256"]) for e in entries):
        raise BundleError("the trusted-bundles registry is malformed (expected {\"bundles\": [{\"sha256\": …}]})")
    return {e["sha256"]: e for e in entries}


def _write(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    payload = {"bundles": list(entries.values())}
    atomic_write_bytes(Path(path), json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8"))


def trust_bundle(path: Path, directory: Path, note: str = "") -> dict[str, Any]:
    """Verify the bundle at `directory` loads and scores, then register its identity; return the entry."""
    from models.scoring import Scorer  # pandas and the policy: only when registering

    bundle, manifest = load_bundle(directory)
    try:
        Scorer(bundle)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise BundleError(f"{directory} holds no usable model: {type(exc).__name__}: {exc}") from exc
    entry = {"sha256": manifest["bundle_sha256"], "version": manifest["version"],
             "registered_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "source": str(Path(directory).resolve()), "note": note}
    with file_lock(path):
        entries = read_trusted(path)
        entries[entry["sha256"]] = entries.get(entry["sha256"], entry)  # registering twice keeps the first entry
        _write(path, entries)
    return entries[entry["sha256"]]


def untrust_bundle(path: Path, sha256: str) -> dict[str, Any]:
    """Remove a bundle (by full sha256 or a unique prefix of 8+ characters); return its entry."""
    with file_lock(path):
        entries = read_trusted(path)
        hits = [s for s in entries if len(sha256) >= 8 and s.startswith(sha256.lower())]
        if len(hits) != 1:
            raise BundleError(f"{sha256!r} matches {len(hits)} registered bundles (give 8+ characters of one)")
        entry = entries.pop(hits[0])
        _write(path, entries)
    return entry
