"""Retention: finished runs do not pile up forever (issue #14, item 9).

The controller keeps the newest ``TWINBED_KEEP_RUNS`` finished runs and, when
``TWINBED_RUN_TTL_S`` is set, deletes finished runs older than that; a deleted run loses
everything :meth:`twinbed.runs.RunStore.delete` removes (streams, dead letters, scenario state,
twins and their histories) and its record on disk (``<data_dir>/runs/<id>.json``), exactly as
``DELETE /runs/{id}`` does. Running runs are never touched. The sweep runs every
``SWEEP_S`` seconds; with several controllers each sweep is idempotent (a second delete of the
same run finds nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from twinbed.runs import RunStore
from twinbed_services.common import ServiceState

__all__ = ["delete_run", "retention", "sweep"]

log = logging.getLogger("twinbed.controller.retention")

SWEEP_S = 30.0


def record_file(data_dir: str | Path, run_id: str) -> Path:
    return Path(data_dir) / "runs" / f"{run_id}.json"


async def delete_run(runs: RunStore, data_dir: str | Path, run_id: str) -> int:
    """Everything of a finished run, in Redis and on disk; returns the Redis keys removed."""
    n = await runs.delete(run_id)
    record_file(data_dir, run_id).unlink(missing_ok=True)
    return n


async def sweep(runs: RunStore, data_dir: str | Path, keep: int, ttl_s: float,
                now: float | None = None) -> list[str]:
    """Apply the policy once; returns the ids deleted (oldest first)."""
    now = time.time() if now is None else now
    finished: list[tuple[float, str]] = []
    for run_id in await runs.all_ids():
        st = await runs.status(run_id)
        if st is None:  # listed without records: a delete cut off before its last step
            await runs.delete(run_id)  # (RunStore.create lists a run after its records)
            continue
        if st.status == "running":
            continue
        finished.append((st.finished_wall or st.started_wall or 0.0, run_id))
    finished.sort()  # oldest first
    doomed = [rid for _, rid in finished[:max(0, len(finished) - keep)]]
    if ttl_s > 0:
        doomed += [rid for t, rid in finished if now - t > ttl_s and rid not in doomed]
    for run_id in doomed:
        await delete_run(runs, data_dir, run_id)
    return doomed


async def retention(state: ServiceState) -> None:
    """The controller's background task (see the module docstring)."""
    s = state.settings
    while not state.stop.is_set():
        try:
            gone = await sweep(state.runs, s.data_dir, s.keep_runs, s.run_ttl_s)
            if gone:
                log.info("retention: deleted %d finished runs (keep %d, ttl %gs)", len(gone),
                         s.keep_runs, s.run_ttl_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis down etc.: try again next sweep, one line per sweep
            log.warning("retention sweep failed: %s: %s", type(exc).__name__, exc)
        try:
            await asyncio.wait_for(state.stop.wait(), timeout=SWEEP_S)
        except TimeoutError:
            pass
