"""Benchmark: bounded uploads and CPU off the event loop, against real uvicorn servers (one worker).

    .venv/bin/python bench/bench_uploads.py --model var/model [--upload-mb 20,60] [--seconds 5]

1. Three concurrent uploads of `--upload-mb` MB each (each size in turn, on a fresh server): the
   server's peak RSS (VmHWM, reset before the run) and the latency of `GET /healthz` (and of a single
   `POST /v1/scores`) sampled meanwhile from another process. Peak memory bounded by a constant shows
   as the same peak at every size.
2. On the code this branch started from (`git archive` of the merge base with main, or of `--base REV`)
   and on this checkout, one after the other in the same run: `POST /v1/scores` against `GET /healthz` at
   concurrency 8 (bench_api's alternating slices: the micro-batcher now scores on a worker thread
   and must keep its throughput), a 10,000-row CSV upload's rows/s, and ten concurrent 1000-firm
   `POST /v1/scores/batch` requests (two rounds) with the `/healthz` latency meanwhile.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import LUA_POST, free_port, paired  # noqa: E402
from features.schema import example_profiles  # noqa: E402
from models.bundle import DEFAULT_MODEL_DIR  # noqa: E402
from service.api.auth import create_key  # noqa: E402
from training.synthetic import generate, write_profiles  # noqa: E402


class Server:
    """A uvicorn process serving the API of the code under `root` from a scratch directory."""

    def __init__(self, root: Path, work: Path, model: Path, **settings: object):
        self.root, self.work, self.model, self.port = root, work, model, free_port()
        self.settings = {f"TECHSCORE_{k.upper()}": str(v) for k, v in settings.items()}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Server":
        from models.trust import trust_bundle

        trust_bundle(self.work / "trusted.json", self.model, "bench")  # the benchmark's own registry
        env = os.environ | {
            "TECHSCORE_MODEL_DIR": str(self.model), "TECHSCORE_KEYS_FILE": str(self.work / "keys.json"),
            "TECHSCORE_TRUSTED_BUNDLES_FILE": str(self.work / "trusted.json"),
            "TECHSCORE_DATABASE_URL": f"sqlite:///{self.work / f'audit-{self.port}.db'}",
            "PYTHONPATH": str(self.root), "PYTHONDONTWRITEBYTECODE": "1"} | self.settings
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
            cwd=self.root, env=env)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("server did not become ready")

    def __exit__(self, *_: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def reset_peak_rss(self) -> None:
        """Linux: VmHWM := VmRSS (writing 5 to clear_refs)."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MB."""
        status = dict(line.split(":", 1) for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines())
        return tuple(int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def _sample(port: int, key: str, stop: "multiprocessing.synchronize.Event", out: "multiprocessing.Queue") -> None:
    """In its own process: GET /healthz every 5 ms on one connection and, on another, a single score every
    50 ms, until `stop`. Apart, so that a slow score does not thin out the /healthz samples."""
    import threading

    health, scores, failed = [], [], []
    body = json.dumps(example_profiles()["growth"])
    headers = {"Content-Type": "application/json", "X-API-Key": key}

    def probe(method: str, path: str, into: list[float], pause: float, **kw: object) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while not stop.is_set():
            started = time.perf_counter()
            conn.request(method, path, **kw)  # type: ignore[arg-type]
            r = conn.getresponse()
            r.read()
            if r.status != 200:  # counted and reported, not timed
                failed.append(f"{path} {r.status}")
            else:
                into.append(time.perf_counter() - started)
            time.sleep(pause)

    scorer = threading.Thread(target=probe, args=("POST", "/v1/scores", scores, 0.05), kwargs={"body": body, "headers": headers})
    scorer.start()
    probe("GET", "/healthz", health, 0.005)
    scorer.join()
    out.put((health, scores, failed))


class Sampler:
    """Latency of /healthz and of single scores while the block runs, measured from another process."""

    def __init__(self, server: Server, key: str):
        self.server, self.key = server, key

    def __enter__(self) -> "Sampler":
        ctx = multiprocessing.get_context("spawn")
        self._stop, self._out = ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(target=_sample, args=(self.server.port, self.key, self._stop, self._out))
        self._proc.start()
        time.sleep(1.0)  # the sampler is running before the load starts
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        health, scores, self.failed = self._out.get(timeout=120)
        self.health, self.scores = np.array(health) * 1000, np.array(scores) * 1000
        self._proc.join()

    def line(self) -> str:
        def p(a: np.ndarray, q: float) -> float:
            return float(np.percentile(a, q)) if len(a) else float("nan")

        return (f"/healthz n={len(self.health)} p50 {p(self.health, 50):.1f} ms p99 {p(self.health, 99):.1f} ms "
                f"max {self.health.max():.0f} ms; single score n={len(self.scores)} p50 {p(self.scores, 50):.1f} ms "
                f"p99 {p(self.scores, 99):.1f} ms; not 200: {_counts(self.failed)}")


def _counts(answers: list[str]) -> str:
    return ", ".join(f"{n} × {a}" for a, n in sorted(Counter(answers).items())) or "none"


def big_csv(path: Path, megabytes: int) -> Path:
    """A CSV of about `megabytes` MB: 20 000 synthetic firms, their rows repeated."""
    small = path.with_suffix(".seed.csv")
    write_profiles(generate(20_000, seed=5), small)
    header, *rows = small.read_bytes().splitlines(keepends=True)
    body = b"".join(rows)
    with open(path, "wb") as fh:
        fh.write(header)
        while fh.tell() < megabytes << 20:
            fh.write(body[: (megabytes << 20) - fh.tell()].rsplit(b"\n", 1)[0] + b"\n")
    return path


def uploads(server: Server, key: str, data_path: Path, n: int) -> None:
    data = data_path.read_bytes()

    def post(_: int) -> tuple[int, int, float]:
        started = time.perf_counter()
        r = httpx.post(server.url + "/v1/scores/csv", content=data, timeout=1800,
                       headers={"X-API-Key": key, "Content-Type": "text/csv"})
        return r.status_code, r.text.count("\n") - 1, time.perf_counter() - started

    rss0, _ = server.memory_mb()
    server.reset_peak_rss()
    with Sampler(server, key) as s, ThreadPoolExecutor(n) as pool:
        results = list(pool.map(post, range(n)))
    rss1, peak = server.memory_mb()
    print(f"{n} concurrent uploads of {len(data) / 2**20:.0f} MB: status {[r[0] for r in results]}, rows back "
          f"{[r[1] for r in results]}, {max(r[2] for r in results):.0f} s")
    print(f"  server RSS before {rss0:.0f} MB, peak during {peak:.0f} MB, after {rss1:.0f} MB")
    print(f"  meanwhile: {s.line()}")


def batches(server: Server, key: str, n: int, rounds: int = 2) -> None:
    firms = list(example_profiles().values())
    body = json.dumps([firms[i % 3] for i in range(1000)]).encode()

    def post(_: int) -> tuple[float, int]:
        started = time.perf_counter()
        r = httpx.post(server.url + "/v1/scores/batch", content=body, timeout=600,
                       headers={"X-API-Key": key, "Content-Type": "application/json"})
        return time.perf_counter() - started, r.status_code

    with Sampler(server, key) as s, ThreadPoolExecutor(n) as pool:
        took, status = zip(*pool.map(post, range(n * rounds)))
    failed = [f"batch {c}" for c in status if c != 200]
    print(f"{n} concurrent 1000-firm batches x {rounds} rounds: slowest {max(took):.1f} s; not 200: {_counts(failed)}")
    print(f"  meanwhile: {s.line()}")


def base_checkout(work: Path, base: str | None) -> tuple[Path, str]:
    """The code at `base` (default: the merge base of this branch with main), extracted without touching any checkout."""
    ask = ["git", "rev-parse", base] if base else ["git", "merge-base", "HEAD", "main"]
    commit = subprocess.run(ask, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    archive = work / "base.tar"
    subprocess.run(["git", "archive", "-o", str(archive), commit], cwd=ROOT, check=True)
    target = work / "base"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target, commit[:10]


def csv_rate(server: Server, key: str, data: bytes) -> float:
    """Rows a second through POST /v1/scores/csv (best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        r = httpx.post(server.url + "/v1/scores/csv", content=data, timeout=600,
                       headers={"X-API-Key": key, "Content-Type": "text/csv"})
        r.raise_for_status()
        best = min(best, time.perf_counter() - started)
    return (data.count(b"\n") - 1) / best


def before_after(work: Path, model: Path, key: str, seconds: int, synchronous: str, base: str | None) -> None:
    """The same measurements on the code this branch started from and on this branch, one after the other."""
    script = work / "post.lua"
    script.write_text(LUA_POST.format(key=key, body=json.dumps(example_profiles()["growth"])))
    write_profiles(generate(10_000, seed=21), work / "10k.csv")
    data = (work / "10k.csv").read_bytes()
    base_root, commit = base_checkout(work, base)
    for label, root in ((f"before ({commit})", base_root), ("after (this branch)", ROOT)):
        print(f"-- {label}")
        with Server(root, work, model, sqlite_synchronous=synchronous) as server:
            paired(server, script, 8, 2)  # warm-up
            health, post = paired(server, script, 8, seconds)
            print(f"POST /v1/scores vs /healthz at concurrency 8: {post['rps']:,.0f} vs {health['rps']:,.0f} req/s, "
                  f"ratio {post['rps'] / health['rps']:.0%} (p99 {post['p99']:.1f} ms)")
            print(f"10,000-row CSV via POST /v1/scores/csv: {csv_rate(server, key, data):,.0f} rows/s")
            batches(server, key, 10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--upload-mb", default="20,60", help="comma-separated sizes of the uploads, in MB")
    parser.add_argument("--uploads", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--synchronous", default="NORMAL", help="TECHSCORE_SQLITE_SYNCHRONOUS of the servers")
    parser.add_argument("--base", help="the revision compared against (default: the merge base with main)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: uploads,compare")
    args = parser.parse_args()
    model, skip = args.model.resolve(), set(args.skip.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _, key = create_key(work / "keys.json", "officer", "bench")
        print(f"cpu_count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
        if "uploads" not in skip:
            for megabytes in (int(m) for m in args.upload_mb.split(",")):
                data = big_csv(work / "big.csv", megabytes)
                with Server(ROOT, work, model, max_concurrent_uploads=args.uploads,
                            sqlite_synchronous=args.synchronous) as server:
                    uploads(server, key, data, args.uploads)
                data.unlink()
        if "compare" not in skip:
            before_after(work, model, key, args.seconds, args.synchronous, args.base)


if __name__ == "__main__":
    main()
