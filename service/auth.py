"""API keys: stored only as sha256 hashes with an id and a role, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.bundle import atomic_write_bytes

Role = Literal["officer", "admin"]
ROLES: tuple[str, ...] = ("officer", "admin")
KEY_PREFIX = "ts_"
RECHECK_SECONDS = 1.0  # how often the keys file's mtime is looked at


@dataclass(frozen=True)
class ApiKey:
    """A key as the server knows it: never the secret itself."""
    id: str
    role: Role
    sha256: str


def hash_key(secret: str) -> str:
    """Hex sha256 of a presented key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def read_keys(path: Path) -> list[ApiKey]:
    """Keys from the JSON keys file ({"keys": [{id, role, sha256}, …]}); none when it does not exist."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    keys = [ApiKey(k["id"], k["role"], k["sha256"]) for k in data.get("keys", [])]
    bad = [k.id for k in keys if k.role not in ROLES or len(k.sha256) != 64]
    if bad:
        raise ValueError(f"{path}: keys {bad} need a role in {ROLES} and a 64-hex sha256")
    return keys


def create_key(path: Path, role: Role, key_id: str | None = None) -> tuple[ApiKey, str]:
    """Add a new random key to the keys file (atomically, mode 0600); return it and its one-time secret."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    keys = read_keys(path)
    key_id = key_id or f"{role}-{secrets.token_hex(4)}"
    if any(k.id == key_id for k in keys):
        raise ValueError(f"a key with id {key_id!r} already exists in {path}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(key_id, role, hash_key(secret))
    payload = {"keys": [k.__dict__ for k in keys + [key]]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(payload, indent=2).encode("utf-8"))  # written 0600, like mkstemp
    return key, secret


class KeyRing:
    """The keys file, re-read when it changes so `techscore keys create` works on a running server."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._keys: list[ApiKey] = []
        self._checked = -RECHECK_SECONDS

    def _refresh(self) -> None:
        now = time.monotonic()
        if now < self._checked + RECHECK_SECONDS:
            return
        self._checked = now
        try:
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._keys, self._stamp = read_keys(self.path), stamp

    def lookup(self, secret: str | None) -> ApiKey | None:
        """The key matching `secret`; every stored hash is compared, in constant time."""
        if not secret:
            return None
        self._refresh()
        presented = hash_key(secret)
        found = None
        for key in self._keys:  # no early exit: the time taken does not depend on which key matched
            if hmac.compare_digest(presented, key.sha256):
                found = key
        return found
