"""The JSON bundle format: round trip, integrity, the trusted registry, and old joblib bundles."""
import hashlib
import json
import pickle
import shutil

import numpy as np
import pytest

from features.clean import CleanColumns
from models.bundle import (BUNDLE_FORMAT, DATA_FILE, MANIFEST_FILE, MODEL_FILE, BundleError, bundle_sha256,
                           convert_joblib_bundle, load_bundle, save_bundle)
from models.trust import read_trusted, trust_bundle, untrust_bundle


@pytest.fixture
def copy(model_dir, tmp_path):
    dst = tmp_path / "m"
    shutil.copytree(model_dir, dst)
    return dst


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_keeps_version_and_manifest(copy, trained):
    bundle, manifest = load_bundle(copy)
    assert bundle.version == trained.bundle.version == manifest["version"]
    assert manifest["indicators"] == bundle.feature_names
    assert len(manifest["sha256"]) == 64 and manifest["data_fingerprint"]
    assert {"lightgbm", "scikit-learn", "pandas", "python"} <= set(manifest["library_versions"])
    assert (copy / "metrics.json").is_file()
    assert manifest["files"] == {MODEL_FILE: _sha(copy / MODEL_FILE), DATA_FILE: _sha(copy / DATA_FILE)}
    assert manifest["bundle_sha256"] == _sha(copy / MANIFEST_FILE) == bundle_sha256(copy)


def test_bundle_is_text_and_json_only(copy):
    """No pickle anywhere: the directory holds LightGBM text and JSON documents, nothing else."""
    assert sorted(p.name for p in copy.iterdir()) == [DATA_FILE, MANIFEST_FILE, "metrics.json", MODEL_FILE]
    assert (copy / MODEL_FILE).read_text().startswith("tree")
    data = json.loads((copy / DATA_FILE).read_text())
    assert data["format"] == BUNDLE_FORMAT and "booster_model" not in data
    assert {"catalogue", "champion", "challenger", "scoring_tables", "drift_reference"} <= set(data["extras"])


def test_loaded_bundle_scores_bit_for_bit_like_the_trained_one(copy, trained, portfolio):
    from models.scoring import Scorer

    bundle, _ = load_bundle(copy)
    rows = Scorer(bundle).validate(portfolio.head(400)).frame
    a, b = Scorer(trained.bundle).score(CleanColumns.from_frame(rows)), Scorer(bundle).score(CleanColumns.from_frame(rows))
    assert np.array_equal(a.pd, b.pd) and np.array_equal(a.score, b.score)
    assert np.array_equal(a.dimension_points, b.dimension_points)
    assert bundle.extras == json.loads(json.dumps(trained.bundle.extras, default=lambda o: o.tolist()))


def test_generic_mode_bundle_round_trips(book_model):
    bundle, manifest = load_bundle(book_model / "model")
    assert bundle.extras["tabular"]["target"] == "defaulted" and manifest["champion"]


@pytest.mark.parametrize("name", [MODEL_FILE, DATA_FILE])
def test_tampered_file_is_refused(copy, name):
    path = copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(copy)


def test_truncated_file_with_a_matching_manifest_is_a_bundle_error(copy):
    """An attacker (or a bad copy) re-pins the truncated file: still a clean BundleError, never a crash."""
    data = (copy / DATA_FILE).read_bytes()[:1000]
    (copy / DATA_FILE).write_bytes(data)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["files"][DATA_FILE] = hashlib.sha256(data).hexdigest()
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="does not hold a TechScore bundle"):
        load_bundle(copy)


@pytest.mark.parametrize("content, message", [
    ("[]", "must be a JSON object"), ("{", "not valid JSON"), ('{"format": "someone-else/3"}', "not a TechScore bundle"),
    (json.dumps({"format": BUNDLE_FORMAT, "version": "x", "files": {"../../etc/passwd": "0" * 64}}), "must pin exactly"),
    (json.dumps({"format": "techscore-bundle/1", "bundle_file": "/tmp/evil.pkl"}), "bundle convert"),
])
def test_malformed_manifests_are_refused(copy, content, message):
    (copy / MANIFEST_FILE).write_text(content)
    with pytest.raises(BundleError, match=message):
        load_bundle(copy)


def test_missing_model_names_the_directory(tmp_path):
    with pytest.raises(BundleError, match="no model at"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="NUL"):
        load_bundle(str(tmp_path) + "\x00x")


def test_symlinked_file_is_refused(copy, tmp_path):
    (tmp_path / "elsewhere.json").write_bytes((copy / DATA_FILE).read_bytes())
    (copy / DATA_FILE).unlink()
    (copy / DATA_FILE).symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(BundleError, match="cannot be read"):
        load_bundle(copy)


class _Bomb:
    """A pickle that would create a file if it were ever unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_untrusted_bundle_is_refused_before_anything_is_parsed(copy, tmp_path):
    marker = tmp_path / "pwned"
    (copy / "model.joblib").write_bytes(pickle.dumps(_Bomb(marker)))
    (copy / MANIFEST_FILE).write_text(json.dumps({"format": "techscore-bundle/1", "bundle_file": "model.joblib",
                                                  "sha256": _sha(copy / "model.joblib"), "version": "x"}))
    with pytest.raises(BundleError, match="not registered"):
        load_bundle(copy, trusted=set())
    with pytest.raises(BundleError, match="bundle convert"):  # even trusted, format 1 is never unpickled on load
        load_bundle(copy, trusted={bundle_sha256(copy)})
    assert not marker.exists()


def test_registry_trusts_and_untrusts_by_manifest_hash(copy, tmp_path):
    registry = tmp_path / "trusted.json"
    entry = trust_bundle(registry, copy, "tested")
    assert entry["sha256"] == bundle_sha256(copy) and set(read_trusted(registry)) == {entry["sha256"]}
    load_bundle(copy, read_trusted(registry))
    untrust_bundle(registry, entry["sha256"][:10])
    with pytest.raises(BundleError, match="not registered"):
        load_bundle(copy, read_trusted(registry))
    registry.write_text("[1]")
    with pytest.raises(BundleError, match="malformed"):
        read_trusted(registry)


def test_convert_turns_an_old_joblib_bundle_into_json(trained, tmp_path):
    import joblib

    old = tmp_path / "old"
    old.mkdir()
    joblib.dump(trained.bundle, old / "model.joblib", compress=3)
    (old / MANIFEST_FILE).write_text(json.dumps({"format": "techscore-bundle/1", "version": trained.bundle.version,
                                                 "bundle_file": "model.joblib", "sha256": _sha(old / "model.joblib")}))
    manifest = convert_joblib_bundle(old, tmp_path / "new")
    bundle, loaded = load_bundle(tmp_path / "new", {manifest["bundle_sha256"]})
    assert bundle.version == trained.bundle.version and loaded["bundle_sha256"] == manifest["bundle_sha256"]
    (old / "model.joblib").write_bytes((old / "model.joblib").read_bytes()[:500])
    with pytest.raises(BundleError, match="sha256 mismatch"):
        convert_joblib_bundle(old, tmp_path / "newer")


def test_save_writes_manifest_last_and_returns_its_hash(trained, tmp_path):
    manifest = save_bundle(trained.bundle, tmp_path / "b")
    assert manifest["bundle_sha256"] == _sha(tmp_path / "b" / MANIFEST_FILE)


def test_a_fifo_or_a_directory_as_the_manifest_is_refused_without_blocking(tmp_path):
    import os

    fifo_dir, dir_dir = tmp_path / "fifo", tmp_path / "dir"
    fifo_dir.mkdir()
    os.mkfifo(fifo_dir / MANIFEST_FILE)
    (dir_dir / MANIFEST_FILE).mkdir(parents=True)
    for d in (fifo_dir, dir_dir):
        with pytest.raises(BundleError, match="not a regular file"):
            load_bundle(d)
