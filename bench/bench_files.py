"""Benchmark: the files banks really have (issue 18), against the code before it, in the same run.

    .venv/bin/python bench/bench_files.py --rows 100000 --check-rows 2000

Prints
1. rejected rows of the generated bank export (our Chinese labels as headers, bank cell formats),
   before (the baseline commit's validator) and after, and after with the bank's own headers read
   through the suggested mapping — against the rows planted to be rejected;
2. `map suggest` accuracy on the export's headers (GBK CSV and .xlsx);
3. the same rows scored end to end from .xlsx and from CSV (rows/s, same process, same model);
4. frame validation speed of plain CSV chunks, baseline vs this tree (alternating runs, median).

The baseline is the tree at `--baseline-rev` (default: the merge base with main), unpacked with
`git archive` into a temporary folder and run in a subprocess.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from features.io import file_pieces, sample_rows  # noqa: E402
from features.mapping import mapping_of, suggest_mapping  # noqa: E402
from features.schema import FIELD_SPECS  # noqa: E402
from features.validate import validate_frame  # noqa: E402
from training.bank_export import bank_export, write_bank_export  # noqa: E402
from training.synthetic import generate, write_profiles  # noqa: E402

AS_OF = date(2026, 6, 30)

# Runs in a subprocess with PYTHONPATH = a tree: rejected rows of a CSV, or validation time of its chunks.
_PROBE = r"""
import json, sys, time
from pathlib import Path
from features.io import file_pieces
from features.validate import validate_frame
path, mode = Path(sys.argv[1]), sys.argv[2]
pieces = list(file_pieces(path))
chunks = [p.read() for p in pieces]
t = time.perf_counter()
rejected, rows = set(), 0
for c in chunks:
    res = validate_frame(c.frame, as_of_default=None)
    rejected |= {rows + int(r) for r in res.rejects["row"]}
    rows += c.n_rows
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows, "rejected": len(rejected)}))
"""


def _probe(tree: Path, csv: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(csv), "x"], cwd=tree, env={"PYTHONPATH": str(tree)},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _baseline(rev: str | None, folder: Path) -> tuple[Path, str]:
    rev = rev or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
    tree = folder / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree, rev[:10]


def _rejected_after(path: Path, mapping=None) -> int:  # type: ignore[no-untyped-def]
    rejected, rows = set(), 0
    for piece in file_pieces(path, None, mapping):
        chunk = piece.read()
        res = validate_frame(chunk.frame)
        rejected |= {rows + int(r) for r in res.rejects["row"]}
        rows += chunk.n_rows
    return len(rejected)


def rejections(rows: int, seed: int, folder: Path, tree: Path) -> None:
    exp = bank_export(rows, seed, AS_OF)
    # The experiment: our Chinese labels as headers (a column kept in 元 says so in brackets).
    labelled = exp.text.rename(columns={h: FIELD_SPECS[f].label_zh + ("（元）" if h.endswith(("（元）", "(元)")) else "")
                                        for f, h in exp.headers.items()})
    own_headers = folder / "export_our_labels.csv"
    own_headers.write_bytes(labelled.to_csv(index=False, lineterminator="\r\n").encode("gbk"))
    bank_csv = write_bank_export(exp, folder / "export.csv")
    planted = len(exp.planted_rows)
    before = _probe(tree, own_headers)["rejected"]
    after = _rejected_after(own_headers, mapping_of(suggest_mapping(sample_rows(own_headers))))
    mapped = _rejected_after(bank_csv, mapping_of(suggest_mapping(sample_rows(bank_csv))))
    before_bank = _probe(tree, bank_csv)["rejected"]
    print(f"1. bank export (GBK CSV), {rows:,} rows, {planted} planted rows to be rejected")
    print(f"   our Chinese labels as headers, bank cell formats: before {before:,} rejected "
          f"({before / rows:.1%}); after (suggested mapping for the 元 columns) {after:,} ({after / rows:.1%})")
    print(f"   the bank's own headers: before {before_bank:,} rejected; after, with the suggested mapping, {mapped:,}")


def suggest_accuracy(rows: int, seed: int, folder: Path) -> None:
    exp = bank_export(rows, seed, AS_OF)
    truth = {h: f for f, h in exp.headers.items()}
    for name in ("export.csv", "export.xlsx"):
        path = write_bank_export(exp, folder / name)
        guesses = suggest_mapping(sample_rows(path))
        right = sum(g.field == truth.get(g.header) for g in guesses)
        print(f"2. map suggest on {name}: {right}/{len(guesses)} columns placed correctly ({right / len(guesses):.1%}; "
              f"{sum(g.field is None for g in guesses)} left unplaced, both distractors)")


def xlsx_vs_csv(rows: int, seed: int, folder: Path) -> None:
    from models.scoring import Scorer
    from service.batch.local_engine import score_file
    from training.train import TrainConfig, train_model

    exp = bank_export(rows, seed, AS_OF)
    csv_path, xlsx_path = write_bank_export(exp, folder / "big.csv"), write_bank_export(exp, folder / "big.xlsx")
    mapping = mapping_of(suggest_mapping(sample_rows(csv_path)))
    xmapping = mapping_of(suggest_mapping(sample_rows(xlsx_path)))
    scorer = Scorer(train_model(generate(20_000, 1), TrainConfig(seed=1, num_threads=1)).bundle)
    print(f"3. {rows:,} rows scored end to end (local engine, default workers), same model, same run:")
    for label, path, m in (("CSV (GBK)", csv_path, mapping), (".xlsx", xlsx_path, xmapping),
                           ("CSV (GBK)", csv_path, mapping), (".xlsx", xlsx_path, xmapping)):
        t = time.perf_counter()
        s = score_file(scorer, path, folder / "out.csv", AS_OF, mapping=m)
        dt = time.perf_counter() - t
        print(f"   {label:<10} {s.rows:,} rows in {dt:.1f} s: {s.rows / dt:,.0f} rows/s ({s.rejected} rejected)")


def validation_speed(rows: int, folder: Path, tree: Path, repeats: int) -> None:
    plain = write_profiles(generate(rows, 5).drop(columns=["default_12m", "true_pd"]), folder / "plain.csv")
    times: dict[str, list[float]] = {"baseline": [], "this tree": []}
    for _ in range(repeats):  # alternate, so both see the same machine load
        times["baseline"].append(_probe(tree, plain)["seconds"])
        times["this tree"].append(_probe(ROOT, plain)["seconds"])
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"4. validate_frame on {rows:,} plain CSV rows (chunks as the engine reads them), median of {repeats}:")
    for k, v in med.items():
        print(f"   {k:<10} {v:.2f} s ({rows / v:,.0f} rows/s)")
    print(f"   this tree / baseline time: {med['this tree'] / med['baseline']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the .xlsx vs CSV and validation runs")
    ap.add_argument("--check-rows", type=int, default=2_000, help="rows of the rejection and suggest checks")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--baseline-rev", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tree, rev = _baseline(args.baseline_rev, folder)
        print(f"baseline {rev}; this tree {ROOT}")
        rejections(args.check_rows, args.seed, folder, tree)
        suggest_accuracy(args.check_rows, args.seed, folder)
        xlsx_vs_csv(args.rows, args.seed, folder)
        validation_speed(args.rows, folder, tree, args.repeats)
    pd.set_option("display.width", 120)


if __name__ == "__main__":
    main()
