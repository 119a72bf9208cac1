"""Micro-batching and the atomic model swap."""
from __future__ import annotations

import asyncio
import dataclasses

from features.schema import FirmProfile, example_profiles
from models.scoring import Scorer
from service.engine import LoadedModel, ScoringEngine, load_model

PROFILES = [FirmProfile.model_validate(p) for p in example_profiles().values()]


def test_concurrent_requests_are_scored_in_one_batch_in_order(model_dir):
    engine = ScoringEngine(load_model(model_dir))
    sizes: list[int] = []
    score = engine.score_profiles
    engine.score_profiles = lambda ps: sizes.append(len(ps)) or score(ps)  # type: ignore[method-assign]

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
