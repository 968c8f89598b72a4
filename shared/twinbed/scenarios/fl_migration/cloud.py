"""The cloud's part of a live ``fl-migration`` slot (steps 1, 4, 5 and the report; the slot in
roles.py): the edge-server twins' slot state, the decision request, the plan, accepting or
rejecting model updates, FedAvg (eq. 4), the user and edge-server twins and the slot's report.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from twinbed.bus import Effects, Envelope
from twinbed.contract import RunContext, ask, report
from twinbed.contract.naming import entity, twin_kind
from twinbed.messages import Decision, RoundStart
from twinbed.scenarios.fl_migration import fl, model
from twinbed.scenarios.fl_migration.contract import Association, CloudReport
from twinbed.scenarios.fl_migration.messages import (
    EdgeSlotDone,
    GlobalModel,
    ModelUpdate,
    SlotPlan,
    UploadRequest,
)
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.world import instance, slot_record, view_of
from twinbed.twins import TwinStore, twin_id

__all__ = ["SERVER_KIND", "USER_KIND", "cloud_decision", "cloud_done", "cloud_round_start",
           "cloud_update"]

Ctx = RunContext[FlMigrationParams]
USER_KIND = twin_kind("fl-migration", "user")
SERVER_KIND = twin_kind("fl-migration", "edge-server")


# -- cloud -----------------------------------------------------------------------------------
# Everything the cloud must not lose is in Redis, written through the handler's Effects (so it
# commits with the message's ack): the association history (hash ``assoc``: slot -> kappa^t),
# the global model and its version, the current slot (``slot``: JSON), the slot's accepted
# updates (hash ``updates:<t>`` + the weights under ``update:<t>:<s>``), the edge reports
# (hash ``done:<t>``), the rejection list and how much of it was reported. ``ctx.cache`` only
# mirrors it (and holds what is derived from the seed): a restarted cloud reloads it.
async def _cloud_state(ctx: Ctx, t: int) -> model.SlotState:
    """Slot t's state: users move by the seeded streams, kappa^{t-1} is the stored history."""
    p = ctx.params
    seed = ctx.run.seed
    inst = instance(ctx)
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




_SLOT_FIELDS = ("t", "start_wall", "modeled_start_s", "assoc", "gamma", "expected", "replicas",
                "solve_s", "plan_wall", "aggregate_s", "train_s", "update_bytes", "reported")


def _save_slot(ctx: Ctx, fx: Effects, slot: dict[str, Any]) -> None:
    out = {}
    for k in _SLOT_FIELDS:
        if k in slot:
            v = slot[k]
            if isinstance(v, np.ndarray):
                v = v.tolist()
            out[k] = sorted(v) if isinstance(v, set) else v
    fx.set(ctx.key("slot"), json.dumps(out))


async def _cloud_slot(ctx: Ctx) -> dict[str, Any] | None:
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
        slot["record"] = slot_record(ctx.params, instance(ctx), st, slot["assoc"], slot["gamma"])
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


async def _rejected(ctx: Ctx) -> list[dict[str, Any]]:
    if "rejected" not in ctx.cache:
        ctx.cache["rejected"] = [json.loads(x)
                                 for x in await ctx.redis.lrange(ctx.key("rejected"), 0, -1)]
        ctx.cache["rejected_reported"] = int(await ctx.redis.get(ctx.key("rejected_reported")) or 0)
    return ctx.cache["rejected"]


async def cloud_round_start(ctx: Ctx, msg: RoundStart, env: Envelope, fx: Effects) -> None:
    st = await _cloud_state(ctx, msg.round)
    slot = ctx.cache["slot"] = {"t": msg.round, "start_wall": time.time(),
                                "modeled_start_s": msg.modeled_start_s}
    _save_slot(ctx, fx, slot)
    ask(ctx, fx, msg.round, view_of(st))


async def _global(ctx: Ctx) -> tuple[int, bytes]:
    if "global" not in ctx.cache:
        raw = await ctx.redis.get(ctx.key("global"))
        ver = await ctx.redis.get(ctx.key("global_version"))
        if raw is None:
            raw, ver = fl.state_bytes(fl.new_model(ctx.run.seed).state_dict()), 0
        ctx.cache["global"] = (int(ver), raw)
    return ctx.cache["global"]


async def cloud_decision(ctx: Ctx, msg: Decision, env: Envelope, fx: Effects) -> None:
    p = ctx.params
    slot = await _cloud_slot(ctx)
    if slot is not None and slot["t"] == msg.round and "assoc" in slot:
        raise LookupError(f"slot {msg.round} already has its decision")
    decision = Association.model_validate(msg.decision)
    assoc = np.asarray(decision.assoc, np.int64)
    gamma = np.asarray(decision.gamma, float)
    if assoc.shape != (p.U,) or gamma.shape != (p.U,) or np.any((assoc < 0) | (assoc >= p.S)):
        raise ValueError(f"decision must give {p.U} servers in [0, {p.S}) and {p.U} ratios")
    if slot is None or slot["t"] != msg.round:  # RoundStart never committed: pick the slot up
        slot = ctx.cache["slot"] = {"t": msg.round, "start_wall": time.time(),
                                    "modeled_start_s": msg.round * p.slot_s}
    st = await _cloud_state(ctx, msg.round)
    inst = instance(ctx)
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


async def _reject(ctx: Ctx, fx: Effects, msg: ModelUpdate, why: str) -> None:
    rec = {"round": msg.round, "server": msg.server, "base_version": msg.base_version,
           "reason": why, "wall": time.time()}
    (await _rejected(ctx)).append(rec)
    fx.rpush(ctx.key("rejected"), json.dumps(rec))


async def cloud_update(ctx: Ctx, msg: ModelUpdate, env: Envelope, fx: Effects) -> None:
    """Step 4: accept (checksum, version, slot, once) or reject and record; aggregate (4)."""
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


async def cloud_done(ctx: Ctx, msg: EdgeSlotDone, env: Envelope, fx: Effects) -> None:
    """Step 6 reports in: update the twins and report the slot."""
    p = ctx.params
    slot = await _cloud_slot(ctx)
    if slot is None or "done" not in slot or slot["t"] != msg.round or slot.get("reported"):
        raise LookupError(f"slot report for {msg.round} but the cloud is not in it")
    slot["done"][msg.replica] = msg
    fx.hset(ctx.key("done", msg.round), str(msg.replica), msg.model_dump_json())
    if len(slot["done"]) < slot["replicas"]:
        return
    now = time.time()
    inst = instance(ctx)
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
        store.update(fx, twin=twin_id(msg.run_id, entity("user", u)), kind=USER_KIND,
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
        store.update(fx, twin=twin_id(msg.run_id, entity("es", s)), kind=SERVER_KIND,
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
    metrics = CloudReport(
        **{k: v for k, v in rec.items() if k != "round"},
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
    report(ctx, fx, msg.round, "cloud", metrics)
