"""CSV uploads: one chunk scorer and one CSV writer for every route, bounded shape and concurrency, and
CPU work off the event loop (ordering asserted with injected blocking points, never with timings)."""
from __future__ import annotations

import csv
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import service.batch.csv_scoring as csv_scoring
from features.schema import example_profiles
from service.api.app import create_app
from service.cli.main import app as cli
from service.batch.csv_scoring import UploadLimits, score_upload

FIRMS = list(example_profiles().values())
FORMULAS = ['=HYPERLINK("http://x","y")', "=1+1", "=cmd|' /C calc'!A0"]
AS_OF = "2025-06-30"
RELEASE_SECONDS = 120  # a blocked step gives up after this: the test then fails on the order, not by hanging


def _csv(rows: list[dict], header: list[str] | None = None) -> str:
    names = header or list(FIRMS[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for r in rows:
        w.writerow(["" if r.get(n) is None else r[n] for n in names])
    return buf.getvalue()


def _read(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _injected_rows() -> list[dict]:
    """Each formula as the firm_id (rejected: not a credit code) and as the name (scored), with AS_OF."""
    base = FIRMS[0] | {"as_of": AS_OF}
    return [base | {"firm_id": f} for f in FORMULAS] + [base | {"name": f} for f in FORMULAS]


def _no_formula_cells(rows: list[dict]) -> None:
    """No text cell a spreadsheet would run: every one starting with a formula character is a plain number."""
    for row in rows:
        for col, cell in row.items():
            if cell and cell[0] in "=+-@\t\r":
                float(cell)  # raises for text: "-5" passes, "=1+1" does not


@pytest.fixture()
def upload_app(settings, tmp_path):
    """An app of its own (own audit file) allowing a 1000-firm batch and one upload at a time."""
    mine = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'audit.db'}", "batch_limit": 1000,
                                       "max_body_bytes": 16 << 20, "max_concurrent_uploads": 1,
                                       "max_upload_columns": 200})
    with TestClient(create_app(mine)) as client:
        yield client


# ---------------------------------------------------------------- formulas, every route
def test_formulas_come_back_neutralised_from_the_api_upload(client, keys):
    rows = _injected_rows()
    r = client.post("/v1/scores/csv", files={"file": ("f.csv", _csv(rows).encode(), "text/csv")}, headers=keys.h())
    assert r.status_code == 200, r.text
    out = _read(r.text)
    assert [o["firm_id"] for o in out[:3]] == ["'" + f for f in FORMULAS]  # rejected rows keep their id, quoted
    assert all(o["error"] and "firm_id" in o["error"] for o in out[:3])
    assert all(o["grade"] and not o["error"] for o in out[3:])  # a formula as a name is just a name
    _no_formula_cells(out)
    for o in out[3:]:  # the audit trail keeps the name as submitted, the page's history shows it
        stored = client.get(f"/v1/assessments/{o['assessment_id']}", headers=keys.h()).json()
        assert stored["input"]["name"] in FORMULAS


def test_formulas_come_back_neutralised_from_the_command_line(tmp_path, model_dir):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(_csv(_injected_rows()), encoding="utf-8")
    res = CliRunner().invoke(cli, ["score", str(src), "-o", str(out), "--model", str(model_dir), "--workers", "1"])
    assert res.exit_code == 0, res.output
    rejects = _read((tmp_path / "out.rejects.csv").read_text(encoding="utf-8"))
    ids = [r for r in rejects if r["field"] == "firm_id"]
    assert [r["firm_id"] for r in ids] == [r["value"] for r in ids] == ["'" + f for f in FORMULAS]
    _no_formula_cells(rejects)
    _no_formula_cells(_read(out.read_text(encoding="utf-8")))


# ---------------------------------------------------------------- one chunk scorer
def test_rows_with_too_few_or_too_many_cells_are_rejected_with_rule_columns(client, keys):
    good = _csv([f | {"as_of": AS_OF} for f in FIRMS]).splitlines()
    cells = next(csv.reader([good[1]]))
    short = ",".join(cells[: len(cells) // 2])
    long = good[2] + ",extra"
    text = "\n".join([good[0], good[1], short, good[2], long, good[3]]) + "\n"
    r = client.post("/v1/scores/csv", content=text.encode(), headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    out = _read(r.text)
    assert [o["row"] for o in out] == ["0", "1", "2", "3", "4"]
    assert [bool(o["grade"]) for o in out] == [True, False, True, False, True]  # never scored, nothing shifted
    for o, n in ((out[1], len(cells) // 2), (out[3], len(cells) + 1)):
        assert f"the line has {n} cells, the header has {len(cells)}" in o["error"] and o["assessment_id"] == ""
    assert [o["firm_id"] for o in (out[0], out[2], out[4])] == [f["firm_id"] for f in FIRMS]
    for o, firm in zip((out[0], out[2], out[4]), FIRMS):  # the audit trail finds each row's own cells
        stored = client.get(f"/v1/assessments/{o['assessment_id']}", headers=keys.h()).json()
        assert stored["input"]["firm_id"] == firm["firm_id"] and stored["upload"]["row"] == int(o["row"])


def test_an_upload_read_in_small_chunks_answers_as_one_read_whole(scorer, tmp_path):
    rows = [FIRMS[i % 3] | {"revenue_y0": -i} if i % 7 == 0 else FIRMS[i % 3] for i in range(300)]
    path = tmp_path / "u.csv"
    path.write_text(_csv(rows), encoding="utf-8")

    def run(block_bytes: int) -> tuple[int, list[dict]]:
        steps = list(score_upload(scorer, path, date(2025, 6, 30), UploadLimits(block_bytes=block_bytes)))
        scored = steps[-1]
        text = b"".join(scored.chunks()).decode()
        return len(steps), [{k: v for k, v in r.items() if k != "assessment_id"} for r in _read(text)]

    many, small = run(8 << 10)
    one, whole = run(64 << 20)
    assert many > one == 3  # check, one chunk, result
    assert small == whole and len(whole) == 300
    assert [r["row"] for r in whole] == [str(i) for i in range(300)]
    assert sum(bool(r["error"]) for r in whole) == len(range(0, 300, 7))


# ---------------------------------------------------------------- files that cannot be scored
@pytest.mark.parametrize("data,status,words", [
    (b"\0" * 100_000, 422, "NUL"),
    (b"firm_id,name,revenue_y0\n", 422, "no data rows"),
    (b"firm_id," + b"x" * 140_000 + b"\n1,2\n", 413, "max_upload_line_bytes"),
])
def test_unscorable_files_get_a_clear_4xx(client, keys, data, status, words):
    r = client.post("/v1/scores/csv", content=data, headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == status and r.headers["content-type"] == "application/problem+json"
    assert words in r.json()["detail"]


@pytest.mark.parametrize("data,words", [
    (b"\0" * 100_000, "NUL"),
    (b"firm_id,name,revenue_y0\n", "no data rows"),
    (b"firm_id," + b"x" * 140_000 + b"\n1,2\n", "field limit"),
])
def test_unscorable_files_fail_the_command_line_with_a_message(tmp_path, model_dir, data, words):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(data)
    res = CliRunner().invoke(cli, ["score", str(src), "-o", str(out), "--model", str(model_dir), "--workers", "1"])
    assert res.exit_code == 2 and words in res.output.replace("\n", " ") and res.exception.__class__ is SystemExit
    assert not out.exists()


def test_too_many_columns_is_a_413_naming_the_limit(upload_app, keys):
    header = list(FIRMS[0]) + [f"extra_{i}" for i in range(201 - len(FIRMS[0]))]
    r = upload_app.post("/v1/scores/csv", content=_csv([FIRMS[0]], header).encode(),
                        headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert "201" in body["detail"] and "上限" in body["detail"]
    assert body["errors"][0]["field"] == "max_upload_columns" and body["errors"][0]["rule"] == "max:200"


# ---------------------------------------------------------------- off the event loop, bounded concurrency
def _block(monkeypatch, target, name: str, started: threading.Event, release: threading.Event, order: list) -> None:
    """Make `target.name` wait for `release` (recording the order) before doing its work."""
    real = getattr(target, name)

    def blocking(*args, **kwargs):
        order.append("working")
        started.set()
        order.append("released" if release.wait(RELEASE_SECONDS) else "gave up")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, blocking)


def _healthz_while_blocked(client, request, started, release, order) -> None:
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(request)
        assert started.wait(RELEASE_SECONDS)
        order.append(f"healthz {client.get('/healthz').status_code}")
        release.set()
        assert job.result().status_code == 200, job.result().text
    assert order == ["working", "healthz 200", "released"]


def test_healthz_is_answered_while_a_single_score_is_scored(upload_app, keys, monkeypatch):
    started, release, order = threading.Event(), threading.Event(), []
    _block(monkeypatch, upload_app.app.state.api.engine, "score_profiles", started, release, order)
    _healthz_while_blocked(upload_app, lambda: upload_app.post("/v1/scores", json=FIRMS[0], headers=keys.h()),
                           started, release, order)


def test_a_second_upload_beyond_the_limit_gets_429_while_the_first_is_scored(upload_app, keys, monkeypatch):
    started, release, order = threading.Event(), threading.Event(), []
    _block(monkeypatch, csv_scoring, "score_chunk", started, release, order)
    data = _csv([f | {"as_of": AS_OF} for f in FIRMS]).encode()
    h = keys.h() | {"Content-Type": "text/csv"}

    def second_upload_then_healthz() -> None:
        r = upload_app.post("/v1/scores/csv", content=data, headers=h)
        assert r.status_code == 429 and r.headers["retry-after"].isdigit()
        assert r.json()["errors"][0]["field"] == "max_concurrent_uploads" and "稍后" in r.json()["detail"]
        order.append(f"second upload {r.status_code}")

    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(upload_app.post, "/v1/scores/csv", content=data, headers=h)
        assert started.wait(RELEASE_SECONDS)
        second_upload_then_healthz()
        order.append(f"healthz {upload_app.get('/healthz').status_code}")
        release.set()
        first = job.result()
    assert first.status_code == 200 and len(_read(first.text)) == 3
    assert order == ["working", "second upload 429", "healthz 200", "released"]
    assert upload_app.post("/v1/scores/csv", content=data, headers=h).status_code == 200  # the slot is free again


def test_the_batch_answer_is_the_json_orjson_writes_for_it(client, keys):
    """The answer is assembled from the audit records' bytes: it must be the same bytes as dumping it whole."""
    firms = [FIRMS[0], FIRMS[1] | {"revenue_y0": "lots"}, FIRMS[2]]
    r = client.post("/v1/scores/batch", json=firms, headers=keys.h())
    assert r.status_code == 200
    body = r.json()
    assert r.content == orjson.dumps(body)
    assert (body["scored"], body["rejected"]) == (2, 1) and [x["index"] for x in body["results"]] == [0, 1, 2]


def test_an_upload_above_the_byte_limit_is_a_413_naming_the_setting(client, keys, settings):
    data = _csv([FIRMS[0]]).encode() + b"x" * settings.max_upload_bytes
    r = client.post("/v1/scores/csv", content=data, headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "max_upload_bytes" and "上限" in r.json()["detail"]


def test_a_header_that_repeats_a_name_is_refused_by_the_api_and_the_command_line(client, keys, tmp_path, model_dir):
    data = b"firm_id,a,a\n1,2,3\n"
    r = client.post("/v1/scores/csv", content=data, headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == 422 and "repeats column names: a" in r.json()["detail"]
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(data)
    res = CliRunner().invoke(cli, ["score", str(src), "-o", str(out), "--model", str(model_dir), "--workers", "1"])
    assert res.exit_code == 2 and "repeats column names: a" in res.output and not out.exists()


def test_a_generic_mode_model_scores_uploads_as_the_command_line_does(settings, tmp_path, keys, book, book_model):
    """One chunk scorer: the upload validates with the model's own columns (Scorer.validate), like `techscore score`."""
    mine = settings.model_copy(update={"model_dir": book_model / "model",
                                       "database_url": f"sqlite:///{tmp_path / 'audit.db'}"})
    rows = book.drop(columns=["defaulted"]).head(50)
    src, out = tmp_path / "book.csv", tmp_path / "out.csv"
    rows.to_csv(src, index=False)
    res = CliRunner().invoke(cli, ["score", str(src), "-o", str(out), "--model", str(book_model / "model"),
                                   "--workers", "1"])
    assert res.exit_code == 0, res.output
    with TestClient(create_app(mine)) as client:
        r = client.post("/v1/scores/csv", content=src.read_bytes(), headers=keys.h() | {"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    api = [row for row in _read(r.text) if not row["error"]]
    cli_rows = _read(out.read_text(encoding="utf-8"))
    assert len(api) == len(cli_rows) > 0
    assert [(a["score"], a["grade"]) for a in api] == [(c["score"], c["grade"]) for c in cli_rows]


def test_an_unclosed_quote_is_a_413_not_the_whole_file_read_as_one_record(scorer, tmp_path):
    """A quoted line break continues a record: an unclosed quote would make the rest of the file one
    chunk read whole, so the record limit catches it (here at 4 KB) however short each line is."""
    good = _csv([FIRMS[0]] * 3).splitlines()
    path = tmp_path / "u.csv"
    path.write_text("\n".join([good[0], '"' + good[1]] + good[2:] * 40) + "\n", encoding="utf-8")
    with pytest.raises(csv_scoring.UploadLimitExceeded, match="unclosed") as caught:
        list(score_upload(scorer, path, date(2025, 6, 30), UploadLimits(max_line_bytes=4096)))
    assert caught.value.setting == "max_upload_line_bytes"
    closed = tmp_path / "ok.csv"  # a quoted line break that closes is one record among others: scored
    closed.write_text(_csv([FIRMS[0] | {"name": "北京\n某科技"}, FIRMS[1], FIRMS[2]]), encoding="utf-8")
    scored = list(score_upload(scorer, closed, date(2025, 6, 30), UploadLimits(max_line_bytes=4096)))[-1]
    assert (scored.rows, scored.scored) == (3, 3)
