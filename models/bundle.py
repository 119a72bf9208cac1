"""Versioned model bundle that cannot run code: LightGBM model text and JSON, pinned by a manifest.

A bundle directory holds exactly three files:

- `model.txt`   LightGBM's own text format (the booster, for reports and re-deriving tables);
- `bundle.json` every other field of `ModelBundle` (tables, calibration, catalogue, extras) as JSON;
- `manifest.json` format, version, metrics and the sha256 of each of the two files above.

Loading never unpickles anything: the files are read as bytes, hashed, and parsed as text/JSON.
The sha256 of `manifest.json` itself is the bundle's identity (`bundle_sha256`): it pins both
files, so a server that keeps a registry of trusted identities (models.trust) checks that one hash
before it parses a single byte. Old joblib bundles (format 1) are converted once, explicitly, by
`techscore bundle convert` (`convert_joblib_bundle`), the only code that still unpickles.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection

from models.explain import AdditiveTables

if TYPE_CHECKING:  # LightGBM (and the scikit-learn it imports) load only when a booster is asked for
    import lightgbm as lgb

BUNDLE_FORMAT = "techscore-bundle/2"
OLD_JOBLIB_FORMAT = "techscore-bundle/1"
MODEL_FILE = "model.txt"
DATA_FILE = "bundle.json"
BUNDLE_FILES = (MODEL_FILE, DATA_FILE)  # fixed names: a manifest cannot point anywhere else
MANIFEST_FILE = "manifest.json"
MAX_MANIFEST_BYTES = 64 << 20
MAX_FILE_BYTES = 1 << 30
DEFAULT_MODEL_DIR = Path(os.environ.get("TECHSCORE_MODEL_DIR", "var/model"))
_HEX64 = re.compile(r"[0-9a-f]{64}")


class BundleError(RuntimeError):
    """A bundle is missing, tampered with, untrusted, or not a TechScore bundle."""


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
    extras: dict[str, Any] = field(default_factory=dict)  # JSON only: catalogue, tables, drift bins, tabular spec
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


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def _plain(obj: Any) -> Any:
    """json.dumps fallback: numpy scalars and arrays become plain numbers and lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} cannot be stored in a bundle (JSON only)")


def _json_bytes(obj: Any) -> bytes:
    # Python's json writes floats with repr, so every float reads back bit for bit (NaN/Infinity included).
    return json.dumps(obj, ensure_ascii=False, default=_plain, indent=None, separators=(",", ":")).encode("utf-8")


def manifest_of(bundle: ModelBundle, files: dict[str, str]) -> dict[str, Any]:
    return {
        "format": bundle.format,
        "version": bundle.version,
        "files": files,
        "sha256": files[DATA_FILE],
        "data_fingerprint": bundle.data_fingerprint,
        "created_at": bundle.created_at,
        "indicators": bundle.feature_names,
        "metrics": bundle.metrics,
        "library_versions": bundle.library_versions,
        "champion": bundle.extras.get("champion", "lightgbm_additive"),
    }


def save_bundle(bundle: ModelBundle, directory: Path) -> dict[str, Any]:
    """Write model.txt, bundle.json, then manifest.json (each atomically); return the manifest
    with `bundle_sha256`, the identity an admin registers (the sha256 of manifest.json)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = {f.name: getattr(bundle, f.name) for f in fields(bundle) if f.name != "booster_model"}
    payloads = {MODEL_FILE: bundle.booster_model.encode("utf-8"), DATA_FILE: _json_bytes(data)}
    for name, payload in payloads.items():
        atomic_write_bytes(directory / name, payload)
    manifest = manifest_of(bundle, {name: sha256_bytes(p) for name, p in payloads.items()})
    raw = json.dumps(manifest, indent=2, ensure_ascii=False, default=_plain).encode("utf-8")
    atomic_write_bytes(directory / MANIFEST_FILE, raw)
    return manifest | {"bundle_sha256": sha256_bytes(raw)}


def _check_directory(directory: Path | str) -> Path:
    text = os.fspath(directory)
    if "\x00" in text:
        raise BundleError("the model directory contains a NUL byte")
    return Path(text)


def _read_capped(path: Path, limit: int) -> bytes:
    """A regular file's bytes (no symlink as the last component, no device, at most `limit` bytes)."""
    try:
        # no symlink as the last component; O_NONBLOCK: a FIFO planted as a bundle file cannot stall the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise BundleError(f"{path.name} cannot be read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BundleError(f"{path.name} is not a regular file")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise BundleError(f"{path.name} is larger than {limit:,} bytes")
    return data


def read_manifest_bytes(directory: Path) -> bytes:
    directory = _check_directory(directory)
    try:
        return _read_capped(directory / MANIFEST_FILE, MAX_MANIFEST_BYTES)
    except FileNotFoundError as exc:
        raise BundleError(f"no model at {directory}: {MANIFEST_FILE} not found "
                          f"(train one with `techscore train -o {directory}`)") from exc
    except (IsADirectoryError, NotADirectoryError) as exc:
        raise BundleError(f"no model at {directory}: {MANIFEST_FILE} is not a file") from exc


def bundle_sha256(directory: Path) -> str:
    """The bundle's identity: sha256 of its manifest.json (which pins every other file)."""
    return sha256_bytes(read_manifest_bytes(directory))


def parse_manifest(raw: bytes, where: str = MANIFEST_FILE) -> dict[str, Any]:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{where} must be a JSON object, not {type(manifest).__name__}")
    fmt = manifest.get("format")
    if fmt == OLD_JOBLIB_FORMAT:
        raise BundleError(f"{where} describes an old joblib bundle (format {fmt!r}), which is not loaded because "
                          "unpickling can run code; convert it once with `techscore bundle convert OLD NEW`")
    if fmt != BUNDLE_FORMAT:
        raise BundleError(f"{where} is not a TechScore bundle (format {fmt!r}, expected {BUNDLE_FORMAT!r})")
    files = manifest.get("files")
    if (not isinstance(files, dict) or set(files) != set(BUNDLE_FILES)
            or not all(isinstance(v, str) and _HEX64.fullmatch(v) for v in files.values())):
        raise BundleError(f"{where} must pin exactly {', '.join(BUNDLE_FILES)} by sha256 (`files`)")
    if not isinstance(manifest.get("version"), str):
        raise BundleError(f"{where} has no version")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    return parse_manifest(read_manifest_bytes(directory), str(Path(directory) / MANIFEST_FILE))


def _verified_file(directory: Path, name: str, expected: str) -> bytes:
    try:
        data = _read_capped(directory / name, MAX_FILE_BYTES)
    except FileNotFoundError as exc:
        raise BundleError(f"bundle file {name} is missing from {directory}") from exc
    digest = sha256_bytes(data)
    if digest != expected:
        raise BundleError(f"sha256 mismatch for {name}: manifest pins {expected}, file has {digest} "
                          "— refusing to load a modified bundle")
    return data


def _bundle_from(model_text: bytes, data_json: bytes, manifest: dict[str, Any]) -> ModelBundle:
    try:
        data = json.loads(data_json.decode("utf-8"))
        names = {f.name for f in fields(ModelBundle)} - {"booster_model"}
        if not isinstance(data, dict) or not set(data) <= names:
            raise ValueError("unexpected fields")
        bundle = ModelBundle(booster_model=model_text.decode("utf-8"), **data)
    except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
        raise BundleError(f"{DATA_FILE} does not hold a TechScore bundle: {exc}") from exc
    if bundle.format != BUNDLE_FORMAT or bundle.version != manifest["version"] or not isinstance(bundle.extras, dict):
        raise BundleError(f"{DATA_FILE} does not hold the TechScore bundle its manifest describes")
    return bundle


def load_bundle(directory: Path, trusted: Collection[str] | None = None) -> tuple[ModelBundle, dict[str, Any]]:
    """Load a bundle; with `trusted` (registered bundle_sha256 values), refuse any other before
    parsing anything. Every file is read once as bytes, checked against its pinned sha256, then
    parsed as text or JSON: nothing in a bundle can execute."""
    directory = _check_directory(directory)
    raw = read_manifest_bytes(directory)
    identity = sha256_bytes(raw)
    if trusted is not None and identity not in trusted:
        raise BundleError(f"bundle {identity} is not registered as trusted; an admin registers it with "
                          f"`techscore bundle trust DIR`")
    manifest = parse_manifest(raw, str(directory / MANIFEST_FILE))
    files = {name: _verified_file(directory, name, manifest["files"][name]) for name in BUNDLE_FILES}
    bundle = _bundle_from(files[MODEL_FILE], files[DATA_FILE], manifest)
    return bundle, manifest | {"bundle_sha256": identity}


def convert_joblib_bundle(old: Path, new: Path) -> dict[str, Any]:
    """Convert a format-1 bundle (model.joblib + manifest) to this format. This UNPICKLES `old`:
    run it only on a bundle you made or trust (it is the admin's explicit act, never a server's)."""
    old = _check_directory(old)
    try:
        manifest = json.loads((old / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{old / MANIFEST_FILE} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != OLD_JOBLIB_FORMAT:
        raise BundleError(f"{old} is not an old joblib bundle (format {OLD_JOBLIB_FORMAT!r})")
    name = manifest.get("bundle_file", "model.joblib")
    path = old / "model.joblib"
    if name != "model.joblib" or not path.is_file() or path.is_symlink():
        raise BundleError(f"{old} must hold its pickle as model.joblib (the manifest names {name!r})")
    if _sha256(path) != manifest.get("sha256"):
        raise BundleError(f"sha256 mismatch for {path}: refusing to convert a modified bundle")
    import joblib  # the one place a pickle is read: an explicit conversion of a bundle the admin vouches for

    try:
        obj = joblib.load(path)
    except Exception as exc:  # a truncated or foreign pickle: say so, do not crash
        raise BundleError(f"{path} cannot be read as a joblib bundle: {exc}") from exc
    if not all(hasattr(obj, f.name) for f in fields(ModelBundle) if f.name != "format") or obj.version != manifest.get("version"):
        raise BundleError(f"{path} does not hold the TechScore bundle its manifest describes")
    bundle = ModelBundle(**{f.name: getattr(obj, f.name) for f in fields(ModelBundle) if f.name != "format"})
    return save_bundle(bundle, new)

