"""RunStore against a real redis-server: a run's records from creation to finish."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from twinbed.messages import Message
from twinbed.runs import RunConfig, RunStore, new_run_id
from twinbed.signing import throwaway_keys


class _Ping(Message):
    TYPE = "twinbed-tests.runs.ping"
    SENT_BY = ("sensor",)


def config(run_id: str, **changes: object) -> RunConfig:
    fields: dict[str, object] = dict(
        id=run_id, scenario="demo", algorithm="greedy", seed=7, rounds=3,
        params={"n": 4, "rate": 0.1 + 0.2, "nested": {"a": [1, 2]}}, overrides={"n": 4},
        deadline_s=2.5, created_wall=time.time(),
    )
    fields.update(changes)
    return RunConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture
def run_id(uid: str) -> str:
    return f"t{uid}"


async def test_create_stores_config_and_running_status(aredis: aioredis.Redis, run_id: str) -> None:
    """create() makes the config readable back unchanged and the run 'running' and active."""
    store = RunStore(aredis)
    assert await store.config(run_id) is None and await store.status(run_id) is None
    cfg = config(run_id)
    before = time.time()
    await store.create(cfg)

    assert await store.config(run_id) == cfg
    st = await store.status(run_id)
    assert st is not None
    assert (st.id, st.status, st.rounds_done, st.stop_requested, st.error) == (
        run_id, "running", 0, False, None)
    assert st.started_wall is not None and before - 1 <= st.started_wall <= time.time()
    assert st.finished_wall is None
    assert run_id in await store.running_ids()
    assert run_id in await store.list_ids(limit=10**6)


async def test_rounds_are_appended_in_order_and_counted(aredis: aioredis.Redis, run_id: str) -> None:
    """append_round() keeps records in order; status().rounds_done counts them."""
    store = RunStore(aredis)
    await store.create(config(run_id))
    records = [{"round": i, "aoi": 0.1 * i, "tags": ["a", i]} for i in range(3)]
    for i, rec in enumerate(records, 1):
        await store.append_round(run_id, rec)
        assert (await store.status(run_id)).rounds_done == i  # type: ignore[union-attr]
    assert await store.rounds(run_id) == records
    assert await store.rounds(f"{run_id}-none") == []


async def test_round_record_with_nan_is_rejected(aredis: aioredis.Redis, run_id: str) -> None:
    """A NaN metric is refused (strict JSON) instead of being stored unreadable elsewhere."""
    store = RunStore(aredis)
    await store.create(config(run_id))
    with pytest.raises(ValueError):
        await store.append_round(run_id, {"aoi": float("nan")})
    assert await store.rounds(run_id) == []


async def test_request_stop_then_finish(aredis: aioredis.Redis, run_id: str) -> None:
    """request_stop() flags the run; finish() sets the final state and deactivates it."""
    store = RunStore(aredis)
    await store.create(config(run_id))
    await store.request_stop(run_id)
    st = await store.status(run_id)
    assert st is not None and st.stop_requested and st.status == "running"

    await store.finish(run_id, "stopped")
    st = await store.status(run_id)
    assert st is not None and (st.status, st.error, st.stop_requested) == ("stopped", None, True)
    assert st.finished_wall is not None and st.finished_wall >= (st.started_wall or 0)
    assert run_id not in await store.running_ids()
    assert run_id in await store.list_ids(limit=10**6)  # still listed, just not active
    assert await store.config(run_id) is not None


async def test_finish_failed_keeps_the_error(aredis: aioredis.Redis, run_id: str) -> None:
    """A failed run reports its error text."""
    store = RunStore(aredis)
    await store.create(config(run_id))
    await store.finish(run_id, "failed", error="solver diverged: x=inf")
    st = await store.status(run_id)
    assert st is not None and (st.status, st.error) == ("failed", "solver diverged: x=inf")


async def test_list_ids_newest_first_and_running_ids_sorted(
    aredis: aioredis.Redis, uid: str
) -> None:
    """list_ids() is newest first with a limit; running_ids() lists only unfinished runs."""
    store = RunStore(aredis)
    ids = [f"t{uid}-{i}" for i in range(3)]
    for rid in ids:
        await store.create(config(rid))
        await asyncio.sleep(0.002)  # distinct creation times
    await store.finish(ids[1], "completed")

    listed = [x for x in await store.list_ids(limit=10**6) if x in ids]
    assert listed == ids[::-1]
    assert (await store.list_ids(limit=1))[0] == ids[2]  # nobody created a run since
    running = await store.running_ids()
    assert running == sorted(running)
    assert ids[0] in running and ids[2] in running and ids[1] not in running


def test_run_config_is_validated_and_frozen() -> None:
    """RunConfig rejects bad values and unknown fields and cannot be changed after creation."""
    with pytest.raises(ValidationError):
        config("r", rounds=0)
    with pytest.raises(ValidationError):
        config("r", seed=-1)
    with pytest.raises(ValidationError):
        config("r", deadline_s=0)
    with pytest.raises(ValidationError):
        config("r", colour="blue")
    cfg = config("r")
    with pytest.raises(ValidationError):
        cfg.rounds = 5  # type: ignore[misc]


def test_new_run_ids_are_short_and_distinct() -> None:
    """new_run_id() gives distinct ids that fit in a message's run_id (<= 64 chars, no ':')."""
    ids = {new_run_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(1 <= len(i) <= 64 and ":" not in i and "." not in i for i in ids)


async def test_delete_removes_the_run_its_streams_state_and_twins_and_nothing_else(
    aredis: aioredis.Redis, run_id: str
) -> None:
    """delete() leaves no tb:<run>:* key, no twin of the run and no index entry, and does not
    touch another run whose id starts the same way."""
    from twinbed import keys
    from twinbed.bus import Bus, commit
    from twinbed.twins import TwinStore, twin_id

    store, twins = RunStore(aredis), TwinStore(aredis)
    other = run_id + "x"  # a prefix of it must not match: keys are tb:<run>: and <run>.
    for rid in (run_id, other):
        await store.create(config(rid))
        await store.append_round(rid, {"round": 0})
        await Bus(aredis, "sensor", throwaway_keys("sensor")).publish(keys.stream(rid, "edge"), _Ping(run_id=rid, round=0))
        await aredis.xadd(keys.replica_stream(rid, "edge", 1), {"x": 1})
        await aredis.sadd(keys.stream(rid, "edge") + ":seen:edge", "s:1")
        await aredis.set(keys.role_key(rid, "cloud", "state"), 1)
        fx = Bus(aredis, "cloud", throwaway_keys("cloud")).effects()
        for name in ("sensor-0", "sensor-1"):
            twins.update(fx, twin=twin_id(rid, name), kind="k", run_id=rid, round_=0,
                         state={}, modeled_s=0.0, aoi_modeled_s=0.0, wall=1.0, aoi_wall_s=0.0,
                         fidelity={})
        await commit(aredis, fx)
        await store.finish(rid, "completed")

    # 2 twins x (hash + history) + rounds + 2 streams + seen-set + state + config + status
    # + the run's twins index + its finished mark
    assert await store.delete(run_id) == 4 + 1 + 2 + 1 + 1 + 2 + 1 + 1
    assert [k async for k in aredis.scan_iter(match=keys.run_pattern(run_id))] == []
    assert await twins.ids(run_id) == []
    assert await aredis.exists(keys.twin_key(twin_id(run_id, "sensor-0"))) == 0
    assert await store.status(run_id) is None and run_id not in await store.list_ids(10**6)

    assert await store.status(other) is not None and await store.rounds(other) == [{"round": 0}]
    assert len(await twins.ids(other)) == 2
    assert await aredis.get(keys.role_key(other, "cloud", "state")) == b"1"
    assert await store.delete(run_id) == 0  # repeating a delete is harmless


async def test_settle_repairs_what_a_crash_between_records_and_global_keys_leaves(
        aredis: aioredis.Redis, run_id: str) -> None:
    """create/finish write a run's records and the global keys (other hash slots on a
    cluster) apart; settle() lists an active run a crash left unlisted and drops a finished
    one from the active set, and a retention sweep finishes a delete cut off before its
    last step (a listed id without records)."""
    from pathlib import Path  # noqa: PLC0415 - beside the test that uses it

    from twinbed import keys  # noqa: PLC0415
    from twinbed_services.controller.retention import sweep  # noqa: PLC0415

    store = RunStore(aredis)
    await store.create(config(run_id))
    await aredis.zrem(keys.RUNS_INDEX, run_id)  # as if create died before its last step
    st = await store.settle(run_id)
    assert st is not None and st.status == "running"
    assert run_id in await store.list_ids(10**6) and run_id in await store.running_ids()

    await store.finish(run_id, "completed")
    await aredis.sadd(keys.ACTIVE_RUNS, run_id)  # as if finish died before its last step
    st = await store.settle(run_id)
    assert st is not None and st.status == "completed"
    assert run_id not in await store.running_ids() and run_id in await store.list_ids(10**6)

    await aredis.unlink(keys.run_key(run_id, "config"), keys.run_key(run_id, "status"))
    assert run_id in await store.all_ids()  # as if delete died before its last step
    assert await sweep(store, Path("/nonexistent-twinbed-data"), keep=10**6, ttl_s=0) == []
    assert run_id not in await store.all_ids()
