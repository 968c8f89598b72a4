"""Round accounting trusts only the run's parties (issue #14, item 8), on the live stack.

The sensor process is paused (SIGSTOP) so that no real report can arrive: then bogus reports
are all there is, and they must not close a round; and a run whose every report is missing
ends "degraded" with the count, not "completed".
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import redis.asyncio as aioredis

from twinbed import keys
from twinbed.bus import Bus
from twinbed.messages import RoundReport
from twinbed.signing import BusKeys


@contextlib.contextmanager
def paused(pid: int) -> Iterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def _publish_bogus(redis_url: str, bus_keys: BusKeys, run_id: str, n: int) -> None:
    r = aioredis.Redis.from_url(redis_url)
    try:
        # a sensor's key holder (its reports are signed): only the party names are bogus
        bus = Bus(r, sender="sensor-intruder", keys=bus_keys)
        for i in range(n):
            await bus.publish(keys.stream(run_id, "controller"), RoundReport(
                run_id=run_id, round=0, party=f"bogus-{i}", metrics={"fake": 1}))
    finally:
        await r.aclose()


def test_bogus_parties_cannot_close_a_round_and_all_missing_is_degraded(live) -> None:
    import asyncio

    info = live.stack.load() or live.info  # earlier tests may have restarted the sensor
    with paused(info.pids["sensor"]):
        rid = live.start_run(scenario="compression", algorithm="fixed-bf", seed=11, rounds=2,
                             params={"K": 3}, deadline_s=2.0)
        asyncio.run(_publish_bogus(live.info.redis_url, live.stack.bus_keys("sensor"), rid, 50))
        t0 = time.monotonic()
        view = live.wait_run(rid, timeout_s=120)
    st = view["status"]
    assert st["status"] == "degraded", st
    assert "6 of 6 party reports missing" in (st["error"] or ""), st
    # round 0 closed at its deadline with every real sensor missing, not early by the bogus 50
    first = view["rounds"][0]
    assert sorted(first["missing"]) == ["sensor-0", "sensor-1", "sensor-2"], first
    assert time.monotonic() - t0 >= 1.5 or first["wall_s"] >= 1.9, first

    r = live.redis()
    letters = [v for _, e in r.xrange(keys.dead_letter(keys.stream(rid, "controller")))
               for k, v in e.items() if b"error" in k]
    assert sum(b"not a party" in x for x in letters) == 50, letters[:3]

    # the stack is fine afterwards: the next run completes
    again = live.start_run(scenario="compression", algorithm="fixed-bf", seed=12, rounds=2,
                           params={"K": 2})
    assert live.wait_run(again, timeout_s=120)["status"]["status"] == "completed"
