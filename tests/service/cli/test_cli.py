import pandas as pd
from typer.testing import CliRunner

from models.decision import RECOMMENDATION_COLUMNS
from models.scoring import RESULT_COLUMNS
from service.cli.main import app

runner = CliRunner()


def test_generate_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (a, b):
        result = runner.invoke(app, ["generate", "--rows", "300", "--seed", "5", "-o", str(path)])
        assert result.exit_code == 0, result.output
    assert a.read_bytes() == b.read_bytes()


def test_score_writes_results_and_rejects(tmp_path, model_dir, portfolio):
    src = tmp_path / "in.csv"
    raw = portfolio.head(200).copy()
    raw.loc[3, "staff_total"] = 5
    raw.loc[3, "rd_staff"] = 9  # breaks rd_staff ≤ staff_total
    raw.to_csv(src, index=False)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", str(src), "-o", str(out), "--model", str(model_dir)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out, keep_default_na=False)
    assert tuple(scored.columns) == RESULT_COLUMNS + RECOMMENDATION_COLUMNS
    assert raw.loc[3, "firm_id"] not in set(scored["firm_id"])
    rejects = pd.read_csv(tmp_path / "out.rejects.csv")
    assert ((rejects["row"] == 3) & (rejects["field"] == "rd_staff") & (rejects["rule"] == "rd_staff_le_staff")).any()


def test_score_without_model_is_a_clear_error(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("firm_id\n", encoding="utf-8")
    result = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "o.csv"), "--model", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no model at" in result.output


def test_drift_on_a_file_with_no_valid_row_is_a_clear_error(tmp_path, model_dir):
    src = tmp_path / "bad.csv"
    src.write_text("firm_id,staff_total\nnot-a-code,-5\n", encoding="utf-8")
    result = runner.invoke(app, ["drift", "--model", str(model_dir), "--data", str(src)])
    assert result.exit_code == 2 and "no row" in result.output


def test_report_command_writes_html_and_pngs(tmp_path, model_dir):
    out = tmp_path / "rep" / "report.html"
    result = runner.invoke(app, ["report", "--model", str(model_dir), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert len(list(out.parent.glob("report.*.png"))) == 6


def test_generate_book_writes_a_foreign_schema_table(tmp_path):
    out = tmp_path / "book.csv"
    result = runner.invoke(app, ["generate-book", "--rows", "200", "--seed", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    book = pd.read_csv(out)
    assert len(book) == 200 and set(book["defaulted"].unique()) <= {0, 1}
    assert "firm_id" not in book.columns  # not the firm-profile schema
