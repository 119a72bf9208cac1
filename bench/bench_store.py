"""Benchmark: the audit store under a real server, on SQLite and on PostgreSQL.

    .venv/bin/python bench/bench_store.py [--model var/model] [--soak-slices 5 --slice-seconds 60] [--seconds 5]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

1. kill -9 durability on each backend: 8 client threads, the server killed after 300 answers,
   restarted on the same store; every assessment answered 200 must be found (lost / answered).
2. A soak of `POST /v1/scores` at concurrency 32 (wrk, one slice after another, SQLite): errors,
   p99 of the first and the last slice (the target: last ≤ 1.5 × first), the server's RSS, and the
   audit store's bytes per assessment at the end.
3. `POST /v1/scores` at concurrency 8 as a share of `GET /healthz` on the same server in the same run
   (alternating one-second slices, as bench_api.py): SQLite with 1 worker, PostgreSQL with 1 and 2,
   with synchronous_commit on (PostgreSQL's default: a commit waits for the WAL fsync) and off (the
   durability of SQLite's synchronous=NORMAL: an answered record survives a crash of the API, not
   one of the database server within its wal_writer_delay).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import LUA_POST, answered_until_killed, free_port, paired  # noqa: E402
from features.schema import FIELD_SPECS, example_profiles  # noqa: E402
from models.bundle import DEFAULT_MODEL_DIR, load_bundle  # noqa: E402
from service.api.auth import create_key  # noqa: E402
from service.store.audit import PG_DATA_BYTES, AuditStore, make_engine  # noqa: E402


class Server:
    """`techscore serve` on a store URL with N uvicorn workers."""

    def __init__(self, work: Path, model: Path, url: str, workers: int = 1):
        self.work, self.model, self.db, self.workers, self.port = work, model, url, workers, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = os.environ | {"TECHSCORE_MODEL_DIR": str(self.model), "TECHSCORE_KEYS_FILE": str(self.work / "keys.json"),
                            "TECHSCORE_DATABASE_URL": self.db, "PYTHONPATH": str(ROOT),
                            "TECHSCORE_SQLITE_SYNCHRONOUS": "NORMAL"}
        self.proc = subprocess.Popen([sys.executable, "-m", "service.cli.main", "serve", "--port", str(self.port),
                                      "--workers", str(self.workers)], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.work / "server.log", "ab"))
        deadline = time.time() + 120
        ready = 0
        while time.time() < deadline:
            try:  # every worker ready: a few answers in a row
                ready = ready + 1 if httpx.get(self.url + "/readyz", timeout=1).status_code == 200 else 0
                if ready >= 3 * self.workers:
                    return
            except httpx.HTTPError:
                ready = 0
            time.sleep(0.2)
        raise RuntimeError("server did not become ready: " + (self.work / "server.log").read_text()[-2000:])

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes."""
        assert self.proc is not None
        pids = [self.proc.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                                                                 text=True).stdout.split()]
        total = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A store URL in a fresh PostgreSQL schema, dropped afterwards."""
    import psycopg

    schema = f"ts_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
                         "AND pid <> pg_backend_pid()", (schema,))
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def store_bytes(url: str) -> int:
    """Bytes of the audit store: an SQLite file with its WAL, or a schema's relations on PostgreSQL."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            db = Path(engine.url.database)
            return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(PG_DATA_BYTES).scalar())
    finally:
        engine.dispose()


def durability(work: Path, model: Path, url: str, key: str, label: str, total: int = 600, kill_after: int = 300) -> None:
    server = Server(work, model, url)
    server.start()
    answered = answered_until_killed(server, key, total, kill_after, timeout=30)
    store = AuditStore(url)
    stored = store.ids()
    store.close()
    lost = len(set(answered) - stored)
    print(f"kill -9 {label:<11}: {len(answered)} answered 200 (server killed after {kill_after}), {lost} lost, "
          f"{len(stored)} stored -> {'OK' if lost == 0 else 'LOST RECORDS'}")


def wrk_raw(url: str, conns: int, seconds: int, script: Path) -> dict[str, float]:
    """wrk with errors counted instead of raised: req/s, p99 ms, requests, non-2xx and socket errors."""
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert m, out
    p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p99": p99, "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
            "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)}


LUA_MANY = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
bodies = {{{bodies}}}
request = function() return wrk.format(nil, nil, nil, bodies[math.random(#bodies)]) end
"""


def varied_script(server: Server, key: str, work: Path, firms: int = 300) -> Path:
    """A wrk script posting a different synthetic firm each time (those the server scores: 200)."""
    from training.synthetic import generate

    frame = generate(firms, seed=17)
    cols = [c for c in frame.columns if c in FIELD_SPECS]
    bodies = []
    for row in frame[cols].to_dict(orient="records"):
        body = json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v.item() if hasattr(v, "item") else v)
                           for k, v in row.items() if not (isinstance(v, float) and v != v)}, ensure_ascii=False)
        if httpx.post(server.url + "/v1/scores", content=body.encode(), timeout=30,
                      headers={"X-API-Key": key, "Content-Type": "application/json"}).status_code == 200:
            bodies.append(f"[==[{body}]==]")
    script = work / "varied.lua"
    script.write_text(LUA_MANY.format(key=key, bodies=",\n".join(bodies)), encoding="utf-8")
    return script


def soak(work: Path, model: Path, url: str, key: str, slices: int, slice_seconds: int) -> None:
    server = Server(work, model, url)
    server.start()
    try:
        script = varied_script(server, key, work)
        runs = []
        for i in range(slices):
            runs.append(wrk_raw(server.url + "/v1/scores", 32, slice_seconds, script))
            wal = Path(f"{make_engine(url).url.database}-wal")
            runs[-1]["wal_mb"] = wal.stat().st_size / 1e6 if wal.exists() else 0.0
            print(f"  soak slice {i + 1}/{slices}: {runs[-1]['rps']:,.0f} req/s, p99 {runs[-1]['p99']:.1f} ms, "
                  f"errors {runs[-1]['errors']}, RSS {server.rss_mb():.0f} MB, WAL file {runs[-1]['wal_mb']:.1f} MB",
                  flush=True)
        rss = server.rss_mb()
    finally:
        server.stop()
    store = AuditStore(url)
    count = len(store.ids())
    store.close()
    size = store_bytes(url)
    first, last = runs[0]["p99"], runs[-1]["p99"]
    print(f"soak c32 {slices} × {slice_seconds} s: {sum(r['requests'] for r in runs):,} requests, "
          f"{sum(r['errors'] for r in runs)} errors, p99 first {first:.1f} ms / last {last:.1f} ms "
          f"= {last / first:.2f}× (target ≤ 1.5), RSS {rss:.0f} MB, audit {size / max(count, 1):,.0f} bytes per "
          f"assessment ({count:,} stored, {size / 1e6:.1f} MB; WAL file at most {max(r['wal_mb'] for r in runs):.1f} MB)")


def ratio(work: Path, model: Path, url: str, workers: int, script: Path, seconds: int, label: str) -> None:
    server = Server(work, model, url, workers)
    server.start()
    try:
        from bench_api import wrk

        wrk(server.url + "/v1/scores", 8, 2, script)  # warm-up (every worker)
        base, post = paired(server, script, 8, seconds)  # type: ignore[arg-type]
    finally:
        server.stop()
    print(f"{label:<42} POST /v1/scores c8 {post['rps']:>7,.0f} req/s p99 {post['p99']:>6.1f} ms | /healthz "
          f"{base['rps']:>7,.0f} req/s | ratio {post['rps'] / base['rps']:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seconds", type=int, default=5, help="seconds of each endpoint in the ratio runs")
    parser.add_argument("--soak-slices", type=int, default=5)
    parser.add_argument("--slice-seconds", type=int, default=60)
    parser.add_argument("--skip", default="", help="comma-separated: durability,soak,ratio")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    skip = set(args.skip.split(","))
    model = args.model.resolve()
    print(f"model {load_bundle(model)[1]['version']}; {os.cpu_count()} CPUs (shared: figures move with the host's load)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _, key = create_key(work / "keys.json", "officer", "bench")
        script = work / "post.lua"
        script.write_text(LUA_POST.format(key=key, body=json.dumps(example_profiles()["growth"])))
        if "durability" not in skip:
            durability(work, model, f"sqlite:///{work / 'kill.db'}", key, "SQLite")
            with pg_schema(args.pg) as url:
                durability(work, model, url, key, "PostgreSQL")
        if "soak" not in skip:
            soak(work, model, f"sqlite:///{work / 'soak.db'}", key, args.soak_slices, args.slice_seconds)
        if "ratio" not in skip:
            ratio(work, model, f"sqlite:///{work / 'ratio.db'}", 1, script, args.seconds, "SQLite, 1 worker")
            for sync in ("on", "off"):  # off: the commit waits for PostgreSQL's WAL buffer, not its fsync
                for workers in (1, 2):
                    with pg_schema(args.pg) as url:
                        url = url.replace("options=", f"options=-csynchronous_commit%3D{sync}%20")
                        ratio(work, model, url, workers, script, args.seconds,
                              f"PostgreSQL sync_commit={sync}, {workers} worker(s)")


if __name__ == "__main__":
    main()
