"""Versioned model bundle: one joblib file plus a manifest that pins its sha256."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib

from models.explain import AdditiveTables

if TYPE_CHECKING:  # LightGBM (and the scikit-learn it imports) load only when a booster is asked for
    import lightgbm as lgb

BUNDLE_FORMAT = "techscore-bundle/1"
BUNDLE_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
DEFAULT_MODEL_DIR = Path(os.environ.get("TECHSCORE_MODEL_DIR", "var/model"))


class BundleError(RuntimeError):
    """A bundle is missing, tampered with, or not a TechScore bundle."""


@dataclass
class ModelBundle:
    """Everything scoring needs; `training` builds it, `models.scoring` reads it."""

    version: str
    booster_model: str  # LightGBM model text: portable and inspectable, unlike a pickled Booster
    feature_names: list[str]
    calibration: dict[str, float]  # Platt: logit(PD) = a × raw + b
    scale: dict[str, float]
    stage_medians: dict[str, list[float]]  # per stage, per indicator (reason texts)
    dimension_reference: dict[str, list[list[float]]]  # per stage: quantiles × dimensions (ratings)
    metrics: dict[str, Any]
    data_fingerprint: str
    created_at: str
    library_versions: dict[str, str]
    extras: dict[str, Any] = field(default_factory=dict)
    format: str = BUNDLE_FORMAT

    def booster(self) -> lgb.Booster:
        import lightgbm as lgb

        return lgb.Booster(model_str=self.booster_model)

    def tables(self) -> AdditiveTables:
        return AdditiveTables.from_booster(self.booster())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def manifest_of(bundle: ModelBundle, sha256: str) -> dict[str, Any]:
    return {
        "format": bundle.format,
        "version": bundle.version,
        "bundle_file": BUNDLE_FILE,
        "sha256": sha256,
        "data_fingerprint": bundle.data_fingerprint,
        "created_at": bundle.created_at,
        "indicators": bundle.feature_names,
        "metrics": bundle.metrics,
        "library_versions": bundle.library_versions,
        "champion": bundle.extras.get("champion", "lightgbm_additive"),
    }


def save_bundle(bundle: ModelBundle, directory: Path) -> dict[str, Any]:
    """Write model.joblib then manifest.json (each atomically); return the manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{BUNDLE_FILE}.")
    os.close(fd)
    try:
        joblib.dump(bundle, tmp, compress=3)
        digest = _sha256(Path(tmp))
        os.replace(tmp, directory / BUNDLE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    manifest = manifest_of(bundle, digest)
    atomic_write_bytes(directory / MANIFEST_FILE, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"no model at {directory}: {MANIFEST_FILE} not found (train one with `techscore train -o {directory}`)") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path} is not a TechScore bundle (format {manifest.get('format')!r}, expected {BUNDLE_FORMAT!r})")
    return manifest


def load_bundle(directory: Path) -> tuple[ModelBundle, dict[str, Any]]:
    """Verify the sha256 pinned by the manifest, then load; refuse anything else."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    path = directory / manifest.get("bundle_file", BUNDLE_FILE)
    if not path.is_file():
        raise BundleError(f"bundle file {path} is missing")
    digest = _sha256(path)
    if digest != manifest.get("sha256"):
        raise BundleError(f"sha256 mismatch for {path}: manifest pins {manifest.get('sha256')}, file has {digest} — refusing to load a modified bundle")
    bundle = joblib.load(path)
    if not isinstance(bundle, ModelBundle) or bundle.format != BUNDLE_FORMAT or bundle.version != manifest.get("version"):
        raise BundleError(f"{path} does not hold the TechScore bundle its manifest describes")
    return bundle, manifest
