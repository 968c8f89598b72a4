"""TwinStore against a real redis-server: versioned updates, capped history, index, follow."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
import redis.asyncio as aioredis

from twinbed import keys
from twinbed.bus import Bus, commit
from twinbed.signing import throwaway_keys
from twinbed.twins import Twin, TwinStore, twin_id


async def commit_update(store: TwinStore, r: aioredis.Redis, twin: str, **changes: Any) -> None:
    """What a bus handler does: record the update in Effects, then commit them in MULTI/EXEC."""
    args: dict[str, Any] = dict(
        kind="vehicle", run_id=twin.split(".")[0], round_=0, state={"x": 1.0},
        modeled_s=0.0, aoi_modeled_s=0.0, wall=1000.0, aoi_wall_s=0.0, fidelity={},
    )
    args.update(changes)
    fx = Bus(r, "cloud-test", throwaway_keys("cloud")).effects()
    store.update(fx, twin=twin, **args)
    await commit(r, fx)


@pytest.fixture
def run_id(uid: str) -> str:
    return f"t{uid}"


async def test_update_increments_version_and_get_returns_latest_state(
    aredis: aioredis.Redis, run_id: str
) -> None:
    """Each committed update bumps the version by one; get() shows the last one in full."""
    store = TwinStore(aredis)
    tid = twin_id(run_id, "car1")
    assert await store.get(tid) is None
    for i in (1, 2, 3):
        await commit_update(store, aredis, tid, round_=i, state={"pos": [i, i * 2], "i": i},
                            modeled_s=i * 0.5, aoi_modeled_s=0.25, wall=1000.0 + i,
                            aoi_wall_s=0.01 * i, fidelity={"rmse": i / 10})
        twin = await store.get(tid)
        assert twin is not None and twin.version == i

    assert twin == Twin(
        id=tid, kind="vehicle", run_id=run_id, version=3, round=3,
        state={"pos": [3, 6], "i": 3}, modeled_s=1.5, aoi_modeled_s=0.25, wall=1003.0,
        aoi_wall_s=0.03, fidelity={"rmse": 0.3},
    )


async def test_recorded_update_is_not_applied_until_commit(
    aredis: aioredis.Redis, run_id: str
) -> None:
    """update() only records into Effects; nothing reaches Redis until they are applied."""
    store = TwinStore(aredis)
    tid = twin_id(run_id, "car1")
    fx = Bus(aredis, "cloud-test", throwaway_keys("cloud")).effects()
    store.update(fx, twin=tid, kind="vehicle", run_id=run_id, round_=0, state={},
                 modeled_s=0, aoi_modeled_s=0, wall=1, aoi_wall_s=0, fidelity={})
    assert len(fx.calls) == 1
    assert await store.get(tid) is None
    assert not await aredis.exists(keys.twin_history(tid))


async def test_history_lists_every_update_oldest_first(
    aredis: aioredis.Redis, run_id: str
) -> None:
    """history() returns one entry per update with that update's version, round and state."""
    store = TwinStore(aredis)
    tid = twin_id(run_id, "car1")
    assert await store.history(tid) == []
    for i in range(5):
        await commit_update(store, aredis, tid, round_=10 + i, state={"i": i}, wall=2000.0 + i)

    hist = await store.history(tid)
    assert [h.version for h in hist] == [1, 2, 3, 4, 5]
    assert [h.round for h in hist] == [10, 11, 12, 13, 14]
    assert [h.state for h in hist] == [{"i": i} for i in range(5)]
    assert all(h.id == tid and h.kind == "vehicle" and h.run_id == run_id for h in hist)
    ids = [h.entry_id for h in hist]
    assert all(ids) and len(set(ids)) == 5

    # Paging: start from an entry id (inclusive), limited count.
    page = await store.history(tid, start=ids[2], count=2)
    assert [h.version for h in page] == [3, 4]


async def test_history_is_capped_near_history_len(aredis: aioredis.Redis, run_id: str) -> None:
    """The history stream keeps about history_len newest entries (MAXLEN ~ trims whole nodes)."""
    store = TwinStore(aredis, history_len=10)
    tid = twin_id(run_id, "car1")
    for i in range(200):
        await commit_update(store, aredis, tid, round_=i)

    # '~' trimming only drops whole radix-tree nodes, so up to one node's worth may remain.
    node = int((await aredis.config_get("stream-node-max-entries"))["stream-node-max-entries"])
    hist = await store.history(tid)
    assert 10 <= len(hist) <= 10 + node
    assert len(hist) < 200
    # What is kept is the newest, contiguous tail.
    assert [h.version for h in hist] == list(range(201 - len(hist), 201))
    assert (await store.get(tid)).version == 200  # type: ignore[union-attr]


async def test_ids_lists_twins_of_one_run(aredis: aioredis.Redis, uid: str) -> None:
    """ids(run_id) returns only that run's twins; ids() includes every run's."""
    store = TwinStore(aredis)
    run_a, run_b = f"t{uid}", f"t{uid}x"  # one id is a prefix of the other
    for run, name in [(run_a, "x"), (run_a, "y"), (run_b, "x")]:
        await commit_update(store, aredis, twin_id(run, name))

    assert sorted(await store.ids(run_a)) == [twin_id(run_a, "x"), twin_id(run_a, "y")]
    assert await store.ids(run_b) == [twin_id(run_b, "x")]
    assert await store.ids(f"t{uid}y") == []
    everything = await store.ids(limit=10**6)
    assert {twin_id(run_a, "x"), twin_id(run_a, "y"), twin_id(run_b, "x")} <= set(everything)


async def test_follow_from_dollar_waits_for_the_next_update(
    aredis: aioredis.Redis, run_id: str
) -> None:
    """follow(twin, '$') blocks until a later update and returns only that one."""
    store = TwinStore(aredis)
    tid = twin_id(run_id, "car1")
    await commit_update(store, aredis, tid, round_=1)

    async def later() -> None:
        await asyncio.sleep(0.15)
        await commit_update(store, aredis, tid, round_=2, state={"moved": True})

    task = asyncio.create_task(later())  # (the client's pool gives it its own connection)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    got = await store.follow(tid, "$", block_ms=3000)
    waited = loop.time() - t0
    await task

    assert [(t.version, t.round, t.state) for t in got] == [(2, 2, {"moved": True})]
    assert 0.1 <= waited < 2.5
    # Following from that entry id returns nothing new (times out quickly).
    assert await store.follow(tid, got[0].entry_id or "", block_ms=50) == []


async def test_follow_from_an_entry_id_returns_the_entries_after_it(
    aredis: aioredis.Redis, run_id: str
) -> None:
    """follow(twin, id) returns the history after that id without waiting."""
    store = TwinStore(aredis)
    tid = twin_id(run_id, "car1")
    for i in range(4):
        await commit_update(store, aredis, tid, round_=i)
    first = (await store.history(tid))[0]
    got = await store.follow(tid, first.entry_id or "", block_ms=1000)
    assert [t.version for t in got] == [2, 3, 4]


async def test_floats_round_trip_exactly(aredis: aioredis.Redis, run_id: str) -> None:
    """Float fields and floats inside state/fidelity come back bit-for-bit."""
    store = TwinStore(aredis)
    tid = twin_id(run_id, "car1")
    x = 0.1 + 0.2  # 0.30000000000000004
    tiny, big = 5e-324, 1.7976931348623157e308
    await commit_update(store, aredis, tid, state={"x": x, "v": [tiny, big, -0.0]},
                        modeled_s=x, aoi_modeled_s=1 / 3, wall=1722222222.123456,
                        aoi_wall_s=tiny, fidelity={"err": x})
    for twin in [await store.get(tid), (await store.history(tid))[-1]]:
        assert twin is not None
        assert twin.modeled_s == x and twin.aoi_modeled_s == 1 / 3
        assert twin.wall == 1722222222.123456 and twin.aoi_wall_s == tiny
        assert twin.state["x"] == x and twin.state["v"][:2] == [tiny, big]
        assert str(twin.state["v"][2]) == "-0.0"
        assert twin.fidelity == {"err": x}


async def test_update_many_writes_what_update_writes_one_by_one(
    aredis: aioredis.Redis, run_id: str
) -> None:
    """A batch's updates in one script leave the twins, histories and indexes as the same
    updates one by one (a twin twice in the batch gets both versions, in order)."""
    from twinbed.twins import TwinUpdate  # noqa: PLC0415 - beside the test that uses it

    store = TwinStore(aredis)
    one, many = f"{run_id}a", f"{run_id}b"
    plan = [("x", 0), ("y", 0), ("x", 1)]
    for name, rnd in plan:
        await commit_update(store, aredis, twin_id(one, name), round_=rnd, state={"r": rnd},
                            fidelity={"exact": True}, wall=1000.0 + rnd)
    fx = Bus(aredis, "cloud-test", throwaway_keys("cloud")).effects()
    store.update_many(fx, [TwinUpdate(twin_id(many, name), "vehicle", many, rnd, {"r": rnd},
                                      0.0, 0.0, 1000.0 + rnd, 0.0, {"exact": True})
                           for name, rnd in plan])
    await commit(aredis, fx)

    def strip(ts: list[Twin]) -> list[dict[str, Any]]:
        return [t.model_dump(exclude={"id", "run_id", "entry_id"}) for t in ts]

    for name in ("x", "y"):
        assert strip([await store.get(twin_id(many, name))]) == \
            strip([await store.get(twin_id(one, name))])  # type: ignore[list-item]
        assert strip(await store.history(twin_id(many, name))) == \
            strip(await store.history(twin_id(one, name)))
    assert await store.ids(many) == [twin_id(many, "x"), twin_id(many, "y")]


async def test_ids_pages_through_a_runs_own_index(aredis: aioredis.Redis, run_id: str) -> None:
    """A run's twins come from its own index, in order of first update, a page at a time;
    get_many reads a page in one round trip and skips twins that are gone."""
    store = TwinStore(aredis)
    names = [f"s{i:02d}" for i in range(7)]
    for i, name in enumerate(names):
        await commit_update(store, aredis, twin_id(run_id, name), wall=1000.0 + i)
    pages, cursor = [], 0
    while page := await store.ids(run_id, limit=3, cursor=cursor):
        pages.append(page)
        cursor += len(page)
    assert pages == [[twin_id(run_id, n) for n in names[i:i + 3]] for i in (0, 3, 6)]
    await aredis.delete(keys.twin_key(twin_id(run_id, "s01")))
    got = await store.get_many(pages[0])
    assert [t.id for t in got] == [twin_id(run_id, "s00"), twin_id(run_id, "s02")]
    # the list page's JSON, written from the stored text, says what the models say
    page = json.loads(await store.get_many_json(pages[0]))
    assert page == [t.model_dump(mode="json") for t in got]


async def test_list_page_json_writes_non_finite_floats_and_odd_text_as_json(
        aredis: aioredis.Redis, run_id: str) -> None:
    """The page's JSON is built by a Redis script from the stored text: nan and inf (which
    JSON has not) become null, and strings are escaped."""
    store = TwinStore(aredis)
    names = ["nan", "inf", "odd"]
    await commit_update(store, aredis, twin_id(run_id, "nan"), modeled_s=math.nan,
                        aoi_wall_s=-math.inf)
    await commit_update(store, aredis, twin_id(run_id, "inf"), aoi_modeled_s=math.inf,
                        wall=1e-300, fidelity={"nrmse": 1e300, "exact": False})
    await commit_update(store, aredis, twin_id(run_id, "odd"), kind='v"\\/\u00e9\n',
                        state={"s": "\u2603", "n": None, "l": [1, -2.5]})
    ids = [twin_id(run_id, n) for n in names]
    got = await store.get_many(ids)
    want = [{k: None if isinstance(v, float) and not math.isfinite(v) else v
             for k, v in t.model_dump(mode="json").items()} for t in got]
    assert want[0]["modeled_s"] is None and want[1]["aoi_modeled_s"] is None
    assert json.loads(await store.get_many_json(ids)) == want
    assert await store.get_many_json([]) == b"[]"


async def test_non_finite_numbers_in_a_state_are_stored_as_standard_json(
        aredis: aioredis.Redis, run_id: str) -> None:
    """NaN and infinities in a state or fidelity become null (pydantic's default wrote NaN
    and Infinity, which JSON.parse, and so the dashboard, rejects)."""
    def strict(text: str | bytes) -> Any:
        def refuse(name: str) -> None:
            raise ValueError(f"non-standard JSON constant {name}")
        return json.loads(text, parse_constant=refuse)

    store = TwinStore(aredis)
    tid = twin_id(run_id, "odd")
    await commit_update(store, aredis, tid, state={"x": math.nan, "v": [1.0, math.inf]},
                        fidelity={"nrmse": -math.inf, "exact": False})
    raw = await aredis.hget(keys.twin_key(tid), "state")
    assert strict(raw) == {"x": None, "v": [1.0, None]}
    twin = await store.get(tid)
    assert twin is not None and twin.state == {"x": None, "v": [1.0, None]}
    assert twin.fidelity == {"nrmse": None, "exact": False}
    assert strict(await store.get_many_json([tid]))[0]["state"]["x"] is None


async def test_twins_of_several_runs_read_and_follow_together(
        aredis: aioredis.Redis, uid: str) -> None:
    """A page and a live feed over twins of several runs (on a cluster: several hash slots,
    one script or blocking read per slot) keep the order asked for, skip missing twins,
    and list every twin in the global index (written before the commit, outside it)."""
    store = TwinStore(aredis)
    runs = [f"t{uid}{i}" for i in range(4)]
    ids = [twin_id(r, n) for r in runs for n in ("b", "a")]
    for t in ids:
        await commit_update(store, aredis, t, state={"t": t})
    ask = [ids[5], twin_id(runs[0], "gone"), ids[0], ids[7], ids[2]]
    page = json.loads(await store.get_many_json(ask))
    assert [p["id"] for p in page] == [ids[5], ids[0], ids[7], ids[2]]
    assert [p["state"] for p in page] == [{"t": t} for t in (ids[5], ids[0], ids[7], ids[2])]
    assert set(ids) <= set(await store.ids(limit=10**6))

    heads = {t: tw for t in ids if (tw := await store.get(t)) is not None}
    cursors = {t: await store.last_entry_id(t) for t in ids}
    follow = asyncio.create_task(store.follow_many(heads, cursors, block_ms=10_000))
    await asyncio.sleep(0.2)  # the feed is blocked on every slot
    await commit_update(store, aredis, ids[6], round_=1, state={"n": 1})
    got = await asyncio.wait_for(follow, 10)
    assert [(t.id, t.version, t.state) for t in got] == [(ids[6], 2, {"n": 1})]
    assert cursors[ids[6]] == await store.last_entry_id(ids[6])


async def test_the_oracle_read_of_a_twin_write_works_on_either_server(
        aredis: aioredis.Redis, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cloud reads the oracle with EVAL_RO where the server has it, else EVAL: a single
    Redis answers "unknown command", a cluster client refuses it before sending (the servers'
    command table lacks it); both fall back."""
    from twinbed import observation  # noqa: PLC0415 - beside the test that uses it

    monkeypatch.setattr(observation, "_has_eval_ro", None)
    oracle = keys.stream(run_id, "oracle")
    eid = (await aredis.xadd(oracle, {"p": b"\x00truth"})).decode()
    got = await observation._eval_read(aredis, observation._ORACLE_MANY, oracle, [eid, "1-1"])
    assert got == [b"\x00truth", None]
    assert observation._has_eval_ro is not None  # learnt once
