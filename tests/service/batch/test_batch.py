"""Local streaming engine: rejects, reject-rate limit, encodings, formula safety, determinism, atomicity."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import features.io
from features.io import InputError
from features.schema import FIELD_SPECS
from models.bundle import load_bundle
from models.decision import RECOMMENDATION_COLUMNS
from models.scoring import RESULT_COLUMNS, Scorer
from service.batch.local_engine import RejectRateExceeded, score_file
from service.cli.main import app
from training.synthetic import write_profiles

AS_OF = date(2025, 6, 30)
runner = CliRunner()


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """~170 rows per CSV chunk, so a few thousand rows cross many chunk boundaries."""
    monkeypatch.setattr(features.io, "CSV_BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(features.io, "PARQUET_BATCH_ROWS", 500)


@pytest.fixture(scope="module")
def file_scorer(model_dir):
    return Scorer(load_bundle(model_dir)[0])


@pytest.fixture(scope="module")
def book(portfolio):
    """3,000 firms with three known bad rows far apart (different chunks)."""
    raw = portfolio.head(3000).copy().reset_index(drop=True)
    raw.loc[10, "staff_total"] = 5
    raw.loc[10, "rd_staff"] = 9  # rd_staff > staff_total
    raw["revenue_y0"] = raw["revenue_y0"].astype(object)
    raw.loc[1500, "revenue_y0"] = "lots"  # not a number
    raw.loc[2999, "firm_id"] = "=HYPERLINK(\"http://x\")"  # bad USCC, and a formula
    return raw


def _parquet_ready(raw: pd.DataFrame) -> pd.DataFrame:
    """The mixed text/number column as text (formatted as in the CSV), so Parquet can hold it."""
    fmt = lambda v: None if pd.isna(v) else v if isinstance(v, str) else f"{v:.12g}"  # noqa: E731
    return raw.assign(revenue_y0=raw["revenue_y0"].map(fmt))


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def test_bad_rows_go_to_rejects_with_input_positions(tmp_path, file_scorer, book):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_profiles(book, src)
    summary = score_file(file_scorer, src, out, AS_OF)
    rejects = _read(tmp_path / "out.rejects.csv")
    assert list(rejects.columns) == ["row", "firm_id", "field", "rule", "value", "message"]
    got = {(r.row, r.field, r.rule) for r in rejects.itertuples()}
    assert {(10, "rd_staff", "rd_staff_le_staff"), (1500, "revenue_y0", "type:number"),
            (2999, "firm_id", "uscc_check")} <= got
    line = rejects[rejects["row"] == 1500].iloc[0]
    assert line["firm_id"] == book.loc[1500, "firm_id"] and line["value"] == "lots"
    assert "lots" in line["message"] and "revenue_y0" in line["message"]
    scored = _read(out)
    assert tuple(scored.columns) == RESULT_COLUMNS + RECOMMENDATION_COLUMNS
    assert not {book.loc[10, "firm_id"], book.loc[1500, "firm_id"]} & set(scored["firm_id"])
    assert summary.rows == 3000 and summary.scored == len(scored) == 3000 - summary.rejected
    assert summary.rejected == rejects["row"].nunique()
    assert sum(summary.grade_counts.values()) == summary.scored
    assert summary.reject_rules[("revenue_y0", "type:number")] == 1


def test_formulas_neutralised_in_text_not_in_numbers(tmp_path, file_scorer, book):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_profiles(book, src)
    score_file(file_scorer, src, out, AS_OF)
    rejects = _read(tmp_path / "out.rejects.csv")
    bad = rejects[rejects["row"] == 2999].iloc[0]
    assert bad["firm_id"] == "'=HYPERLINK(\"http://x\")" and bad["value"].startswith("'=")
    scored = _read(out)
    points = scored["credit_points"]
    assert points.dtype == np.float64 and (points < 0).any()  # negative points stay numbers
    text = scored.select_dtypes(exclude="number").stack()
    assert not text.astype(str).str.match(r"^[=+\-@]").any()


def test_max_reject_rate_fails_the_run_and_writes_only_rejects(tmp_path, model_dir, book):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_profiles(book, src)
    args = ["score", str(src), "-o", str(out), "--model", str(model_dir), "--as-of", "2025-06-30"]
    failed = runner.invoke(app, args + ["--max-reject-rate", "0.0001"])
    assert failed.exit_code == 3
    assert "max-reject-rate" in failed.output and "not written" in failed.output
    assert not out.exists() and (tmp_path / "out.rejects.csv").exists()
    ok = runner.invoke(app, args + ["--max-reject-rate", "0.05"])
    assert ok.exit_code == 0, ok.output
    assert out.exists() and "rejected" in ok.output


def test_reject_rate_limit_keeps_an_older_output(tmp_path, file_scorer, book):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_profiles(book, src)
    out.write_text("previous run\n")
    with pytest.raises(RejectRateExceeded) as exc:
        score_file(file_scorer, src, out, AS_OF, max_reject_rate=0.0)
    assert exc.value.summary.rejected >= 3
    assert out.read_text() == "previous run\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_rerun_is_byte_identical(tmp_path, file_scorer, book, suffix):
    src = tmp_path / "in.csv"
    write_profiles(book, src)
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}{suffix}"
        score_file(file_scorer, src, out, AS_OF, workers=2 if name == "a" else 1)
        outputs.append((out.read_bytes(), (tmp_path / f"{name}.rejects.csv").read_bytes()))
    assert outputs[0] == outputs[1]


def test_parquet_in_and_out_match_csv(tmp_path, file_scorer, book):
    write_profiles(book, tmp_path / "in.csv")
    write_profiles(_parquet_ready(book), tmp_path / "in.parquet")
    score_file(file_scorer, tmp_path / "in.csv", tmp_path / "a.csv", AS_OF)
    score_file(file_scorer, tmp_path / "in.parquet", tmp_path / "b.parquet", AS_OF)
    csv_out = _read(tmp_path / "a.csv")
    pq_out = pd.read_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(csv_out.fillna(""), pq_out.fillna("").astype(csv_out.dtypes.to_dict()),
                                  check_dtype=False)
    assert (tmp_path / "a.rejects.csv").read_bytes() == (tmp_path / "b.rejects.csv").read_bytes()


def _chinese(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.rename(columns={n: s.label_zh for n, s in FIELD_SPECS.items()})


def test_encodings_and_chinese_headers_give_the_same_scores(tmp_path, file_scorer, book):
    raw = book.head(600)
    write_profiles(raw, tmp_path / "utf8.csv")
    text = _chinese(raw).to_csv(index=False, float_format="%.12g", lineterminator="\n")
    (tmp_path / "bom.csv").write_bytes(text.encode("utf-8-sig"))
    (tmp_path / "gbk.csv").write_bytes(text.encode("gbk"))
    results = {}
    for name in ("utf8", "bom", "gbk"):
        score_file(file_scorer, tmp_path / f"{name}.csv", tmp_path / f"{name}.out.csv", AS_OF)
        results[name] = (tmp_path / f"{name}.out.csv").read_bytes()
    assert results["utf8"] == results["bom"] == results["gbk"]
    assert len(_read(tmp_path / "gbk.out.csv")) > 590
    forced = score_file(file_scorer, tmp_path / "gbk.csv", tmp_path / "forced.csv", AS_OF, encoding="gbk")
    assert forced.scored == len(_read(tmp_path / "gbk.out.csv"))


def test_wrong_encoding_is_a_clear_error(tmp_path, model_dir, book):
    src = tmp_path / "gbk.csv"
    src.write_bytes(_chinese(book.head(50)).to_csv(index=False).encode("gbk"))
    result = runner.invoke(app, ["score", str(src), "-o", str(tmp_path / "o.csv"), "--model", str(model_dir),
                                 "--encoding", "utf-8"])
    assert result.exit_code == 2
    assert "--encoding" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_unreadable_block_mid_file_stops_every_worker_and_writes_nothing(tmp_path, file_scorer, book):
    """Worker processes append CSV rows in turn: a chunk that fails must not leave the others waiting."""
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_profiles(book, src)
    data = src.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    src.write_bytes(data[:cut] + "名称".encode("gbk") + data[cut:])  # not UTF-8, deep inside the file
    with pytest.raises(InputError, match="--encoding"):
        score_file(file_scorer, src, out, AS_OF, encoding="utf-8", workers=2)
    assert list(tmp_path.iterdir()) == [src]


def test_line_with_wrong_cell_count_is_rejected_not_fatal(tmp_path, file_scorer, book):
    src = tmp_path / "in.csv"
    write_profiles(book.head(400), src)
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[201] = lines[201].rstrip("\n") + ",extra,cells\n"  # data row 200
    src.write_text("".join(lines), encoding="utf-8")
    summary = score_file(file_scorer, src, tmp_path / "out.csv", AS_OF)
    rejects = _read(tmp_path / "out.rejects.csv")
    line = rejects[rejects["rule"] == "columns"]
    assert list(line["row"]) == [200]
    assert summary.rows == 400
    scored = _read(tmp_path / "out.csv")
    assert book.loc[201, "firm_id"] in set(scored["firm_id"]) or 201 in set(rejects["row"])
    assert book.loc[200, "firm_id"] not in set(scored["firm_id"])


def test_folder_of_partitions_numbers_rows_across_files(tmp_path, file_scorer, book):
    parts = tmp_path / "parts"
    parts.mkdir()
    write_profiles(book.iloc[:1000], parts / "p0.csv")
    write_profiles(_parquet_ready(book.iloc[1000:]), parts / "p1.parquet")
    score_file(file_scorer, parts, tmp_path / "out.csv", AS_OF)
    rejects = _read(tmp_path / "out.rejects.csv")
    assert {10, 1500, 2999} <= set(rejects["row"])


def test_progress_reports_rows_and_a_final_total(tmp_path, file_scorer, book):
    src = tmp_path / "in.csv"
    write_profiles(book, src)
    calls = []
    score_file(file_scorer, src, tmp_path / "out.csv", AS_OF, progress=lambda done, total: calls.append((done, total)))
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(calls) > 5
    assert calls[-1] == (3000, 3000)
    assert all(t is None or t >= d for d, t in calls[:-1])


def _fd_targets(pid: int) -> list[str]:
    try:
        return [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _children(pid: int) -> list[int]:
    return [int(c) for t in os.listdir(f"/proc/{pid}/task") for c in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]


def _alive(pid: int) -> bool:
    """Running and not a zombie (a dead process its parent has not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.fixture(scope="module")
def big_csv(portfolio, tmp_path_factory):
    """120k rows (the portfolio four times): seconds of work."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    write_profiles(portfolio, path)
    header, body = path.read_bytes().split(b"\n", 1)
    path.write_bytes(header + b"\n" + body * 4)
    return path


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_leaves_no_output_and_no_temp(tmp_path, model_dir, big_csv, sig):
    src, outdir = big_csv, tmp_path / "out"
    outdir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "service.cli.main", "score", str(src), "-o", str(outdir / "scored.csv"),
                             "--model", str(model_dir), "--quiet"], cwd=Path(__file__).resolve().parents[3],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(t.startswith(str(outdir)) for t in _fd_targets(proc.pid)):  # wait until it writes output
        assert proc.poll() is None and time.monotonic() < deadline, "scoring ended before it could be killed"
        time.sleep(0.05)
    time.sleep(0.3)
    workers = _children(proc.pid)
    assert workers, "the run scores in worker processes"
    proc.send_signal(sig)
    code = proc.wait(60)
    assert code in (-sig, 128 + sig, 143)
    assert list(outdir.iterdir()) == []
    while any(_alive(w) for w in workers):  # workers die with their parent, even on kill -9
        assert time.monotonic() < deadline, f"worker processes {workers} outlived the killed run"
        time.sleep(0.05)
