"""Benchmark: `techscore score` at scale — local engine CSV→CSV and Parquet→Parquet, Dask LocalCluster — next
to a plain LightGBM `Booster.predict` of the same model on the same feature matrix, in the same run.

    .venv/bin/python bench/bench_batch.py --rows 1000000 [--model var/model] [--rss-5m] [--cache DIR]

The engine is first timed in this process (model loaded, interpreter warm: the steady-state rate);
then every scoring run is the real command line in a subprocess (start-up and model loading included — about
2 s, mostly importing scikit-learn and LightGBM — which dominates at 100k rows), so its memory is measured
on its own: the peak summed PSS of the command and its worker processes (shared pages split between
them) next to their summed RSS (shared pages counted in each: an upper bound). `--rss-5m` also scores a
5-million-row CSV (the 1M file's rows five times) to check that memory stays flat. The plain predict and our runs both use every core of the machine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.indicators import transform_columns  # noqa: E402
from features.io import file_pieces  # noqa: E402
from features.validate import validate_frame  # noqa: E402
from models.bundle import DEFAULT_MODEL_DIR, load_bundle  # noqa: E402
from models.scoring import Scorer  # noqa: E402
from service.batch.local_engine import score_file  # noqa: E402
from training.synthetic import generate, write_profiles  # noqa: E402

AS_OF = "2025-06-30"


def feature_matrix(src: Path) -> np.ndarray:
    """The indicator matrix of every valid row, built chunk by chunk (the baseline's input)."""
    parts = []
    for piece in file_pieces(src):
        clean = validate_frame(piece.read().frame).clean
        parts.append(transform_columns(clean, n=len(clean)))
    return np.vstack(parts)


# A small launcher process runs the command and reports its memory, sampled every 50 ms over the command
# and every process under it (the scoring workers): the peak of their summed PSS (proportional set size:
# pages a forked worker shares with its parent are split between them, so the sum is the memory the run
# really holds) and of their summed RSS (shared pages counted in every process: an upper bound).
_LAUNCHER = """
import os, subprocess, sys, time
def kib(pid, path, key):
    try:
        with open(f"/proc/{pid}/{path}") as f:
            return next((int(l.split()[1]) for l in f if l.startswith(key)), 0)
    except OSError:
        return 0
def tree(pid):
    try:
        kids = [int(c) for t in os.listdir(f"/proc/{pid}/task") for c in open(f"/proc/{pid}/task/{t}/children").read().split()]
    except OSError:
        kids = []
    return [pid] + [p for k in kids for p in tree(k)]
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
pss = rss = 0
while not os.wait4(proc.pid, os.WNOHANG)[0]:
    procs = tree(proc.pid)
    pss = max(pss, sum(kib(p, "smaps_rollup", "Pss:") for p in procs))
    rss = max(rss, sum(kib(p, "status", "VmRSS:") for p in procs))
    time.sleep(0.05)
print(pss, rss)
"""


def run_cli(args: list[str]) -> tuple[float, float, float]:
    """Seconds, and peak summed PSS and RSS (MiB) of the process tree, of one `techscore` run in a fresh process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "service.cli.main", *args, "--quiet"],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    pss_kib, rss_kib = (int(v) for v in done.stdout.split()[-2:])
    return time.perf_counter() - started, pss_kib / 1024, rss_kib / 1024


def dataset(rows: int, cache: Path) -> tuple[Path, Path]:
    """CSV and Parquet of `rows` generated firms (seed 11), generated once into `cache`."""
    csv, parquet = cache / f"firms-{rows}.csv", cache / f"firms-{rows}.parquet"
    if not (csv.exists() and parquet.exists()):
        raw = generate(rows, seed=11)
        write_profiles(raw, csv)
        write_profiles(raw, parquet)
    return csv, parquet


def five_fold(csv: Path, dst: Path) -> Path:
    """The CSV's data rows five times under one header."""
    with open(csv, "rb") as src, open(dst, "wb") as out:
        header = src.readline()
        out.write(header)
        for _ in range(5):
            src.seek(len(header))
            shutil.copyfileobj(src, out, 16 << 20)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--cache", type=Path, default=None, help="Keep the generated data here between runs")
    parser.add_argument("--rss-5m", action="store_true", help="Also score 5 million rows and report peak memory")
    args = parser.parse_args()
    bundle, _ = load_bundle(args.model)
    booster = bundle.booster()
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    cache = args.cache or tmp
    cache.mkdir(parents=True, exist_ok=True)
    try:
        csv, parquet = dataset(args.rows, cache)
        X = feature_matrix(csv)
        started = time.perf_counter()
        booster.predict(X, num_threads=os.cpu_count())
        t_plain = time.perf_counter() - started
        n, model = len(X), ["--model", str(args.model), "--as-of", AS_OF]
        del X
        started = time.perf_counter()  # the engine alone: interpreter started, model loaded
        score_file(Scorer(bundle), csv, tmp / "inproc.csv", date.fromisoformat(AS_OF))
        t_inproc = time.perf_counter() - started
        t_csv, pss_csv, rss_csv = run_cli(["score", str(csv), "-o", str(tmp / "out.csv"), *model])
        t_pq, pss_pq, rss_pq = run_cli(["score", str(parquet), "-o", str(tmp / "out.parquet"), *model])
        t_dask, pss_dask, _ = run_cli(["score", str(csv), "-o", str(tmp / "dask.csv"), "--engine", "dask", "--workers", "2", *model])
        rows = args.rows
        print(f"rows={rows:,} (valid {n:,}) model={bundle.version} trees={booster.num_trees()} cores={os.cpu_count()}")
        print(f"plain LightGBM predict (matrix in memory):      {n / t_plain:>10,.0f} rows/s  (baseline)")
        print(f"local CSV→CSV, in process (model loaded):        {rows / t_inproc:>10,.0f} rows/s  "
              f"{t_plain / t_inproc * rows / n:5.2f} × baseline")
        print(f"local CSV→CSV, points + reasons (whole command): {rows / t_csv:>10,.0f} rows/s  "
              f"{t_plain / t_csv * rows / n:5.2f} × baseline  peak PSS {pss_csv:,.0f} MiB (RSS sum {rss_csv:,.0f})")
        print(f"local Parquet→Parquet:                           {rows / t_pq:>10,.0f} rows/s  "
              f"{t_plain / t_pq * rows / n:5.2f} × baseline  peak PSS {pss_pq:,.0f} MiB (RSS sum {rss_pq:,.0f})")
        print(f"dask LocalCluster (2 workers) CSV→CSV:           {rows / t_dask:>10,.0f} rows/s  "
              f"{t_plain / t_dask * rows / n:5.2f} × baseline  peak PSS {pss_dask:,.0f} MiB")
        if args.rss_5m:
            big = five_fold(csv, tmp / "five.csv")
            t_big, pss_big, rss_big = run_cli(["score", str(big), "-o", str(tmp / "five.out.csv"), *model])
            print(f"local CSV→CSV, {5 * rows:,} rows:               {5 * rows / t_big:>10,.0f} rows/s  "
                  f"peak PSS {pss_big:,.0f} MiB (RSS sum {rss_big:,.0f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
