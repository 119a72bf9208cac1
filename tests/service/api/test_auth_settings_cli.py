"""API keys, settings from the environment, and the `techscore keys` / `serve` commands."""
from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from service.api.auth import KeyRing, create_key, read_keys
from service.cli.main import app as cli
from service.api.settings import Settings


def test_keys_file_holds_only_hashes(tmp_path):
    path = tmp_path / "keys.json"
    key, secret = create_key(path, "admin", "ops")
    text = path.read_text()
    assert secret not in text and secret.startswith("ts_") and len(secret) > 40
    [stored] = json.loads(text)["keys"]
    assert stored == {"id": "ops", "role": "admin", "sha256": hashlib.sha256(secret.encode()).hexdigest(),
                      "created_at": stored["created_at"]} and key.created_at == stored["created_at"]
    assert (path.stat().st_mode & 0o777) == 0o600
    with pytest.raises(ValueError, match="already exists"):
        create_key(path, "officer", "ops")
    with pytest.raises(ValueError, match="role"):
        create_key(path, "boss", "x")  # type: ignore[arg-type]


def test_keyring_finds_keys_and_sees_new_ones(tmp_path):
    path = tmp_path / "keys.json"
    ring = KeyRing(path)
    assert ring.lookup("ts_anything") is None and ring.lookup(None) is None
    _, s1 = create_key(path, "officer", "a")
    ring._checked = float("-inf")  # skip the 1 s re-check interval
    assert ring.lookup(s1).id == "a"
    _, s2 = create_key(path, "admin", "b")
    ring._checked = float("-inf")
    assert ring.lookup(s2).role == "admin" and ring.lookup(s1 + "x") is None


def test_malformed_keys_file_is_refused(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"id": "a", "role": "root", "sha256": "00"}]}))
    with pytest.raises(ValueError, match="role"):
        read_keys(path)


def test_settings_read_the_environment():
    s = Settings.from_env({"TECHSCORE_DATABASE_URL": "postgresql://db/ts", "TECHSCORE_BATCH_LIMIT": "50",
                           "TECHSCORE_MODEL_DIR": "/m", "OTHER": "x"})
    assert (s.database_url, s.batch_limit, str(s.model_dir)) == ("postgresql://db/ts", 50, "/m")
    assert Settings.from_env({}).database_url == "sqlite:///var/techscore.db"
    with pytest.raises(ValueError):
        Settings.from_env({"TECHSCORE_BATCH_LIMIT": "0"})


def test_cli_keys_create_prints_the_secret_once(tmp_path):
    path = tmp_path / "k.json"
    runner = CliRunner()
    r = runner.invoke(cli, ["keys", "create", "--role", "officer", "--id", "dev", "--keys-file", str(path)])
    assert r.exit_code == 0, r.output
    secret = r.output.strip().splitlines()[-1]
    assert KeyRing(path).lookup(secret).id == "dev"
    again = runner.invoke(cli, ["keys", "create", "--keys-file", str(path), "--if-none"])
    assert again.exit_code == 0 and "none created" in again.output
    assert len(read_keys(path)) == 1
    dup = runner.invoke(cli, ["keys", "create", "--id", "dev", "--keys-file", str(path)])
    assert dup.exit_code == 2 and "already exists" in dup.output
