"""A stalled audit disk: commits run off the event loop, a waiting request gets 503 when its (injected)
timeout fires, /healthz and /readyz keep answering, and healthy() tells the truth throughout."""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.schema import example_profiles
from service.api.app import create_app
from service.store.audit import AuditRecord, AuditStore, StoreError


class Timers:
    """An injected `call_later`: records each timer instead of arming it; the test fires them."""

    def __init__(self) -> None:
        self.armed: list[tuple[asyncio.AbstractEventLoop, float, Any, tuple[Any, ...]]] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, delay: float, callback: Any, *args: Any) -> Any:
        self.armed.append((loop, delay, callback, args))
        return loop.call_soon(lambda: None)  # a handle to cancel; does nothing

    def fire(self, i: int = -1) -> None:
        loop, _, callback, args = self.armed[i]
        loop.call_soon_threadsafe(callback, *args)


class Stall:
    """Make a store's commits block until released (the disk frozen), noting when one is in progress."""

    def __init__(self, store: AuditStore):
        self.entered, self.release = threading.Event(), threading.Event()
        self._commit = store._commit

        def blocked(groups: Any) -> None:
            self.entered.set()
            self.release.wait()
            self._commit(groups)

        store._commit = blocked  # type: ignore[method-assign]


def _rec(i: int) -> AuditRecord:
    return AuditRecord(f"id-{i}", "2025-01-01T00:00:00+00:00", "F1", "k1", "single", "v1", "{}", '{"score": 1}')


def test_a_stalled_commit_times_out_into_store_error_and_unhealthy(tmp_path):
    timers, clock = Timers(), [100.0]
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", commit_timeout=2.0, call_later=timers,
                       clock=lambda: clock[0])
    stall = Stall(store)

    async def main() -> None:
        first = asyncio.ensure_future(store.write([_rec(1)]))
        await asyncio.to_thread(stall.entered.wait)  # the writer thread is stuck in the commit
        second = asyncio.ensure_future(store.write([_rec(2)]))  # queued behind it
        await asyncio.sleep(0)
        assert store.healthy()  # stuck for less than the timeout so far
        clock[0] += 2.5
        assert not store.healthy()  # stuck longer than the timeout: not ready
        clock[0] -= 2.5
        assert [t[1] for t in timers.armed] == [2.0, 2.0]
        timers.fire(0)
        timers.fire(1)
        for waiting in (first, second):
            with pytest.raises(StoreError, match="not done within 2 s"):
                await waiting
        assert not store.healthy()  # a caller gave up: not ready until a commit finishes
        stall.release.set()
        await store.write([_rec(3)])  # the disk is back

    asyncio.run(main())
    assert store.healthy()
    # the first commit had begun: its record is there (recorded, though no decision was sent);
    # the second caller gave up before its turn: its record was never written
    assert store.ids() == {"id-1", "id-3"}
    store.close()


def test_a_failing_commit_is_unhealthy_until_one_succeeds(tmp_path):
    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}")
    original = store._commit

    def full(groups: Any) -> None:
        raise OSError("disk full")

    store._commit = full  # type: ignore[method-assign]

    async def write(i: int) -> None:
        await store.write([_rec(i)])

    with pytest.raises(StoreError):
        asyncio.run(write(1))
    assert not store.healthy() and "disk full" in store.last_error
    with pytest.raises(StoreError, match="not writable: disk full"):
        store.check_writable()
    store._commit = original  # type: ignore[method-assign]
    asyncio.run(write(2))
    assert store.healthy()
    store.close()


def test_a_read_only_store_is_unhealthy_from_the_start(tmp_path):
    db = tmp_path / "ro.db"
    AuditStore(f"sqlite:///{db}").close()
    store = AuditStore(f"sqlite:///file:{db}?mode=ro&uri=true")
    assert not store.healthy() and "readonly" in store.last_error
    store.close()


def test_health_answers_while_the_audit_commit_is_stalled_and_the_waiting_request_gets_503(settings, keys):
    with TestClient(create_app(settings)) as client, ThreadPoolExecutor(1) as pool:
        store = client.app.state.api.store
        timers = Timers()
        store._call_later = timers
        stall = Stall(store)
        scoring = pool.submit(client.post, "/v1/scores", json=example_profiles()["growth"], headers=keys.h())
        assert stall.entered.wait(60)  # its audit commit is in progress and will not finish
        assert client.get("/healthz").status_code == 200  # the event loop is free
        assert client.get("/readyz").status_code == 200  # stuck for less than the timeout so far
        assert client.get("/v1/model", headers=keys.h()).status_code == 200
        assert not scoring.done()  # no decision before its record
        timers.fire()
        r = scoring.result(timeout=60)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert "score" not in r.json() and "audit" in r.json()["detail"]
        assert client.get("/readyz").status_code == 503  # a request gave up on the store
        assert client.get("/healthz").status_code == 200
        stall.release.set()
        ok = client.post("/v1/scores", json=example_profiles()["growth"], headers=keys.h())
        assert ok.status_code == 200
        assert client.get("/readyz").status_code == 200


def test_an_upload_may_take_longer_than_a_single_assessment(tmp_path):
    """The commit timeout grows with an upload's rows (hand-computed: 5 s + 100,000 × 60 µs = 11 s)."""
    from service.store.audit import UploadRecord

    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", commit_timeout=5.0)
    try:
        upload = UploadRecord((), [()] * 100_000)
        assert store.allowed_seconds([upload]) == pytest.approx(11.0)
        assert store.allowed_seconds([]) == 5.0
    finally:
        store.close()


def test_a_record_queued_behind_an_upload_may_wait_for_it(tmp_path):
    """A single assessment behind a 100,000-row upload is allowed the upload's time too (5 + 6 = 11 s),
    so it is not refused while a healthy disk inserts the upload's rows."""
    from service.store.audit import UploadRecord

    store = AuditStore(f"sqlite:///{tmp_path / 'a.db'}", commit_timeout=5.0)
    delays: list[float] = []

    class Timer:
        def cancel(self) -> None:
            pass

    store._call_later = lambda loop, delay, fn, fut: delays.append(delay) or Timer()
    real = store._queue

    class Nowhere:  # no record reaches the writer (only the allowances are looked at); close() still does
        def put(self, item: Any) -> None:
            if item is None:
                real.put(item)

        def __getattr__(self, name: str) -> Any:  # the writer thread keeps waiting on the real queue
            return getattr(real, name)

    store._queue = Nowhere()  # type: ignore[assignment]

    async def main() -> None:
        first = asyncio.create_task(store.write([UploadRecord((), [()] * 100_000)]))
        await asyncio.sleep(0)
        second = asyncio.create_task(store.write([object()]))  # type: ignore[list-item]
        await asyncio.sleep(0)
        first.cancel(), second.cancel()
        await asyncio.gather(first, second, return_exceptions=True)

    try:
        asyncio.run(main())
        assert delays == [pytest.approx(11.0), pytest.approx(11.0)]
    finally:
        store.close()
