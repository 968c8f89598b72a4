"""twinbed bench cloud: the cloud's twin updates per second, beside the raw twin-store write.

What one compression ``Sync`` costs the cloud, end to end, in the service's own code: the
worker reads the batch, decodes and validates the messages, checks the seen-set, the cloud's
handler decompresses (capped) and verifies the checksum, reads the oracle entries, computes
fidelity, records the twin update (state, version, AoI, fidelity, history entry for the SSE
feed) and the sensor's report to the controller, and one transaction commits it all with the
acks. The messages are published beforehand (that is the basestation's work, not timed).

The reference, measured interleaved in the same run on the same Redis and client: the twin
store's write alone (``TwinStore.update`` of the same state, 256 per transaction, nothing
else), the ceiling of what a cloud that does anything besides storing can reach.

Then one run's K twins read back, with LIST_RUNS runs of K twins in the store: over HTTP from
a real cloud service (``twinbed serve cloud`` on the bench's Redis: ``GET /twins?run_id=``,
the whole body), the store's read that endpoint sends, and the old read (every run's index,
one HGETALL per twin); p50, p90 and max of 20 reads.

    twinbed bench cloud [--sensors K] [--rounds R] [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis.asyncio as aioredis

from redis_reference import scratch_redis  # bench/redis_reference.py
from twinbed import keys, redisconn
from twinbed.bus import Bus, Worker, commit
from twinbed.codecs import get_codec
from twinbed.config import Settings
from twinbed.physical import BandLimitedSignal, to_bytes
from twinbed.runs import RunConfig, RunStore
from twinbed.scenarios import scenario_names
from twinbed.scenarios.compression.messages import Sync
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.scenarios.compression.roles import TWIN_KIND, sensor_name, twin_state
from twinbed.signing import key_file, new_seeds, pub_dir, throwaway_keys, write_keys
from twinbed.stack import free_port
from twinbed.twins import TwinStore, TwinUpdate, twin_id
from twinbed_services.common import RoleDispatcher, ServiceState

CODEC = "zlib-6"
BATCH = 256
LIST_RUNS = 5  # runs of K twins each in the store when one run's twins are listed


async def _run(r: aioredis.Redis, K: int) -> RunConfig:
    params = CompressionParams(K=K)
    cfg = RunConfig(id="b" + uuid.uuid4().hex[:10], scenario="compression",
                    algorithm="fixed-bf", seed=0, rounds=1000, params=params.model_dump(),
                    deadline_s=60.0, created_wall=time.time())
    await RunStore(r).create(cfg)
    return cfg


async def publish_syncs(r: aioredis.Redis, cfg: RunConfig, K: int, rounds: int,
                        bs: Bus) -> int:
    """The basestation's part, untimed: K sensors x ``rounds`` compression syncs of run
    ``cfg`` (their oracle entries first) on the run's cloud stream; returns how many."""
    params = CompressionParams(K=K)
    signal = BandLimitedSignal(cfg.seed, K)
    codec = get_codec(CODEC)
    items = []
    for rnd in range(rounds):
        for k in range(K):
            raw = to_bytes(signal.samples(k, rnd + 1, params.n_samples))
            blob = codec.encode(raw)
            items.append((rnd, k, raw, blob, ""))  # oracle id: below
    oracle = keys.stream(cfg.id, "oracle")
    async with r.pipeline(transaction=False) as p:
        for _, _, raw, _, _ in items:
            p.xadd(oracle, {"m": "", "p": raw})  # the cloud reads the payload only
        ids = await p.execute()
    cloud_stream = keys.stream(cfg.id, "cloud")
    now = time.time()
    msgs = []
    for (rnd, k, raw, blob, _), oid in zip(items, ids, strict=True):
        msgs.append((cloud_stream, Sync(
            run_id=cfg.id, round=rnd, sensor=k, beta_model=2.0, codec=CODEC,
            beta_achieved=len(raw) / len(blob), codec_s=1e-4, raw_bytes=len(raw),
            raw_sha256=hashlib.sha256(raw).hexdigest(), oracle_id=oid.decode(),
            sampled_wall=now, b_hz=1e5, f_hz=1e9, rate_bps=1e6, T_comp_s=1e-3, T_tr_s=1e-3,
            T_DT_s=1e-3, T_total_s=3e-3, modeled_start_s=float(rnd), forwarded_wall=now), blob))
    for i in range(0, len(msgs), BATCH):
        await bs.publish_many(msgs[i:i + BATCH])
    return len(msgs)


async def cloud_once(r: aioredis.Redis, K: int, rounds: int) -> tuple[float, float]:
    """Updates per second through the cloud's worker, and the cloud's CPU seconds per update
    (this process: the cloud's work without Redis's)."""
    cfg = await _run(r, K)
    n = await publish_syncs(r, cfg, K, rounds,
                            Bus(r, "basestation@bench", throwaway_keys("basestation")))
    cloud_stream = keys.stream(cfg.id, "cloud")
    settings = Settings(consumer="cloud@bench")
    bus = Bus(r, "cloud@bench", throwaway_keys("cloud"))
    state = ServiceState(role="cloud", settings=settings, redis=r, bus=bus, runs=RunStore(r))
    dispatcher = RoleDispatcher(state, {})

    async def streams() -> list[str]:
        return [cloud_stream]

    worker = Worker(bus, "cloud", "cloud@bench", streams, dispatcher, count=BATCH, block_ms=50)
    await worker.ensure_group(cloud_stream)
    t0, c0 = time.perf_counter(), time.process_time()
    while worker.stats.handled + worker.stats.dead < n:
        await worker.step()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if worker.stats.dead:
        raise RuntimeError(f"{worker.stats.dead} syncs dead-lettered: the bench is broken")
    reports = await r.xlen(keys.stream(cfg.id, "controller"))
    if reports != n:
        raise RuntimeError(f"{reports} reports for {n} updates")
    version = await r.hget(keys.twin_key(twin_id(cfg.id, sensor_name(K - 1))), "version")
    if int(version or 0) != rounds:
        raise RuntimeError(f"last twin at version {version!r}, expected {rounds}")
    await _drop(r, cfg.id)
    return n / dt, cpu / n


async def store_once(r: aioredis.Redis, K: int, rounds: int, state_of: dict[str, object]
                     ) -> float:
    """Twin-store writes per second: ``TwinStore.update`` alone, BATCH per transaction."""
    run_id = "s" + uuid.uuid4().hex[:10]
    store = TwinStore(r, 1000)
    bus = Bus(r, "cloud-store@bench", throwaway_keys("cloud"))
    n = K * rounds
    fid = {"oracle_id": "1-1", "available": True, "exact": True, "rmse": 0.0, "nrmse": 0.0,
           "max_abs_err": 0}
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        fx = bus.effects()
        now = time.time()
        for j in range(i, min(n, i + BATCH)):
            store.update(fx, twin=twin_id(run_id, sensor_name(j % K)), kind=TWIN_KIND,
                         run_id=run_id, round_=j // K, state=state_of, modeled_s=1.0,
                         aoi_modeled_s=0.5, wall=now, aoi_wall_s=0.001, fidelity=fid)
        await commit(r, fx)  # as the worker: global index, then MULTI
    dt = time.perf_counter() - t0
    await _drop(r, run_id)
    return n / dt


async def _drop(r: aioredis.Redis, run_id: str) -> None:
    batch = [k async for k in r.scan_iter(f"*{run_id}*", count=1000)]
    for i in range(0, len(batch), 1000):
        await r.delete(*batch[i:i + 1000])
    await r.zremrangebyscore(keys.TWINS_INDEX, "-inf", "+inf")


async def main_async(K: int, rounds: int, repeats: int) -> None:
    scenario_names()  # register every message type
    async with scratch_redis() as plain:
        port = plain.connection_pool.connection_kwargs["port"]
        r = redisconn.connect(f"redis://127.0.0.1:{port}/0")
        probe = _state(K)  # the reference writes the same state the cloud stores
        await cloud_once(r, min(K, 4), 1)  # warm imports and caches
        gc.freeze()  # as the services do after start-up
        cloud, store, cpu = [], [], []
        try:
            for _ in range(repeats):  # interleaved, so drift hits both alike
                store.append(await store_once(r, K, rounds, probe))
                ups, cpu_s = await cloud_once(r, K, rounds)
                cloud.append(ups)
                cpu.append(cpu_s)
            lst = await list_latency(r, K, LIST_RUNS, 20, port)
        finally:
            await r.aclose()
    print(f"\n== cloud ingestion: {K * rounds} compression syncs (K = {K}, {rounds} rounds, "
          f"{CODEC}, history + SSE feed + fidelity + reports), {repeats} interleaved repeats")
    print(f"{'':<46}{'min':>9}{'median':>9}{'max':>9}")
    for name, xs in (("twin-store write alone (TwinStore.update)/s", store),
                     ("cloud ingestion, updates/s", cloud)):
        print(f"{name:<46}{min(xs):>9.0f}{statistics.median(xs):>9.0f}{max(xs):>9.0f}")
    ratios = [c / s for c, s in zip(cloud, store, strict=True)]
    print(f"{'ratio cloud / store write':<46}{min(ratios):>9.3f}{statistics.median(ratios):>9.3f}"
          f"{max(ratios):>9.3f}")
    print(f"{'cloud CPU us per update (its process)':<46}{1e6 * min(cpu):>9.0f}"
          f"{1e6 * statistics.median(cpu):>9.0f}{1e6 * max(cpu):>9.0f}")
    http, new, old = lst
    print(f"\n== reading one run's {K} twins ({LIST_RUNS} runs of {K} in the store; "
          f"{len(new)} reads), ms")
    print(f"{'':<46}{'p50':>9}{'p90':>9}{'max':>9}")
    for name, xs in (("GET /twins?run_id= of the cloud service (HTTP)", http),
                     ("its own index, one script (the store's read)", new),
                     ("every run's index, one HGETALL per twin", old)):
        q = statistics.quantiles([1e3 * x for x in xs], n=10)
        print(f"{name:<46}{statistics.median(xs) * 1e3:>9.1f}{q[-1]:>9.1f}{max(xs) * 1e3:>9.1f}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


async def list_latency(r: aioredis.Redis, K: int, runs: int, repeats: int, port: int
                       ) -> tuple[list[float], list[float], list[float]]:
    """Seconds to read one run's K twins: ``GET /twins?run_id=`` of a real cloud service
    (``twinbed serve cloud`` on this Redis, its body read here), the store's read the endpoint
    sends (its own index, one script writing each twin's JSON from the stored text; parsed
    here) and the old read (every run's index, one HGETALL per twin), with ``runs`` runs of K
    twins in the store."""
    store = TwinStore(r, 1000)
    bus = Bus(r, "cloud-store@bench", throwaway_keys("cloud"))
    state = _state(K)
    ids = ["l" + uuid.uuid4().hex[:10] for _ in range(runs)]
    for run_id in ids:
        fx = bus.effects()
        store.update_many(fx, [TwinUpdate(twin_id(run_id, sensor_name(k)), TWIN_KIND, run_id,
                                          0, state, 1.0, 0.5, time.time(), 0.001, {})
                               for k in range(K)])
        await commit(r, fx)  # as the worker: global index, then MULTI
    new, old = [], []
    target = ids[len(ids) // 2]
    for _ in range(repeats):
        t0 = time.perf_counter()
        page = json.loads(await store.get_many_json(await store.ids(target, limit=K)))
        new.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        every = [x.decode() for x in await r.zrange(keys.TWINS_INDEX, 0, -1)]
        mine = [t for t in every if t.startswith(target + ".")]
        one_by_one = [await store.get(t) for t in mine]
        old.append(time.perf_counter() - t0)
        if len(page) != K or len(one_by_one) != K:
            raise RuntimeError(f"read {len(page)} and {len(one_by_one)} twins of {K}")
    http = await _http_reads(port, target, K, repeats)
    for run_id in ids:
        await _drop(r, run_id)
    return http, new, old


async def _http_reads(redis_port: int, run_id: str, K: int, repeats: int) -> list[float]:
    """Seconds per ``GET /twins?run_id=`` (whole body) of a cloud service started here."""
    port = free_port()
    keys = Path(tempfile.mkdtemp(prefix="tb-bench-keys-"))  # the service refuses to run unsigned
    write_keys(keys, new_seeds())
    env = dict(os.environ, TWINBED_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
               TWINBED_LOG_LEVEL="error", TWINBED_BUS_KEY=str(key_file(keys, "cloud")),
               TWINBED_BUS_PUBKEYS=str(pub_dir(keys)))
    proc = subprocess.Popen([sys.executable, "-m", "twinbed", "serve", "cloud", "--port",
                             str(port)], env=env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for _ in range(300):
                try:
                    if (await c.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the cloud service did not start")
            out = []
            for _ in range(repeats + 1):  # the first warms the connection and the script
                t0 = time.perf_counter()
                resp = await c.get("/twins", params={"run_id": run_id})
                out.append(time.perf_counter() - t0)
                if resp.status_code != 200 or len(resp.json()) != K:
                    raise RuntimeError(f"GET /twins answered {resp.status_code}: "
                                       f"{resp.text[:200]}")
            return out[1:]
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(keys, ignore_errors=True)


def _state(K: int) -> dict[str, object]:
    """The state one cloud update stores (the compression cloud's own builder)."""
    raw = to_bytes(BandLimitedSignal(0, K).samples(0, 1, CompressionParams(K=K).n_samples))
    return twin_state(1, raw, hashlib.sha256(raw).hexdigest(), CODEC)


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench cloud", description=__doc__.split("\n")[0])
    ap.add_argument("--sensors", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    asyncio.run(main_async(args.sensors, args.rounds, args.repeats))


if __name__ == "__main__":
    main()
