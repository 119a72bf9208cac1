"""Benchmark: `techscore score` CSV → CSV with points and reasons vs plain LightGBM predict.

    .venv/bin/python bench/bench_score.py --rows 100000 [--model var/model]

Both figures come from the same run on the same rows: the plain predict is LightGBM's own
`Booster.predict` (no contributions, all cores) of the same model on the indicator matrix.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.indicators import IndicatorTransformer  # noqa: E402
from features.io import read_table  # noqa: E402
from features.validate import validate_frame  # noqa: E402
from models.bundle import DEFAULT_MODEL_DIR, load_bundle  # noqa: E402
from models.scoring import Scorer  # noqa: E402
from service.batch import score_file  # noqa: E402
from training.synthetic import generate, write_profiles  # noqa: E402


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bundle, _ = load_bundle(args.model)
    scorer = Scorer(bundle)
    booster = bundle.booster()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        write_profiles(generate(args.rows, seed=11), src)
        X = IndicatorTransformer().fit_transform(validate_frame(read_table(src)).clean).to_numpy()
        t_plain = best_of(lambda: booster.predict(X), args.repeat)
        t_ours = best_of(lambda: score_file(scorer, src, out), args.repeat)
    n = len(X)
    print(f"rows={n:,} model={bundle.version} trees={booster.num_trees()}")
    print(f"plain LightGBM predict (matrix in memory): {n / t_plain:>12,.0f} rows/s")
    print(f"techscore score CSV→CSV, points+reasons:   {n / t_ours:>12,.0f} rows/s")
    print(f"ratio: {t_plain / t_ours:.2f} × plain predict")


if __name__ == "__main__":
    main()
