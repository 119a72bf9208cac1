"""A golden corpus scored through every route gives the same answers.

Generated firms with the generator's mess (typos, missing fields, planted errors) plus hand-made edge
rows, scored by the command line, the API's CSV upload, its JSON batch and its single route: the
CSV replies hold the same result columns byte for byte, and every firm gets the same score, grade and
decision on every route (and the same rows are rejected).
"""
from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from service.cli.main import app as cli
from training.synthetic import generate, write_profiles

pytestmark = pytest.mark.slow
ROWS = 240
TODAY = date.today().isoformat()  # uploads are assessed as of today; the CLI is told the same
EDGE = [  # hand-made rows: blanks, Chinese enum names, full-width digits, formulas, ragged values
    {"firm_id": "91440300MA5DK7QX24", "name": "=HYPERLINK(\"http://x\",\"y\")", "revenue_y0": "6,800"},
    {"firm_id": "91440300MA5DK7QX24", "name": "边缘企业", "revenue_y0": "６８００", "tax_grade": "a"},
    {"firm_id": "91440300MA5DK7QX24", "worst_loan_class": "次级", "max_dpd_24m": "120"},
    {"firm_id": "not-a-credit-code", "revenue_y0": "100"},
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("golden")
    raw = generate(ROWS, seed=11).drop(columns=["default_12m", "true_pd"])
    path = d / "firms.csv"
    write_profiles(raw, path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = pd.concat([frame, pd.DataFrame(EDGE).reindex(columns=frame.columns, fill_value="")], ignore_index=True)
    frame.to_csv(path, index=False)
    return path, pd.read_csv(path, dtype=str, keep_default_na=False)  # every cell as the file holds it


@pytest.fixture(scope="module")
def cli_scored(corpus, model_dir, tmp_path_factory):
    path, _ = corpus
    out = tmp_path_factory.mktemp("golden_out") / "scored.csv"
    r = CliRunner().invoke(cli, ["score", str(path), "-o", str(out), "--model", str(model_dir), "--as-of", TODAY,
                                 "--quiet", "--workers", "1"])
    assert r.exit_code == 0, r.output
    rejects = out.with_name(out.stem + ".rejects.csv")
    return pd.read_csv(out, dtype=str, keep_default_na=False), pd.read_csv(rejects, dtype=str, keep_default_na=False)


def test_cli_and_upload_give_the_same_result_columns_byte_for_byte(client, keys, corpus, cli_scored):
    path, frame = corpus
    scored, rejects = cli_scored
    r = client.post("/v1/scores/csv", files={"file": ("firms.csv", path.read_bytes(), "text/csv")}, headers=keys.h())
    assert r.status_code == 200, r.text
    reply = pd.read_csv(io.BytesIO(r.content), dtype=str, keep_default_na=False)
    assert len(reply) == len(frame)
    ok = reply[reply["error"] == ""]
    assert sorted(set(reply.index[reply["error"] != ""])) == sorted(set(rejects["row"].astype(int)))
    volatile = {"assessment_id", "row", "error"}
    columns = [c for c in ok.columns if c not in volatile]
    assert columns == [c for c in scored.columns if c in columns]
    assert ok[columns].reset_index(drop=True).equals(scored[columns].reset_index(drop=True))


def test_json_batch_and_single_route_agree_with_the_file_routes(client, keys, corpus, cli_scored):
    _, frame = corpus
    scored, rejects = cli_scored
    bad = set(rejects["row"].astype(int))
    profiles = [{k: v for k, v in row.items() if v != ""} | {"as_of": row["as_of"] or TODAY}
                for row in frame.to_dict("records")]
    answers = []
    for start in range(0, len(profiles), 5):  # the test app's batch limit
        r = client.post("/v1/scores/batch", json=profiles[start:start + 5], headers=keys.h())
        assert r.status_code == 200, r.text
        answers += r.json()["results"]
    assert {i for i, a in enumerate(answers) if not a["ok"]} == bad
    good = [a["assessment"] for a in answers if a["ok"]]
    assert [f"{a['score']:.2f}" for a in good] == [f"{float(s):.2f}" for s in scored["score"]]
    assert [a["grade"] for a in good] == scored["grade"].tolist()
    assert [a["recommendation"]["decision"] for a in good] == scored["decision"].tolist()
    for i in sorted(set(range(len(profiles))) - bad)[:20]:  # the single route: the same answer as in the batch
        one = client.post("/v1/scores", json=profiles[i], headers=keys.h()).json()
        twin = answers[i]["assessment"]
        assert (one["score"], one["grade"], one["reasons_down"]) == (twin["score"], twin["grade"], twin["reasons_down"])
