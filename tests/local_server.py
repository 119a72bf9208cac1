"""Run the app under a real uvicorn server on a free loopback port: in a background thread
(`background_server`), or as a `techscore serve` process of its own (`serve_process`).

The browser tests and the web benchmark exercise the page over real HTTP, exactly as `techscore serve`
serves it, without a fixed port that could clash with another process, by Debian's headless Chromium
started with the flags below. The server and durability tests start, kill and restart real processes.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 120  # a bound on waiting for a server to be ready: past it the test fails, it never hangs

CHROMIUM = "/usr/bin/chromium"
# Headless, and quiet: no first-run UI, no network calls of its own, no GPU on CI machines.
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


@contextmanager
def background_server(app: Any, start_timeout: float = 30.0) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL (http://127.0.0.1:PORT)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # the OS picks a free port; uvicorn serves on this very socket
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(url: str) -> bool:
    """Whether the server at `url` answers /readyz with 200."""
    try:
        return httpx.get(url + "/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def serve_process(env: dict[str, str], port: int, log: Path, *args: str) -> subprocess.Popen[bytes]:
    """`techscore serve --port PORT ARGS` of this checkout as a process of its own, its output appended to `log`;
    returned once it answers /readyz (AssertionError with the log if it ends, or is not ready in time, first)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "service.cli.main", "serve", "--port", str(port), *args],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_SECONDS
    while not ready(f"http://127.0.0.1:{port}"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(log.read_text())
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
    return proc
