"""API fixtures: one app per module on the session's trained model, with an officer, a second officer and an admin."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import create_key
from service.settings import Settings


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


@pytest.fixture(scope="module")
def settings(api_dir, keys, model_dir) -> Settings:
    return Settings(model_dir=model_dir, database_url=f"sqlite:///{api_dir / 'audit.db'}",
                    keys_file=api_dir / "keys.json", batch_limit=5, max_body_bytes=64 * 1024,
                    max_upload_bytes=2 * 1024 * 1024)


@pytest.fixture(scope="module")
def client(settings) -> TestClient:
    with TestClient(create_app(settings)) as c:
        yield c
