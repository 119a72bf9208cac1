"""The what-if and next-grade commands, and --policy on score."""
from __future__ import annotations

import json

import pandas as pd
import yaml
from typer.testing import CliRunner

from features.schema import FirmProfile, example_profiles
from features.validate import profiles_to_columns
from models.policy import DEFAULT_POLICY_PATH, POLICY_ENV
from models.scaling import GRADES
from service.cli.main import app

runner = CliRunner()


def _profile_file(tmp_path, profile: dict):
    path = tmp_path / "firm.json"
    path.write_text(json.dumps(profile, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_what_if_prints_old_and_new(model_dir, scorer, tmp_path):
    growth = example_profiles()["growth"]
    res = runner.invoke(app, ["what-if", _profile_file(tmp_path, growth), "--model", str(model_dir), "--json",
                              "--change", "tax_grade=B", "--change", "paid_in_capital==registered_capital",
                              "--change", "rd_staff=+2", "--change", "staff_total=+2"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    changed = growth | {"tax_grade": "B", "rd_staff": 50, "staff_total": 167}
    batch = scorer.score(profiles_to_columns([FirmProfile.model_validate(changed)]))
    assert out["after"]["score"] == batch.score[0] and out["after"]["limit"] == batch.recommendations.limit[0]
    table = runner.invoke(app, ["what-if", _profile_file(tmp_path, growth), "--model", str(model_dir),
                                "--change", "tax_grade=B"])
    assert table.exit_code == 0 and "What-if for" in table.stdout and "points" in table.stdout


def test_what_if_errors_exit_2_naming_the_field(model_dir, tmp_path):
    path = _profile_file(tmp_path, example_profiles()["growth"])
    res = runner.invoke(app, ["what-if", path, "--model", str(model_dir), "--change", "rd_staff=+500"])
    assert res.exit_code == 2 and "rd_staff_le_staff" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["what-if", path, "--model", str(model_dir), "--change", "rd_staff"])
    assert res.exit_code == 2 and "write FIELD=CHANGE" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    res = runner.invoke(app, ["what-if", str(bad), "--model", str(model_dir), "--change", "rd_staff=+1"])
    assert res.exit_code == 2 and "must be one JSON object" in res.output


def test_next_grade_path_rescored_reaches_the_grade(model_dir, scorer, tmp_path):
    startup = example_profiles()["startup"]
    res = runner.invoke(app, ["next-grade", _profile_file(tmp_path, startup), "--model", str(model_dir), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["reachable"]
    batch = scorer.score(profiles_to_columns([FirmProfile.model_validate(startup | out["changes"])]))
    assert GRADES.index(batch.grade[0]) < GRADES.index(out["current"]["grade"])
    table = runner.invoke(app, ["next-grade", _profile_file(tmp_path, startup), "--model", str(model_dir)])
    assert table.exit_code == 0 and "Path to the next grade" in table.stdout


def test_policy_option_applies_to_every_command(model_dir, tmp_path, portfolio, monkeypatch):
    monkeypatch.setenv(POLICY_ENV, "")  # the option sets the variable; restored after the test
    src = tmp_path / "firms.csv"
    portfolio.head(20).to_csv(src, index=False)
    broken = tmp_path / "broken.yaml"
    broken.write_text("policy_version: b1\ncaps: {startup: 0}\n", encoding="utf-8")
    res = runner.invoke(app, ["--policy", str(broken), "score", str(src), "-o", str(tmp_path / "out.csv"),
                              "--model", str(model_dir)])
    assert res.exit_code == 2 and "caps.startup: must be > 0" in res.output
    assert not (tmp_path / "out.csv").exists()
    bank = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")) | {"policy_version": "bank-9"}
    good = tmp_path / "bank.yaml"
    good.write_text(yaml.safe_dump(bank, allow_unicode=True), encoding="utf-8")
    res = runner.invoke(app, ["--policy", str(good), "score", str(src), "-o", str(tmp_path / "out.csv"),
                              "--model", str(model_dir)])
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(tmp_path / "out.csv")["policy_version"]) == {"bank-9"}
