"""Code shape: the longest module and function, and the path one profile takes from route to answer.

    .venv/bin/python bench/bench_code.py [--rev <git revision to compare, e.g. fa3a29f>]

For the working tree (and a revision, extracted with `git archive`, when given):
- the longest module and the longest function of the product packages (lines);
- one `POST /v1/scores` traced call by call in-process: the product files it passes through, the
  stops (each move from one file to another) and the returns to a file already left.
The trace runs in a subprocess whose imports come from the checkout measured (with the current
venv's packages), on a small bundle that checkout trains.
"""
from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "service", "training")
PROFILE = {"firm_id": "91440300MA5DK7QX24", "revenue_y0": 6800, "rd_expense_y0": 700, "staff_total": 120,
           "founded_on": "2016-04-01", "invention_patents_granted": 6, "tax_grade": "A", "as_of": "2026-06-30"}

TRACE = r'''
import json, os, sys, tempfile, threading
from pathlib import Path
root, profile = Path(sys.argv[1]), json.loads(sys.argv[2])
sys.path.insert(0, str(root))
work = Path(tempfile.mkdtemp())
os.environ["TECHSCORE_TRUSTED_BUNDLES_FILE"] = str(work / "trusted.json")
from fastapi.testclient import TestClient
from models.trust import trust_bundle
from training.synthetic import generate
from training.train import TrainConfig, train_model, write_training_output
model = work / "model"  # a small bundle made by the checkout measured (bundle formats change between revisions)
write_training_output(train_model(generate(3000, seed=1), TrainConfig(seed=1, num_threads=1)), model)
trust_bundle(str(work / "trusted.json"), model)
try:
    from service.api.app import create_app
    from service.api.auth import create_key
    from service.api.settings import Settings
except ImportError:  # a revision from before service/ was split by job
    from service.app import create_app
    from service.auth import create_key
    from service.settings import Settings
key = create_key(work / "keys.json", "officer", "trace")[1]
settings = Settings(model_dir=model, database_url=f"sqlite:///{work / 'a.db'}", keys_file=work / "keys.json")
packages = tuple(str(root / p) + os.sep for p in ("features", "models", "service", "training"))
calls, on = [], [False]
def tracer(frame, event, arg):
    if on[0] and event == "call" and frame.f_code.co_filename.startswith(packages):
        calls.append(os.path.relpath(frame.f_code.co_filename, root))
# installed before the app starts, so its threads (test client portal, batcher, pools) carry it
threading.setprofile(tracer); sys.setprofile(tracer)
with TestClient(create_app(settings), headers={"X-API-Key": key}) as c:
    c.post("/v1/scores", json=profile)  # warm: first-call imports and caches are not the path
    on[0] = True
    r = c.post("/v1/scores", json=profile)
    on[0] = False
    assert r.status_code == 200, r.text
print(json.dumps(calls))
'''


def longest(root: Path) -> tuple[tuple[int, str], tuple[int, str]]:
    modules, functions = [], []
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            name = str(path.relative_to(root))
            modules.append((text.count("\n"), name))
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    functions.append((node.end_lineno - node.lineno + 1, f"{name}:{node.name}"))
    return max(modules), max(functions)


def path_of_one_profile(root: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", TRACE, str(root), json.dumps(PROFILE)], cwd=root,
                         capture_output=True, text=True, check=True).stdout
    calls = json.loads(out.strip().splitlines()[-1])
    stops = [f for i, f in enumerate(calls) if i == 0 or f != calls[i - 1]]
    left: set[str] = set()
    returns = 0
    for prev, f in zip(stops, stops[1:]):
        left.add(prev)
        returns += f in left
    return {"files": len(set(calls)), "stops": len(stops), "returns": returns}


def report(label: str, root: Path) -> None:
    (mod_lines, mod), (fn_lines, fn) = longest(root)
    path = path_of_one_profile(root)
    print(f"{label}: longest module {mod} ({mod_lines} lines); longest function {fn} ({fn_lines} lines); "
          f"POST /v1/scores passes {path['files']} product files in {path['stops']} stops, "
          f"{path['returns']} of them returns to a file already left")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", help="also measure this git revision")
    args = ap.parse_args()
    if args.rev:
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "rev.tar"
            subprocess.run(["git", "archive", "-o", str(archive), args.rev], cwd=ROOT, check=True)
            with tarfile.open(archive) as tar:
                tar.extractall(Path(tmp) / "rev", filter="data")
            report(args.rev, Path(tmp) / "rev")
    report("working tree", ROOT)


if __name__ == "__main__":
    main()
