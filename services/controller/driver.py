"""The controller's side of a run: drive rounds, answer decision requests, collect reports.

The driver is restartable: everything it knows is in Redis. A round's start is published once
(its sent-mark commits with the XADD), so a restarted controller resumes a running run where it
was, even if it was killed between recording the start time and publishing the start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from redis.exceptions import TimeoutError as RedisTimeoutError

from twinbed import keys, signing
from twinbed.bus import REDIS_DOWN, Effects, Envelope, commit
from twinbed.contract import Action, Roles
from twinbed.messages import Decision, DecisionRequest, RoundReport, RoundStart
from twinbed.runtime import RunContext
from twinbed.scenarios import get_scenario
from twinbed_services.common import ServiceState

log = logging.getLogger("twinbed.controller")
WAIT_S = 1.0  # longest blocking wait before the driver looks again anyway (no wake lost)
_last_log: dict[str, float] = {}


def log_limited(key: str, msg: str, *args: Any, every_s: float = 30.0) -> None:
    """A warning at most every ``every_s`` per key: an outage must not fill the disk."""
    now = time.monotonic()
    if now - _last_log.get(key, -every_s) >= every_s:
        _last_log[key] = now
        log.warning(msg + " (logged at most every %.0f s)", *args, every_s)


def reports_key(run_id: str, round_: int) -> str:
    return keys.run_key(run_id, f"reports:{round_}")


async def on_decision_request(ctx: RunContext[Any], msg: DecisionRequest, env: Envelope,
                              fx: Effects) -> None:
    """The decision hop: the scenario validates the state, runs the run's policy and returns
    its action as JSON (``Scenario.decide_json``)."""
    if signing.sender_role(env.sender) != msg.reply_to:
        # the answer goes to the asker's own role only: a role that may ask cannot make the
        # controller write a Decision onto another role's stream
        raise ValueError(f"reply_to {msg.reply_to!r} is not the role of the signed sender "
                         f"{env.sender!r}")
    spec = get_scenario(ctx.run.scenario)
    t0 = time.perf_counter()
    decision = spec.decide_json(ctx, msg.state)
    fx.publish(keys.stream(msg.run_id, msg.reply_to), Decision(
        run_id=msg.run_id, round=msg.round, algorithm=ctx.run.algorithm, decision=decision,
        solve_s=time.perf_counter() - t0))


async def on_round_report(ctx: RunContext[Any], msg: RoundReport, env: Envelope,
                          fx: Effects) -> None:
    """Store one party's report. Only the run's own parties count: a report from any other
    name is dead-lettered (50 bogus names once closed a round with every real sensor missing),
    and so is a round outside the run."""
    parties = ctx.cached("parties", lambda: frozenset(
        get_scenario(ctx.run.scenario).parties(ctx.params)))
    if msg.party not in parties:
        raise ValueError(f"round report from {msg.party[:60]!r}, which is not a party of run "
                         f"{msg.run_id}")
    if not 0 <= msg.round < ctx.run.rounds:
        raise ValueError(f"round report for round {msg.round}; run {msg.run_id} has rounds "
                         f"0..{ctx.run.rounds - 1}")
    fx.hset(reports_key(msg.run_id, msg.round), msg.party, json.dumps(msg.metrics))
    # the driver waits on this list (BLPOP) rather than polling the reports; one element at
    # most, and one wake-up per batch would do, but the two commands cost ~nothing in the MULTI
    fx.lpush(keys.run_wake(msg.run_id), 1)
    fx.ltrim(keys.run_wake(msg.run_id), 0, 0)


_ROLES: Roles[Any, Action] = Roles(Action)
_ROLES.on("controller", DecisionRequest, on_decision_request)
_ROLES.on("controller", RoundReport, on_round_report)
GENERIC_HANDLERS = _ROLES.table()["controller"]


async def _wait(state: ServiceState, key: str, timeout_s: float) -> None:
    """Block on a wake list for up to ``timeout_s`` (BLPOP). A read that outlives the client's
    socket timeout is a wake-up too: it happens when the event loop itself was held longer
    (a policy deciding synchronously, say a learned agent loading), not when Redis is gone."""
    try:
        await state.redis.blpop([key], timeout=timeout_s)
    except RedisTimeoutError:
        log.info("waiting on %s outlived the socket timeout (event loop busy); looking again",
                 key)


async def drive(state: ServiceState, run_id: str) -> None:
    """Play every remaining round of a run, then record how it ended."""
    runs, r = state.runs, state.redis
    cfg = await runs.config(run_id)
    if cfg is None:
        return
    spec = get_scenario(cfg.scenario)
    params = spec.params.model_validate(cfg.params)
    expected = spec.parties(params)
    done = await runs.rounds(run_id)
    modeled = sum(rec.get(spec.duration_key) or 0.0 for rec in done)
    # party reports that never came, over the run (a restart recounts what scenarios record)
    missed = sum(len(rec.get("missing") or ()) for rec in done)
    redis_down = False
    try:
        for rnd in range(len(done), cfg.rounds):
            st = await runs.status(run_id)
            if st is None or st.stop_requested:
                await runs.finish(run_id, "stopped")
                return
            start_key = keys.run_key(run_id, f"started:{rnd}")
            sent_key = keys.run_key(run_id, f"start-sent:{rnd}")
            await r.set(start_key, repr(time.time()), nx=True)
            if not await r.exists(sent_key):  # a kill between the SET and the XADD: send now
                fx = state.bus.effects()  # the RoundStart and its sent-mark in one MULTI/EXEC
                fx.publish(keys.stream(run_id, spec.first_role),
                           RoundStart(run_id=run_id, round=rnd, modeled_start_s=modeled))
                fx.set(sent_key, "1")
                await commit(r, fx)
            started = float(await r.get(start_key))
            deadline = started + cfg.deadline_s
            # wait for the reports: blocking on the run's wake list (pushed with every report
            # and by a stop request), never polling
            while await r.hlen(reports_key(run_id, rnd)) < len(expected):
                left = deadline - time.time()
                if left <= 0 or await runs.stop_requested(run_id):
                    break
                await _wait(state, keys.run_wake(run_id), min(left, WAIT_S))
            raw = await r.hgetall(reports_key(run_id, rnd))
            reports = {k.decode(): json.loads(v) for k, v in raw.items()}
            missing = [p for p in expected if p not in reports]
            record: dict[str, Any] = {"round": rnd,
                                      **spec.summarize_json(params, rnd, reports, missing)}
            record["modeled_start_s"] = modeled
            record["wall_s"] = time.time() - started
            await runs.append_round(run_id, record)
            modeled += record.get(spec.duration_key) or 0.0
            missed += len(missing)
            if missing:
                log.warning("run %s round %d closed with %d missing: %s", run_id, rnd,
                            len(missing), ", ".join(missing[:10]))
        slots = cfg.rounds * len(expected)
        if slots and 2 * missed > slots:  # most reports missing: not a completed run
            await runs.finish(run_id, "degraded", error=f"{missed} of {slots} party reports "
                              f"missing (round deadline {cfg.deadline_s:g} s)")
        else:
            await runs.finish(run_id, "completed")
    except asyncio.CancelledError:
        raise
    except REDIS_DOWN as exc:
        # Redis restarting or unreachable is not the run's failure: the run stays "running"
        # and the supervisor starts a driver again, which resumes from what Redis holds.
        log_limited(f"drive:{run_id}", "run %s: Redis unavailable (%s: %s); resuming when it "
                    "is back", run_id, type(exc).__name__, exc)
        redis_down = True
    except Exception as exc:
        log.exception("run %s failed", run_id)
        await runs.finish(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
    finally:
        if not redis_down:
            await _save_record(state, run_id)


async def _save_record(state: ServiceState, run_id: str) -> None:
    """Write the run record under TWINBED_DATA_DIR/runs/ (the artifact people keep)."""
    cfg, st = await state.runs.config(run_id), await state.runs.status(run_id)
    if cfg is None or st is None:
        return
    out = Path(state.settings.data_dir) / "runs"
    out.mkdir(parents=True, exist_ok=True)
    record = {"config": cfg.model_dump(mode="json"), "status": st.model_dump(mode="json"),
              "rounds": await state.runs.rounds(run_id)}
    tmp = out / f"{run_id}.json.tmp"
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(out / f"{run_id}.json")


async def supervise(state: ServiceState) -> None:
    """Start a driver for every running run (new ones, and those a restart interrupted); it
    waits for new runs on ``RUNS_WAKE`` (pushed by ``RunStore.create``) with BLPOP."""
    tasks: dict[str, asyncio.Task[None]] = {}
    while not state.stop.is_set():
        try:
            for run_id in await state.runs.running_ids():
                if run_id not in tasks or tasks[run_id].done():
                    # settle: an active run a crash left unlisted is listed, a finished one
                    # leaves the active set (RunStore.create/finish write them apart)
                    st = await state.runs.settle(run_id)
                    if st and st.status == "running":
                        tasks[run_id] = asyncio.create_task(drive(state, run_id), name=run_id)
        except asyncio.CancelledError:
            raise
        except REDIS_DOWN as exc:
            log_limited("supervise", "run supervisor: Redis unavailable (%s: %s); retrying",
                        type(exc).__name__, exc)
            await asyncio.sleep(1.0)
            continue
        except Exception:
            log_limited("supervise-error", "run supervisor: retrying after an error")
            log.debug("run supervisor error", exc_info=True)
            await asyncio.sleep(WAIT_S)
            continue
        try:
            await _wait(state, keys.RUNS_WAKE, WAIT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_limited("supervise-wait", "run supervisor: waiting failed (%s: %s); retrying",
                        type(exc).__name__, exc)
            await asyncio.sleep(WAIT_S)
