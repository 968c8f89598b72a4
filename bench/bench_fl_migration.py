"""twinbed bench fl-migration: allocation solvers, model-update throughput, one live FL slot.

1. Problem (26) for one slot's association: the closed-form exact allocator beside the cvxpy
   (Clarabel, DPP) one, same outer search, at U = 20 (S = 9, Table II) and U = 2000 (S = 200,
   q_s ~ U[3.5, 3.75]e3 so that C2 binds on some servers instead of none fitting): median
   wall time per allocation (cvxpy: build once per association + one DPP re-solve per price
   of the outer search), the ratio, and the largest objective difference.
2. Model updates through the bus: real ModelUpdate messages carrying the MLP's weights
   (torch state dict bytes) published with twinbed.bus and consumed by a Worker (decode,
   validation, checksum, dedup, transactional ack), beside raw XADD + XREADGROUP + XACK of the
   same payloads on the same Redis: updates/s, MB/s, ratio.
3. One live FL slot at S = 9, U = 20 (Table II, E_s = 50, E_us = 10 epochs, two edge
   processes) on the local stack started like `make up`: wall time per slot and by phase.

4. Environment steps per second (FlMigrationEnv, U = 20, S = 9, random discrete actions) with
   the allocation's inner search beside its reference (``reference=True``, the same numbers
   bit for bit), interleaved in one run, per wall and per CPU second.

    twinbed bench fl-migration [--seeds N] [--updates N] [--repeats R] [--slots N] [--skip-live]
                               [--env-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import redis.asyncio as aioredis

from redis_reference import raw_roundtrip, scratch_redis  # bench/redis_reference.py
from twinbed.bus import Bus, Worker
from twinbed.scenarios.fl_migration import allocation as A
from twinbed.scenarios.fl_migration import fl, model
from twinbed.scenarios.fl_migration.algorithms import nearest
from twinbed.scenarios.fl_migration.messages import ModelUpdate
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.signing import throwaway_keys
from twinbed.stack import local_stack

BATCH = 64


def allocation(seeds: int) -> None:
    print("\n== allocation (26): closed form vs cvxpy, same outer search")
    print(f"{'case':<26}{'fast ms':>10}{'cvxpy ms':>11}{'cvxpy/fast':>12}{'max |dvalue|':>15}")
    cases = [("U=20, S=9", FlMigrationParams()),
             ("U=2000, S=200", FlMigrationParams(U=2000, S=200, q_low=3500.0, q_high=3750.0))]
    for name, p in cases:
        tf, tc, diff = [], [], 0.0
        for seed in range(seeds if p.U <= 100 else 1):
            inst = model.draw_instance(p, seed)
            st = model.first_state(p, inst, seed)
            st = model.next_state(p, st, st.prev_assoc, seed)
            assoc = nearest(p, inst, st)
            coef = model.server_coefficients(p, inst, st, assoc)
            t0 = time.perf_counter()
            f = A.allocate_fast(p, coef, assoc, inst.q)
            t1 = time.perf_counter()
            c = A.allocate_cvxpy(p, coef, assoc, inst.q)
            t2 = time.perf_counter()
            tf.append(t1 - t0)
            tc.append(t2 - t1)
            diff = max(diff, abs(f.value - c.value))
        mf, mc = statistics.median(tf), statistics.median(tc)
        print(f"{name:<26}{1e3 * mf:>10.2f}{1e3 * mc:>11.1f}{mc / mf:>12.0f}{diff:>15.2e}")


async def _bus(r: aioredis.Redis, blobs: list[bytes], tag: str) -> float:
    stream = f"bench:bus:{tag}"
    bus = Bus(r, "edge@bench", throwaway_keys("edge"))
    seen = 0

    async def handler(env, fx) -> None:  # noqa: ANN001
        nonlocal seen
        if fl.sha256(env.payload) != env.msg.sha256:  # what the cloud checks first
            raise ValueError("corrupt")
        seen += 1

    async def streams() -> list[str]:
        return [stream]

    worker = Worker(bus, "g", "c", streams, handler, count=BATCH, block_ms=50)
    await worker.ensure_group(stream)
    n = len(blobs)
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        await bus.publish_many(
            (stream, ModelUpdate(run_id="bench", round=0, server=j % 9, base_version=0,
                                 samples=1000, sha256=fl.sha256(blobs[j]), train_s=0.0), blobs[j])
            for j in range(i, min(n, i + BATCH)))
    while seen < n:
        await worker.step()
    dt = time.perf_counter() - t0
    if worker.stats.dead:
        raise RuntimeError(f"{worker.stats.dead} updates dead-lettered")
    await r.delete(stream, worker.seen_key(stream))
    return dt


async def updates(n: int, repeats: int) -> None:
    blobs = [fl.state_bytes(fl.new_model(i).state_dict()) for i in range(16)]
    blobs = [blobs[i % 16] for i in range(n)]
    mb = sum(map(len, blobs)) / 1e6
    async with scratch_redis() as r:
        raw, ours = [], []
        for i in range(repeats):
            raw.append(await raw_roundtrip(r, blobs, str(i), BATCH))
            ours.append(await _bus(r, blobs, str(i)))
    print(f"\n== model updates through the bus ({n} updates of {len(blobs[0])} B "
          f"(MLP {fl.MLP_SIZES} weights), {repeats} interleaved repeats, medians)")
    for name, ts in (("raw XADD+XREADGROUP+XACK", raw), ("twinbed.bus ModelUpdate", ours)):
        t = statistics.median(ts)
        print(f"{name:<28}{n / t:>10.0f} updates/s{mb / t:>10.1f} MB/s")
    print(f"{'ratio bus/raw':<28}{statistics.median([a / b for a, b in zip(raw, ours)]):>10.3f}")


def live(slots: int) -> None:
    print(f"\n== live FL slot, S=9, U=20, Table II epochs, nearest, {slots} slots")
    with local_stack() as live:
        view = live.run("fl-migration", "nearest", slots, params={"S": 9})
    phases = ("solve_s", "migrate_s", "train_s", "aggregate_s", "finetune_s", "slot_wall_s",
              "wall_s")
    print(f"{'slot':>5}" + "".join(f"{k:>13}" for k in phases) + f"{'moved KB':>10}{'acc':>7}")
    for rec in view["rounds"]:
        if rec.get("missing"):
            print(f"{rec['round']:>5}  missing: {rec['missing']}")
            continue
        print(f"{rec['round']:>5}" + "".join(f"{rec[k]:>13.3f}" for k in phases)
              + f"{rec['moved_bytes'] / 1e3:>10.1f}{rec['accuracy_mean']:>7.3f}")
    walls = [r["wall_s"] for r in view["rounds"] if not r.get("missing")]
    if walls:
        print(f"median slot wall {statistics.median(walls):.2f} s "
              "(train_s: the slowest server's local training; migrate_s/finetune_s: the slowest "
              "edge process)")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def env_speed(steps: int = 300, repeats: int = 5) -> None:
    from twinbed.scenarios.fl_migration.env import FlMigrationEnv

    rates: dict[tuple[bool, str], list[float]] = {}
    load0 = _load()
    for reference in (False, True):  # warm up: imports, numba's cached kernels
        warm = FlMigrationEnv(reference=reference)
        warm.reset(seed=0)
        warm.action_space.seed(0)
        for _ in range(20):
            warm.step(warm.action_space.sample())
    for _ in range(repeats):
        for reference in (False, True):
            env = FlMigrationEnv(reference=reference)
            env.reset(seed=0)
            env.action_space.seed(0)
            acts = [env.action_space.sample() for _ in range(steps)]
            t0, c0 = time.perf_counter(), time.process_time()
            for a in acts:
                _, _, term, trunc, _ = env.step(a)
                if term or trunc:
                    env.reset()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rates.setdefault((reference, "wall"), []).append(steps / wall)
            rates.setdefault((reference, "cpu"), []).append(steps / cpu)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\n== environment (U = 20, S = 9, {steps} random actions, median of {repeats} "
          "interleaved runs; reference: the allocation's search as written before, "
          f"FlMigrationEnv(reference=True); load before {load0}, after {_load()})")
    print(f"{'':<22}{'fast':>10}{'reference':>12}{'ratio':>8}")
    for unit in ("wall", "cpu"):
        f, r = med[(False, unit)], med[(True, unit)]
        print(f"{'steps per ' + unit + ' s':<22}{f:>10.0f}{r:>12.0f}{f / r:>8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench fl-migration",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--slots", type=int, default=3)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--env-only", action="store_true", help="only the environment speed (4.)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.env_only:
        env_speed()
        return
    allocation(args.seeds)
    asyncio.run(updates(args.updates, args.repeats))
    if not args.skip_live:
        live(args.slots)
    env_speed()


if __name__ == "__main__":
    main()
