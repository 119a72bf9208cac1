"""Benchmark: the scoring API over loopback against a real uvicorn server (one worker).

    .venv/bin/python bench/bench_api.py [--model var/model] [--seconds 5]

Measured in the same run, on the same server: `POST /v1/scores` (validation, scoring with
reasons, durable audit write) against the trivial `GET /healthz`, at concurrency 1, 8 and 32
(requests/s, p50, p99 from `wrk`, load generated in another process; the two endpoints take
turns in one-second slices, so both see the same drift of a noisy host); a 10 000-row CSV through
`POST /v1/scores/csv` against `techscore score` on the same file in-process; and the kill -9
durability check (every assessment answered 200 is in the store after a restart).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.schema import example_profiles  # noqa: E402
from models.bundle import DEFAULT_MODEL_DIR, load_bundle  # noqa: E402
from models.scoring import Scorer  # noqa: E402
from service.api.auth import create_key  # noqa: E402
from service.batch.local_engine import score_file  # noqa: E402
from service.store.audit import AuditStore  # noqa: E402
from training.synthetic import generate, write_profiles  # noqa: E402

LUA_POST = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
wrk.body = [==[{body}]==]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A uvicorn process serving the API from a scratch directory."""

    def __init__(self, work: Path, model: Path, synchronous: str = "NORMAL"):
        self.work, self.model, self.port, self.synchronous = work, model, free_port(), synchronous
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from models.trust import trust_bundle

        trust_bundle(self.work / "trusted.json", self.model, "bench")  # the benchmark's own registry
        env = os.environ | {"TECHSCORE_MODEL_DIR": str(self.model), "TECHSCORE_KEYS_FILE": str(self.work / "keys.json"),
                            "TECHSCORE_TRUSTED_BUNDLES_FILE": str(self.work / "trusted.json"),
                            "TECHSCORE_DATABASE_URL": f"sqlite:///{self.work / 'audit.db'}", "PYTHONPATH": str(ROOT),
                            "TECHSCORE_SQLITE_SYNCHRONOUS": self.synchronous}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
            cwd=ROOT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def wrk(url: str, conns: int, seconds: int, script: Path | None) -> dict[str, float]:
    """Run wrk; return req/s, p50 and p99 in ms."""
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"] + (["-s", str(script)] if script else []) + [url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"wrk saw error responses:\n{out}")

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        assert m, out
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%")}


def paired(server: Server, script: Path, conns: int, seconds: int) -> tuple[dict[str, float], dict[str, float]]:
    """GET /healthz and POST /v1/scores in alternating one-second slices, `seconds` of each.

    The host's speed drifts by tens of percent within seconds; slices that alternate expose both
    endpoints to the same drift, so their ratio holds still where two 5-second runs did not.
    req/s: the slices' mean; p50: their median; p99: the worst slice's (conservative).
    """
    base, post = [], []
    for _ in range(seconds):
        base.append(wrk(server.url + "/healthz", conns, 1, None))
        post.append(wrk(server.url + "/v1/scores", conns, 1, script))

    def merged(runs: list[dict[str, float]]) -> dict[str, float]:
        return {"rps": sum(r["rps"] for r in runs) / len(runs), "p50": sorted(r["p50"] for r in runs)[len(runs) // 2],
                "p99": max(r["p99"] for r in runs)}

    return merged(base), merged(post)


def throughput(server: Server, key: str, work: Path, seconds: int) -> None:
    script = work / "post.lua"
    script.write_text(LUA_POST.format(key=key, body=__import__("json").dumps(example_profiles()["growth"])))
    wrk(server.url + "/healthz", 8, 2, None)  # warm-up
    wrk(server.url + "/v1/scores", 8, 2, script)
    print(f"{'endpoint':<22}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}")
    for conns in (1, 8, 32):
        base, post = paired(server, script, conns, seconds)
        print(f"{'GET /healthz':<22}{conns:>5}{base['rps']:>10,.0f}{base['p50']:>9.2f}{base['p99']:>9.2f}{'':>8}")
        print(f"{'POST /v1/scores':<22}{conns:>5}{post['rps']:>10,.0f}{post['p50']:>9.2f}{post['p99']:>9.2f}"
              f"{post['rps'] / base['rps']:>7.0%}")


def with_fsync(work: Path, model: Path, key: str, seconds: int) -> None:
    """POST /v1/scores at concurrency 8 with synchronous=FULL (an fsync per group commit)."""
    server = Server(work, model, "FULL")
    server.start()
    try:
        base, post = paired(server, work / "post.lua", 8, seconds)
    finally:
        server.stop()
    print(f"{'POST /v1/scores FULL':<22}{8:>5}{post['rps']:>10,.0f}{post['p50']:>9.2f}{post['p99']:>9.2f}"
          f"{post['rps'] / base['rps']:>7.0%}  (SQLite synchronous=FULL: fsync per group commit)")


def csv_upload(server: Server, key: str, work: Path, model: Path, rows: int) -> None:
    src, out = work / "firms.csv", work / "scored.csv"
    write_profiles(generate(rows, seed=21), src)
    data = src.read_bytes()
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        r = httpx.post(server.url + "/v1/scores/csv", content=data, timeout=120,
                       headers={"X-API-Key": key, "Content-Type": "text/csv"})
        timings.append(time.perf_counter() - started)
        r.raise_for_status()
    scorer = Scorer(load_bundle(model)[0])
    base = []
    for _ in range(3):
        started = time.perf_counter()
        score_file(scorer, src, out)
        base.append(time.perf_counter() - started)
    lines = r.text.count("\n") - 1
    print(f"CSV {rows:,} rows via POST /v1/scores/csv (scored + audited): {rows / min(timings):>10,.0f} rows/s "
          f"({lines:,} rows back)")
    print(f"same file with `techscore score` in-process (no HTTP, no audit): {rows / min(base):>10,.0f} rows/s "
          f"ratio {min(base) / min(timings):.2f}")


def answered_until_killed(server: Any, key: str, total: int, kill_after: int, timeout: float = 10) -> list[str]:
    """Send `total` scores from 8 threads, kill -9 `server` (its `.url`, `.kill9()`) once `kill_after` were
    answered 200; the ids answered."""
    answered: list[str] = []
    lock, killed = threading.Lock(), threading.Event()
    body = example_profiles()["startup"]

    def one(_: int) -> None:
        try:
            r = httpx.post(server.url + "/v1/scores", json=body, headers={"X-API-Key": key}, timeout=timeout)
        except httpx.HTTPError:
            return
        if r.status_code == 200:
            with lock:
                answered.append(r.json()["assessment_id"])
                if len(answered) == kill_after and not killed.is_set():
                    killed.set()
                    server.kill9()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(total)))
    return answered


def durability(work: Path, model: Path, key: str, total: int = 600, kill_after: int = 300) -> None:
    """Send requests from 8 threads, kill -9 the server mid-stream, restart, look every 200 up."""
    server = Server(work, model)
    server.start()
    answered = answered_until_killed(server, key, total, kill_after)
    server.start()  # same database file
    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": key}) as client:
            found = sum(client.get(f"/v1/assessments/{a}").status_code == 200 for a in answered)
    finally:
        server.stop()
    stored = AuditStore(f"sqlite:///{work / 'audit.db'}").ids()
    print(f"kill -9 durability: {len(answered)} answered 200 before the kill, {found} found via the API after "
          f"restart, {len(set(answered) & stored)} in the store, {len(stored)} stored in all "
          f"-> {'OK' if found == len(answered) else 'LOST RECORDS'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--csv-rows", type=int, default=10_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _, key = create_key(work / "keys.json", "officer", "bench")
        server = Server(work, args.model.resolve())
        server.start()
        try:
            print(f"model {load_bundle(args.model)[1]['version']}, one uvicorn worker, wrk -t1, {args.seconds} s per cell "
                  "in 1-s slices alternating with /healthz (p99: worst slice)")
            throughput(server, key, work, args.seconds)
            csv_upload(server, key, work, args.model, args.csv_rows)
        finally:
            server.stop()
        with_fsync(work, args.model.resolve(), key, args.seconds)
        durability(work, args.model.resolve(), key)


if __name__ == "__main__":
    main()
