"""The event fan-out against a real redis-server: every client gets every version once and in
order from one shared reader, slow clients are ended, the client count is capped, and nothing
is kept after the last client leaves (issue #14, item 2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from twinbed.bus import Bus, commit
from twinbed.signing import throwaway_keys
from twinbed.twins import Twin, TwinStore, twin_id
from twinbed_services.event_hub import EventHub, Feed, TooManyStreams


async def commit_update(store: TwinStore, r: aioredis.Redis, twin: str, round_: int) -> None:
    """What the cloud does: record a twin update in the bus's effects, commit them."""
    args: dict[str, Any] = dict(kind="sensor", run_id=twin.split(".")[0], round_=round_,
                                state={"x": round_}, modeled_s=0.0, aoi_modeled_s=0.0,
                                wall=1000.0, aoi_wall_s=0.0, fidelity={})
    fx = Bus(r, "cloud-test", throwaway_keys("cloud")).effects()
    store.update(fx, twin=twin, **args)
    await commit(r, fx)


async def drain(feed: Feed, n: int, timeout_s: float = 10.0) -> list[Twin | None]:
    out: list[Twin | None] = []
    while len(out) < n:
        item = await asyncio.wait_for(feed.queue.get(), timeout_s)
        out.append(None if item is None else item[0])
        if item is None:
            break
    return out


async def test_run_feed_fans_out_every_version_to_every_client(
        aredis: aioredis.Redis, uid: str) -> None:
    """Two clients of a run: each sees the versions written after it joined, once, in order,
    and the twin that appears later from its first version; one reader task serves both."""
    store = TwinStore(aredis)
    run = f"h{uid}"
    a, b = twin_id(run, "a"), twin_id(run, "b")
    await commit_update(store, aredis, a, round_=0)  # exists before anyone watches
    hub = EventHub(store, max_streams=10, block_ms=100, discover_s=0.1)
    f1, f2 = hub.open(), hub.open()
    await hub.watch_run(f1, run)
    await hub.watch_run(f2, run)
    for r in range(1, 6):
        await commit_update(store, aredis, a, round_=r)
    await commit_update(store, aredis, b, round_=0)  # appears later
    await commit_update(store, aredis, b, round_=1)
    for feed in (f1, f2):
        got = await drain(feed, 7)
        assert all(t is not None for t in got)
        by_twin: dict[str, list[int]] = {}
        for t in got:
            assert t is not None
            by_twin.setdefault(t.id, []).append(t.round)
        assert by_twin == {a: [1, 2, 3, 4, 5], b: [0, 1]}
        assert feed.queue.empty()
    assert len([t for t in asyncio.all_tasks() if t.get_name() == "event-hub"]) == 1
    hub.close(f1)
    hub.close(f2)
    await asyncio.sleep(0.5)
    assert hub._task is not None and hub._task.done()  # no client left: the reader ends
    assert hub._cursor == {} and hub._head == {} and hub._run_twins == {}
    await hub.stop()


async def test_twin_feed_starts_exactly_after_the_returned_cursor(
        aredis: aioredis.Redis, uid: str) -> None:
    """Versions up to watch_twin's cursor come from the history, later ones from the feed:
    with writes racing the subscription, the two parts join with no gap and no duplicate."""
    store = TwinStore(aredis)
    tid = twin_id(f"h{uid}", "s")
    await commit_update(store, aredis, tid, round_=0)
    hub = EventHub(store, max_streams=10, block_ms=50)

    async def writer() -> None:
        for r in range(1, 60):
            await commit_update(store, aredis, tid, round_=r)
            await asyncio.sleep(0.002)

    w = asyncio.create_task(writer())
    await asyncio.sleep(0.03)
    head = await store.get(tid)
    assert head is not None
    feed = hub.open()
    cursor = await hub.watch_twin(feed, head)
    backlog = [t.round async for page in store.between(tid, "0-0", cursor) for t in page]
    await w
    live = [t.round for t in await drain(feed, 60 - len(backlog)) if t is not None]
    assert backlog + live == list(range(60))
    hub.close(feed)
    await hub.stop()


async def test_a_client_that_falls_behind_is_ended_and_others_are_not(
        aredis: aioredis.Redis, uid: str) -> None:
    store = TwinStore(aredis)
    tid = twin_id(f"h{uid}", "s")
    await commit_update(store, aredis, tid, round_=0)
    head = await store.get(tid)
    assert head is not None
    hub = EventHub(store, max_streams=10, queue_len=4, block_ms=50)
    slow, fast = hub.open(), hub.open()
    await hub.watch_twin(slow, head)
    await hub.watch_twin(fast, head)
    got: list[int] = []

    async def reader() -> None:
        while len(got) < 12:
            item = await fast.queue.get()
            assert item is not None
            got.append(item[0].round)

    r = asyncio.create_task(reader())
    for i in range(1, 13):
        await commit_update(store, aredis, tid, round_=i)
        await asyncio.sleep(0.02)
    await asyncio.wait_for(r, 10)
    assert got == list(range(1, 13))
    items = []
    while not slow.queue.empty():
        items.append(slow.queue.get_nowait())
    assert len(items) <= 4 and items[-1] is None  # ended: its EventSource reconnects
    assert slow.overflowed and hub.dropped_clients == 1
    hub.close(slow)
    hub.close(fast)
    await hub.stop()


async def test_client_count_is_capped(aredis: aioredis.Redis) -> None:
    hub = EventHub(TwinStore(aredis), max_streams=2)
    feeds = [hub.open(), hub.open()]
    with pytest.raises(TooManyStreams, match="TWINBED_MAX_EVENT_STREAMS=2"):
        hub.open()
    hub.close(feeds.pop())
    feeds.append(hub.open())  # a freed slot is usable again
    assert len(hub.feeds) == 2


async def test_a_feed_whose_response_never_started_is_reaped(
        aredis: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slots are taken before the response starts (so 429 is a real status); a client that
    left before its response began frees its slot anyway."""
    monkeypatch.setattr("twinbed_services.event_hub.START_S", 0.2)
    hub = EventHub(TwinStore(aredis), max_streams=1, discover_s=0.05)
    hub.open()
    with pytest.raises(TooManyStreams):
        hub.open()
    for _ in range(100):
        if not hub.feeds:
            break
        await asyncio.sleep(0.05)
    assert not hub.feeds
    hub.open().started = True
    await asyncio.sleep(0.5)
    assert len(hub.feeds) == 1  # a started feed is the route's to close
    await hub.stop()
