"""The scorer being served: atomic model swap, and micro-batching of concurrent single requests."""
from __future__ import annotations

import asyncio
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Sequence

from features.schema import FirmProfile
from features.validate import profiles_to_columns
from models.bundle import BundleError, load_bundle
from models.scoring import ScoreBatch, Scorer


BATCH_WINDOW_SECONDS = 0.002  # a batch closes when no request joined it for this long...
MAX_WAIT_SECONDS = 0.008  # ...or when its first request has waited this long
MAX_BATCH = 64  # a full batch is scored at once
Outcome = tuple[ScoreBatch, int] | Exception | None  # one request's answer from the worker


@dataclass(frozen=True)
class LoadedModel:
    """A scorer with the manifest it was verified against (swapped as one reference)."""
    scorer: Scorer
    manifest: dict[str, Any]
    directory: Path

    @property
    def version(self) -> str:
        return self.scorer.version


def load_model(directory: Path, trusted: Collection[str] | None = None) -> LoadedModel:
    """Load a bundle after `load_bundle` has checked it is trusted (when `trusted` is given) and its files' sha256."""
    bundle, manifest = load_bundle(directory, trusted)
    try:
        scorer = Scorer(bundle)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:  # well-formed JSON, wrong content
        raise BundleError(f"the bundle's content is not a usable model: {type(exc).__name__}: {exc}") from exc
    return LoadedModel(scorer, manifest, Path(directory))


def score_profiles(model: LoadedModel, profiles: Sequence[FirmProfile]) -> ScoreBatch:
    """Score validated profiles on `model` (as_of defaults to today)."""
    return model.scorer.score(profiles_to_columns(profiles, date.today()))


class ScoringEngine:
    """Holds the current model; `score_one` groups requests that arrive together into one call.

    Scoring one firm costs about as much as scoring eight (numpy per-call overhead dominates),
    so requests wait for company: a batch stays open while requests keep joining it, until none
    came for BATCH_WINDOW_SECONDS (at most MAX_WAIT_SECONDS after its first). The window slides
    because a wave of eight requests takes the server about 2 ms to read and validate: a window
    fixed at the first arrival closed one batch in five early, and its straggler then waited a
    window of its own. A batch is scored as soon as it holds as many requests as the server had in
    flight when the previous batch was scored (`admit` counts them): under a steady concurrency
    of 8, every wave of 8 is scored the moment its last request arrives instead of idling until
    the window ends, and a lone client is answered at once. When fewer arrive, the window closes the batch and the
    expectation drops to what is in flight. (Scoring a lone request at once regardless was tried:
    under concurrency 8 the first request of each wave is briefly alone, batches collapse to one
    and throughput halves.) Each batch takes the model reference once, so a reload never changes
    a batch half-way: requests in flight finish on the scorer they started with.
    """

    def __init__(self, model: LoadedModel, worker: Executor | None = None):
        self.model = model
        # one thread: batches are scored in the order they closed, while the loop gathers the next
        self._worker = worker or ThreadPoolExecutor(max_workers=1, thread_name_prefix="micro-batch")
        self._pending: list[tuple[FirmProfile | Callable[[], FirmProfile], asyncio.Future[tuple[ScoreBatch, int]]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight = 0  # requests inside `admit`
        self._expected = MAX_BATCH  # batch size that closes a batch before the window ends
        self._opened = self._last_arrival = 0.0  # loop times the open batch's first and latest requests joined

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Count a scoring request as in flight for as long as the block runs (its whole handling)."""
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    def swap(self, model: LoadedModel) -> LoadedModel:
        """Serve `model` from now on (a single reference assignment: atomic); return the old one."""
        old, self.model = self.model, model
        return old

    def score_profiles(self, profiles: Sequence[FirmProfile], model: LoadedModel | None = None) -> ScoreBatch:
        """Score validated profiles now, on `model` or else the current one (as_of defaults to today)."""
        return score_profiles(model or self.model, profiles)

    async def score_one(self, profile: FirmProfile | Callable[[], FirmProfile]) -> tuple[ScoreBatch, int]:
        """Score one profile, batched with others that arrive meanwhile; (batch, row).

        `profile` may be a function that validates it: the batch then validates all its profiles in one
        pass before scoring them (the same code back to back runs from warm caches), and an error it
        raises is this request's alone.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[ScoreBatch, int]] = loop.create_future()
        self._pending.append((profile, fut))
        self._last_arrival = loop.time()
        if len(self._pending) >= min(self._expected, MAX_BATCH):
            if self._timer is not None:
                self._timer.cancel()
            self._flush()
        elif len(self._pending) == 1:
            self._opened = self._last_arrival
            self._timer = loop.call_later(BATCH_WINDOW_SECONDS, self._on_window)
        return await fut

    def _on_window(self) -> None:
        """Close the batch once no request joined it for BATCH_WINDOW_SECONDS (or it is MAX_WAIT_SECONDS old)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        wait = min(self._last_arrival + BATCH_WINDOW_SECONDS, self._opened + MAX_WAIT_SECONDS) - now
        if wait > 0:
            self._timer = loop.call_later(wait, self._on_window)
            return
        self._flush()

    def _flush(self) -> None:
        """Close the batch: it is validated and scored on the engine's worker thread (not on the event
        loop, which meanwhile reads the next requests); its futures are answered back on the loop."""
        waiting, self._pending, self._timer = self._pending, [], None
        self._expected = max(len(waiting), self._in_flight)
        if not waiting:
            return
        # the model is taken here, when the batch closes: a reload meanwhile does not change it
        loop, futures = asyncio.get_running_loop(), [fut for _, fut in waiting]
        job = self._worker.submit(self._score_batch, self.model, [p for p, _ in waiting])
        # one wake-up of the loop per batch (asyncio's run_in_executor wraps the job in two futures)
        job.add_done_callback(lambda done: _answer_on(loop, futures, done))

    def _score_batch(self, model: LoadedModel, profiles: list[FirmProfile | Callable[[], FirmProfile]]) -> list[Outcome]:
        """Validate and score a batch (on the worker thread): each request's result or its own exception."""
        outcomes: list[Outcome] = []
        good: list[tuple[int, FirmProfile]] = []
        for i, profile in enumerate(profiles):
            try:
                good.append((i, profile() if callable(profile) else profile))
                outcomes.append(None)
            except Exception as exc:  # this request's invalid profile: its own answer
                outcomes.append(exc)
        if not good:
            return outcomes
        try:
            batch = self.score_profiles([p for _, p in good], model)
        except Exception as exc:
            if len(good) == 1:
                outcomes[good[0][0]] = exc
                return outcomes
            for i, p in good:  # isolate the profile that breaks scoring
                outcomes[i] = self._score_alone(model, p)
            return outcomes
        for row, (i, _) in enumerate(good):
            outcomes[i] = (batch, row)
        return outcomes

    def _score_alone(self, model: LoadedModel, profile: FirmProfile) -> Outcome:
        try:
            return self.score_profiles([profile], model), 0
        except Exception as exc:
            return exc


def _answer_on(loop: asyncio.AbstractEventLoop, futures: list[asyncio.Future[tuple[ScoreBatch, int]]],
               job: Future[list[Outcome]]) -> None:
    try:
        loop.call_soon_threadsafe(_answer, futures, job)
    except RuntimeError:  # the loop has closed (shutdown): nobody waits for these answers
        pass


def _answer(futures: list[asyncio.Future[tuple[ScoreBatch, int]]], job: Future[list[Outcome]]) -> None:
    """Resolve each request's future with its outcome (on the loop; a request that gave up is skipped)."""
    try:
        outcomes: list[Outcome] = job.result()
    except BaseException as exc:  # the worker itself failed: every request of the batch gets the error
        outcomes = [exc if isinstance(exc, Exception) else RuntimeError("scoring was cancelled")] * len(futures)
    for fut, outcome in zip(futures, outcomes):
        if fut.done():
            continue
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)
