"""API keys: stored only as sha256 hashes with an id and a role, compared in constant time.

`techscore keys create | list | revoke | rotate` edit the keys file (under a lock, atomically);
every worker's `KeyRing` re-reads it within RECHECK_SECONDS of a change, so a revoked key stops
working everywhere within a second. A keys file that cannot be read or parsed makes the ring fail
closed (every authenticated request 503, /readyz 503) until the file is fixed — never a mix of
old keys and errors.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

from models.bundle import atomic_write_bytes
from models.trust import file_lock

log = logging.getLogger(__name__)
Role = Literal["officer", "admin"]
ROLES: tuple[str, ...] = ("officer", "admin")
KEY_PREFIX = "ts_"
RECHECK_SECONDS = 1.0  # how often the keys file's stat is looked at: the most a revocation can lag


class KeyFileError(ValueError):
    """The keys file exists but cannot be read or is not a valid keys file."""


@dataclass(frozen=True)
class ApiKey:
    """A key as the server knows it: never the secret itself."""
    id: str
    role: Role
    sha256: str
    created_at: str | None = None
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(secret: str) -> str:
    """Hex sha256 of a presented key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _entry(raw: Any, path: Path) -> ApiKey:
    if not isinstance(raw, dict) or not all(isinstance(raw.get(f), str) for f in ("id", "role", "sha256")):
        raise KeyFileError(f"{path}: every key needs string fields id, role and sha256")
    optional = {f: raw.get(f) for f in ("created_at", "revoked_at")}
    if not all(v is None or isinstance(v, str) for v in optional.values()):
        raise KeyFileError(f"{path}: created_at and revoked_at must be text")
    return ApiKey(raw["id"], raw["role"], raw["sha256"], **optional)  # type: ignore[arg-type]


def read_keys(path: Path) -> list[ApiKey]:
    """Every key in the JSON keys file ({"keys": [{id, role, sha256, …}, …]}), revoked ones included;
    none when the file does not exist; KeyFileError (a ValueError) when it is unreadable or malformed."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise KeyFileError(f"{path} cannot be read as a keys file: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys", []), list):
        raise KeyFileError(f'{path}: expected {{"keys": [...]}}')
    keys = [_entry(k, path) for k in data.get("keys", [])]
    bad = [k.id for k in keys if k.role not in ROLES or len(k.sha256) != 64]
    if bad:
        raise KeyFileError(f"{path}: keys {bad} need a role in {ROLES} and a 64-hex sha256")
    if len({k.id for k in keys}) != len(keys):
        raise KeyFileError(f"{path}: key ids must be unique")
    return keys


def _write_keys(path: Path, keys: list[ApiKey]) -> None:
    payload = {"keys": [{k: v for k, v in asdict(key).items() if v is not None} for key in keys]}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(payload, indent=2).encode("utf-8"))  # written 0600, like mkstemp


def _new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(path: Path, role: Role, key_id: str | None = None) -> tuple[ApiKey, str]:
    """Add a new random key to the keys file (atomically, mode 0600); return it and its one-time secret."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    path = Path(path)
    with file_lock(path):
        keys = read_keys(path)
        key_id = key_id or f"{role}-{secrets.token_hex(4)}"
        if any(k.id == key_id for k in keys):
            raise ValueError(f"a key with id {key_id!r} already exists in {path}")
        secret = _new_secret()
        key = ApiKey(key_id, role, hash_key(secret), created_at=_now())
        _write_keys(path, keys + [key])
    return key, secret


def _change(path: Path, key_id: str, change: Callable[[ApiKey], ApiKey]) -> ApiKey:
    path = Path(path)
    with file_lock(path):
        keys = read_keys(path)
        hits = [i for i, k in enumerate(keys) if k.id == key_id]
        if not hits:
            raise ValueError(f"no key with id {key_id!r} in {path}")
        if not keys[hits[0]].active:
            raise ValueError(f"key {key_id!r} was revoked at {keys[hits[0]].revoked_at}")
        keys[hits[0]] = change(keys[hits[0]])
        _write_keys(path, keys)
    return keys[hits[0]]


def revoke_key(path: Path, key_id: str) -> ApiKey:
    """Mark a key revoked (kept in the file, so its id in the audit trail stays explained)."""
    return _change(path, key_id, lambda k: replace(k, revoked_at=_now()))


def rotate_key(path: Path, key_id: str) -> tuple[ApiKey, str]:
    """A new secret for an existing key id and role (its assessments stay its own); the old secret stops working."""
    secret = _new_secret()
    return _change(path, key_id, lambda k: replace(k, sha256=hash_key(secret), created_at=_now())), secret


class KeyRing:
    """The keys file's active keys, re-read when the file changes (looked at at most every `recheck` s,
    by `clock`, so `techscore keys …` takes effect on a running server within that time)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic, recheck: float = RECHECK_SECONDS):
        self.path = Path(path)
        self._clock, self._recheck = clock, recheck
        self._stamp: tuple[int, ...] | None = None
        self._keys: list[ApiKey] = []
        self._error: str | None = None
        self._checked = float("-inf")

    def _refresh(self) -> None:
        now = self._clock()
        if now < self._checked + self._recheck:
            return
        self._checked = now
        try:
            st = os.stat(self.path)
            stamp: tuple[int, ...] | None = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:  # e.g. a directory on the path lost its permissions
            self._fail(f"cannot stat the keys file: {exc}")
            return
        if stamp == self._stamp and self._error is None:
            return
        try:
            keys = [k for k in read_keys(self.path) if k.active]
        except KeyFileError as exc:
            self._fail(str(exc))
            return
        self._keys, self._stamp, self._error = keys, stamp, None

    def _fail(self, reason: str) -> None:
        if self._error is None:
            log.error("API keys unavailable, every authenticated request is refused: %s", reason)
        self._keys, self._stamp, self._error = [], None, reason

    def problem(self) -> str | None:
        """Why keys cannot be checked (None when they can); re-reads the file when it is due."""
        self._refresh()
        return self._error

    def lookup(self, secret: str | None) -> ApiKey | None:
        """The active key matching `secret`; every stored hash is compared, in constant time.
        Raises KeyFileError while the keys file is unreadable or malformed (fail closed)."""
        if not secret:
            return None
        self._refresh()
        if self._error is not None:
            raise KeyFileError(self._error)
        presented = hash_key(secret)
        found = None
        for key in self._keys:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(presented, key.sha256):
                found = key
        return found
