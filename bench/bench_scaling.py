"""twinbed bench scaling: consumer processes of one group, and primaries of a Redis Cluster.

Two workloads, each consumed by 1, 2 and 4 OS processes (forked) reading one consumer group,
every process a real ``twinbed.bus.Worker`` with its own Redis connections:

- bus: pings on several runs' streams, each handled by incrementing the run's counter in the
  commit (the bus's whole path: decode, signature, claim, handler, transaction, ack);
- cloud: compression syncs handled by the cloud's own dispatcher and handler (decompress,
  verify, oracle, fidelity, twin store with history, reports), as ``twinbed bench cloud``.

First on one Redis; then the same with the runs spread over a 3-primary Redis Cluster
(``twinbed.localcluster``) against 1 primary. Every run checks exactly-once: the
counters sum to the pings published, every twin's version equals the rounds, one report per
update, nothing dead-lettered.

Printed per line: the rate, the speed-up over 1 consumer on the same Redis, and the
efficiency per core, speed-up / min(processes, cores): on this 2-core machine the ceiling is
the machine (Redis and the consumers share the two cores), so the efficiency is what says
whether more hosts would help (the projection: N cores at that efficiency).

    twinbed bench scaling [--consumers 1,2,4] [--pings N] [--sensors K] [--rounds R]
                          [--runs S] [--repeats N] [--skip-cluster]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from bench_cloud import _run, publish_syncs  # bench/bench_cloud.py
from twinbed import keys, redisconn
from twinbed.bus import Bus, Worker
from twinbed.config import Settings
from twinbed.localcluster import LocalCluster
from twinbed.localredis import local_redis
from twinbed.messages import Message
from twinbed.runs import RunStore
from twinbed.scenarios import scenario_names
from twinbed.scenarios.compression.roles import sensor_name
from twinbed.signing import memory_keys, new_seeds
from twinbed.twins import twin_id
from twinbed_services.common import RoleDispatcher, ServiceState

BATCH = 256
PAYLOAD = os.urandom(1024)


class ScalePing(Message):
    TYPE: ClassVar[str] = "bench.scale-ping"
    SENT_BY: ClassVar[tuple[str, ...]] = ("sensor",)
    n: int


def _counter(run: str) -> str:
    return f"tb:{{{run}}}:edge:count"  # in the run's hash slot: committed with the acks


async def _prepare_bus(url: str, seeds: dict[str, bytes], runs: list[str], n: int
                       ) -> list[str]:
    r = redisconn.connect(url)
    bus = Bus(r, "sensor@scale", memory_keys("sensor", seeds))
    streams = [keys.stream(run, "edge") for run in runs]
    for i in range(0, n, BATCH):
        await bus.publish_many((streams[j % len(streams)], ScalePing(
            run_id=runs[j % len(runs)], round=0, n=j), PAYLOAD)
            for j in range(i, min(n, i + BATCH)))
    await r.aclose()
    return streams


async def _prepare_cloud(url: str, seeds: dict[str, bytes], nruns: int, K: int, rounds: int
                         ) -> tuple[list[str], list[str], int]:
    r = redisconn.connect(url)
    bs = Bus(r, "basestation@scale", memory_keys("basestation", seeds))
    runs, n = [], 0
    for _ in range(nruns):
        cfg = await _run(r, K)
        n += await publish_syncs(r, cfg, K, rounds, bs)
        runs.append(cfg.id)
    await r.aclose()
    return runs, [keys.stream(run, "cloud") for run in runs], n


def _consumer(url: str, seeds: dict[str, bytes], streams: list[str], kind: str, name: str,
              ready: Any, go: Any, stop: Any, out: Any) -> None:
    """One consumer process: a Worker of group ``kind`` over ``streams`` until ``stop``."""

    async def main() -> None:
        scenario_names()
        r = redisconn.connect(url)
        role = "cloud" if kind == "cloud" else "edge"
        bus = Bus(r, name, memory_keys(role, seeds))
        if kind == "cloud":
            state = ServiceState(role="cloud", settings=Settings(consumer=name), redis=r,
                                 bus=bus, runs=RunStore(r))
            handler: Any = RoleDispatcher(state, {})
        else:
            async def handler(env: Any, fx: Any) -> None:
                fx.incr(_counter(env.msg.run_id))

        async def listed() -> list[str]:
            return streams

        w = Worker(bus, kind, name, listed, handler, count=BATCH, block_ms=20)
        for s in streams:
            await w.ensure_group(s)
        gc.freeze()
        ready.set()
        while not go.is_set():
            await asyncio.sleep(0.005)
        c0 = time.process_time()
        while not stop.is_set():
            await w.step()
        out.put((name, w.stats.handled, w.stats.dead, w.stats.duplicates,
                 time.process_time() - c0))
        await r.aclose()

    asyncio.run(main())


async def _done(url: str, kind: str, runs: list[str], n: int) -> bool:
    r = redisconn.connect(url)
    try:
        if kind == "bus":
            vals = [int(await r.get(_counter(run)) or 0) for run in runs]
            got = sum(vals)
        else:
            got = sum([await r.xlen(keys.stream(run, "controller")) for run in runs])
        if got > n:
            raise RuntimeError(f"{got} effects for {n} messages: applied twice")
        return got == n
    finally:
        await r.aclose()


async def _check_cloud(url: str, runs: list[str], K: int, rounds: int) -> None:
    r = redisconn.connect(url)
    try:
        for run in runs:
            for k in (0, K - 1):
                v = await r.hget(keys.twin_key(twin_id(run, sensor_name(k))), "version")
                if int(v or 0) != rounds:
                    raise RuntimeError(f"twin {k} of {run} at version {v!r}, not {rounds}")
    finally:
        await r.aclose()


def measure(url: str, kind: str, procs: int, args: argparse.Namespace) -> float:
    """Messages per second with ``procs`` consumer processes of one group on ``url``."""
    seeds = new_seeds()
    if kind == "bus":
        runs = [f"sc{uuid.uuid4().hex[:8]}" for _ in range(args.runs)]
        streams = asyncio.run(_prepare_bus(url, seeds, runs, args.pings))
        n = args.pings
    else:
        runs, streams, n = asyncio.run(_prepare_cloud(url, seeds, args.runs, args.sensors,
                                                      args.rounds))
    ctx = mp.get_context("fork")
    go, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    readies, children = [], []
    for i in range(procs):
        ready = ctx.Event()
        role = "cloud" if kind == "cloud" else "edge"
        p = ctx.Process(target=_consumer, args=(url, seeds, streams, kind, f"{role}@scale-{i}",
                                                ready, go, stop, out), daemon=True)
        p.start()
        readies.append(ready)
        children.append(p)
    for ready in readies:
        if not ready.wait(60):
            raise RuntimeError("a consumer process did not start")
    t0 = time.perf_counter()
    go.set()
    while not asyncio.run(_done(url, kind, runs, n)):
        if not all(p.is_alive() for p in children):
            raise RuntimeError("a consumer process died")
        time.sleep(0.01)
    dt = time.perf_counter() - t0
    stop.set()
    stats = [out.get(timeout=30) for _ in children]
    for p in children:
        p.join(10)
    if any(s[2] for s in stats):
        raise RuntimeError(f"dead letters: {stats}")
    if kind == "cloud":
        asyncio.run(_check_cloud(url, runs, args.sensors, args.rounds))
    handled = sum(s[1] for s in stats)
    if handled != n:
        raise RuntimeError(f"{handled} handled for {n} messages: {stats}")
    return n / dt


def _row(label: str, rates: list[float], base: float, procs: int) -> str:
    cores = os.cpu_count() or 1
    rate = statistics.median(rates)
    speed = rate / base
    return (f"{label:<40}{rate:>10.0f}{speed:>9.2f}x{speed / min(procs, cores):>12.2f}"
            f"   [{min(rates):.0f}-{max(rates):.0f}]")


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench scaling", description=__doc__.split("\n")[0])
    ap.add_argument("--consumers", default="1,2,4")
    ap.add_argument("--pings", type=int, default=20_000)
    ap.add_argument("--sensors", type=int, default=250)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--runs", type=int, default=6, help="runs the messages spread over")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-cluster", action="store_true")
    args = ap.parse_args()
    try:
        counts = [int(x) for x in args.consumers.split(",")]
    except ValueError:
        raise SystemExit(f"--consumers: expected numbers like 1,2,4, got {args.consumers!r}"
                         ) from None
    if not counts or min(counts) < 1 or args.runs < 1 or args.repeats < 1:
        raise SystemExit("--consumers, --runs and --repeats must be >= 1")
    scenario_names()
    cores = os.cpu_count() or 1
    units = {"bus": "pings/s", "cloud": "updates/s"}
    head = f"{'':<40}{'rate':>10}{'speed-up':>10}{'eff./core':>12}"
    runs: dict[tuple[str, str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        with local_redis(Path(tmp) / "single") as url:
            for _ in range(args.repeats):  # interleaved, so drift hits every line alike
                for kind in ("bus", "cloud"):
                    for c in counts:
                        runs.setdefault(("single", kind, c), []).append(
                            measure(url, kind, c, args))
        if not args.skip_cluster:
            cl = LocalCluster(Path(tmp) / "cluster", primaries=3).start()
            try:
                for _ in range(args.repeats):
                    for kind in ("bus", "cloud"):
                        for c in (1, max(counts)):
                            runs.setdefault(("cluster", kind, c), []).append(
                                measure(cl.url, kind, c, args))
            finally:
                cl.stop()
    results = {k: statistics.median(v) for k, v in runs.items()}
    print(f"\nmedians of {args.repeats} interleaved repeats (min-max in brackets)")
    for kind in ("bus", "cloud"):
        base = results[("single", kind, 1)]
        n = args.pings if kind == "bus" else args.runs * args.sensors * args.rounds
        print(f"\n== {kind}: {n} messages over {args.runs} runs, {units[kind]}; "
              f"speed-up over 1 consumer on one Redis; {cores} cores")
        print(head)
        for c in counts:
            print(_row(f"1 Redis, {c} consumer process(es)", runs[("single", kind, c)],
                       base, c))
        top = max(counts)
        eff = results[("single", kind, top)] / base / min(top, cores)
        print(f"{'projection, 8 cores at that efficiency':<40}{base * 8 * eff:>10.0f}"
              f"{8 * eff:>9.2f}x   (1 Redis, {top} consumers: {eff:.2f} per core)")
        for c in (1, max(counts)):
            if ("cluster", kind, c) in results:
                print(_row(f"3-primary cluster, {c} consumer process(es)",
                           runs[("cluster", kind, c)], base, c))
    print(f"\nload average (1 min) at the end: {os.getloadavg()[0]:.2f} on {cores} cores")


if __name__ == "__main__":
    main()
