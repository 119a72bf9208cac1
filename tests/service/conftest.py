"""API fixtures: one app per module on the session's trained model, with an officer, a second officer and an admin."""
from __future__ import annotations

import contextlib
import functools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.auth import create_key
from service.api.settings import Settings


@dataclass
class Keys:
    officer: str
    other_officer: str
    admin: str

    def h(self, who: str = "officer") -> dict[str, str]:
        return {"X-API-Key": getattr(self, who)}


@pytest.fixture(scope="module")
def api_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def keys(api_dir) -> Keys:
    path = api_dir / "keys.json"
    return Keys(create_key(path, "officer", "officer-1")[1], create_key(path, "officer", "officer-2")[1],
                create_key(path, "admin", "admin-1")[1])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def audit_backend(request, api_dir) -> Iterator[str]:
    """The API's audit store: every module of API tests runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{api_dir / 'audit.db'}"
    else:
        with pg_schema() as url:
            yield url


@pytest.fixture(scope="module")
def settings(api_dir, keys, model_dir, audit_backend) -> Settings:
    return Settings(model_dir=model_dir, database_url=audit_backend,
                    keys_file=api_dir / "keys.json", batch_limit=5, max_body_bytes=64 * 1024,
                    max_upload_bytes=2 * 1024 * 1024)


@pytest.fixture(scope="module")
def client(settings) -> TestClient:
    with TestClient(create_app(settings)) as c:
        yield c


# ---- PostgreSQL: the store and API tests run against SQLite and a real server (skipped without one) ----
PG_BASE_ENV = "TECHSCORE_TEST_PG"  # a server URL to use instead of the local one


@functools.cache
def pg_base() -> str | None:
    """URL of a reachable PostgreSQL database (trust auth on 127.0.0.1:5432, database `test`), or None."""
    import psycopg

    candidates = [os.environ[PG_BASE_ENV]] if os.environ.get(PG_BASE_ENV) else [
        f"postgresql+psycopg://{user}@127.0.0.1:5432/test" for user in ("postgres", "root")]
    for url in candidates:
        try:
            psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3).close()
            return url
        except psycopg.Error:
            continue
    return None


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A URL whose tables live in a fresh schema of their own, dropped afterwards (so concurrent
    runs never meet); its connections carry the schema's name, to be ended before the drop."""
    import psycopg

    base = pg_base()
    if base is None:
        pytest.skip("no PostgreSQL server reachable on 127.0.0.1:5432 (database test)")
    schema = f"ts_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = base.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
                         "AND pid <> pg_backend_pid()", (schema,))
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request, tmp_path) -> Iterator[str]:
    """An empty audit store's URL, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        with pg_schema() as url:
            yield url
