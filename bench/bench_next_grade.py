"""Benchmark: next-grade latency per firm, beside plain scoring of one firm, and how often a path exists.

    .venv/bin/python bench/bench_next_grade.py --firms 1000 [--model var/model] [--policy bank.yaml]

Both latencies come from the same run on the same generated firms, one firm per call as the
API serves them: the baseline validates and scores one profile (the API's single-firm path,
recommendation included); next-grade validates the profile and searches the policy's levers.
The share of firms with a path is counted by lifecycle stage among firms below the best grade.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.clean import CleanColumns  # noqa: E402
from features.schema import FirmProfile  # noqa: E402
from features.validate import profiles_to_columns, validate_frame  # noqa: E402
from models.bundle import DEFAULT_MODEL_DIR, load_bundle  # noqa: E402
from models.policy import load_policy  # noqa: E402
from models.scoring import Scorer  # noqa: E402
from models.whatif import NextGradeSearch, row_profile  # noqa: E402
from service.api import answers  # noqa: E402
from training.synthetic import generate  # noqa: E402

AS_OF = date(2025, 6, 30)


def timed(fn, items) -> tuple[np.ndarray, list]:
    """Milliseconds per call and the results."""
    ms, out = [], []
    for item in items:
        started = time.perf_counter()
        out.append(fn(item))
        ms.append((time.perf_counter() - started) * 1000.0)
    return np.asarray(ms), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--firms", type=int, default=1000)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    bundle, _ = load_bundle(args.model)
    scorer = Scorer(bundle, load_policy(args.policy))
    search = NextGradeSearch(scorer)

    clean = validate_frame(generate(int(args.firms * 1.05) + 10, seed=args.seed), as_of_default=AS_OF).frame
    rows_clean = CleanColumns.from_frame(clean)
    profiles = [row_profile(rows_clean, i) for i in range(min(args.firms, len(clean)))]

    def plain(p: dict) -> dict:
        cols = profiles_to_columns([FirmProfile.model_validate(p)], AS_OF)
        return answers.score_record(scorer.score(cols), 0)

    for p in profiles[:20]:  # warm-up: first-call costs (imports, caches) are not per-firm latency
        plain(p), search.run(p, AS_OF)
    t_plain, _ = timed(plain, profiles)
    t_next, results = timed(lambda p: answers.next_grade_result(search.run(p, AS_OF)), profiles)
    results = [json.loads(answers.dump(r)) for r in results]

    print(f"firms={len(profiles):,} model={bundle.version} policy={scorer.policy.policy_version} "
          f"levers={len(search.levers)} max_changes={search.max_changes}")
    print(f"{'':32}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for label, t in (("plain scoring of one firm", t_plain), ("next-grade of one firm", t_next)):
        print(f"{label:32}{np.percentile(t, 50):>10.2f}{np.percentile(t, 99):>10.2f}{t.mean():>10.2f}")
    print(f"ratio next-grade / plain scoring: p50 {np.percentile(t_next, 50) / np.percentile(t_plain, 50):.1f}×, "
          f"p99 {np.percentile(t_next, 99) / np.percentile(t_plain, 99):.1f}×")
    scored = np.array([r["candidates_scored"] for r in results])
    print(f"candidate profiles re-scored per firm: median {np.median(scored):.0f}, max {scored.max()}")

    print(f"\n{'stage':10}{'firms':>8}{'best grade':>12}{'below':>8}{'path found':>12}{'share':>8}   changes in the path")
    for stage in ("startup", "growth", "mature", "all"):
        idx = [i for i, r in enumerate(results) if stage in ("all", r["lifecycle_stage"])]
        top = sum(1 for i in idx if results[i]["target_grade"] is None)
        below = len(idx) - top
        found = [results[i] for i in idx if results[i]["reachable"]]
        sizes = Counter(len(r["steps"]) for r in found)
        share = len(found) / below if below else float("nan")
        print(f"{stage:10}{len(idx):>8}{top:>12}{below:>8}{len(found):>12}{share:>8.1%}   "
              + ", ".join(f"{k}: {sizes[k]}" for k in sorted(sizes)))
    knocked = sum(1 for r in results if r["knockouts"])
    print(f"\nfirms with knock-outs (a better grade does not lift the decline): {knocked}")


if __name__ == "__main__":
    main()
