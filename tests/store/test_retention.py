"""Retention (issue #14): the newest N finished runs stay, older ones go, records on disk too."""

from __future__ import annotations

import time
from pathlib import Path

import redis.asyncio as aioredis

from twinbed import keys, redisconn
from twinbed.runs import RunConfig, RunStore
from twinbed_services.controller.retention import record_file, sweep


async def _runs(url: str) -> tuple[aioredis.Redis, RunStore]:
    # a database of its own: the sweep looks at every run in it (a cluster has only db 0:
    # emptied, as the tests that used it are done with their keys)
    r = (redisconn.connect(url) if redisconn.is_cluster_url(url)
         else aioredis.Redis.from_url(url.rsplit("/", 1)[0] + "/9"))
    await r.flushdb()
    return r, RunStore(r)


async def _finished(runs: RunStore, data: Path, run_id: str) -> None:
    await runs.create(RunConfig(id=run_id, scenario="compression", algorithm="fixed-bf", seed=0,
                                rounds=1, params={}, deadline_s=1.0, created_wall=time.time()))
    await runs.append_round(run_id, {"round": 0})
    await runs.finish(run_id, "completed")
    record_file(data, run_id).parent.mkdir(parents=True, exist_ok=True)
    record_file(data, run_id).write_text("{}")


async def test_keep_newest_n_and_remove_records_on_disk(any_redis_url: str, tmp_path: Path
                                                        ) -> None:
    r, runs = await _runs(any_redis_url)
    try:
        for i in range(5):
            await _finished(runs, tmp_path, f"run{i}")
        await runs.create(RunConfig(id="live", scenario="compression", algorithm="fixed-bf",
                                    seed=0, rounds=1, params={}, deadline_s=1.0,
                                    created_wall=time.time()))
        gone = await sweep(runs, tmp_path, keep=2, ttl_s=0)
        assert gone == ["run0", "run1", "run2"]
        assert await runs.all_ids() == ["run3", "run4", "live"]
        assert not record_file(tmp_path, "run0").exists()
        assert record_file(tmp_path, "run4").exists()
        assert [k async for k in r.scan_iter(match=keys.run_pattern("run0"))] == []
        assert await sweep(runs, tmp_path, keep=2, ttl_s=0) == []  # idempotent
    finally:
        await r.flushdb()
        await r.aclose()


async def test_ttl_removes_old_finished_runs_and_never_a_running_one(
        any_redis_url: str, tmp_path: Path) -> None:
    r, runs = await _runs(any_redis_url)
    try:
        await _finished(runs, tmp_path, "old")
        await runs.create(RunConfig(id="running", scenario="compression",
                                    algorithm="fixed-bf", seed=0, rounds=1, params={},
                                    deadline_s=1.0, created_wall=time.time()))
        later = time.time() + 3600
        assert await sweep(runs, tmp_path, keep=100, ttl_s=60, now=later) == ["old"]
        assert await runs.all_ids() == ["running"]
    finally:
        await r.flushdb()
        await r.aclose()
