"""CPU work off the event loop: worker threads for batch validation and scoring, and upload admission.

The event loop only parses, dispatches and answers: a 1000-firm batch (0.2–0.3 s of CPU) or a
chunk of an upload run on a `CpuPool` thread, so `/healthz` and single scores keep being answered.
Few threads on purpose: every extra CPU-bound thread is one more contender for the GIL the event
loop needs between requests. An upload advances one chunk per task, so concurrent uploads take
turns chunk by chunk instead of one waiting for the other to finish.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any, Callable, Iterator, TypeVar

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
