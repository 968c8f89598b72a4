"""What each service does in a live ``fl-migration`` slot.

Edge server s (of S modeled ones) lives in edge process ``s % R`` (R = edge replicas). Per
slot t (the paper's steps 1-6):

1. controller -> cloud ``RoundStart``: the cloud's edge-server twins give the slot state (users'
   positions, data sizes, EMDs, where each twin is: the same seeded streams as simulate.py);
   the cloud asks the controller for (kappa^t, gamma^t) with a ``DecisionRequest``.
2. controller -> cloud ``Decision``: the cloud sends every edge process the ``SlotPlan`` with
   the global model omega^{t-1} as payload, and the users (the sensor service) an
   ``UploadRequest``.
3. edge (step 1, migration): every twin whose new server lives in another process is sent
   there as a ``TwinMigration``: base twin data, the kept historical samples
   (gamma_u D_{u,t-1}, real arrays) and the personalized weights, checksummed.
4. sensor (step 2): the users upload D_{u,t} (their non-i.i.d. digits samples, real arrays)
   to the edge process hosting their twin, one checksummed ``UserData`` per process.
5. edge (step 3), once the incoming twins and the uploads are in: each hosted server trains
   omega^{t-1} on D_{s,t} = its twins' new data plus kept history for E_s epochs and sends a
   ``ModelUpdate`` (version, sample count, SHA-256; payload: the weights).
6. cloud (steps 4-5): an update is accepted only for the current slot, trained from the
   current global version, with a payload matching its SHA-256, once per server; anything
   else is rejected and recorded (Redis list ``tb:<run>:cloud:rejected``, the server twin). When
   every expected server is in, eq. (4) aggregates and ``GlobalModel`` goes out.
7. edge (step 6): every twin fine-tunes omega^t for E_us epochs on its own data; its test
   accuracy is measured; ``EdgeSlotDone`` to the cloud.
8. cloud: updates a twin per user (server, data sizes, EMD, model version, measured accuracy
   beside the predicted rho) and per edge server, then reports the slot to the controller:
   the modeled metrics of simulate.py plus what was measured (accuracy, bytes moved, the
   migration energy of eq. 13 charged for the bits that really moved, phase wall times).

Crash safety: every piece of authoritative state is in Redis, written through the handler's
``Effects``, so it commits in the same MULTI/EXEC as the message's ack (``twinbed.bus``): a
process killed before EXEC replays the batch from its pending entries and reaches the same
state; one killed after it lost nothing. ``ctx.cache`` is a read-through mirror (reloaded
after a restart) plus what is derived from the seed (instance, slot states, digits). Edge
process i owns ``tb:<run>:edge:<i>:*`` (its user twins, slot, uploads); the cloud owns
``tb:<run>:cloud:*`` (association history, global model and version, the slot with its
accepted updates and edge reports, rejections). Training is seeded per (slot, process), so a
replayed handler re-publishes the same weights; an identical update seen twice is ignored.
At slot 0 each twin is created on its first server with a previous slot's data already in it.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import numpy as np

from twinbed.bus import ChecksumError, Effects, Envelope
from twinbed.messages import Decision, DecisionRequest, RoundReport, RoundStart
from twinbed.runtime import RunContext
from twinbed.scenarios.fl_migration import fl, model
from twinbed.scenarios.fl_migration.messages import (EdgeSlotDone, GlobalModel, LocalTrain,
                                                     ModelUpdate, SlotPlan, TwinMigration,
                                                     UploadRequest, UserData)
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.simulate import slot_record
from twinbed.seeding import rng
from twinbed.twins import TwinStore, twin_id

__all__ = ["HANDLERS", "parties", "summarize"]


def _p(ctx: RunContext) -> FlMigrationParams:
    assert isinstance(ctx.params, FlMigrationParams)
    return ctx.params


def parties(p: FlMigrationParams) -> list[str]:
    return ["cloud"]


def summarize(p: FlMigrationParams, round_: int, reports: dict[str, dict[str, Any]],
              missing: list[str]) -> dict[str, Any]:
    out = dict(reports.get("cloud") or {"slot_s": p.slot_s})
    out["missing"] = missing
    return out


# -- cloud -----------------------------------------------------------------------------------
# Everything the cloud must not lose is in Redis, written through the handler's Effects (so it
# commits with the message's ack): the association history (hash ``assoc``: slot -> kappa^t),
# the global model and its version, the current slot (``slot``: JSON), the slot's accepted
# updates (hash ``updates:<t>`` + the weights under ``update:<t>:<s>``), the edge reports
# (hash ``done:<t>``), the rejection list and how much of it was reported. ``ctx.cache`` only
# mirrors it (and holds what is derived from the seed): a restarted cloud reloads it.
async def _cloud_state(ctx: RunContext, t: int) -> model.SlotState:
    """Slot t's state: users move by the seeded streams, kappa^{t-1} is the stored history."""
    p = _p(ctx)
    seed = ctx.run.seed
    inst = _inst(ctx)
    st = ctx.cache.get("state")
    if st is None or st.t > t:
        st = model.first_state(p, inst, seed)
    if st.t < t:
        hist = {int(k): json.loads(v)
                for k, v in (await ctx.redis.hgetall(ctx.key("assoc"))).items()}
        while st.t < t:
            # a slot whose decision never went out left every twin where it was
            assoc = hist.get(st.t, st.prev_assoc)
            st = model.next_state(p, st, np.asarray(assoc), seed)
    ctx.cache["state"] = st
    return st


def _inst(ctx: RunContext) -> model.Instance:
    if "inst" not in ctx.cache:
        ctx.cache["inst"] = model.draw_instance(_p(ctx), ctx.run.seed)
    return ctx.cache["inst"]


_SLOT_FIELDS = ("t", "start_wall", "modeled_start_s", "assoc", "gamma", "expected", "replicas",
                "solve_s", "plan_wall", "aggregate_s", "train_s", "update_bytes", "reported")


def _save_slot(ctx: RunContext, fx: Effects, slot: dict[str, Any]) -> None:
    out = {}
    for k in _SLOT_FIELDS:
        if k in slot:
            v = slot[k]
            if isinstance(v, np.ndarray):
                v = v.tolist()
            out[k] = sorted(v) if isinstance(v, set) else v
    fx.set(ctx.key("slot"), json.dumps(out))


async def _cloud_slot(ctx: RunContext) -> dict[str, Any] | None:
    """The current slot (cache, else what Redis holds after a restart)."""
    if "slot" in ctx.cache:
        return ctx.cache["slot"]
    raw = await ctx.redis.get(ctx.key("slot"))
    if raw is None:
        return None
    slot: dict[str, Any] = json.loads(raw)
    t = slot["t"]
    if "assoc" in slot:  # the plan went out: reload the slot's aggregation state
        slot["assoc"] = np.asarray(slot["assoc"], np.int64)
        slot["gamma"] = np.asarray(slot["gamma"], float)
        slot["expected"] = set(slot["expected"])
        st = await _cloud_state(ctx, t)
        slot["record"] = slot_record(_p(ctx), _inst(ctx), st, slot["assoc"], slot["gamma"])
        meta = await ctx.redis.hgetall(ctx.key("updates", t))
        slot["updates"] = {}
        for s_raw, m_raw in meta.items():
            s, m = int(s_raw), json.loads(m_raw)
            blob = await ctx.redis.get(ctx.key("update", t, s))
            slot["updates"][s] = (m["samples"], fl.state_from_bytes(blob), m["train_s"],
                                  m["sha256"])
        slot["done"] = {int(r): EdgeSlotDone.model_validate_json(v)
                        for r, v in (await ctx.redis.hgetall(ctx.key("done", t))).items()}
    ctx.cache["slot"] = slot
    return slot


async def _rejected(ctx: RunContext) -> list[dict[str, Any]]:
    if "rejected" not in ctx.cache:
        ctx.cache["rejected"] = [json.loads(x)
                                 for x in await ctx.redis.lrange(ctx.key("rejected"), 0, -1)]
        ctx.cache["rejected_reported"] = int(await ctx.redis.get(ctx.key("rejected_reported")) or 0)
    return ctx.cache["rejected"]


async def cloud_round_start(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, RoundStart)
    st = await _cloud_state(ctx, msg.round)
    slot = ctx.cache["slot"] = {"t": msg.round, "start_wall": time.time(),
                                "modeled_start_s": msg.modeled_start_s}
    _save_slot(ctx, fx, slot)
    fx.publish(ctx.stream("controller"), DecisionRequest(
        run_id=msg.run_id, round=msg.round, reply_to="cloud",
        state={"t": st.t, "user_xy": st.user_xy.tolist(), "n_new": st.n_new.tolist(),
               "n_prev": st.n_prev.tolist(), "prev_assoc": st.prev_assoc.tolist()}))


async def _global(ctx: RunContext) -> tuple[int, bytes]:
    if "global" not in ctx.cache:
        raw = await ctx.redis.get(ctx.key("global"))
        ver = await ctx.redis.get(ctx.key("global_version"))
        if raw is None:
            raw, ver = fl.state_bytes(fl.new_model(ctx.run.seed).state_dict()), 0
        ctx.cache["global"] = (int(ver), raw)
    return ctx.cache["global"]


async def cloud_decision(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Decision)
    p = _p(ctx)
    slot = await _cloud_slot(ctx)
    if slot is not None and slot["t"] == msg.round and "assoc" in slot:
        raise LookupError(f"slot {msg.round} already has its decision")
    assoc = np.asarray(msg.decision["assoc"], np.int64)
    gamma = np.asarray(msg.decision["gamma"], float)
    if assoc.shape != (p.U,) or gamma.shape != (p.U,) or np.any((assoc < 0) | (assoc >= p.S)):
        raise ValueError(f"decision must give {p.U} servers in [0, {p.S}) and {p.U} ratios")
    if slot is None or slot["t"] != msg.round:  # RoundStart never committed: pick the slot up
        slot = ctx.cache["slot"] = {"t": msg.round, "start_wall": time.time(),
                                    "modeled_start_s": msg.round * p.slot_s}
    st = await _cloud_state(ctx, msg.round)
    inst = _inst(ctx)
    R = ctx.settings.edge_replicas
    version, raw = await _global(ctx)
    hosting = sorted(set(int(s) for s in assoc))
    slot.update(assoc=assoc, gamma=gamma, record=slot_record(p, inst, st, assoc, gamma),
                expected=set(hosting), updates={}, done={}, replicas=R,
                solve_s=msg.solve_s, plan_wall=time.time())
    _save_slot(ctx, fx, slot)
    sha = fl.sha256(raw)
    plan = dict(run_id=msg.run_id, round=msg.round, assoc=assoc.tolist(),
                prev_assoc=st.prev_assoc.tolist(), gamma=gamma.tolist(), n_new=st.n_new.tolist(),
                n_prev=st.n_prev.tolist(), emd=inst.emd.tolist(), replicas=R,
                global_version=version, global_sha256=sha)
    # kappa^t is history once the plan goes out (even if this process dies before the slot
    # ends, the twins move): a restarted cloud rebuilds the slot states from this hash
    fx.hset(ctx.key("assoc"), str(msg.round), json.dumps(assoc.tolist()))
    for r in range(R):
        fx.publish(ctx.replica_stream("edge", r), SlotPlan(**plan), payload=raw)
    fx.publish(ctx.stream("sensor"), UploadRequest(
        run_id=msg.run_id, round=msg.round, assoc=assoc.tolist(), n_new=st.n_new.tolist(),
        emd=inst.emd.tolist(), replicas=R))


async def _reject(ctx: RunContext, fx: Effects, msg: ModelUpdate, why: str) -> None:
    rec = {"round": msg.round, "server": msg.server, "base_version": msg.base_version,
           "reason": why, "wall": time.time()}
    (await _rejected(ctx)).append(rec)
    fx.rpush(ctx.key("rejected"), json.dumps(rec))


async def cloud_update(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    """Step 4: accept (checksum, version, slot, once) or reject and record; aggregate (4)."""
    msg = env.msg
    assert isinstance(msg, ModelUpdate)
    slot = await _cloud_slot(ctx)
    version, _ = await _global(ctx)
    payload = env.payload or b""
    if fl.sha256(payload) != msg.sha256:
        return await _reject(ctx, fx, msg, "corrupt: payload does not match its SHA-256")
    if slot is None or "expected" not in slot or msg.round != slot["t"]:
        return await _reject(ctx, fx, msg, f"stale: slot {msg.round} is not the current slot")
    if msg.server in slot["updates"] and slot["updates"][msg.server][3] == msg.sha256:
        return  # the same update again (a restarted edge re-sent it): already counted
    if msg.base_version != version:
        return await _reject(ctx, fx, msg, f"stale: trained from version {msg.base_version}, "
                                           f"current is {version}")
    if msg.server not in slot["expected"] or msg.server in slot["updates"]:
        return await _reject(ctx, fx, msg, f"unexpected or duplicate update of server {msg.server}")
    try:
        state = fl.state_from_bytes(payload)
    except Exception as e:  # noqa: BLE001 - any unreadable payload is a corrupt update
        return await _reject(ctx, fx, msg, f"corrupt: unreadable weights ({type(e).__name__})")
    t = slot["t"]
    slot["updates"][msg.server] = (msg.samples, state, msg.train_s, msg.sha256)
    fx.set(ctx.key("update", t, msg.server), payload)
    fx.hset(ctx.key("updates", t), str(msg.server),
            json.dumps({"samples": msg.samples, "train_s": msg.train_s, "sha256": msg.sha256}))
    if set(slot["updates"]) != slot["expected"]:
        return
    t0 = time.perf_counter()
    servers = sorted(slot["updates"])
    avg = fl.fedavg([slot["updates"][s][1] for s in servers],
                    np.array([slot["updates"][s][0] for s in servers], float))
    raw = fl.state_bytes(avg)
    slot["aggregate_s"] = time.perf_counter() - t0
    slot["train_s"] = max(slot["updates"][s][2] for s in servers)
    slot["update_bytes"] = len(payload) * len(servers)
    version += 1
    ctx.cache["global"] = (version, raw)
    fx.set(ctx.key("global"), raw)
    fx.set(ctx.key("global_version"), version)
    _save_slot(ctx, fx, slot)
    for r in range(slot["replicas"]):
        fx.publish(ctx.replica_stream("edge", r), GlobalModel(
            run_id=msg.run_id, round=msg.round, version=version, sha256=fl.sha256(raw)),
            payload=raw)


async def cloud_done(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    """Step 6 reports in: update the twins and report the slot."""
    msg = env.msg
    assert isinstance(msg, EdgeSlotDone)
    p = _p(ctx)
    slot = await _cloud_slot(ctx)
    if slot is None or "done" not in slot or slot["t"] != msg.round or slot.get("reported"):
        raise LookupError(f"slot report for {msg.round} but the cloud is not in it")
    slot["done"][msg.replica] = msg
    fx.hset(ctx.key("done", msg.round), str(msg.replica), msg.model_dump_json())
    if len(slot["done"]) < slot["replicas"]:
        return
    now = time.time()
    inst = _inst(ctx)
    st = await _cloud_state(ctx, msg.round)
    rec = slot["record"]
    version, _ = await _global(ctx)
    rejected = await _rejected(ctx)
    reported = ctx.cache["rejected_reported"]
    new_rejections = rejected[reported:]  # since the last report
    users: dict[int, dict[str, Any]] = {}
    for d in slot["done"].values():  # a moved twin is reported by its old and its new host
        for row in d.users:
            users.setdefault(row["user"], {}).update(row)
    store = TwinStore(ctx.redis, ctx.settings.history_len)
    modeled = slot["modeled_start_s"] + p.slot_s
    for u in range(p.U):
        m = users.get(u, {})
        store.update(fx, twin=twin_id(msg.run_id, f"user-{u}"), kind="fl-migration.user",
                     run_id=msg.run_id, round_=msg.round,
                     state={"server": int(slot["assoc"][u]), "gamma": float(slot["gamma"][u]),
                            "samples": m.get("samples"), "D_twin_bits": float(inst.d_twin_bits[u]),
                            "emd": float(inst.emd[u]), "emd_realized": m.get("emd_realized"),
                            "model_version": version, "accuracy": m.get("accuracy"),
                            "rho": rec["rho"][u], "xy": st.user_xy[u].tolist()},
                     modeled_s=modeled, aoi_modeled_s=p.slot_s, wall=now,
                     aoi_wall_s=now - slot["start_wall"],
                     fidelity={"accuracy_minus_rho": (m["accuracy"] - rec["rho"][u])
                               if m.get("accuracy") is not None else None})
    for s in range(p.S):
        mine = np.flatnonzero(slot["assoc"] == s)
        store.update(fx, twin=twin_id(msg.run_id, f"es-{s}"), kind="fl-migration.edge-server",
                     run_id=msg.run_id, round_=msg.round,
                     state={"users": mine.tolist(), "C_s": rec["C_s"][s], "q_s": float(inst.q[s]),
                            "p_s": float(inst.p[s]), "xy": inst.es_xy[s].tolist(),
                            "process": s % slot["replicas"],
                            "rejected": [r for r in new_rejections if r["server"] == s]},
                     modeled_s=modeled, aoi_modeled_s=p.slot_s, wall=now,
                     aoi_wall_s=now - slot["start_wall"], fidelity={})
    ctx.cache["rejected_reported"] = len(rejected)
    fx.set(ctx.key("rejected_reported"), len(rejected))
    acc = [u["accuracy"] for u in users.values() if u.get("accuracy") is not None]
    moved_bits = sum(d.moved_out_bits_modeled for d in slot["done"].values())
    mig_energy = sum(u.get("mig_energy", 0.0) for u in users.values())
    metrics = {k: v for k, v in rec.items() if k != "costs"}
    metrics.update(
        accuracy_mean=float(np.mean(acc)) if acc else None,
        accuracy=[users.get(u, {}).get("accuracy") for u in range(p.U)],
        model_version=version, moved_bytes=sum(d.moved_out_bytes for d in slot["done"].values()),
        migrations_across_processes=sum(d.migrations_out for d in slot["done"].values()),
        moved_bits_modeled=moved_bits, mig_energy_charged=mig_energy,
        rejected_updates=len(new_rejections),
        solve_s=slot["solve_s"], migrate_s=max(d.migrate_s for d in slot["done"].values()),
        train_s=slot.get("train_s", 0.0), aggregate_s=slot.get("aggregate_s", 0.0),
        finetune_s=max(d.finetune_s for d in slot["done"].values()),
        update_bytes=slot.get("update_bytes", 0),
        uploaded_bytes=sum(d.uploaded_bytes for d in slot["done"].values()),
        modeled_start_s=slot["modeled_start_s"],
        slot_wall_s=now - slot["start_wall"])
    slot["reported"] = True
    _save_slot(ctx, fx, slot)
    # the slot is over: its updates and reports are no longer needed (the report is the record)
    fx.delete(ctx.key("updates", msg.round), ctx.key("done", msg.round),
              *[ctx.key("update", msg.round, s) for s in slot["updates"]])
    ctx.cache["state"] = model.next_state(p, st, slot["assoc"], ctx.run.seed)
    fx.publish(ctx.stream("controller"), RoundReport(run_id=msg.run_id, round=msg.round,
                                                     party="cloud", metrics=metrics))


# -- sensor (the users) -------------------------------------------------------------------------
async def sensor_upload(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    """Step 2: every user uploads D_{u,t} (its non-i.i.d. digits samples) to the edge process
    hosting its twin; one message per edge process."""
    msg = env.msg
    assert isinstance(msg, UploadRequest)
    R = msg.replicas
    for r in range(R):
        users = [u for u, s in enumerate(msg.assoc) if s % R == r]
        arrays: dict[str, np.ndarray] = {}
        for u in users:
            arrays[f"x_{u}"], arrays[f"y_{u}"] = _upload(ctx, u, msg.round, msg.n_new[u], msg.emd[u])
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        blob = buf.getvalue()
        fx.publish(ctx.replica_stream("edge", r), UserData(
            run_id=msg.run_id, round=msg.round, replica=r, users=users,
            samples=int(sum(msg.n_new[u] for u in users)), sha256=fl.sha256(blob)), payload=blob)


# -- edge --------------------------------------------------------------------------------------
# Edge process i owns the keys ``tb:<run>:edge:<i>:...``: ``twin:<u>`` (one npz per hosted
# user twin: base data, D_{u,t-1}, Dbar_{u,t}, the slot it arrived in), ``twin-model:<u>``
# (its personalized weights),
# ``slot`` (the current plan and how far the slot got, JSON), ``slot-global`` (the plan's
# global weights), ``upload:<t>`` (the users' data of slot t until it is trained on). Every
# change is written through the handler's Effects, so it commits with the message's ack;
# ``ctx.cache`` mirrors it and is reloaded after a restart.
def _twin_key(ctx: RunContext, u: int) -> str:
    return ctx.key(ctx.replica, "twin", u)


def _model_key(ctx: RunContext, u: int) -> str:
    return ctx.key(ctx.replica, "twin-model", u)


def _pack_twin(tw: dict[str, Any]) -> bytes:
    arrays = {"base": np.frombuffer(tw["base"], np.uint8), "prev_x": tw["prev_x"],
              "prev_y": tw["prev_y"],
              "arrived": np.asarray(tw.get("arrived", -1))}
    if tw.get("x") is not None:
        arrays["x"], arrays["y"] = tw["x"], tw["y"]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _unpack_twin(blob: bytes) -> dict[str, Any]:
    z = np.load(io.BytesIO(blob))
    return {"base": z["base"].tobytes(), "prev_x": z["prev_x"], "prev_y": z["prev_y"],
            "arrived": int(z["arrived"]),
            "x": z["x"] if "x" in z.files else None, "y": z["y"] if "y" in z.files else None}


async def _twins(ctx: RunContext) -> dict[int, dict[str, Any]]:
    """The user twins this process hosts (reloaded from Redis after a restart)."""
    if "twins" not in ctx.cache:
        U = _p(ctx).U
        raws = await ctx.redis.mget([_twin_key(ctx, u) for u in range(U)]
                                    + [_model_key(ctx, u) for u in range(U)])
        ctx.cache["twins"] = {u: {**_unpack_twin(b), "model": raws[U + u]}
                              for u, b in enumerate(raws[:U]) if b is not None}
    return ctx.cache["twins"]


def _save_twin(ctx: RunContext, fx: Effects, u: int, data: bool = True,
               weights: bool = False) -> None:
    """Write twin u's data (samples, base data) and/or its personalized weights (own key:
    fine-tuning changes only them)."""
    tw = ctx.cache["twins"][u]
    if data:
        fx.set(_twin_key(ctx, u), _pack_twin(tw))
    if weights and tw.get("model"):
        fx.set(_model_key(ctx, u), tw["model"])


def _save_edge_slot(ctx: RunContext, fx: Effects, slot: dict[str, Any]) -> None:
    fx.set(ctx.key(ctx.replica, "slot"), json.dumps(
        {"plan": slot["plan"].model_dump(mode="json"), "report": slot["report"],
         "users": list(slot["users"].values()), "migrate_s": slot["migrate_s"],
         "t0_wall": slot["t0_wall"], "go": slot["go"], "trained": slot["trained"],
         "pending_global": slot.get("pending_global") is not None}))


async def _edge_slot(ctx: RunContext) -> dict[str, Any] | None:
    """The slot this process is in (reloaded from Redis after a restart)."""
    if "slot" not in ctx.cache:
        raw = await ctx.redis.get(ctx.key(ctx.replica, "slot"))
        if raw is None:
            return None
        d = json.loads(raw)
        d["plan"] = SlotPlan.model_validate(d["plan"])
        d["users"] = {int(r["user"]): r for r in d["users"]}
        d["global"] = await ctx.redis.get(ctx.key(ctx.replica, "slot-global"))
        d["pending_global"] = (await ctx.redis.get(ctx.key(ctx.replica, "pending-global"))
                               if d.get("pending_global") else None)
        ctx.cache["slot"] = d
    return ctx.cache["slot"]


async def _upload_blob(ctx: RunContext, t: int) -> bytes | None:
    uploads = ctx.cache.setdefault("uploads", {})
    if t not in uploads:
        blob = await ctx.redis.get(ctx.key(ctx.replica, "upload", t))
        if blob is None:
            return None
        uploads[t] = blob
    return uploads[t]


def _read_upload(blob: bytes, users: list[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    z = np.load(io.BytesIO(blob))
    return {u: (z[f"x_{u}"], z[f"y_{u}"]) for u in users}


async def edge_user_data(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, UserData)
    if env.payload is None or fl.sha256(env.payload) != msg.sha256:
        raise ChecksumError(f"user data for slot {msg.round} fails its SHA-256")
    data = _read_upload(env.payload, msg.users)
    if sum(len(y) for _, y in data.values()) != msg.samples:
        raise ValueError(f"user data for slot {msg.round}: sample count differs from announced")
    ctx.cache.setdefault("uploads", {})[msg.round] = env.payload
    fx.set(ctx.key(ctx.replica, "upload", msg.round), env.payload)
    slot = await _edge_slot(ctx)
    if slot is not None and slot["plan"].round == msg.round:
        await _train_if_ready(ctx, fx)


def _data(ctx: RunContext) -> fl.Digits:
    if "digits" not in ctx.cache:
        ctx.cache["digits"] = fl.load_digits(ctx.run.seed)
    return ctx.cache["digits"]


def _upload(ctx: RunContext, u: int, t: int | str, n: int, emd: float) -> tuple[np.ndarray, np.ndarray]:
    """User u's upload of slot t: n digits samples with EMD ``emd`` (its dominant class u)."""
    d = _data(ctx)
    idx = fl.user_indices(d, n, emd, u % 10, rng(ctx.run.seed, "fl-data", u, t))
    return d.x_train[idx], d.y_train[idx]


def _pack(twin: dict[str, Any], keep: int) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, base=np.frombuffer(twin["base"], np.uint8), x=twin["prev_x"][:keep],
             y=twin["prev_y"][:keep], model=np.frombuffer(twin.get("model") or b"", np.uint8))
    return buf.getvalue()


def _unpack(blob: bytes) -> dict[str, Any]:
    z = np.load(io.BytesIO(blob))
    return {"base": z["base"].tobytes(), "prev_x": z["x"], "prev_y": z["y"],
            "model": z["model"].tobytes() or None}


async def edge_plan(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    """Step 1: send away the twins that leave this process; then train if nobody is due."""
    msg = env.msg
    assert isinstance(msg, SlotPlan)
    p = _p(ctx)
    if env.payload is None or fl.sha256(env.payload) != msg.global_sha256:
        raise ChecksumError("slot plan's global model fails its SHA-256")
    prev = await _edge_slot(ctx)
    if prev is not None and prev["plan"].round >= msg.round:
        raise LookupError(f"plan for slot {msg.round} but this edge is in slot "
                          f"{prev['plan'].round} already")
    t0 = time.time()
    R, me = msg.replicas, ctx.replica
    twins = await _twins(ctx)
    inst = _inst(ctx)
    lost = [u for u in range(p.U) if msg.prev_assoc[u] % R == me and u not in twins]
    if lost and prev is not None:  # only a bug can get here: say so rather than invent twins
        raise LookupError(f"twins of users {lost} should be in edge process {me} but are not")
    moved_bytes, moved_bits, out_n = 0, 0.0, 0
    users = {}
    for u in range(p.U):
        old, new = msg.prev_assoc[u], msg.assoc[u]
        if old % R != me:
            continue
        if u not in twins:  # the first plan: the twin is created where it starts (kappa^{-1})
            x, y = _upload(ctx, u, "before", msg.n_prev[u], msg.emd[u])
            base = rng(ctx.run.seed, "twin-base", u).bytes(int(np.ceil(inst.d_twin_bits[u] / 8)))
            twins[u] = {"base": base, "prev_x": x, "prev_y": y, "model": None, "arrived": -1}
        keep = int(round(msg.gamma[u] * len(twins[u]["prev_y"])))
        bits = keep * p.bits_per_sample + float(inst.d_twin_bits[u])
        if old != new:
            users[u] = {"user": u, "mig_energy": p.n_mig * float(inst.l_ss[new, old]) * bits}
        if new % R != me:
            blob = _pack(twins.pop(u), keep)
            fx.delete(_twin_key(ctx, u), _model_key(ctx, u))
            fx.publish(ctx.replica_stream("edge", new % R), TwinMigration(
                run_id=msg.run_id, round=msg.round, user=u, from_server=old, to_server=new,
                kept_samples=keep, twin_bits=float(inst.d_twin_bits[u]), sha256=fl.sha256(blob)),
                payload=blob)
            moved_bytes += len(blob)
            moved_bits += bits
            out_n += 1
        else:
            tw = twins[u]
            tw["prev_x"], tw["prev_y"] = tw["prev_x"][:keep], tw["prev_y"][:keep]
            _save_twin(ctx, fx, u)
    slot = ctx.cache["slot"] = {
        "plan": msg, "global": env.payload,
        "report": {"moved_out_bytes": moved_bytes, "moved_out_bits_modeled": moved_bits,
                   "migrations_out": out_n, "uploaded_bytes": 0},
        "users": users, "migrate_s": time.time() - t0, "t0_wall": t0, "go": False,
        "trained": False}
    _save_edge_slot(ctx, fx, slot)
    fx.set(ctx.key(me, "slot-global"), env.payload)
    fx.publish(ctx.replica_stream("edge", me), LocalTrain(run_id=msg.run_id, round=msg.round,
                                                          replica=me))


async def edge_local_train(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, LocalTrain)
    slot = await _edge_slot(ctx)
    if slot is None or slot["plan"].round != msg.round:
        raise LookupError(f"local-train for slot {msg.round} but this edge is not in it")
    slot["go"] = True
    _save_edge_slot(ctx, fx, slot)
    await _train_if_ready(ctx, fx)


async def edge_migration(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, TwinMigration)
    if env.payload is None or fl.sha256(env.payload) != msg.sha256:
        raise ChecksumError(f"twin of user {msg.user} fails its SHA-256")
    twin = _unpack(env.payload)
    if len(twin["prev_y"]) != msg.kept_samples:
        raise ValueError(f"twin of user {msg.user}: {len(twin['prev_y'])} samples, "
                         f"announced {msg.kept_samples}")
    twin["arrived"] = msg.round
    (await _twins(ctx))[msg.user] = twin
    _save_twin(ctx, fx, msg.user, weights=True)
    slot = await _edge_slot(ctx)
    if slot is not None and slot["plan"].round == msg.round:
        await _train_if_ready(ctx, fx)
    # else: it arrived before this process's own plan; the plan sees it in the twins


async def _train_if_ready(ctx: RunContext, fx: Effects) -> None:
    """Steps 2-3 once every incoming twin is here: uploads, local training, ModelUpdates."""
    slot = ctx.cache["slot"]
    plan: SlotPlan = slot["plan"]
    p = _p(ctx)
    R, me = plan.replicas, ctx.replica
    twins = await _twins(ctx)
    mine = [u for u in range(p.U) if plan.assoc[u] % R == me]
    waiting = [u for u in mine if plan.prev_assoc[u] % R != me
               and twins.get(u, {}).get("arrived") != plan.round]
    if waiting or not slot["go"] or slot["trained"]:
        return
    blob = await _upload_blob(ctx, plan.round)
    if blob is None:
        return
    new = _read_upload(blob, mine)
    for u in mine:  # check everything before changing anything
        if new[u][1].size != plan.n_new[u]:
            raise ValueError(f"user {u} uploaded {new[u][1].size} samples, "
                             f"the plan says {plan.n_new[u]}")
    slot["trained"] = True
    slot["migrate_s"] = time.time() - slot["t0_wall"]
    slot["report"]["uploaded_bytes"] = len(blob)
    ctx.cache["uploads"] = {t: b for t, b in ctx.cache["uploads"].items() if t > plan.round}
    fx.delete(ctx.key(me, "upload", plan.round))
    for u in mine:
        x, y = new[u]
        tw = twins[u]
        tw["x"] = np.concatenate([x, tw["prev_x"]])  # Dbar_{u,t} = D_{u,t} + kept history
        tw["y"] = np.concatenate([y, tw["prev_y"]])
        tw["prev_x"], tw["prev_y"] = x, y  # becomes D_{u,t-1} next slot
        _save_twin(ctx, fx, u)
    _save_edge_slot(ctx, fx, slot)
    g = rng(ctx.run.seed, "fl-train", plan.round, me)
    base = fl.state_from_bytes(slot["global"])
    for s in sorted({plan.assoc[u] for u in mine}):
        us = [u for u in mine if plan.assoc[u] == s]
        x = np.concatenate([twins[u]["x"] for u in us])
        y = np.concatenate([twins[u]["y"] for u in us])
        t0 = time.perf_counter()
        m = fl.new_model(ctx.run.seed)
        m.load_state_dict(base)
        fl.train_epochs(m, x, y, p.E_s, p.lr, g)
        raw = fl.state_bytes(m.state_dict())
        fx.publish(ctx.stream("cloud"), ModelUpdate(
            run_id=plan.run_id, round=plan.round, server=s, base_version=plan.global_version,
            samples=int(y.size), sha256=fl.sha256(raw), train_s=time.perf_counter() - t0),
            payload=raw)
    if slot.get("pending_global") is not None:  # omega^t came before this process was ready
        await _finetune(ctx, fx, slot["pending_global"])


async def edge_global(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    """Step 6: fine-tune every hosted twin on its own data, measure, report. A process whose
    own step 3 is not done yet (it hosts no expected server, its users' upload is still on
    the way) keeps omega^t and finishes the slot when it is."""
    msg = env.msg
    assert isinstance(msg, GlobalModel)
    if env.payload is None or fl.sha256(env.payload) != msg.sha256:
        raise ChecksumError("global model fails its SHA-256")
    slot = await _edge_slot(ctx)
    if slot is None or slot["plan"].round != msg.round:
        raise LookupError(f"global model for slot {msg.round} but this edge is not in it")
    if slot["trained"]:
        return await _finetune(ctx, fx, env.payload)
    slot["pending_global"] = env.payload
    fx.set(ctx.key(ctx.replica, "pending-global"), env.payload)
    _save_edge_slot(ctx, fx, slot)


async def _finetune(ctx: RunContext, fx: Effects, payload: bytes) -> None:
    slot = ctx.cache["slot"]
    p = _p(ctx)
    plan: SlotPlan = slot["plan"]
    R, me = plan.replicas, ctx.replica
    data = _data(ctx)
    twins = await _twins(ctx)
    glob = fl.state_from_bytes(payload)
    g = rng(ctx.run.seed, "fl-finetune", plan.round, me)
    t0 = time.perf_counter()
    rows = []
    for u in (u for u in range(p.U) if plan.assoc[u] % R == me):
        tw = twins[u]
        m = fl.new_model(ctx.run.seed)
        m.load_state_dict(glob)
        fl.train_epochs(m, tw["x"], tw["y"], p.E_us, p.lr, g)
        tw["model"] = fl.state_bytes(m.state_dict())
        _save_twin(ctx, fx, u, data=False, weights=True)
        rows.append({**slot["users"].get(u, {"user": u}), "user": u, "samples": int(tw["y"].size),
                     "accuracy": fl.accuracy(m, data.x_test, data.y_test),
                     "emd_realized": fl.emd_of(tw["y"], data.p_all)})
    for u, r in slot["users"].items():  # twins that left: their migration energy still counts
        if plan.assoc[u] % R != me:
            rows.append({"user": u, "mig_energy": r["mig_energy"], "left": True})
    done_rows = {}
    for r in rows:
        done_rows.setdefault(r["user"], {}).update(r)
    if slot.pop("pending_global", None) is not None:
        fx.delete(ctx.key(me, "pending-global"))
        _save_edge_slot(ctx, fx, slot)
    fx.publish(ctx.stream("cloud"), EdgeSlotDone(
        run_id=plan.run_id, round=plan.round, replica=me, users=list(done_rows.values()),
        migrate_s=slot["migrate_s"], finetune_s=time.perf_counter() - t0, **slot["report"]))


HANDLERS = {
    "cloud": {RoundStart: cloud_round_start, Decision: cloud_decision, ModelUpdate: cloud_update,
              EdgeSlotDone: cloud_done},
    "edge": {SlotPlan: edge_plan, TwinMigration: edge_migration, LocalTrain: edge_local_train,
             UserData: edge_user_data, GlobalModel: edge_global},
    "sensor": {UploadRequest: sensor_upload},
}
