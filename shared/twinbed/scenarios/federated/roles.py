"""What each service does in a live ``federated`` frame (one round = one time frame).

1. controller -> cloud ``RoundStart``: the cloud loads the carried state (cumulative data D,
   last assignment, last associations) and asks the controller for the frame's decision.
2. controller (``decide``): the run's scheme decides the assignment (GS for DMO), subcarriers
   and rounds, SOCF forms the coalitions, and the frame's modeled outcome is computed, all with
   the same seeded draws as the in-process simulation.
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
rebuilds the scheme from the state the request carries. ``ctx.cache`` holds only derived data
(the drawn instance, the DMO checkpoint) and read-through copies of the pending pieces, dropped
when a replayed message shows that its batch never committed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from twinbed.bus import Effects, Envelope
from twinbed.messages import Decision, DecisionRequest, RoundReport, RoundStart
from twinbed.runtime import RunContext
from twinbed.scenarios.federated import learning, model
from twinbed.scenarios.federated.artifacts import ARTIFACTS
from twinbed.scenarios.federated.algorithms import (FRAMEWORK, make_policy, policy_state,
                                                    restore_policy)
from twinbed.scenarios.federated.messages import (FeatureData, HistoryTransfer, MigrateOrder,
                                                  PartialModel, SenseOrder, Split)
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.twins import TwinStore, twin_id

__all__ = ["HANDLERS", "decide", "parties", "summarize"]


def _p(ctx: RunContext) -> FederatedParams:
    assert isinstance(ctx.params, FederatedParams)
    return ctx.params


def _inst(ctx: RunContext) -> model.Instance:
    if "inst" not in ctx.cache:
        ctx.cache["inst"] = model.draw_instance(_p(ctx), ctx.run.seed)
    return ctx.cache["inst"]


def _edge_stream(ctx: RunContext, es: int) -> str:
    """ES s is hosted by edge process s % edge_replicas (TWINBED_EDGE_REPLICAS, shared by all)."""
    return ctx.replica_stream("edge", es % ctx.settings.edge_replicas)


# -- controller ------------------------------------------------------------------------------
def decide(ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
    """Play frame ``state["t"]`` from the cloud's carried state: decisions, SOCF, outcome."""
    from twinbed.scenarios.federated.simulate import frame_record, play_frame

    p = _p(ctx)
    t = int(state["t"])
    Y = np.zeros((p.M, p.N), dtype=bool)
    for m, n in state["Y"]:
        Y[m, n] = True
    D = np.asarray(state["D_bits"], dtype=float)
    assign = np.asarray(state["assign"], dtype=int)
    if D.shape != (p.K,) or assign.shape != (p.K,):
        raise ValueError(f"expected {p.K} data amounts and assignments, got {D.shape}, {assign.shape}")
    kw: dict[str, Any] = {}
    if ctx.run.algorithm in ARTIFACTS:  # the trained agents (user's, else shipped): cached
        loaded = ctx.artifact(ARTIFACTS[ctx.run.algorithm])
        kw["models" if ctx.run.algorithm == "dmo" else "model"] = loaded
    # The controller keeps nothing between frames: the learning schemes' state (Q-table,
    # bandit statistics, virtual queue) arrives with the request and leaves in "next".
    policy = restore_policy(make_policy(ctx.run.algorithm, p, **kw), state.get("policy"))
    inst = _inst(ctx)
    frame = model.draw_frame(p, inst, ctx.run.seed, t)
    st = model.State(t=t, D_bits=D, assign=assign, Y=Y)
    res, nxt = play_frame(p, inst, frame, st, policy, FRAMEWORK[ctx.run.algorithm], ctx.run.seed)
    rec = frame_record(t, res)
    return {"framework": FRAMEWORK[ctx.run.algorithm], "assign": rec["assign"], "z": rec["z"],
            "ell": rec["ell"], "Y": np.argwhere(res.Y).tolist(), "omega": frame.omega.tolist(),
            "d_bits": frame.d_bits.tolist(), "record": rec,
            "next": {"D_bits": nxt.D_bits.tolist(), "assign": nxt.assign.tolist(),
                     "Y": np.argwhere(nxt.Y).tolist(), "policy": policy_state(policy)}}


# -- cloud -----------------------------------------------------------------------------------
async def _carried(ctx: RunContext) -> dict[str, Any]:
    raw = await ctx.redis.get(ctx.key("carried"))
    if raw is not None:
        return json.loads(raw)
    st = model.initial_state(_p(ctx))
    return {"D_bits": st.D_bits.tolist(), "assign": st.assign.tolist(), "Y": []}


async def cloud_round_start(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, RoundStart)
    carried = await _carried(ctx)
    fx.set(ctx.key("frame", msg.round), json.dumps({"modeled_start_s": msg.modeled_start_s,
                                                    "started_wall": time.time()}))
    fx.publish(ctx.stream("controller"), DecisionRequest(
        run_id=msg.run_id, round=msg.round, state={"t": msg.round, **carried}, reply_to="cloud"))


async def cloud_decision(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Decision)
    p, d, t = _p(ctx), msg.decision, msg.round
    raw = await ctx.redis.get(ctx.key("frame", t))
    info = json.loads(raw) if raw else {"modeled_start_s": 0.0, "started_wall": time.time()}
    info.update(decision=d, decided_wall=time.time(), solve_s=msg.solve_s)
    fx.set(ctx.key("frame", t), json.dumps(info))
    if d["framework"] == "cen":  # modeled only: no partial-DTs are created on ESs
        await _integrate(ctx, fx, t, info, {})
        return
    carried = await _carried(ctx)
    prev = carried["assign"]
    coal: dict[int, list[int]] = {}
    for m, n in d["Y"]:
        coal.setdefault(n, []).append(m)
    targets: dict[int, list[tuple[int, int, int]]] = {}
    for k, es in enumerate(d["assign"]):
        members = sorted(coal.get(es, []))
        fx.publish(_edge_stream(ctx, es), Split(
            run_id=msg.run_id, round=t, es=es, k=k, coalition=members, ell=d["ell"][es],
            z=d["z"][es], prev_es=prev[k], omega=d["omega"][k]))
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
                (es, k, learning.rows_for_bits(d["d_bits"][m][k])))
    for m, tg in sorted(targets.items()):
        fx.publish(ctx.stream("sensor"), SenseOrder(run_id=msg.run_id, round=t, sensor=m,
                                                    targets=tg))


async def cloud_partial(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, PartialModel)
    t = msg.round
    body = msg.model_dump(exclude={"run_id", "round"})
    fx.hset(ctx.key("partials", t), str(msg.k), json.dumps(body))
    # committed uploads from Redis plus this batch's (see _load_pending for the message ids)
    frames = ctx.cache.setdefault("partials", {})
    entry = frames.get(t)
    if entry is None or _msg_id(env) in entry["ids"]:
        stored = await ctx.redis.hgetall(ctx.key("partials", t))
        entry = frames[t] = {"got": {int(k): json.loads(v) for k, v in stored.items()},
                             "ids": set()}
    entry["ids"].add(_msg_id(env))
    got: dict[int, dict[str, Any]] = entry["got"]
    got[msg.k] = body
    if len(got) < _p(ctx).K:
        return
    # The guard is the committed mark in Redis, not memory: a batch that died before EXEC
    # (kill -9, or Redis restarting under a live process) must integrate again on replay.
    if await ctx.redis.exists(ctx.key("integrated", t)):
        return
    info = json.loads(await ctx.redis.get(ctx.key("frame", t)))
    await _integrate(ctx, fx, t, info, got)


async def _integrate(ctx: RunContext, fx: Effects, t: int, info: dict[str, Any],
                     partials: dict[int, dict[str, Any]]) -> None:
    """Connect the partial-DTs into the global twin; carry the state; report the frame."""
    p, d = _p(ctx), info["decision"]
    rec = d["record"]
    ctx.cache.get("partials", {}).pop(t - 1, None)
    now = time.time()
    T = rec["T_s"]
    start = info["modeled_start_s"]
    coal: dict[int, list[int]] = {}
    for m, n in d["Y"]:
        coal.setdefault(n, []).append(m)
    parts = []
    store = TwinStore(ctx.redis, ctx.settings.history_len)
    for k in range(p.K):
        es = d["assign"][k]
        pm = partials.get(k, {})
        part = {"k": k, "es": es, "replica": pm.get("replica"), "coalition": sorted(coal.get(es, [])),
                "data_bits": rec["D_bits"][k], "rows_total": pm.get("rows_total"),
                "rows_new": pm.get("rows_new"), "rounds": d["ell"][es] if es >= 0 else None,
                "quality": rec["Q_k"][k], "val_r2": pm.get("val_r2"), "importance": d["omega"][k],
                "migrated_from": pm.get("migrated_from"), "weights": pm.get("weights")}
        parts.append(part)
        store.update(fx, twin=twin_id(ctx.run.id, f"partial-dt-{k}"), kind="federated.partial-dt",
                     run_id=ctx.run.id, round_=t, state=part, modeled_s=start + T,
                     aoi_modeled_s=T, wall=now, aoi_wall_s=now - info["started_wall"],
                     fidelity={"val_r2": pm.get("val_r2")})
    real = [x["val_r2"] for x in parts if x["val_r2"] is not None]
    weights = np.asarray([x["importance"] for x in parts])
    global_r2 = float(np.dot(weights, [x["val_r2"] for x in parts])) if len(real) == p.K else None
    state = {"frame": t, "framework": d["framework"], "quality": rec["Q"], "val_r2": global_r2,
             "partial_dts": parts}
    store.update(fx, twin=twin_id(ctx.run.id, "global-dt"), kind="federated.global-dt",
                 run_id=ctx.run.id, round_=t, state=state, modeled_s=start + T, aoi_modeled_s=T,
                 wall=now, aoi_wall_s=now - info["started_wall"], fidelity={"val_r2": global_r2})
    fx.set(ctx.key("carried"), json.dumps(d["next"]))
    fx.set(ctx.key("integrated", t), "1")
    metrics = {**rec, "val_r2": global_r2, "solve_s": info.get("solve_s"),
               "frame_wall_s": now - info["started_wall"],
               "decide_wall_s": info.get("decided_wall", now) - info["started_wall"],
               "edge_train_wall_s": max([pm.get("train_wall_s", 0.0) for pm in partials.values()],
                                        default=0.0),
               "history_rows_moved": sum(pm.get("history_rows_received", 0)
                                         for pm in partials.values()
                                         if pm.get("migrated_from", -2) >= 0),
               "replicas": sorted({pm["replica"] for pm in partials.values()})}
    fx.publish(ctx.stream("controller"), RoundReport(run_id=ctx.run.id, round=t, party="cloud",
                                                     metrics=metrics))


# -- sensor ----------------------------------------------------------------------------------
async def sensor_sense(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, SenseOrder)
    for es, k, rows in msg.targets:
        data = learning.feature_rows(ctx.run.seed, msg.round, msg.sensor, k, rows)
        fx.publish(_edge_stream(ctx, es), FeatureData(
            run_id=msg.run_id, round=msg.round, sensor=msg.sensor, es=es, k=k, rows=rows),
            payload=learning.to_bytes(data))


# -- edge ------------------------------------------------------------------------------------
def _hist_key(ctx: RunContext, es: int, k: int) -> str:
    return ctx.key("es", es, "partial", k)


def _msg_id(env: Envelope) -> str:
    return f"{env.sender}:{env.seq}"


async def _load_pending(ctx: RunContext, es: int, t: int, env: Envelope) -> dict[str, Any]:
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


async def _store_pieces(ctx: RunContext, fx: Effects, es: int, t: int, env: Envelope,
                        pieces: dict[str, bytes]) -> dict[str, Any]:
    pend = await _load_pending(ctx, es, t, env)
    pend.update(pieces)
    fx.hset(ctx.key("es", es, "frame", t), mapping=pieces)
    fx.expire(ctx.key("es", es, "frame", t), 3600)
    return pend


async def _maybe_train(ctx: RunContext, fx: Effects, es: int, t: int, pend: dict[str, Any]) -> None:
    """Train and upload once every piece of (ES, frame) is in. The pieces are in Redis (the
    cache only spares re-reading them); "uploaded" is committed with the upload, and it, not
    memory, says whether the frame was done: a batch lost before EXEC is trained again."""
    if "split" not in pend:
        return
    split = json.loads(pend["split"])
    moved = split["prev_es"] != es
    if moved and "history" not in pend:
        return
    if any(f"sensor-{m}" not in pend for m in split["coalition"]):
        return
    if await ctx.redis.hexists(ctx.key("es", es, "frame", t), "uploaded"):
        return
    k = split["k"]
    t0 = time.perf_counter()
    if moved:
        hist_meta = json.loads(pend["history_meta"])
        hist = learning.from_bytes(pend["history"])
        w0 = np.asarray(hist_meta["weights"])
    else:
        raw = await ctx.redis.hgetall(_hist_key(ctx, es, k))
        hist = learning.from_bytes(raw.get(b"rows"))
        w0 = np.asarray(json.loads(raw[b"weights"])) if b"weights" in raw else np.zeros(learning.F)
    new = [learning.from_bytes(pend[f"sensor-{m}"]) for m in split["coalition"]]
    data = np.vstack([hist, *new]) if new else hist
    w = learning.train(data, w0, split["ell"])
    train_s = time.perf_counter() - t0
    fx.hset(_hist_key(ctx, es, k), mapping={"rows": learning.to_bytes(data),
                                            "weights": json.dumps(w.tolist())})
    fx.hset(ctx.key("es", es, "frame", t), "uploaded", "1")
    ctx.cache["pending"].pop((es, t - 2), None)
    fx.publish(ctx.stream("cloud"), PartialModel(
        run_id=ctx.run.id, round=t, es=es, k=k, replica=ctx.replica, weights=w.tolist(),
        rows_new=int(sum(len(x) for x in new)), rows_total=len(data), ell=split["ell"],
        sensors=split["coalition"], migrated_from=split["prev_es"] if moved else -2,
        history_rows_received=len(hist) if moved else 0, train_wall_s=train_s,
        val_r2=learning.r2(ctx.run.seed, k, w)))


async def edge_split(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Split)
    pend = await _store_pieces(ctx, fx, msg.es, msg.round, env,
                               {"split": msg.model_dump_json().encode()})
    await _maybe_train(ctx, fx, msg.es, msg.round, pend)


async def edge_features(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, FeatureData)
    rows = learning.from_bytes(env.payload)
    if len(rows) != msg.rows:
        raise ValueError(f"sensor {msg.sensor} announced {msg.rows} rows, payload holds {len(rows)}")
    pend = await _store_pieces(ctx, fx, msg.es, msg.round, env,
                               {f"sensor-{msg.sensor}": env.payload or b""})
    await _maybe_train(ctx, fx, msg.es, msg.round, pend)


async def edge_history(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, HistoryTransfer)
    if len(learning.from_bytes(env.payload)) != msg.rows:
        raise ValueError(f"history of partial-DT {msg.k} announced {msg.rows} rows")
    meta = json.dumps({"weights": msg.weights, "from_es": msg.from_es}).encode()
    pend = await _store_pieces(ctx, fx, msg.to_es, msg.round, env,
                               {"history_meta": meta, "history": env.payload or b""})
    await _maybe_train(ctx, fx, msg.to_es, msg.round, pend)


async def edge_migrate(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, MigrateOrder)
    raw = await ctx.redis.hgetall(_hist_key(ctx, msg.from_es, msg.k))
    if b"rows" not in raw:
        raise LookupError(f"ES {msg.from_es} holds no data of partial-DT {msg.k} to migrate")
    rows = learning.from_bytes(raw[b"rows"])
    fx.publish(_edge_stream(ctx, msg.to_es), HistoryTransfer(
        run_id=msg.run_id, round=msg.round, k=msg.k, from_es=msg.from_es, to_es=msg.to_es,
        rows=len(rows), weights=json.loads(raw[b"weights"]), sent_by_replica=ctx.replica),
        payload=raw[b"rows"])
    fx.delete(_hist_key(ctx, msg.from_es, msg.k))


def parties(p: FederatedParams) -> list[str]:
    return ["cloud"]


def summarize(p: FederatedParams, round_: int, reports: dict[str, dict[str, Any]],
              missing: list[str]) -> dict[str, Any]:
    return {**reports.get("cloud", {}), "missing": missing}


HANDLERS = {
    "cloud": {RoundStart: cloud_round_start, Decision: cloud_decision, PartialModel: cloud_partial},
    "sensor": {SenseOrder: sensor_sense},
    "edge": {Split: edge_split, FeatureData: edge_features, HistoryTransfer: edge_history,
             MigrateOrder: edge_migrate},
}
