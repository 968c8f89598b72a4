"""The cloud's part of a live ``fl-migration`` slot (steps 1, 4, 5 and the report; the slot in
roles.py): the edge-server twins' slot state, the decision request, the plan, accepting or
rejecting model updates, FedAvg (eq. 4), the user and edge-server twins and the slot's report.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinbed.bus import Effects, Envelope
from twinbed.contract import RunContext, ask, report
from twinbed.contract.naming import entity, twin_kind
from twinbed.messages import Decision, RoundStart
from twinbed.observation import MeasuredTwinWrite, record_measured
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




@dataclass(frozen=True)
class Update:
    """One edge server's accepted model update of the slot (step 4)."""

    samples: int
    state: dict[str, Any]  # the weights (torch state dict)
    train_s: float
    sha256: str


@dataclass
class CloudSlot:
    """The slot the cloud is in. Until the decision only its start; the decision adds the plan
    (``assoc``, ``gamma``, the servers whose updates are expected); updates, the aggregation's
    times and the edge reports follow. Persisted as JSON (:meth:`to_json`: the scalars and the
    plan; updates and reports have their own keys, see above)."""

    t: int
    start_wall: float
    modeled_start_s: float
    assoc: np.ndarray | None = None  # kappa^t, one server per user; None until the decision
    gamma: np.ndarray | None = None
    expected: set[int] = field(default_factory=set)
    replicas: int = 0
    solve_s: float = 0.0
    plan_wall: float | None = None
    record: dict[str, Any] = field(default_factory=dict)  # world.slot_record of the plan
    updates: dict[int, Update] = field(default_factory=dict)
    done: dict[int, EdgeSlotDone] = field(default_factory=dict)  # replica -> its report
    aggregate_s: float = 0.0
    train_s: float = 0.0
    update_bytes: int = 0
    reported: bool = False

    @property
    def planned(self) -> bool:
        return self.assoc is not None

    def plan_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.assoc is None or self.gamma is None:
            raise LookupError(f"slot {self.t} has no decision yet")
        return self.assoc, self.gamma

    def to_json(self) -> str:
        out: dict[str, Any] = {
            "t": self.t, "start_wall": self.start_wall, "modeled_start_s": self.modeled_start_s,
            "replicas": self.replicas, "solve_s": self.solve_s, "plan_wall": self.plan_wall,
            "aggregate_s": self.aggregate_s, "train_s": self.train_s,
            "update_bytes": self.update_bytes, "reported": self.reported}
        if self.assoc is not None and self.gamma is not None:
            out.update(assoc=self.assoc.tolist(), gamma=self.gamma.tolist(),
                       expected=sorted(self.expected))
        return json.dumps(out)

    @staticmethod
    def from_json(raw: str | bytes) -> CloudSlot:
        d = json.loads(raw)
        slot = CloudSlot(t=int(d["t"]), start_wall=float(d["start_wall"]),
                         modeled_start_s=float(d["modeled_start_s"]),
                         replicas=int(d.get("replicas", 0)), solve_s=float(d.get("solve_s", 0.0)),
                         plan_wall=d.get("plan_wall"),
                         aggregate_s=float(d.get("aggregate_s", 0.0)),
                         train_s=float(d.get("train_s", 0.0)),
                         update_bytes=int(d.get("update_bytes", 0)),
                         reported=bool(d.get("reported", False)))
        if "assoc" in d:
            slot.assoc = np.asarray(d["assoc"], np.int64)
            slot.gamma = np.asarray(d["gamma"], float)
            slot.expected = set(d["expected"])
        return slot


def _save_slot(ctx: Ctx, fx: Effects, slot: CloudSlot) -> None:
    fx.set(ctx.key("slot"), slot.to_json())


async def _cloud_slot(ctx: Ctx) -> CloudSlot | None:
    """The current slot (cache, else what Redis holds after a restart)."""
    if "slot" in ctx.cache:
        cached: CloudSlot = ctx.cache["slot"]
        return cached
    raw = await ctx.redis.get(ctx.key("slot"))
    if raw is None:
        return None
    slot = CloudSlot.from_json(raw)
    t = slot.t
    if slot.planned:  # the plan went out: reload the slot's aggregation state
        assoc, gamma = slot.plan_arrays()
        st = await _cloud_state(ctx, t)
        slot.record = slot_record(ctx.params, instance(ctx), st, assoc, gamma)
        meta = await ctx.redis.hgetall(ctx.key("updates", t))
        for s_raw, m_raw in meta.items():
            s, m = int(s_raw), json.loads(m_raw)
            blob = await ctx.redis.get(ctx.key("update", t, s))
            slot.updates[s] = Update(m["samples"], fl.state_from_bytes(blob), m["train_s"],
                                     m["sha256"])
        slot.done = {int(r): EdgeSlotDone.model_validate_json(v)
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
    slot = ctx.cache["slot"] = CloudSlot(msg.round, time.time(), msg.modeled_start_s)
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
    if slot is not None and slot.t == msg.round and slot.planned:
        raise LookupError(f"slot {msg.round} already has its decision")
    decision = Association.model_validate(msg.decision)
    assoc = np.asarray(decision.assoc, np.int64)
    gamma = np.asarray(decision.gamma, float)
    if assoc.shape != (p.U,) or gamma.shape != (p.U,) or np.any((assoc < 0) | (assoc >= p.S)):
        raise ValueError(f"decision must give {p.U} servers in [0, {p.S}) and {p.U} ratios")
    if slot is None or slot.t != msg.round:  # RoundStart never committed: pick the slot up
        slot = ctx.cache["slot"] = CloudSlot(msg.round, time.time(), msg.round * p.slot_s)
    st = await _cloud_state(ctx, msg.round)
    inst = instance(ctx)
    R = ctx.settings.edge_replicas
    version, raw = await _global(ctx)
    hosting = sorted(set(int(s) for s in assoc))
    slot.assoc, slot.gamma = assoc, gamma
    slot.record = slot_record(p, inst, st, assoc, gamma)
    slot.expected, slot.updates, slot.done = set(hosting), {}, {}
    slot.replicas, slot.solve_s, slot.plan_wall = R, msg.solve_s, time.time()
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
    if slot is None or not slot.planned or msg.round != slot.t:
        return await _reject(ctx, fx, msg, f"stale: slot {msg.round} is not the current slot")
    if msg.server in slot.updates and slot.updates[msg.server].sha256 == msg.sha256:
        return  # the same update again (a restarted edge re-sent it): already counted
    if msg.base_version != version:
        return await _reject(ctx, fx, msg, f"stale: trained from version {msg.base_version}, "
                                           f"current is {version}")
    if msg.server not in slot.expected or msg.server in slot.updates:
        return await _reject(ctx, fx, msg, f"unexpected or duplicate update of server {msg.server}")
    try:
        state = fl.state_from_bytes(payload)
    except Exception as e:  # noqa: BLE001 - any unreadable payload is a corrupt update
        return await _reject(ctx, fx, msg, f"corrupt: unreadable weights ({type(e).__name__})")
    t = slot.t
    slot.updates[msg.server] = Update(msg.samples, state, msg.train_s, msg.sha256)
    fx.set(ctx.key("update", t, msg.server), payload)
    fx.hset(ctx.key("updates", t), str(msg.server),
            json.dumps({"samples": msg.samples, "train_s": msg.train_s, "sha256": msg.sha256}))
    if set(slot.updates) != slot.expected:
        return
    t0 = time.perf_counter()
    ups = [slot.updates[s] for s in sorted(slot.updates)]
    avg = fl.fedavg([u.state for u in ups], np.array([u.samples for u in ups], float))
    raw = fl.state_bytes(avg)
    slot.aggregate_s = time.perf_counter() - t0
    slot.train_s = max(u.train_s for u in ups)
    slot.update_bytes = len(payload) * len(ups)
    version += 1
    ctx.cache["global"] = (version, raw)
    fx.set(ctx.key("global"), raw)
    fx.set(ctx.key("global_version"), version)
    _save_slot(ctx, fx, slot)
    for r in range(slot.replicas):
        fx.publish(ctx.replica_stream("edge", r), GlobalModel(
            run_id=msg.run_id, round=msg.round, version=version, sha256=fl.sha256(raw)),
            payload=raw)


async def cloud_done(ctx: Ctx, msg: EdgeSlotDone, env: Envelope, fx: Effects) -> None:
    """Step 6 reports in: update the twins and report the slot."""
    p = ctx.params
    slot = await _cloud_slot(ctx)
    if slot is None or not slot.planned or slot.t != msg.round or slot.reported:
        raise LookupError(f"slot report for {msg.round} but the cloud is not in it")
    slot.done[msg.replica] = msg
    fx.hset(ctx.key("done", msg.round), str(msg.replica), msg.model_dump_json())
    if len(slot.done) < slot.replicas:
        return
    assoc, gamma = slot.plan_arrays()
    now = time.time()
    inst = instance(ctx)
    st = await _cloud_state(ctx, msg.round)
    rec = slot.record
    version, _ = await _global(ctx)
    rejected = await _rejected(ctx)
    reported = ctx.cache["rejected_reported"]
    new_rejections = rejected[reported:]  # since the last report
    users: dict[int, dict[str, Any]] = {}
    done = list(slot.done.values())
    for d in done:  # a moved twin is reported by its old and its new host
        for row in d.users:
            users.setdefault(row["user"], {}).update(row)
    modeled = slot.modeled_start_s + p.slot_s
    writes = []
    for u in range(p.U):
        m = users.get(u, {})
        writes.append(MeasuredTwinWrite(
            msg.round, entity("user", u), USER_KIND,
            state={"server": int(assoc[u]), "gamma": float(gamma[u]),
                   "samples": m.get("samples"), "D_twin_bits": float(inst.d_twin_bits[u]),
                   "emd": float(inst.emd[u]), "emd_realized": m.get("emd_realized"),
                   "model_version": version, "accuracy": m.get("accuracy"),
                   "rho": rec["rho"][u], "xy": st.user_xy[u].tolist()},
            fidelity={"accuracy_minus_rho": (m["accuracy"] - rec["rho"][u])
                      if m.get("accuracy") is not None else None},
            modeled_s=modeled, aoi_modeled_s=p.slot_s, started_wall=slot.start_wall))
    for s in range(p.S):
        mine = np.flatnonzero(assoc == s)
        writes.append(MeasuredTwinWrite(
            msg.round, entity("es", s), SERVER_KIND,
            state={"users": mine.tolist(), "C_s": rec["C_s"][s], "q_s": float(inst.q[s]),
                   "p_s": float(inst.p[s]), "xy": inst.es_xy[s].tolist(),
                   "process": s % slot.replicas,
                   "rejected": [r for r in new_rejections if r["server"] == s]},
            fidelity={}, modeled_s=modeled, aoi_modeled_s=p.slot_s,
            started_wall=slot.start_wall))
    record_measured(ctx, fx, writes)
    ctx.cache["rejected_reported"] = len(rejected)
    fx.set(ctx.key("rejected_reported"), len(rejected))
    acc = [u["accuracy"] for u in users.values() if u.get("accuracy") is not None]
    moved_bits = sum(d.moved_out_bits_modeled for d in done)
    mig_energy = sum(u.get("mig_energy", 0.0) for u in users.values())
    metrics = CloudReport(
        **{k: v for k, v in rec.items() if k != "round"},
        accuracy_mean=float(np.mean(acc)) if acc else None,
        accuracy=[users.get(u, {}).get("accuracy") for u in range(p.U)],
        model_version=version, moved_bytes=sum(d.moved_out_bytes for d in done),
        migrations_across_processes=sum(d.migrations_out for d in done),
        moved_bits_modeled=moved_bits, mig_energy_charged=mig_energy,
        rejected_updates=len(new_rejections),
        solve_s=slot.solve_s, migrate_s=max(d.migrate_s for d in done),
        train_s=slot.train_s, aggregate_s=slot.aggregate_s,
        finetune_s=max(d.finetune_s for d in done),
        update_bytes=slot.update_bytes,
        uploaded_bytes=sum(d.uploaded_bytes for d in done),
        modeled_start_s=slot.modeled_start_s,
        slot_wall_s=now - slot.start_wall)
    slot.reported = True
    _save_slot(ctx, fx, slot)
    # the slot is over: its updates and reports are no longer needed (the report is the record)
    fx.delete(ctx.key("updates", msg.round), ctx.key("done", msg.round),
              *[ctx.key("update", msg.round, s) for s in slot.updates])
    ctx.cache["state"] = model.next_state(p, st, assoc, ctx.run.seed)
    report(ctx, fx, msg.round, "cloud", metrics)
