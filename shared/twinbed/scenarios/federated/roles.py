"""What each service does in a live ``federated`` frame (one round = one time frame).

1. controller -> cloud ``RoundStart``: the cloud loads the carried state (cumulative data D,
   last assignment, last associations) and asks the controller for the frame's decision.
2. controller (the run's policy, :mod:`.policies`): the run's scheme decides the assignment
   (GS for DMO), subcarriers and rounds, SOCF forms the coalitions, and the frame's modeled
   outcome is computed (:meth:`.world.FederatedWorld.play`), all with the same seeded draws as
   the in-process run; the answer is a :class:`.contract.FrameDecision`.
3. cloud ``Decision``: splits the DT: a ``Split`` to the edge process of every creating ES
   (ES s lives on edge replica s % replicas), a ``MigrateOrder`` to the previous ES of every
   partial-DT that moves (or the initial history itself in frame 0) and a ``SenseOrder`` to
   every associated sensor.
4. sensor: generates its feature rows for each (ES, partial-DT) of its coalitions and sends
   them to each ES's edge process (a sensor in two coalitions really sends to both).
5. edge (old ES): ``MigrateOrder`` -> sends the partial-DT's history (rows and weights) over the
   bus to the new ES's edge process and drops its copy.
6. edge (new ES): once the split, the history (if it moved) and every coalition member's data
   are in, trains the partial-DT for l rounds on history + new data and uploads it.
7. cloud: when all K partial-DTs are in, integrates them into the global twin (REST:
   ``/twins/<run>.global-dt``; one twin per partial-DT too) and reports the frame.

Crash safety: every piece of authoritative state is in Redis, written through the handler's
``Effects`` so it commits with the message's ack: the cloud's carried state (D, assignment,
associations and the learning scheme's state), each frame's decision, the uploaded partial-DTs
and the "integrated" mark; each ES's pending pieces (split, history, sensor rows), its "uploaded"
mark and its partial-DTs' histories. The controller keeps nothing between frames: ``decide``
rebuilds the scheme from the state the request carries (:class:`.contract.FrameState`).
``ctx.cache`` holds only derived data (the run's world, the DMO checkpoint) and read-through
copies of the pending pieces, dropped when a replayed message shows that its batch never
committed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from twinbed.bus import Effects, Envelope
from twinbed.contract import Roles, RunContext, ask, report
from twinbed.contract.naming import entity, twin_kind
from twinbed.messages import Decision, RoundStart
from twinbed.observation import MeasuredTwinWrite, record_measured
from twinbed.scenarios.federated import learning
from twinbed.scenarios.federated.contract import Carried, CloudReport, FrameDecision, FrameState
from twinbed.scenarios.federated.messages import (
    FeatureData,
    HistoryTransfer,
    MigrateOrder,
    PartialModel,
    SenseOrder,
    Split,
)
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import FederatedWorld

__all__ = ["GLOBAL_KIND", "PARTIAL_KIND", "ROLES"]

Ctx = RunContext[FederatedParams]

PARTIAL_KIND = twin_kind("federated", "partial-dt")
GLOBAL_KIND = twin_kind("federated", "global-dt")


def _edge_stream(ctx: Ctx, es: int) -> str:
    """ES s is hosted by edge process s % edge_replicas (TWINBED_EDGE_REPLICAS, shared by all)."""
    return ctx.replica_stream("edge", es % ctx.settings.edge_replicas)


class FrameInfo(BaseModel):
    """The cloud's record of frame t in Redis: when it started, and the controller's frame."""

    model_config = ConfigDict(extra="forbid")

    modeled_start_s: float
    started_wall: float
    decision: FrameDecision | None = None
    decided_wall: float | None = None
    solve_s: float | None = None


# -- cloud -----------------------------------------------------------------------------------
async def _carried(ctx: Ctx) -> Carried:
    raw = await ctx.redis.get(ctx.key("carried"))
    if raw is not None:
        return Carried.model_validate_json(raw)
    return FederatedWorld.initial(ctx.params)


async def _frame_info(ctx: Ctx, t: int) -> FrameInfo | None:
    raw = await ctx.redis.get(ctx.key("frame", t))
    return FrameInfo.model_validate_json(raw) if raw is not None else None


async def cloud_round_start(ctx: Ctx, msg: RoundStart, env: Envelope, fx: Effects) -> None:
    carried = await _carried(ctx)
    info = FrameInfo(modeled_start_s=msg.modeled_start_s, started_wall=time.time())
    fx.set(ctx.key("frame", msg.round), info.model_dump_json())
    ask(ctx, fx, msg.round, FrameState(t=msg.round, **dict(carried)))


def _coalitions(d: FrameDecision) -> dict[int, list[int]]:
    """ES -> its associated sensors."""
    coal: dict[int, list[int]] = {}
    for m, n in d.Y:
        coal.setdefault(n, []).append(m)
    return coal


async def cloud_decision(ctx: Ctx, msg: Decision, env: Envelope, fx: Effects) -> None:
    p, d, t = ctx.params, FrameDecision.model_validate(msg.decision), msg.round
    info = await _frame_info(ctx, t) or FrameInfo(modeled_start_s=0.0, started_wall=time.time())
    info = info.model_copy(update={"decision": d, "decided_wall": time.time(),
                                   "solve_s": msg.solve_s})
    fx.set(ctx.key("frame", t), info.model_dump_json())
    if d.framework == "cen":  # modeled only: no partial-DTs are created on ESs
        await _integrate(ctx, fx, t, info, d, {})
        return
    prev = (await _carried(ctx)).assign
    coal = _coalitions(d)
    targets: dict[int, list[tuple[int, int, int]]] = {}
    for k, es in enumerate(d.assign):
        members = sorted(coal.get(es, []))
        fx.publish(_edge_stream(ctx, es), Split(
            run_id=msg.run_id, round=t, es=es, k=k, coalition=members, ell=d.ell[es],
            z=d.z[es], prev_es=prev[k], omega=d.omega[k]))
        if prev[k] == -1:  # frame 0: the cloud holds the initial historical data
            rows = learning.history_rows(ctx.run.seed, k, learning.rows_for_bits(p.H0_bits))
            fx.publish(_edge_stream(ctx, es), HistoryTransfer(
                run_id=msg.run_id, round=t, k=k, from_es=-1, to_es=es, rows=len(rows),
                weights=[0.0] * learning.F, sent_by_replica=-1), payload=learning.to_bytes(rows))
        elif prev[k] != es:
            fx.publish(_edge_stream(ctx, prev[k]), MigrateOrder(
                run_id=msg.run_id, round=t, k=k, from_es=prev[k], to_es=es))
        for m in members:
            targets.setdefault(m, []).append(
                (es, k, learning.rows_for_bits(d.d_bits[m][k])))
    for m, tg in sorted(targets.items()):
        fx.publish(ctx.stream("sensor"), SenseOrder(run_id=msg.run_id, round=t, sensor=m,
                                                    targets=tg))


async def cloud_partial(ctx: Ctx, msg: PartialModel, env: Envelope, fx: Effects) -> None:
    t = msg.round
    fx.hset(ctx.key("partials", t), str(msg.k), msg.model_dump_json())
    # committed uploads from Redis plus this batch's (see _load_pending for the message ids)
    frames: dict[int, dict[str, Any]] = ctx.cache.setdefault("partials", {})
    entry = frames.get(t)
    if entry is None or _msg_id(env) in entry["ids"]:
        stored = await ctx.redis.hgetall(ctx.key("partials", t))
        entry = frames[t] = {"got": {int(k): PartialModel.model_validate_json(v)
                                     for k, v in stored.items()}, "ids": set()}
    entry["ids"].add(_msg_id(env))
    got: dict[int, PartialModel] = entry["got"]
    got[msg.k] = msg
    if len(got) < ctx.params.K:
        return
    # The guard is the committed mark in Redis, not memory: a batch that died before EXEC
    # (kill -9, or Redis restarting under a live process) must integrate again on replay.
    if await ctx.redis.exists(ctx.key("integrated", t)):
        return
    info = await _frame_info(ctx, t)
    if info is None or info.decision is None:
        raise LookupError(f"partial-DTs of frame {t} arrived before the frame's decision")
    await _integrate(ctx, fx, t, info, info.decision, got)


async def _integrate(ctx: Ctx, fx: Effects, t: int, info: FrameInfo, d: FrameDecision,
                     partials: dict[int, PartialModel]) -> None:
    """Connect the partial-DTs into the global twin; carry the state; report the frame."""
    p, rec = ctx.params, d.record
    ctx.cache.get("partials", {}).pop(t - 1, None)
    now = time.time()
    T = rec.T_s
    start = info.modeled_start_s
    coal = _coalitions(d)
    parts: list[dict[str, Any]] = []
    writes = []
    for k in range(p.K):
        es = d.assign[k]
        pm = partials.get(k)
        part = {"k": k, "es": es, "replica": pm.replica if pm else None,
                "coalition": sorted(coal.get(es, [])), "data_bits": rec.D_bits[k],
                "rows_total": pm.rows_total if pm else None,
                "rows_new": pm.rows_new if pm else None,
                "rounds": d.ell[es] if es >= 0 else None, "quality": rec.Q_k[k],
                "val_r2": pm.val_r2 if pm else None, "importance": d.omega[k],
                "migrated_from": pm.migrated_from if pm else None,
                "weights": pm.weights if pm else None}
        parts.append(part)
        writes.append(MeasuredTwinWrite(t, entity("partial-dt", k), PARTIAL_KIND, part,
                                        {"val_r2": part["val_r2"]}, start + T, T,
                                        info.started_wall))
    r2 = [pm.val_r2 for k in range(p.K) if (pm := partials.get(k)) is not None]
    global_r2 = float(np.dot(d.omega, r2)) if len(r2) == p.K else None
    state = {"frame": t, "framework": d.framework, "quality": rec.Q, "val_r2": global_r2,
             "partial_dts": parts}
    writes.append(MeasuredTwinWrite(t, entity("global-dt"), GLOBAL_KIND, state,
                                    {"val_r2": global_r2}, start + T, T, info.started_wall))
    record_measured(ctx, fx, writes)
    fx.set(ctx.key("carried"), d.next.model_dump_json())
    fx.set(ctx.key("integrated", t), "1")
    report(ctx, fx, t, "cloud", CloudReport(
        **dict(rec), val_r2=global_r2, solve_s=info.solve_s,
        frame_wall_s=now - info.started_wall,
        decide_wall_s=(info.decided_wall or now) - info.started_wall,
        edge_train_wall_s=max((pm.train_wall_s for pm in partials.values()), default=0.0),
        history_rows_moved=sum(pm.history_rows_received for pm in partials.values()
                               if pm.migrated_from >= 0),
        replicas=sorted({pm.replica for pm in partials.values()})))


# -- sensor ----------------------------------------------------------------------------------
async def sensor_sense(ctx: Ctx, msg: SenseOrder, env: Envelope, fx: Effects) -> None:
    for es, k, rows in msg.targets:
        data = learning.feature_rows(ctx.run.seed, msg.round, msg.sensor, k, rows)
        fx.publish(_edge_stream(ctx, es), FeatureData(
            run_id=msg.run_id, round=msg.round, sensor=msg.sensor, es=es, k=k, rows=rows),
            payload=learning.to_bytes(data))


# -- edge ------------------------------------------------------------------------------------
def _hist_key(ctx: Ctx, es: int, k: int) -> str:
    return ctx.key("es", es, "partial", k)


def _msg_id(env: Envelope) -> str:
    return f"{env.sender}:{env.seq}"


async def _load_pending(ctx: Ctx, es: int, t: int, env: Envelope) -> dict[str, Any]:
    """The pieces of (es, frame): committed ones from Redis plus those of this batch.

    The cache remembers which messages put pieces in it. Seeing one of them again means its
    batch never committed (a committed message is never handed over twice: the bus's seen-set),
    so the cache may hold pieces Redis does not: it is dropped and rebuilt from Redis.
    """
    cache = ctx.cache.setdefault("pending", {})
    pend = cache.get((es, t))
    if pend is None or _msg_id(env) in pend["_ids"]:
        stored = await ctx.redis.hgetall(ctx.key("es", es, "frame", t))
        pend = cache[(es, t)] = {f.decode(): v for f, v in stored.items()}
        pend["_ids"] = set()
    pend["_ids"].add(_msg_id(env))
    return pend


async def _store_pieces(ctx: Ctx, fx: Effects, es: int, t: int, env: Envelope,
                        pieces: dict[str, bytes]) -> dict[str, Any]:
    pend = await _load_pending(ctx, es, t, env)
    pend.update(pieces)
    fx.hset(ctx.key("es", es, "frame", t), mapping=pieces)
    fx.expire(ctx.key("es", es, "frame", t), 3600)
    return pend


async def _maybe_train(ctx: Ctx, fx: Effects, es: int, t: int, pend: dict[str, Any]) -> None:
    """Train and upload once every piece of (ES, frame) is in. The pieces are in Redis (the
    cache only spares re-reading them); "uploaded" is committed with the upload, and it, not
    memory, says whether the frame was done: a batch lost before EXEC is trained again."""
    if "split" not in pend:
        return
    split = Split.model_validate_json(pend["split"])
    moved = split.prev_es != es
    if moved and "history" not in pend:
        return
    if any(f"sensor-{m}" not in pend for m in split.coalition):
        return
    if await ctx.redis.hexists(ctx.key("es", es, "frame", t), "uploaded"):
        return
    k = split.k
    t0 = time.perf_counter()
    if moved:
        hist_meta = json.loads(pend["history_meta"])
        hist = learning.from_bytes(pend["history"])
        w0 = np.asarray(hist_meta["weights"])
    else:
        raw = await ctx.redis.hgetall(_hist_key(ctx, es, k))
        hist = learning.from_bytes(raw.get(b"rows"))
        w0 = np.asarray(json.loads(raw[b"weights"])) if b"weights" in raw else np.zeros(learning.F)
    new = [learning.from_bytes(pend[f"sensor-{m}"]) for m in split.coalition]
    data = np.vstack([hist, *new]) if new else hist
    w = learning.train(data, w0, split.ell)
    train_s = time.perf_counter() - t0
    fx.hset(_hist_key(ctx, es, k), mapping={"rows": learning.to_bytes(data),
                                            "weights": json.dumps(w.tolist())})
    fx.hset(ctx.key("es", es, "frame", t), "uploaded", "1")
    ctx.cache["pending"].pop((es, t - 2), None)
    fx.publish(ctx.stream("cloud"), PartialModel(
        run_id=ctx.run.id, round=t, es=es, k=k, replica=ctx.replica, weights=w.tolist(),
        rows_new=int(sum(len(x) for x in new)), rows_total=len(data), ell=split.ell,
        sensors=split.coalition, migrated_from=split.prev_es if moved else -2,
        history_rows_received=len(hist) if moved else 0, train_wall_s=train_s,
        val_r2=learning.r2(ctx.run.seed, k, w)))


async def edge_split(ctx: Ctx, msg: Split, env: Envelope, fx: Effects) -> None:
    pend = await _store_pieces(ctx, fx, msg.es, msg.round, env,
                               {"split": msg.model_dump_json().encode()})
    await _maybe_train(ctx, fx, msg.es, msg.round, pend)


async def edge_features(ctx: Ctx, msg: FeatureData, env: Envelope, fx: Effects) -> None:
    rows = learning.from_bytes(env.payload)
    if len(rows) != msg.rows:
        raise ValueError(f"sensor {msg.sensor} announced {msg.rows} rows, payload holds "
                         f"{len(rows)}")
    pend = await _store_pieces(ctx, fx, msg.es, msg.round, env,
                               {f"sensor-{msg.sensor}": env.payload or b""})
    await _maybe_train(ctx, fx, msg.es, msg.round, pend)


async def edge_history(ctx: Ctx, msg: HistoryTransfer, env: Envelope, fx: Effects) -> None:
    if len(learning.from_bytes(env.payload)) != msg.rows:
        raise ValueError(f"history of partial-DT {msg.k} announced {msg.rows} rows")
    meta = json.dumps({"weights": msg.weights, "from_es": msg.from_es}).encode()
    pend = await _store_pieces(ctx, fx, msg.to_es, msg.round, env,
                               {"history_meta": meta, "history": env.payload or b""})
    await _maybe_train(ctx, fx, msg.to_es, msg.round, pend)


async def edge_migrate(ctx: Ctx, msg: MigrateOrder, env: Envelope, fx: Effects) -> None:
    raw = await ctx.redis.hgetall(_hist_key(ctx, msg.from_es, msg.k))
    if b"rows" not in raw:
        raise LookupError(f"ES {msg.from_es} holds no data of partial-DT {msg.k} to migrate")
    rows = learning.from_bytes(raw[b"rows"])
    fx.publish(_edge_stream(ctx, msg.to_es), HistoryTransfer(
        run_id=msg.run_id, round=msg.round, k=msg.k, from_es=msg.from_es, to_es=msg.to_es,
        rows=len(rows), weights=json.loads(raw[b"weights"]), sent_by_replica=ctx.replica),
        payload=raw[b"rows"])
    fx.delete(_hist_key(ctx, msg.from_es, msg.k))


ROLES: Roles[FederatedParams, FrameDecision] = Roles(FrameDecision)
ROLES.on("cloud", RoundStart, cloud_round_start)
# the cloud's Decision handler reads the message's solve_s too (not only the action)
ROLES.on("cloud", Decision, cloud_decision)
ROLES.on("cloud", PartialModel, cloud_partial)
ROLES.on("sensor", SenseOrder, sensor_sense)
ROLES.on("edge", Split, edge_split)
ROLES.on("edge", FeatureData, edge_features)
ROLES.on("edge", HistoryTransfer, edge_history)
ROLES.on("edge", MigrateOrder, edge_migrate)
