"""CPU work off the event loop: worker processes for JSON batches, worker threads for uploads, upload admission.

The event loop only parses, dispatches and answers. A 1000-firm batch (0.2–0.3 s of CPU) runs in a
`WorkerProcesses` process: on a thread it would hold the GIL the loop needs, in stretches of up to a tenth
of a second. A chunk of an upload runs on a `CpuPool` thread (it reads and writes spooled files, and each
chunk is one task, so concurrent uploads take turns chunk by chunk). Few threads on purpose: every extra
CPU-bound thread is one more contender for the GIL.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import select
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from functools import partial
from typing import Any, Callable, Iterator, Sequence, TypeVar

from service.api.errors import ApiProblem

log = logging.getLogger(__name__)

T = TypeVar("T")
_END: Any = object()


class CpuPool:
    """A small pool of worker threads for request CPU work."""

    def __init__(self, threads: int, name: str = "cpu"):
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on a worker thread; its exception, if any, is raised here."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args))

    async def drive(self, steps: Iterator[T | None]) -> T:
        """Advance a step generator on the workers, one task per step, until it yields a result.

        If the request is cancelled meanwhile, the generator is closed on the pool (after the step
        in progress), so its clean-up never runs on the event loop or beside a running step."""
        try:
            while (item := await self.run(next, steps, _END)) is None:
                pass
            if item is _END:
                raise RuntimeError("the steps ended without a result")
            return item
        finally:
            try:
                self._pool.submit(_close, steps)
            except RuntimeError:  # the pool is shut down (the app is stopping): nothing runs the steps any more
                pass

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class WorkerProcesses:
    """A pool of worker processes, forked from a fork server that has already imported `preload` (a worker
    starts in milliseconds, not the seconds of importing pandas and pydantic). Arguments and results cross
    pickled: give it functions of bytes and plain data. A worker that dies (killed, out of memory) fails
    the tasks it held with a 503 and the pool is replaced."""

    def __init__(self, processes: int, preload: Sequence[str]):
        self.processes = processes
        self.running = 0  # tasks submitted and not yet answered
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))  # read when the fork server starts (once a process)
        self._pool: ProcessPoolExecutor | None = None
        self._starting: asyncio.Future[ProcessPoolExecutor] | None = None

    async def start(self) -> ProcessPoolExecutor:
        """The pool, started off the event loop if it is not running: starting blocks until the processes
        run (the first start of a server waits for the fork server's imports; a restart, for a fork)."""
        if self._pool is None:
            if self._starting is None:
                self._starting = asyncio.ensure_future(asyncio.to_thread(self._launch))
            starting = self._starting
            try:
                self._pool = await asyncio.shield(starting)
            except (OSError, BrokenProcessPool) as exc:  # no process could be started (out of memory, process limit)
                log.error("worker processes not started: %s", exc)
                raise _worker_problem("评分进程无法启动，请稍后重试 / no scoring worker could be started; retry later") from exc
            finally:
                if self._starting is starting:
                    self._starting = None
        return self._pool

    def _launch(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.processes, mp_context=self._context, initializer=exit_with,
                                   initargs=(os.getpid(),))
        for started in [pool.submit(os.getpid) for _ in range(self.processes)]:  # a process per task until all run
            started.result()
        return pool

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker process; its exception, if any, is raised here."""
        self.running += 1
        pool: ProcessPoolExecutor | None = None
        try:
            pool = await self.start()
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool as exc:
            log.error("a worker process stopped: %s", exc)
            if self._pool is pool:
                self._pool = None  # the next task starts a fresh pool
                pool.shutdown(wait=False, cancel_futures=True)
            raise _worker_problem("评分进程意外退出，请重试 / a scoring worker stopped unexpectedly; retry") from exc
        finally:
            self.running -= 1

    def shutdown(self) -> None:
        """Stop the workers and wait for them (the server has finished its requests by then): a pool left to
        the interpreter's exit leaks its queues' semaphores, which the resource tracker reports."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def exit_with(pid: int) -> None:
    """In a worker: end this process when process `pid` (the server) ends, however it ends. A pool's worker
    waits for tasks on a pipe it also holds the writing end of, so it would outlive a server killed with
    SIGKILL, and keep its fork server alive too: one watcher thread per worker."""

    def watch() -> None:
        try:
            select.select([os.pidfd_open(pid)], [], [])  # Linux: readable once the process has exited
        except ProcessLookupError:  # already gone
            pass
        except AttributeError:  # no pidfd (macOS): ask every second
            while _exists(pid):
                time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-server", daemon=True).start()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone (or the pid reused by another user's process)
        return False
    return True


def _worker_problem(detail: str) -> ApiProblem:
    return ApiProblem(503, detail, headers={"Retry-After": "1"})


def _close(steps: Iterator[Any]) -> None:
    try:
        steps.close()  # type: ignore[attr-defined]
    except ValueError:  # still running on another worker: it is closed when collected
        pass


class TooManyUploads(RuntimeError):
    """All upload slots are taken (answered 429 with Retry-After)."""

    def __init__(self, limit: int):
        super().__init__(f"{limit} uploads already in progress")
        self.limit = limit


class UploadSlots:
    """At most `limit` uploads are received and scored at once; the next one is refused, not queued
    (a queued upload would hold its body, and the client's connection, for as long as it waits)."""

    def __init__(self, limit: int):
        self.limit, self.in_use = limit, 0

    @contextmanager
    def take(self) -> Iterator[None]:
        """Hold a slot for the block (event-loop only: no lock needed); TooManyUploads when none is free."""
        if self.in_use >= self.limit:
            raise TooManyUploads(self.limit)
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
