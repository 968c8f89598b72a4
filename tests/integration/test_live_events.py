"""The event streams of the live cloud under a flood (issue #14, item 2): 1,000 concurrent
clients share one Redis reader, so health, the twin API and the worker stay responsive; the
next client gets 429; when the clients leave, nothing of theirs is kept."""

from __future__ import annotations

import asyncio
import json
import re

import httpx

MAX_STREAMS = 1000  # the default TWINBED_MAX_EVENT_STREAMS of the stack the fixture starts


def _gauge(text: str, name: str) -> float:
    m = re.search(rf"^{name}\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def test_a_thousand_streams_share_one_reader_and_the_cloud_stays_responsive(live) -> None:
    """1,000 clients idle on a finished run (the flood); one more gets 429; health, the twin
    list and the worker (a second run's rounds) keep answering; with 990 of the flood still
    connected, 10 new clients of the running run receive its updates."""
    idle = live.start_run(scenario="compression", algorithm="fixed-bf", seed=5, rounds=2,
                          params={"K": 2})
    assert live.wait_run(idle)["status"]["status"] == "completed"
    busy = live.start_run(scenario="compression", algorithm="fixed-bf", seed=6, rounds=100000,
                          params={"K": 2})
    live.wait_run(busy, rounds_done=1)
    url = live.info.url("cloud")
    n_busy = 10

    async def flood() -> dict[str, object]:
        limits = httpx.Limits(max_connections=MAX_STREAMS + 50, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as c:
            ctxs = []
            try:
                statuses = []
                for i in range(MAX_STREAMS):  # the last 10 end by themselves (idle timeout)
                    params: dict[str, object] = {"run_id": idle}
                    if i >= MAX_STREAMS - n_busy:
                        params["idle_timeout_s"] = 15
                    cm = c.stream("GET", "/twins/events", params=params)
                    statuses.append((await cm.__aenter__()).status_code)
                    ctxs.append(cm)
                # every slot taken: past the cap, a clear 429 with Retry-After
                extra = await c.get("/twins/events", params={"run_id": idle})
                assert extra.headers.get("retry-after") == "5", extra.text
                assert "TWINBED_MAX_EVENT_STREAMS" in extra.json()["detail"]
                metrics = (await c.get("/metrics")).text
                # health, the twin API and the worker (rounds keep completing) all answer
                before = live.controller.get(f"/runs/{busy}").json()["status"]["rounds_done"]
                health = []
                for _ in range(5):
                    health.append((await c.get("/health", timeout=10)).status_code)
                    await asyncio.sleep(0.2)
                twins = await c.get("/twins", params={"run_id": busy}, timeout=10)
                after = live.controller.get(f"/runs/{busy}").json()["status"]["rounds_done"]
                # 10 slots free up (idle timeout); 10 followers of the running run take them
                # and get its updates while the other 990 stay connected
                for _ in range(600):
                    left = _gauge((await c.get("/metrics")).text, "twinbed_event_streams")
                    if left <= MAX_STREAMS - n_busy:
                        break
                    await asyncio.sleep(0.1)

                async def follow() -> list[str]:
                    r = await c.get("/twins/events", timeout=60,
                                    params={"run_id": busy, "max_events": 3})
                    assert r.status_code == 200, r.text
                    return [json.loads(line[5:])["run_id"] for line in r.text.splitlines()
                            if line.startswith("data:")]

                got = await asyncio.gather(*(follow() for _ in range(n_busy)))
                return {"statuses": statuses, "extra": extra.status_code, "health": health,
                        "twins": (twins.status_code, len(twins.json())), "got": got,
                        "progressed": after - before,
                        "streams": _gauge(metrics, "twinbed_event_streams")}
            finally:
                for cm in ctxs:
                    await cm.__aexit__(None, None, None)

    out = asyncio.run(flood())
    live.controller.post(f"/runs/{busy}/stop")
    assert out["statuses"] == [200] * MAX_STREAMS
    assert out["extra"] == 429
    assert out["streams"] == MAX_STREAMS
    assert out["health"] == [200] * 5
    assert out["twins"] == (200, 2)
    assert out["got"] == [[busy] * 3] * n_busy
    assert isinstance(out["progressed"], int) and out["progressed"] > 0  # the worker kept going
    # the clients have gone: the cloud holds none of them
    assert asyncio.run(_until_zero(url)) == 0


async def _until_zero(url: str) -> float:
    async with httpx.AsyncClient(base_url=url) as c:
        for _ in range(600):  # a gone idle client is noticed at its next keep-alive (<= 15 s)
            n = _gauge((await c.get("/metrics")).text, "twinbed_event_streams")
            if n == 0:
                return n
            await asyncio.sleep(0.1)
    return n


def test_bad_last_event_id_is_a_400_before_the_stream_starts(live) -> None:
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=2, rounds=1,
                            params={"K": 1})
    assert live.wait_run(run_id)["status"]["status"] == "completed"
    r = live.cloud.get(f"/twins/{run_id}.sensor-0/events", headers={"Last-Event-ID": "x"})
    assert r.status_code == 400 and "Last-Event-ID" in r.json()["detail"]
