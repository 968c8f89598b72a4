"""twinbed bench failover: what an acknowledged write can lose when a Redis Cluster primary
is killed, and what waiting for a replica costs.

Per trial a fresh cluster of 3 primaries + 3 replicas (``twinbed.localcluster``, the stack's
``redis-server``, ``cluster-node-timeout`` 1 s). WRITERS concurrent writers commit at full
rate, each commit a ``MULTI`` / ``XADD`` of a numbered entry / ``EXEC`` on one run's hash slot
of SIZE bytes (what a bus commit with a twin write is), through the services' client (``twinbed.redisconn``, the cluster
client). After WARM_S the primary serving that slot is killed with SIGKILL; the writers go on
(errors while the cluster fails over are retried; a commit whose reply was lost,
``CommitUnknownError``, is counted apart: the writer cannot know). Once a replica is promoted
and serves the slot again, a little more is written, then the stream is read: every entry
acknowledged but absent is an acknowledged write lost at the failover.

Two modes, interleaved trial by trial: ``async`` (plain commits, Redis's asynchronous
replication) and ``wait-1`` (``TWINBED_REDIS_WAIT_REPLICAS=1``: each commit followed by
``WAIT 1 <ms>`` on its connection). Printed per mode: commits per second before the kill
(and the ratio wait-1 / async measured in the same run), commit latency p50 / p99, acked
writes lost per trial, how long before the kill the lost ones were acknowledged, and the
outage (kill to the first commit acknowledged by the promoted replica).

    twinbed bench failover [--trials N] [--writers W] [--warm S] [--wait-ms MS] [--size B]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from twinbed import keys, redisconn
from twinbed.localcluster import LocalCluster


@dataclass
class Trial:
    mode: str
    acked: dict[int, float] = field(default_factory=dict)  # n -> time acknowledged
    unknown: set[int] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    t_kill: float = 0.0
    t_back: float = 0.0
    lost: list[int] = field(default_factory=list)
    rate: float = 0.0


async def trial(mode: str, writers: int, warm_s: float, wait_ms: int, size: int) -> Trial:
    out = Trial(mode)
    body = b"x" * size
    wait = 1 if mode == "wait-1" else 0
    cluster = LocalCluster(Path(tempfile.mkdtemp(prefix="tb-failover-")), primaries=3,
                           replicas=1, node_timeout_ms=1000).start()
    stream = keys.stream("bench-failover", "cloud")
    r = redisconn.connect(cluster.url, wait_replicas=wait, wait_ms=wait_ms)
    counter = iter(range(10**9))
    stop = asyncio.Event()
    killed = asyncio.Event()

    async def writer() -> None:
        while not stop.is_set():
            n = next(counter)
            t0 = time.monotonic()
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    async with r.pipeline(transaction=True) as pipe:
                        pipe.xadd(stream, {"n": n, "body": body})
                        await pipe.execute()
                except redisconn.CommitUnknownError:
                    out.unknown.add(n)  # maybe applied: not counted as acknowledged
                    break
                except redisconn.UNAVAILABLE:
                    await asyncio.sleep(0.01)
                    continue
                now = time.monotonic()
                out.acked[n] = now
                if not killed.is_set():
                    out.latencies.append(now - t0)
                elif not out.t_back and sent > out.t_kill:  # sent after the kill: the new primary
                    out.t_back = now
                break

    try:
        tasks = [asyncio.create_task(writer()) for _ in range(writers)]
        await asyncio.sleep(warm_s)
        before = len(out.acked)
        dead = await asyncio.to_thread(cluster.kill_owner, stream)
        out.t_kill = time.monotonic()
        killed.set()
        out.rate = before / warm_s
        await asyncio.to_thread(cluster.wait_promoted, stream, dead)
        t = time.monotonic()
        while not out.t_back and time.monotonic() - t < 30:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*tasks)
        present = {int(f[b"n"]) for _, f in await r.xrange(stream)}
        out.lost = sorted(n for n in out.acked if n not in present)
    finally:
        await r.aclose()
        cluster.stop()
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--warm", type=float, default=1.5, help="seconds of writes before the kill")
    ap.add_argument("--wait-ms", type=int, default=100)
    ap.add_argument("--size", type=int, default=2700,
                    help="bytes per commit (a compression twin's state is ~2.7 KB)")
    args = ap.parse_args()
    res: dict[str, list[Trial]] = {"async": [], "wait-1": []}
    for i in range(args.trials):
        for mode in ("async", "wait-1"):
            t = await trial(mode, args.writers, args.warm, args.wait_ms, args.size)
            res[mode].append(t)
            ahead = [t.t_kill - t.acked[n] for n in t.lost]
            print(f"trial {i + 1} {mode:>6}: {t.rate:7.0f} commits/s, {len(t.acked):6d} acked, "
                  f"{len(t.lost):3d} acked lost"
                  + (f" (acked {min(ahead) * 1e3:.1f}-{max(ahead) * 1e3:.1f} ms before the kill)"
                     if ahead else "")
                  + f", {len(t.unknown)} unknown, outage {t.t_back - t.t_kill:.2f} s",
                  flush=True)
    print(f"\n{args.trials} trials, {args.writers} writers, {args.size} B per commit, WAIT "
          f"timeout {args.wait_ms} ms")
    print(f"{'mode':>7} | commits/s median | p50 ms | p99 ms | acked lost per trial "
          "(min/median/max) | outage s median")
    for mode, ts in res.items():
        lost = [len(t.lost) for t in ts]
        lat = [x for t in ts for x in t.latencies]
        print(f"{mode:>7} | {statistics.median(t.rate for t in ts):16.0f} | "
              f"{pct(lat, 0.5) * 1e3:6.2f} | {pct(lat, 0.99) * 1e3:6.2f} | "
              f"{min(lost)} / {statistics.median(lost):g} / {max(lost)} | "
              f"{statistics.median(t.t_back - t.t_kill for t in ts):.2f}")
    ratios = [w.rate / a.rate for a, w in zip(res["async"], res["wait-1"], strict=True)]
    print(f"commit rate wait-1 / async (same trial pair): median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    asyncio.run(main())
