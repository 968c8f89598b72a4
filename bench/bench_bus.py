"""twinbed bench bus: bus throughput beside raw Redis, and the wall time of live rounds.

1. Messages per second through ``twinbed.bus`` (pipelined publish + Worker consume with
   decode, validation, checksum, dedup check, transactional commit and ack; 1 KiB payloads)
   beside raw XADD (pipelined) + XREADGROUP + XACK on the same Redis in the same run, as a ratio.
   The reference is plain redis-py (its asyncio client packs commands in Python); the bus
   uses the services' client (``twinbed.redisconn``: hiredis packs). The raw round trip over
   that same fast client is printed too, with the bus's ratio to it: the bus's own overhead.
2. Wall time of one live compression round at K = 4, 100 and 1000 sensors on the local stack
   (started the way `make up` starts it), first round (includes each sensor's one-time codec
   calibration) and the median of the later rounds.

    twinbed bench bus [--messages N] [--repeats R] [--ks 4,100,1000] [--rounds N]

``TWINBED_SENSOR_REPLICAS=N`` spreads the sensors over N processes (the stack starts
``sensor``, ``sensor.1`` ...).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
from typing import ClassVar

import redis.asyncio as aioredis

from redis_reference import raw_roundtrip, scratch_redis  # bench/redis_reference.py
from twinbed import redisconn
from twinbed.bus import Bus, Worker
from twinbed.config import get_settings
from twinbed.messages import Message
from twinbed.signing import throwaway_keys
from twinbed.stack import local_stack

BATCH = 256
PAYLOAD = os.urandom(1024)


class BenchPing(Message):
    TYPE: ClassVar[str] = "bench.ping"
    SENT_BY: ClassVar[tuple[str, ...]] = ("sensor",)
    n: int


async def bus_once(r: aioredis.Redis, n: int, tag: str) -> float:
    """Messages per second through the bus over client ``r``."""
    stream = f"bench:bus:{tag}"
    bus = Bus(r, "sensor@bench", throwaway_keys("sensor"))
    seen = 0

    async def handler(env, fx) -> None:  # noqa: ANN001 - a consumer that stores nothing
        nonlocal seen
        seen += 1

    async def streams() -> list[str]:
        return [stream]

    worker = Worker(bus, "g", "c", streams, handler, count=BATCH, block_ms=50)
    await worker.ensure_group(stream)
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        await bus.publish_many((stream, BenchPing(run_id="bench", round=0, n=j), PAYLOAD)
                               for j in range(i, min(n, i + BATCH)))
    while seen < n:
        await worker.step()
    dt = time.perf_counter() - t0
    assert worker.stats.dead == 0
    await r.delete(stream, worker.seen_key(stream))
    return n / dt


async def throughput(n: int, repeats: int) -> None:
    async with scratch_redis() as r:
        port = r.connection_pool.connection_kwargs["port"]
        fast = redisconn.connect(f"redis://127.0.0.1:{port}/0")
        raw, raw_fast, ours = [], [], []
        gc.freeze()  # as the services do after start-up: long-lived objects leave the GC's scans
        try:
            for i in range(repeats):  # interleaved, so drift hits all alike
                raw.append(n / await raw_roundtrip(r, [PAYLOAD] * n, f"{i}", BATCH))
                raw_fast.append(n / await raw_roundtrip(fast, [PAYLOAD] * n, f"f{i}", BATCH))
                ours.append(await bus_once(fast, n, f"{i}"))
        finally:
            await fast.aclose()
    print(f"\n== bus throughput ({n} messages of 1 KiB, {repeats} interleaved repeats)")
    print(f"{'':<40}{'min':>10}{'median':>10}{'max':>10}  msg/s")
    for name, xs in (("raw XADD+XREADGROUP+XACK (redis-py)", raw),
                     ("raw, hiredis packing (twinbed.redisconn)", raw_fast),
                     ("twinbed.bus publish+consume+ack", ours)):
        print(f"{name:<40}{min(xs):>10.0f}{statistics.median(xs):>10.0f}{max(xs):>10.0f}")
    for name, ref in (("ratio bus/raw", raw), ("ratio bus/raw with hiredis packing", raw_fast)):
        ratios = [b / a for a, b in zip(ref, ours, strict=True)]
        print(f"{name:<40}{min(ratios):>10.3f}{statistics.median(ratios):>10.3f}"
              f"{max(ratios):>10.3f}")


def live_rounds(ks: list[int], rounds: int) -> None:
    replicas = get_settings().sensor_replicas
    print(f"\n== live compression round wall time (fixed-bf, {rounds} rounds per K, "
          f"{replicas} sensor process{'es' if replicas > 1 else ''}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'K':>6}{'first round s':>16}{'later rounds median s':>24}{'max s':>10}")
    with local_stack() as live:
        for k in ks:
            view = live.run("compression", "fixed-bf", rounds, params={"K": k})
            walls = [rec["wall_s"] for rec in view["rounds"]]
            missing = sum(len(rec["missing"]) for rec in view["rounds"])
            later = statistics.median(walls[1:]) if len(walls) > 1 else float("nan")
            print(f"{k:>6}{walls[0]:>16.3f}{later:>24.3f}{max(walls):>10.3f}"
                  + (f"   ({missing} missing reports!)" if missing else ""))


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench bus", description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ks", default="4,100,1000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-live", action="store_true")
    args = ap.parse_args()
    asyncio.run(throughput(args.messages, args.repeats))
    if not args.skip_live:
        live_rounds([int(x) for x in args.ks.split(",")], args.rounds)


if __name__ == "__main__":
    main()
