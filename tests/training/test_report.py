import base64
import json
import re

import pytest

from models.bundle import load_bundle
from training.report import FIGURES, fmt, write_report

METRIC = re.compile(r'data-metric="([^"]+)">([^<]*)<')


def _resolve(d, path):
    for part in path.split("."):
        d = d[int(part)] if isinstance(d, list) else d[part]
    return d


def _assert_numbers_match(text, numbers):
    cells = METRIC.findall(text)
    assert len(cells) > 100
    for path, shown in cells:
        assert shown == fmt(_resolve(numbers, path)), path


@pytest.fixture(scope="module")
def holdout_report(model_dir, tmp_path_factory):
    bundle, manifest = load_bundle(model_dir)
    out = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(bundle, manifest, out)


def test_holdout_report_numbers_equal_metrics_json(holdout_report, model_dir):
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    text = holdout_report.html.read_text(encoding="utf-8")
    _assert_numbers_match(text, metrics["validation"])
    v = metrics["validation"]
    assert v["champion"]["auc"] == pytest.approx(metrics["holdout"]["auc"], abs=1e-6)
    assert v["challenger_name"] in metrics["models"] and v["champion_name"] == metrics["champion"]
    for key in ("auc", "ks", "brier", "ece"):  # champion and challenger side by side
        assert f'data-metric="champion.{key}"' in text and f'data-metric="challenger.{key}"' in text


def test_report_is_self_contained_with_png_figures(holdout_report):
    text = holdout_report.html.read_text(encoding="utf-8")
    assert "src=\"http" not in text and "href=\"http" not in text
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(embedded) == len(FIGURES)
    files = {p.name.split(".")[1]: p.read_bytes() for p in holdout_report.pngs}
    assert set(files) == set(FIGURES)
    assert {base64.b64decode(e) for e in embedded} == set(files.values())
    assert all(b.startswith(b"\x89PNG") for b in files.values())


def test_validation_sections_are_sound(model_dir):
    v = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))["validation"]
    b = v["bootstrap"]
    assert b["auc_low"] < v["champion"]["auc"] < b["auc_high"] and b["ks_low"] < v["champion"]["ks"] < b["ks_high"]
    assert all(row["monotone"] for row in v["monotonicity"])  # the champion is constrained monotone
    assert v["ks_curve"]["ks"] == pytest.approx(v["champion"]["ks"], abs=0.005)  # same KS from scores (cent ties aside)
    assert sum(d["n"] for d in v["calibration"]) == v["sample"]["n"]
    for d in v["calibration"]:
        assert d["ci_low"] <= d["default_rate"] <= d["ci_high"]
    graded = [g for g in v["grades"] if g["count"]]
    assert sum(g["count"] for g in graded) == v["sample"]["n"]
    assert v["psi"]["score"]["status"] == "stable"  # holdout vs training rows of the same population


def test_report_on_a_file_writes_its_numbers(model_dir, portfolio, tmp_path):
    bundle, manifest = load_bundle(model_dir)
    files = write_report(bundle, manifest, tmp_path / "r.html", portfolio.tail(3000).reset_index(drop=True), "tail")
    numbers = json.loads(files.json.read_text(encoding="utf-8"))
    _assert_numbers_match(files.html.read_text(encoding="utf-8"), numbers)
    assert numbers["sample"]["n"] + numbers["sample"]["rejected"] == 3000


def test_report_on_unlabelled_data_skips_outcome_sections(model_dir, portfolio, tmp_path):
    bundle, manifest = load_bundle(model_dir)
    raw = portfolio.tail(1000).drop(columns=["default_12m"]).reset_index(drop=True)
    files = write_report(bundle, manifest, tmp_path / "u.html", raw, "unlabelled")
    numbers = json.loads(files.json.read_text(encoding="utf-8"))
    assert "champion" not in numbers and "psi" in numbers
    assert {p.name.split(".")[1] for p in files.pngs} == {"score_distribution", "importance", "psi"}


def test_manifest_records_the_champion(model_dir):
    _, manifest = load_bundle(model_dir)
    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    assert manifest["champion"] == metrics["champion"]
    best = max(metrics["models"], key=lambda k: (metrics["models"][k]["auc"], k == "lightgbm_additive"))
    assert manifest["champion"] == best
