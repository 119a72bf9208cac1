"""Micro-batching and the atomic model swap."""
from __future__ import annotations

import asyncio
import dataclasses

from features.schema import FirmProfile, example_profiles
from models.scoring import Scorer
import service.api.engine as engine_module
from service.api.engine import LoadedModel, ScoringEngine, load_model

PROFILES = [FirmProfile.model_validate(p) for p in example_profiles().values()]


def test_concurrent_requests_are_scored_in_one_batch_in_order(model_dir):
    engine = ScoringEngine(load_model(model_dir))
    sizes: list[int] = []
    score = engine.score_profiles
    engine.score_profiles = lambda ps, *m: sizes.append(len(ps)) or score(ps, *m)  # type: ignore[method-assign]

    async def main():
        return await asyncio.gather(*(engine.score_one(p) for p in PROFILES))

    results = asyncio.run(main())
    assert sizes == [3]
    assert [batch.firm_id[i] for batch, i in results] == [p.firm_id for p in PROFILES]
    batch, i = asyncio.run(engine.score_one(PROFILES[1]))  # alone: a batch of one, same score
    assert sizes == [3, 1] and batch.score[i] == results[1][0].score[results[1][1]]


def test_a_request_scored_before_a_swap_keeps_the_old_model(model_dir):
    old = load_model(model_dir)
    new_scorer = Scorer(old.scorer.bundle)
    new_scorer.version = "v-new"
    engine = ScoringEngine(old)

    async def main():
        in_flight = asyncio.ensure_future(engine.score_one(PROFILES[0]))
        await asyncio.sleep(0.05)  # its batch has been scored; the request has not resumed yet
        engine.swap(dataclasses.replace(old, scorer=new_scorer))
        before = await in_flight
        after = await engine.score_one(PROFILES[0])
        return before, after

    (b1, _), (b2, _) = asyncio.run(main())
    assert (b1.model_version, b2.model_version) == (old.version, "v-new")
    assert isinstance(engine.model, LoadedModel) and engine.model.version == "v-new"


def test_a_batch_closes_once_as_many_requests_as_were_in_flight_have_arrived(model_dir, monkeypatch):
    engine = ScoringEngine(load_model(model_dir))
    sizes: list[int] = []
    score = engine.score_profiles
    engine.score_profiles = lambda ps, *m: sizes.append(len(ps)) or score(ps, *m)  # type: ignore[method-assign]

    async def request(profile: FirmProfile):
        with engine.admit():
            return await engine.score_one(profile)

    async def main() -> None:
        monkeypatch.setattr(engine_module, "BATCH_WINDOW_SECONDS", 0.01)
        await asyncio.gather(*(request(p) for p in PROFILES))  # closed by the window; 3 were in flight
        monkeypatch.setattr(engine_module, "BATCH_WINDOW_SECONDS", 600)
        await asyncio.wait_for(asyncio.gather(*(request(p) for p in PROFILES)), 60)  # closed by its 3rd request
        monkeypatch.setattr(engine_module, "BATCH_WINDOW_SECONDS", 0.01)
        await request(PROFILES[0])  # fewer than expected: the window closes it, one is in flight now
        monkeypatch.setattr(engine_module, "BATCH_WINDOW_SECONDS", 600)
        await asyncio.wait_for(request(PROFILES[0]), 60)  # a lone client is answered at once

    asyncio.run(main())
    assert sizes == [3, 3, 1, 1]


def test_a_batch_stays_open_while_requests_keep_joining_up_to_the_longest_wait(model_dir, monkeypatch):
    """The window slides: a request joining within BATCH_WINDOW_SECONDS of the previous one keeps the
    batch open (a wave that takes longer than one window to validate is scored together), but never
    past MAX_WAIT_SECONDS after its first request."""
    model = load_model(model_dir)
    sizes: list[int] = []
    monkeypatch.setattr(engine_module, "BATCH_WINDOW_SECONDS", 0.2)
    monkeypatch.setattr(engine_module, "MAX_WAIT_SECONDS", 0.5)

    async def staggered(n: int, gap: float) -> None:
        engine = ScoringEngine(model)  # nothing scored yet: no batch size is expected
        score = engine.score_profiles
        engine.score_profiles = lambda ps, *m: sizes.append(len(ps)) or score(ps, *m)  # type: ignore[method-assign]
        tasks = []
        for k in range(n):
            tasks.append(asyncio.ensure_future(engine.score_one(PROFILES[k % len(PROFILES)])))
            await asyncio.sleep(gap)
        await asyncio.gather(*tasks)

    asyncio.run(staggered(3, 0.1))  # spans 0.2 s and more, never 0.2 s without a newcomer: one batch
    assert sizes == [3]
    sizes.clear()
    asyncio.run(staggered(5, 0.15))  # arrivals at 0, .15, .30, .45 | .60: the longest wait closes at .5 s
    assert sizes == [4, 1]


def test_a_profile_validated_in_the_batch_that_fails_fails_only_its_own_request(model_dir):
    engine = ScoringEngine(load_model(model_dir))
    sizes: list[int] = []
    score = engine.score_profiles
    engine.score_profiles = lambda ps, *m: sizes.append(len(ps)) or score(ps, *m)  # type: ignore[method-assign]

    def invalid() -> FirmProfile:
        return FirmProfile.model_validate({"firm_id": "not a credit code"})

    async def main():
        return await asyncio.gather(engine.score_one(lambda: PROFILES[0]), engine.score_one(invalid),
                                    engine.score_one(PROFILES[2]), return_exceptions=True)

    first, bad, third = asyncio.run(main())
    assert sizes == [2]  # validated together, the invalid one left out of the batch
    assert type(bad).__name__ == "ValidationError" and "uscc_check" in str(bad)
    assert first[0].firm_id[first[1]] == PROFILES[0].firm_id and third[0].firm_id[third[1]] == PROFILES[2].firm_id
