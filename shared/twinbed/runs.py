"""Run records in Redis: configuration, status, per-round metrics, round reports.

A run is ``(scenario, algorithm, parameter overrides, seed, rounds)``. The controller owns the
records; every service reads the configuration of the runs it takes part in.

Keys (twinbed.keys): a run's own records (``tb:{<run>}:run:*``) share its hash slot; the
index ``tb:runs``, the active set ``tb:runs:active`` and the wake list ``tb:runs:wake`` are
global, each in its own slot on a Redis Cluster. So no transaction mixes the two: each change
writes the run's records in one transaction and the global keys in a separate step, in the
order that leaves a crash in between harmless (each method says why), and the controller
repairs the one state a crash can leave behind (:meth:`RunStore.settle`).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field

from twinbed import keys

__all__ = ["RunConfig", "RunStatus", "RunStore", "new_run_id", "wake"]

# degraded: every round was played but most party reports missed their round's deadline
RunState = Literal["running", "completed", "degraded", "stopped", "failed"]


def new_run_id() -> str:
    return "r" + secrets.token_hex(5)


class RunConfig(BaseModel):
    """Everything that determines a run; immutable once created."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    scenario: str
    algorithm: str
    seed: int = Field(ge=0)
    rounds: int = Field(ge=1)
    params: dict[str, Any] = Field(description="the full validated parameter set")
    overrides: dict[str, Any] = Field(default_factory=dict)
    deadline_s: float = Field(gt=0, description="wall seconds before a round closes anyway")
    created_wall: float
    artifacts: list[dict[str, Any]] = Field(
        default_factory=list, description="the learned artifacts the run uses: name, file, "
        "version, origin (user: the data directory's, shipped: the package's), sha256, path")


class RunStatus(BaseModel):
    id: str
    status: RunState
    rounds_done: int
    stop_requested: bool = False
    error: str | None = None
    started_wall: float | None = None
    finished_wall: float | None = None


def wake(pipe: Any, key: str) -> None:
    """Queue on ``pipe`` a wake-up of whoever waits on ``key`` with BLPOP: a list of at most
    one element, so wake-ups nobody consumed do not pile up."""
    pipe.lpush(key, 1)
    pipe.ltrim(key, 0, 0)


class RunStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.r = redis

    async def create(self, cfg: RunConfig) -> None:
        """The run's records, then (separately: other hash slots) active set, wake-up and
        index, in that order. A crash after the records leaves a run nobody was told of (the
        caller gets no id back) and no driver runs; after the active set, the driver runs it
        and :meth:`settle` lists it (the index entry is what is missing); so a listed run
        always has its records, and an active one is driven."""
        now = time.time()
        async with self.r.pipeline(transaction=True) as p:
            p.set(keys.run_key(cfg.id, "config"), cfg.model_dump_json())
            p.hset(keys.run_key(cfg.id, "status"), mapping={
                "status": "running", "stop_requested": 0, "started_wall": repr(now)})
            await p.execute()
        await self.r.sadd(keys.ACTIVE_RUNS, cfg.id)
        async with self.r.pipeline(transaction=False) as p:
            wake(p, keys.RUNS_WAKE)  # one list: LPUSH + LTRIM stay one slot
            p.zadd(keys.RUNS_INDEX, {cfg.id: now})
            await p.execute()

    async def settle(self, run_id: str) -> RunStatus | None:
        """Repair what a crash between the two steps of :meth:`create` or :meth:`finish`
        can leave (they write a run's records and the global keys separately): an active run
        that is not listed is listed; an active run that has finished leaves the active set.
        Returns its status. The run supervisor calls it for every active run."""
        st = await self.status(run_id)
        if st is None or st.status != "running":
            await self.r.srem(keys.ACTIVE_RUNS, run_id)
        elif await self.r.zscore(keys.RUNS_INDEX, run_id) is None:
            await self.r.zadd(keys.RUNS_INDEX, {run_id: st.started_wall or time.time()},
                              nx=True)
        return st

    async def config(self, run_id: str) -> RunConfig | None:
        raw = await self.r.get(keys.run_key(run_id, "config"))
        return None if raw is None else RunConfig.model_validate_json(raw)

    async def status(self, run_id: str) -> RunStatus | None:
        raw = await self.r.hgetall(keys.run_key(run_id, "status"))
        h = {k.decode(): v.decode() for k, v in raw.items()}
        if not h:
            return None
        return RunStatus(
            id=run_id,
            status=h["status"],  # type: ignore[arg-type]
            rounds_done=await self.r.llen(keys.run_key(run_id, "rounds")),
            stop_requested=h.get("stop_requested") == "1",
            error=h.get("error") or None,
            started_wall=float(h["started_wall"]) if h.get("started_wall") else None,
            finished_wall=float(h["finished_wall"]) if h.get("finished_wall") else None,
        )

    async def all_ids(self) -> list[str]:
        """Every run id, oldest first."""
        return [x.decode() for x in await self.r.zrange(keys.RUNS_INDEX, 0, -1)]

    async def list_ids(self, limit: int = 100) -> list[str]:
        return [x.decode() for x in await self.r.zrevrange(keys.RUNS_INDEX, 0, limit - 1)]

    async def rounds(self, run_id: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in await self.r.lrange(keys.run_key(run_id, "rounds"), 0, -1)]

    async def append_round(self, run_id: str, record: dict[str, Any]) -> None:
        await self.r.rpush(keys.run_key(run_id, "rounds"), json.dumps(record, allow_nan=False))

    async def request_stop(self, run_id: str) -> None:
        async with self.r.pipeline(transaction=True) as p:
            p.hset(keys.run_key(run_id, "status"), "stop_requested", 1)
            wake(p, keys.run_wake(run_id))
            await p.execute()

    async def stop_requested(self, run_id: str) -> bool:
        return await self.r.hget(keys.run_key(run_id, "status"), "stop_requested") == b"1"

    async def wait_finished(self, run_id: str, timeout_s: float) -> bool:
        """Wait (BLPOP, no polling) until the run is no longer running or ``timeout_s``
        passes; True if it ended."""
        deadline = time.monotonic() + timeout_s
        while True:
            st = await self.r.hget(keys.run_key(run_id, "status"), "status")
            if st is None or st != b"running":
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # one second at most per wait: a run that ended before this client looked
            # pushed its mark long ago, and the status read above catches that
            await self.r.blpop([keys.run_finished(run_id)], timeout=min(left, 1.0))

    async def finish(self, run_id: str, status: RunState, error: str | None = None) -> None:
        """The run's status and finished mark, then (another hash slot) its leaving the
        active set. A crash in between leaves a finished run in the active set: the workers
        read its (idle) streams a little longer, the supervisor does not drive it (its status
        is not running) and :meth:`settle` removes it. The other order could leave a
        running run that is not active, which nobody would ever drive."""
        async with self.r.pipeline(transaction=True) as p:
            p.hset(keys.run_key(run_id, "status"), mapping={
                "status": status, "finished_wall": repr(time.time()), "error": error or ""})
            p.rpush(keys.run_finished(run_id), status)
            p.expire(keys.run_finished(run_id), 3600)
            await p.execute()
        await self.r.srem(keys.ACTIVE_RUNS, run_id)

    async def running_ids(self) -> list[str]:
        return sorted(x.decode() for x in await self.r.smembers(keys.ACTIVE_RUNS))

    async def delete(self, run_id: str) -> int:
        """Remove a finished run and everything it left in Redis; returns how many keys.

        That is every ``tb:{<run>}:*`` key (its streams, seen-sets, dead letters, rounds,
        scenario state) and its twins (``<run>.*``, with their histories). The config and
        status go next to last and the index entry last (another hash slot: not one
        transaction), so a delete that dies half-way is still listed and can be repeated;
        one that dies between the last two leaves a listed id without records, which
        nothing shows (the list skips it) and the retention sweep deletes again. The caller
        checks that the run is not running.
        """
        n = 0
        mine = [t.decode() for t in await self.r.zrange(keys.run_twins(run_id), 0, -1)]
        # and twins of runs from before the run's own index, found in the global one
        twins = list(dict.fromkeys(mine + [
            t.decode() for t in await self.r.zrange(keys.TWINS_INDEX, 0, -1)
            if t.decode().startswith(run_id + ".")]))
        for i in range(0, len(twins), 500):
            part = twins[i:i + 500]
            n += await self.r.unlink(*[k for t in part
                                       for k in (keys.twin_key(t), keys.twin_history(t))])
            await self.r.zrem(keys.TWINS_INDEX, *part)
        last = {keys.run_key(run_id, "config"), keys.run_key(run_id, "status")}
        batch: list[bytes] = []
        async for k in self.r.scan_iter(match=keys.run_pattern(run_id), count=1000):
            if k.decode() not in last:
                batch.append(k)
            if len(batch) >= 1000:
                n += await self.r.unlink(*batch)
                batch = []
        if batch:
            n += await self.r.unlink(*batch)
        await self.r.srem(keys.ACTIVE_RUNS, run_id)
        removed = await self.r.unlink(*last)
        await self.r.zrem(keys.RUNS_INDEX, run_id)
        return n + int(removed)
