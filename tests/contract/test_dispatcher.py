"""Services keep a run's context (its scenario cache: loaded agents, tables, datasets) only
while the run is active: the dispatcher builds it on the run's first message and drops it
once the run has left the active set (a long-lived service holds nothing of finished runs)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from twinbed.bus import Bus, Envelope
from twinbed.config import Settings
from twinbed.messages import DecisionRequest
from twinbed.runs import RunConfig, RunStore
from twinbed.signing import throwaway_keys
from twinbed_services.common import RoleDispatcher, ServiceState


async def test_contexts_live_while_the_run_is_active(aredis: aioredis.Redis, uid: str) -> None:
    bus = Bus(aredis, "controller-test", throwaway_keys("controller"))
    state = ServiceState(role="controller", settings=Settings(), redis=aredis, bus=bus,
                         runs=RunStore(aredis))
    dispatcher = RoleDispatcher(state, {})
    ids = [f"t{uid}a", f"t{uid}b"]
    for run_id in ids:
        await state.runs.create(RunConfig(
            id=run_id, scenario="compression", algorithm="fixed-bf", seed=1, rounds=1,
            params={"K": 2}, deadline_s=5, created_wall=time.time()))
        ctx = await dispatcher.context(run_id)
        ctx.cache["agent"] = object()  # what a policy caches per run
        assert ctx.params.K == 2  # typed with the scenario's parameter model
    assert dispatcher.contexts == 2
    dispatcher.retain({ids[1]})  # run a finished
    assert dispatcher.contexts == 1
    assert await dispatcher.context(ids[1]) is ctx  # the active run keeps its cache
    dispatcher.retain(set())
    assert dispatcher.contexts == 0


async def test_a_message_for_an_unknown_run_is_a_lookup_error(aredis: aioredis.Redis,
                                                             uid: str) -> None:
    import pytest

    from twinbed import keys

    bus = Bus(aredis, "controller-test", throwaway_keys("controller"))
    state = ServiceState(role="controller", settings=Settings(), redis=aredis, bus=bus,
                         runs=RunStore(aredis))
    msg = DecisionRequest(run_id=f"t{uid}", round=0, state={}, reply_to="basestation")
    env = Envelope(stream=keys.stream(msg.run_id, "controller"), entry_id="1-0", msg=msg,
                   sender="x", seq=1, payload=None, sent_wall=0.0)
    with pytest.raises(LookupError, match="unknown run"):
        await RoleDispatcher(state, {})(env, bus.effects())
