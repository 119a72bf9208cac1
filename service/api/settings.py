"""Service configuration from TECHSCORE_* environment variables (pydantic-settings)."""
from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "TECHSCORE_"
MiB = 1 << 20
_GIVEN_ENVIRON: ContextVar[bool] = ContextVar("techscore_given_environ", default=False)


class Settings(BaseSettings):
    """Everything the API needs to start; each field reads TECHSCORE_<FIELD NAME IN CAPITALS>."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    model_dir: Path = Field(Path("var/model"), description="Model bundle directory served at start-up")
    database_url: str = Field("sqlite:///var/techscore.db", description="SQLAlchemy URL of the audit store "
                              "(SQLite file, or postgresql+psycopg://user@host/db shared by many workers)")
    # WAL + NORMAL: a commit has written the WAL (OS page cache) before it returns, so a record
    # answered 200 survives kill -9 of the server; only an OS crash or power cut can lose the last
    # commits. FULL also fsyncs the WAL on each (group) commit: power-cut safe, ~5 ms a commit here.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "NORMAL", description="SQLite WAL sync level: NORMAL survives a process crash, FULL also a power cut")
    audit_commit_timeout: float = Field(
        5.0, gt=0, description="Seconds a request waits for its audit commit; then 503 and no decision")
    audit_retention_days: int | None = Field(
        None, ge=1, description="Archive (Parquet) and delete audit records older than this; unset: keep all")
    audit_archive_dir: Path = Field(Path("var/audit-archive"), description="Where the retention writes its archives")
    keys_file: Path = Field(Path("var/api_keys.json"), description="API key hashes and roles")
    # Bundles the server may load (sha256 of each manifest.json); edited by `techscore bundle trust|untrust`.
    # The default reads the variable when a Settings is built directly, so every app of a process agrees.
    trusted_bundles_file: Path = Field(
        default_factory=lambda: Path(os.environ.get(ENV_PREFIX + "TRUSTED_BUNDLES_FILE", "var/trusted_bundles.json")),
        description="Registry of trusted model bundles (their manifest sha256)")
    models_root: Path | None = Field(
        None, description="POST /v1/model/reload loads only folders under this one (default: model_dir's parent)")
    batch_limit: int = Field(1000, ge=1, description="Most firms in one POST /v1/scores/batch")
    max_body_bytes: int = Field(16 * MiB, ge=1024, description="Largest JSON request body")
    max_upload_bytes: int = Field(64 * MiB, ge=1024, description="Largest CSV upload")
    max_upload_columns: int = Field(1000, ge=1, description="Most columns in a CSV upload's header (413 above)")
    max_upload_line_bytes: int = Field(64 * 1024, ge=1024, le=128 * 1024,
                                       description="Longest line of a CSV upload in bytes (413 above)")
    max_concurrent_uploads: int = Field(2, ge=1, description="CSV uploads received and scored at once (429 above)")
    cpu_threads: int = Field(1, ge=1, le=64, description="Worker threads scoring CSV uploads off the event loop")
    batch_processes: int = Field(1, ge=1, le=64, description="Worker processes scoring JSON batches "
                                                             "(POST /v1/scores/batch) apart from the event loop")
    allow_not_ready: bool = Field(False, description="Admin override: serve a bundle whose release verdict is not_ready (recorded)")
    release_overrides_file: Path = Field(Path("var/release_overrides.jsonl"), description="Where each release override is recorded")

    @property
    def reload_root(self) -> Path:
        return self.models_root if self.models_root is not None else self.model_dir.parent

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Settings":
        """Values from the environment (TECHSCORE_MODEL_DIR, TECHSCORE_DATABASE_URL, …), then overrides;
        `environ` instead of the process's environment when given (that mapping alone is read)."""
        if environ is None:
            return cls(**overrides)
        values = {name: environ[ENV_PREFIX + name.upper()] for name in cls.model_fields
                  if ENV_PREFIX + name.upper() in environ}
        token = _GIVEN_ENVIRON.set(True)
        try:
            return cls(**(values | overrides))
        finally:
            _GIVEN_ENVIRON.reset(token)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then TECHSCORE_* variables (not those of the process when `from_env` is given a mapping)."""
        return (init_settings,) if _GIVEN_ENVIRON.get() else (init_settings, env_settings)
