"""Dask engine: same rows, values and rejects as the local engine, on a 2-worker LocalCluster."""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from models.bundle import load_bundle
from models.scoring import Scorer
from service.batch.local_engine import score_file
from service.batch.dask_engine import score_dataset
from training.synthetic import write_profiles

AS_OF = date(2025, 6, 30)
PIECE = 256 << 10  # ≈ 700 rows per piece: several pieces per file


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def file_scorer(model_dir):
    return Scorer(load_bundle(model_dir)[0])


@pytest.fixture(scope="module")
def book(portfolio):
    raw = portfolio.iloc[5000:9000].copy().reset_index(drop=True)
    raw.loc[[7, 2222, 3999], "rd_staff"] = raw.loc[[7, 2222, 3999], "staff_total"] + 1  # rejects in several pieces
    return raw


def test_dask_csv_equals_local_engine_byte_for_byte(tmp_path, client, file_scorer, book):
    src = tmp_path / "in.csv"
    write_profiles(book, src)
    local = score_file(file_scorer, src, tmp_path / "local.csv", AS_OF)
    dist = score_dataset(file_scorer, src, tmp_path / "dask.csv", AS_OF, client=client, piece_bytes=PIECE)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert (tmp_path / "dask.rejects.csv").read_bytes() == (tmp_path / "local.rejects.csv").read_bytes()
    assert (dist.rows, dist.scored, dist.grade_counts) == (local.rows, local.scored, local.grade_counts)
    rejected_rows = set(pd.read_csv(tmp_path / "dask.rejects.csv")["row"])
    assert {7, 2222, 3999} <= rejected_rows


def test_dask_partitioned_parquet_from_a_folder_equals_local(tmp_path, client, file_scorer, book):
    parts = tmp_path / "parts"
    parts.mkdir()
    for k, start in enumerate(range(0, len(book), 1000)):
        write_profiles(book.iloc[start:start + 1000], parts / f"part-{k}.csv")
    score_file(file_scorer, parts, tmp_path / "local.parquet", AS_OF)
    out = tmp_path / "scored.parquet"
    out.mkdir()
    (out / "stale.parquet").write_bytes(b"old run")  # replaced as a whole
    score_dataset(file_scorer, str(parts / "*.csv"), out, AS_OF, client=client, piece_bytes=PIECE)
    files = sorted(p.name for p in out.iterdir())
    assert len(files) > 4 and "stale.parquet" not in files
    dist = pd.read_parquet(out)  # the folder reads back as one table, parts in input order
    local = pd.read_parquet(tmp_path / "local.parquet")
    pd.testing.assert_frame_equal(dist.reset_index(drop=True), local)
    assert (tmp_path / "scored.rejects.csv").read_bytes() == (tmp_path / "local.rejects.csv").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_dask_engine_on_a_local_cluster(tmp_path, model_dir, book):
    from typer.testing import CliRunner

    from service.cli.main import app

    src = tmp_path / "in.csv"
    write_profiles(book.head(500), src)
    args = ["score", str(src), "--model", str(model_dir), "--as-of", "2025-06-30"]
    assert CliRunner().invoke(app, args + ["-o", str(tmp_path / "local.csv")]).exit_code == 0
    result = CliRunner().invoke(app, args + ["-o", str(tmp_path / "dask.csv"), "--engine", "dask", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
