"""A bundle whose training verdict is `release: not_ready` is not served without an admin override.

Training (training.release) writes the verdict into the bundle's metrics, which the manifest
carries. The service checks it wherever it loads a model (start-up and reload); an override is
allowed only explicitly (TECHSCORE_ALLOW_NOT_READY / `techscore serve --allow-not-ready` at
start-up, `override_not_ready` in an admin's reload request) and is recorded: one JSON line per
override in the settings' `release_overrides_file` (who, when, which model, which reasons), and
a warning in the log.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from models.bundle import BundleError

log = logging.getLogger(__name__)


class NotReadyError(BundleError):
    """The bundle's release verdict is not_ready and no override was given."""


def release_of(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The training's release verdict (bundles from before verdicts, and firm-profile ones, have none)."""
    return manifest.get("release") or (manifest.get("metrics") or {}).get("release")


def admit(manifest: dict[str, Any], directory: Path, override: bool, by: str, record_file: Path) -> dict[str, Any] | None:
    """Let a ready bundle through; refuse a not_ready one unless overridden, and record the override."""
    verdict = release_of(manifest)
    if not verdict or verdict.get("release") == "ready":
        return None
    reasons = verdict.get("reasons") or ["no reason recorded"]
    if not override:
        raise NotReadyError(f"model {manifest.get('version')} at {directory} is not ready for release: {'; '.join(reasons)}. "
                            "Serving it needs an explicit admin override (TECHSCORE_ALLOW_NOT_READY=1 or "
                            "`techscore serve --allow-not-ready`; or reload with override_not_ready: true) / "
                            "模型未通过发布检验，须管理员明确批准方可上线")
    record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "event": "release_override",
              "model_version": manifest.get("version"), "model_dir": str(directory), "by": by, "reasons": reasons}
    record_file = Path(record_file)
    record_file.parent.mkdir(parents=True, exist_ok=True)
    with open(record_file, "a", encoding="utf-8") as fh:  # append-only: one line per override
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.warning("model %s served although not ready for release (override by %s): %s", manifest.get("version"), by, "; ".join(reasons))
    return record
