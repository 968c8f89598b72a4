"""What the bus benchmarks measure against: a throw-away Redis and the raw-Redis round trip.

Imported by ``bench_bus.py`` and ``bench_fl_migration.py`` (``twinbed bench`` puts this folder on
``sys.path``, as running a script from it does).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence

import redis.asyncio as aioredis

from twinbed.stack import find_redis_server, free_port

__all__ = ["raw_roundtrip", "scratch_redis"]


@contextlib.asynccontextmanager
async def scratch_redis() -> AsyncIterator[aioredis.Redis]:
    """A redis-server on a free port with no persistence, stopped at exit."""
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                                 "--dir", d, "--save", "", "--appendonly", "no"],
                                stdout=subprocess.DEVNULL)
        try:
            r = aioredis.Redis(port=port)
            for _ in range(200):
                try:
                    await r.ping()
                    break
                except Exception:  # noqa: BLE001 - redis still starting
                    await asyncio.sleep(0.025)
            else:
                raise RuntimeError("redis did not start")
            try:
                yield r
            finally:
                await r.aclose()
        finally:
            proc.terminate()
            proc.wait()


async def raw_roundtrip(r: aioredis.Redis, payloads: Sequence[bytes], tag: str,
                        batch: int) -> float:
    """Seconds to XADD every payload (pipelined, ``batch`` per round trip), then XREADGROUP and
    XACK them all: the plain-Redis work the bus does for the same messages, and nothing else."""
    stream, group = f"bench:raw:{tag}", "g"
    await r.xgroup_create(stream, group, id="0", mkstream=True)
    n = len(payloads)
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        async with r.pipeline(transaction=False) as p:
            for j in range(i, min(n, i + batch)):
                p.xadd(stream, {"n": j, "p": payloads[j]})
            await p.execute()
    got = 0
    while got < n:
        reply = await r.xreadgroup(group, "c", {stream: ">"}, count=batch)
        ids = [eid for _, entries in reply for eid, _ in entries]
        await r.xack(stream, group, *ids)
        got += len(ids)
    dt = time.perf_counter() - t0
    await r.delete(stream)
    return dt
