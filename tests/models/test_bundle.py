import json
import shutil

import pytest

from models.bundle import BUNDLE_FILE, MANIFEST_FILE, BundleError, load_bundle


@pytest.fixture
def copy(model_dir, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(model_dir, dst)
    return dst


def test_round_trip_keeps_version_and_manifest(copy, trained):
    bundle, manifest = load_bundle(copy)
    assert bundle.version == trained.bundle.version == manifest["version"]
    assert manifest["indicators"] == bundle.feature_names
    assert len(manifest["sha256"]) == 64 and manifest["data_fingerprint"]
    assert {"lightgbm", "scikit-learn", "pandas", "python"} <= set(manifest["library_versions"])
    assert (copy / "metrics.json").is_file()


def test_tampered_bundle_is_refused(copy):
    path = copy / BUNDLE_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(copy)


def test_foreign_manifest_is_refused(copy):
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["format"] = "someone-else/3"
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a TechScore bundle"):
        load_bundle(copy)


def test_missing_model_names_the_directory(tmp_path):
    with pytest.raises(BundleError, match="no model at"):
        load_bundle(tmp_path / "nowhere")
