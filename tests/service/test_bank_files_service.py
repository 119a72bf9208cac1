"""Scoring the bank's own files end to end: the generated bank export (GBK CSV and .xlsx) with the
suggested mapping rejects exactly its planted rows, through the batch engine, the CLI and the API."""
from __future__ import annotations

import json
from datetime import date
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.io import sample_rows
from features.mapping import mapping_of, mapping_yaml, suggest_mapping
from models.scoring import Scorer
from service.batch.local_engine import rejects_path_for, score_file
from service.cli.main import app
from training.bank_export import bank_export, write_bank_export
from training.synthetic import generate, write_profiles

AS_OF = date(2026, 6, 30)
ROWS, SEED = 500, 21
runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("bank")
    exp = bank_export(ROWS, SEED, AS_OF)
    plain = write_profiles(generate(ROWS, SEED, AS_OF).drop(columns=["default_12m", "true_pd"]), folder / "plain.csv")
    return exp, write_bank_export(exp, folder / "export.csv"), write_bank_export(exp, folder / "export.xlsx"), plain


@pytest.fixture(scope="module")
def scorer(model_dir):  # type: ignore[no-untyped-def]
    from models.bundle import load_bundle

    return Scorer(load_bundle(model_dir)[0])


@pytest.mark.parametrize("which", [1, 2], ids=["gbk-csv", "xlsx"])
def test_scoring_the_export_with_the_suggested_mapping_rejects_exactly_the_planted_rows(
        files, scorer, tmp_path: Path, which: int) -> None:  # type: ignore[no-untyped-def]
    exp, src, plain = files[0], files[which], files[3]
    mapping = mapping_of(suggest_mapping(sample_rows(src)))
    out = tmp_path / "scored.csv"
    summary = score_file(scorer, src, out, AS_OF, mapping=mapping, workers=2)
    rejects = pd.read_csv(rejects_path_for(out))
    assert np.array_equal(np.unique(rejects["row"]), exp.planted_rows)
    assert summary.rows == ROWS and summary.rejected == len(exp.planted_rows)
    assert summary.normalised["enum:chinese_name"] > 0 and summary.normalised["unit:元"] > 0
    base = tmp_path / "plain_scored.csv"
    score_file(scorer, plain, base, AS_OF, workers=1)
    got, want = pd.read_csv(out), pd.read_csv(base)
    want = want[want["firm_id"].isin(got["firm_id"])].reset_index(drop=True)
    pd.testing.assert_series_equal(got["score"], want["score"])  # same firms, same scores


def test_cli_map_suggest_then_score_with_the_mapping(files, model_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    exp, src = files[0], files[2]
    yaml_path = tmp_path / "mapping.yaml"
    r = runner.invoke(app, ["map", "suggest", str(src), "-o", str(yaml_path)])
    assert r.exit_code == 0, r.output
    n = len(exp.text.columns)
    placed = re.search(r"(\d+) of (\d+) columns placed", r.output)
    assert placed and yaml_path.exists()
    assert int(placed[2]) == n and int(placed[1]) == len(exp.headers)  # every field placed; 序号 and 备注 left
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "s.csv"), "--model", str(model_dir), "--as-of",
                            "2026-06-30", "--mapping", str(yaml_path), "--quiet", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert f"{len(exp.planted_rows)} (" in r.output and "normalised enum:chinese_name" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  营业收入: revenue\n", encoding="utf-8")
    r = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "t.csv"), "--model", str(model_dir),
                            "--mapping", str(bad)])
    assert r.exit_code == 2 and "not a field" in r.output


def test_generate_bank_export_lists_its_planted_rows(tmp_path: Path) -> None:
    out = tmp_path / "e.xlsx"
    r = runner.invoke(app, ["generate", "--style", "bank-export", "--rows", "300", "--seed", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    planted = pd.read_csv(tmp_path / "e.planted.csv")
    assert set(planted.columns) == {"row", "field", "rule", "source"} and len(planted) >= 2


def test_api_upload_of_an_xlsx_with_a_mapping_is_scored_and_audited(files, client, keys) -> None:  # type: ignore[no-untyped-def]
    exp, src = files[0], files[2]
    text = mapping_yaml(suggest_mapping(sample_rows(src)))
    r = client.post("/v1/scores/csv", headers=keys.h(),
                    files={"file": ("export.xlsx", src.read_bytes(), "application/octet-stream"),
                           "mapping": ("mapping.yaml", text.encode(), "application/yaml")})
    assert r.status_code == 200, r.text
    table = pd.read_csv(pd.io.common.StringIO(r.text))
    assert len(table) == ROWS
    assert np.array_equal(np.flatnonzero(table["error"].notna()), exp.planted_rows)
    assert json.loads(r.headers["X-Normalised"])["enum:chinese_name"] > 0
    first = table["assessment_id"].dropna().iloc[0]
    stored = client.get(f"/v1/assessments/{first}", headers=keys.h()).json()
    assert stored["upload"]["mapping"] == text and "enum:chinese_name" in stored["upload"]["normalised"]
    r = client.post("/v1/scores/csv", headers=keys.h(), files={"file": ("export.xlsx", src.read_bytes()),
                                                                 "mapping": (None, "columns:\n  x: nope\n")})
    assert r.status_code == 422 and "not a field" in r.text
