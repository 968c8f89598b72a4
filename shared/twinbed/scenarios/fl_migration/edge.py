"""The edge processes' part of a live ``fl-migration`` slot (steps 1, 3 and 6; the slot in
roles.py): edge server s lives in edge process ``s % R``; it migrates the twins that leave, takes
the users' uploads and incoming twins, trains the hosted servers' models (step 3), and
fine-tunes every hosted twin on the new global model (step 6)."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinbed.bus import ChecksumError, Effects, Envelope
from twinbed.contract import RunContext
from twinbed.scenarios.fl_migration import fl
from twinbed.scenarios.fl_migration.messages import (
    EdgeSlotDone,
    GlobalModel,
    LocalTrain,
    ModelUpdate,
    SlotPlan,
    TwinMigration,
    UserData,
)
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.users import digits, user_samples
from twinbed.scenarios.fl_migration.world import instance
from twinbed.seeding import rng

__all__ = ["edge_global", "edge_local_train", "edge_migration", "edge_plan", "edge_user_data"]

Ctx = RunContext[FlMigrationParams]


# -- edge --------------------------------------------------------------------------------------
# Edge process i owns the keys ``tb:{<run>}:edge:<i>:...``: ``twin:<u>`` (one npz per hosted
# user twin: base data, D_{u,t-1}, Dbar_{u,t}, the slot it arrived in), ``twin-model:<u>``
# (its personalized weights),
# ``slot`` (the current plan and how far the slot got, JSON), ``slot-global`` (the plan's
# global weights), ``upload:<t>`` (the users' data of slot t until it is trained on). Every
# change is written through the handler's Effects, so it commits with the message's ack;
# ``ctx.cache`` mirrors it and is reloaded after a restart.
def _twin_key(ctx: Ctx, u: int) -> str:
    return ctx.key(ctx.replica, "twin", u)


def _model_key(ctx: Ctx, u: int) -> str:
    return ctx.key(ctx.replica, "twin-model", u)


@dataclass
class UserTwin:
    """A user twin hosted by this process: its base data, D_{u,t-1} (``prev_x/y``), Dbar_{u,t}
    (``x/y``, set by step 3), its personalized weights and the slot it arrived in (-1: it
    started here)."""

    base: bytes
    prev_x: np.ndarray
    prev_y: np.ndarray
    model: bytes | None = None
    arrived: int = -1
    x: np.ndarray | None = None
    y: np.ndarray | None = None

    def trained_on(self) -> tuple[np.ndarray, np.ndarray]:
        if self.x is None or self.y is None:
            raise LookupError("the twin has no training data of this slot yet (step 3)")
        return self.x, self.y


def _pack_twin(tw: UserTwin) -> bytes:
    arrays: dict[str, Any] = {"base": np.frombuffer(tw.base, np.uint8), "prev_x": tw.prev_x,
              "prev_y": tw.prev_y, "arrived": np.asarray(tw.arrived)}
    if tw.x is not None and tw.y is not None:
        arrays["x"], arrays["y"] = tw.x, tw.y
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _unpack_twin(blob: bytes, model: bytes | None) -> UserTwin:
    z = np.load(io.BytesIO(blob))
    return UserTwin(z["base"].tobytes(), z["prev_x"], z["prev_y"], model, int(z["arrived"]),
                    z["x"] if "x" in z.files else None, z["y"] if "y" in z.files else None)


async def _twins(ctx: Ctx) -> dict[int, UserTwin]:
    """The user twins this process hosts (reloaded from Redis after a restart)."""
    if "twins" not in ctx.cache:
        U = ctx.params.U
        raws = await ctx.redis.mget([_twin_key(ctx, u) for u in range(U)]
                                    + [_model_key(ctx, u) for u in range(U)])
        ctx.cache["twins"] = {u: _unpack_twin(b, raws[U + u])
                              for u, b in enumerate(raws[:U]) if b is not None}
    twins: dict[int, UserTwin] = ctx.cache["twins"]
    return twins


def _save_twin(ctx: Ctx, fx: Effects, u: int, data: bool = True,
               weights: bool = False) -> None:
    """Write twin u's data (samples, base data) and/or its personalized weights (own key:
    fine-tuning changes only them)."""
    tw: UserTwin = ctx.cache["twins"][u]
    if data:
        fx.set(_twin_key(ctx, u), _pack_twin(tw))
    if weights and tw.model:
        fx.set(_model_key(ctx, u), tw.model)


@dataclass
class Moved:
    """What this process sent away and received in the slot (the EdgeSlotDone fields)."""

    moved_out_bytes: int = 0
    moved_out_bits_modeled: float = 0.0
    migrations_out: int = 0
    uploaded_bytes: int = 0

    def fields(self) -> dict[str, Any]:
        return {"moved_out_bytes": self.moved_out_bytes,
                "moved_out_bits_modeled": self.moved_out_bits_modeled,
                "migrations_out": self.migrations_out, "uploaded_bytes": self.uploaded_bytes}


@dataclass
class EdgeSlot:
    """The slot this process is in: its plan and global weights, what it moved, the migration
    energy of each user whose twin changed server, and how far it got (``go``: LocalTrain came;
    ``trained``: step 3 ran; ``pending_global``: omega^t that came before step 3)."""

    plan: SlotPlan
    global_weights: bytes | None
    report: Moved = field(default_factory=Moved)
    mig_energy: dict[int, float] = field(default_factory=dict)
    migrate_s: float = 0.0
    t0_wall: float = 0.0
    go: bool = False
    trained: bool = False
    pending_global: bytes | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"plan": self.plan.model_dump(mode="json"), "report": self.report.fields(),
             "users": [{"user": u, "mig_energy": e} for u, e in self.mig_energy.items()],
             "migrate_s": self.migrate_s, "t0_wall": self.t0_wall, "go": self.go,
             "trained": self.trained, "pending_global": self.pending_global is not None})


def _save_edge_slot(ctx: Ctx, fx: Effects, slot: EdgeSlot) -> None:
    fx.set(ctx.key(ctx.replica, "slot"), slot.to_json())


async def _edge_slot(ctx: Ctx) -> EdgeSlot | None:
    """The slot this process is in (reloaded from Redis after a restart)."""
    if "slot" not in ctx.cache:
        raw = await ctx.redis.get(ctx.key(ctx.replica, "slot"))
        if raw is None:
            return None
        d = json.loads(raw)
        ctx.cache["slot"] = EdgeSlot(
            plan=SlotPlan.model_validate(d["plan"]),
            global_weights=await ctx.redis.get(ctx.key(ctx.replica, "slot-global")),
            report=Moved(**d["report"]),
            mig_energy={int(r["user"]): float(r["mig_energy"]) for r in d["users"]},
            migrate_s=d["migrate_s"], t0_wall=d["t0_wall"], go=d["go"], trained=d["trained"],
            pending_global=(await ctx.redis.get(ctx.key(ctx.replica, "pending-global"))
                            if d.get("pending_global") else None))
    slot: EdgeSlot = ctx.cache["slot"]
    return slot


def _current(ctx: Ctx) -> EdgeSlot:
    slot: EdgeSlot = ctx.cache["slot"]
    return slot


async def _upload_blob(ctx: Ctx, t: int) -> bytes | None:
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


async def edge_user_data(ctx: Ctx, msg: UserData, env: Envelope, fx: Effects) -> None:
    if env.payload is None or fl.sha256(env.payload) != msg.sha256:
        raise ChecksumError(f"user data for slot {msg.round} fails its SHA-256")
    data = _read_upload(env.payload, msg.users)
    if sum(len(y) for _, y in data.values()) != msg.samples:
        raise ValueError(f"user data for slot {msg.round}: sample count differs from announced")
    ctx.cache.setdefault("uploads", {})[msg.round] = env.payload
    fx.set(ctx.key(ctx.replica, "upload", msg.round), env.payload)
    slot = await _edge_slot(ctx)
    if slot is not None and slot.plan.round == msg.round:
        await _train_if_ready(ctx, fx)




def _pack(twin: UserTwin, keep: int) -> bytes:
    """A migrating twin: its base data, the kept history and its weights."""
    buf = io.BytesIO()
    np.savez(buf, base=np.frombuffer(twin.base, np.uint8), x=twin.prev_x[:keep],
             y=twin.prev_y[:keep], model=np.frombuffer(twin.model or b"", np.uint8))
    return buf.getvalue()


def _unpack(blob: bytes, arrived: int) -> UserTwin:
    z = np.load(io.BytesIO(blob))
    return UserTwin(z["base"].tobytes(), z["x"], z["y"], z["model"].tobytes() or None, arrived)


async def edge_plan(ctx: Ctx, msg: SlotPlan, env: Envelope, fx: Effects) -> None:
    """Step 1: send away the twins that leave this process; then train if nobody is due."""
    p = ctx.params
    if env.payload is None or fl.sha256(env.payload) != msg.global_sha256:
        raise ChecksumError("slot plan's global model fails its SHA-256")
    prev = await _edge_slot(ctx)
    if prev is not None and prev.plan.round >= msg.round:
        raise LookupError(f"plan for slot {msg.round} but this edge is in slot "
                          f"{prev.plan.round} already")
    t0 = time.time()
    R, me = msg.replicas, ctx.replica
    twins = await _twins(ctx)
    inst = instance(ctx)
    lost = [u for u in range(p.U) if msg.prev_assoc[u] % R == me and u not in twins]
    if lost and prev is not None:  # only a bug can get here: say so rather than invent twins
        raise LookupError(f"twins of users {lost} should be in edge process {me} but are not")
    moved_bytes, moved_bits, out_n = 0, 0.0, 0
    mig_energy: dict[int, float] = {}
    for u in range(p.U):
        old, new = msg.prev_assoc[u], msg.assoc[u]
        if old % R != me:
            continue
        if u not in twins:  # the first plan: the twin is created where it starts (kappa^{-1})
            x, y = user_samples(ctx, u, "before", msg.n_prev[u], msg.emd[u])
            base = rng(ctx.run.seed, "twin-base", u).bytes(int(np.ceil(inst.d_twin_bits[u] / 8)))
            twins[u] = UserTwin(base, x, y)
        keep = int(round(msg.gamma[u] * len(twins[u].prev_y)))
        bits = keep * p.bits_per_sample + float(inst.d_twin_bits[u])
        if old != new:
            mig_energy[u] = p.n_mig * float(inst.l_ss[new, old]) * bits
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
            tw.prev_x, tw.prev_y = tw.prev_x[:keep], tw.prev_y[:keep]
            _save_twin(ctx, fx, u)
    slot = ctx.cache["slot"] = EdgeSlot(
        plan=msg, global_weights=env.payload,
        report=Moved(moved_out_bytes=moved_bytes, moved_out_bits_modeled=moved_bits,
                     migrations_out=out_n),
        mig_energy=mig_energy, migrate_s=time.time() - t0, t0_wall=t0)
    _save_edge_slot(ctx, fx, slot)
    fx.set(ctx.key(me, "slot-global"), env.payload)
    fx.publish(ctx.replica_stream("edge", me), LocalTrain(run_id=msg.run_id, round=msg.round,
                                                          replica=me))


async def edge_local_train(ctx: Ctx, msg: LocalTrain, env: Envelope, fx: Effects) -> None:
    slot = await _edge_slot(ctx)
    if slot is None or slot.plan.round != msg.round:
        raise LookupError(f"local-train for slot {msg.round} but this edge is not in it")
    slot.go = True
    _save_edge_slot(ctx, fx, slot)
    await _train_if_ready(ctx, fx)


async def edge_migration(ctx: Ctx, msg: TwinMigration, env: Envelope, fx: Effects) -> None:
    if env.payload is None or fl.sha256(env.payload) != msg.sha256:
        raise ChecksumError(f"twin of user {msg.user} fails its SHA-256")
    twin = _unpack(env.payload, arrived=msg.round)
    if len(twin.prev_y) != msg.kept_samples:
        raise ValueError(f"twin of user {msg.user}: {len(twin.prev_y)} samples, "
                         f"announced {msg.kept_samples}")
    (await _twins(ctx))[msg.user] = twin
    _save_twin(ctx, fx, msg.user, weights=True)
    slot = await _edge_slot(ctx)
    if slot is not None and slot.plan.round == msg.round:
        await _train_if_ready(ctx, fx)
    # else: it arrived before this process's own plan; the plan sees it in the twins


async def _train_if_ready(ctx: Ctx, fx: Effects) -> None:
    """Steps 2-3 once every incoming twin is here: uploads, local training, ModelUpdates."""
    slot = _current(ctx)
    plan = slot.plan
    p = ctx.params
    R, me = plan.replicas, ctx.replica
    twins = await _twins(ctx)
    mine = [u for u in range(p.U) if plan.assoc[u] % R == me]
    waiting = [u for u in mine if plan.prev_assoc[u] % R != me
               and (u not in twins or twins[u].arrived != plan.round)]
    if waiting or not slot.go or slot.trained:
        return
    blob = await _upload_blob(ctx, plan.round)
    if blob is None:
        return
    new = _read_upload(blob, mine)
    for u in mine:  # check everything before changing anything
        if new[u][1].size != plan.n_new[u]:
            raise ValueError(f"user {u} uploaded {new[u][1].size} samples, "
                             f"the plan says {plan.n_new[u]}")
    slot.trained = True
    slot.migrate_s = time.time() - slot.t0_wall
    slot.report.uploaded_bytes = len(blob)
    ctx.cache["uploads"] = {t: b for t, b in ctx.cache["uploads"].items() if t > plan.round}
    fx.delete(ctx.key(me, "upload", plan.round))
    for u in mine:
        x, y = new[u]
        tw = twins[u]
        tw.x = np.concatenate([x, tw.prev_x])  # Dbar_{u,t} = D_{u,t} + kept history
        tw.y = np.concatenate([y, tw.prev_y])
        tw.prev_x, tw.prev_y = x, y  # becomes D_{u,t-1} next slot
        _save_twin(ctx, fx, u)
    _save_edge_slot(ctx, fx, slot)
    g = rng(ctx.run.seed, "fl-train", plan.round, me)
    if slot.global_weights is None:
        raise LookupError(f"slot {plan.round}: the plan's global weights are missing")
    base = fl.state_from_bytes(slot.global_weights)
    for s in sorted({plan.assoc[u] for u in mine}):
        us = [u for u in mine if plan.assoc[u] == s]
        x = np.concatenate([twins[u].trained_on()[0] for u in us])
        y = np.concatenate([twins[u].trained_on()[1] for u in us])
        t0 = time.perf_counter()
        m = fl.new_model(ctx.run.seed)
        m.load_state_dict(base)
        fl.train_epochs(m, x, y, p.E_s, p.lr, g)
        raw = fl.state_bytes(m.state_dict())
        fx.publish(ctx.stream("cloud"), ModelUpdate(
            run_id=plan.run_id, round=plan.round, server=s, base_version=plan.global_version,
            samples=int(y.size), sha256=fl.sha256(raw), train_s=time.perf_counter() - t0),
            payload=raw)
    if slot.pending_global is not None:  # omega^t came before this process was ready
        await _finetune(ctx, fx, slot.pending_global)


async def edge_global(ctx: Ctx, msg: GlobalModel, env: Envelope, fx: Effects) -> None:
    """Step 6: fine-tune every hosted twin on its own data, measure, report. A process whose
    own step 3 is not done yet (it hosts no expected server, its users' upload is still on
    the way) keeps omega^t and finishes the slot when it is."""
    if env.payload is None or fl.sha256(env.payload) != msg.sha256:
        raise ChecksumError("global model fails its SHA-256")
    slot = await _edge_slot(ctx)
    if slot is None or slot.plan.round != msg.round:
        raise LookupError(f"global model for slot {msg.round} but this edge is not in it")
    if slot.trained:
        return await _finetune(ctx, fx, env.payload)
    slot.pending_global = env.payload
    fx.set(ctx.key(ctx.replica, "pending-global"), env.payload)
    _save_edge_slot(ctx, fx, slot)


async def _finetune(ctx: Ctx, fx: Effects, payload: bytes) -> None:
    slot = _current(ctx)
    p = ctx.params
    plan = slot.plan
    R, me = plan.replicas, ctx.replica
    data = digits(ctx)
    twins = await _twins(ctx)
    glob = fl.state_from_bytes(payload)
    g = rng(ctx.run.seed, "fl-finetune", plan.round, me)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for u in (u for u in range(p.U) if plan.assoc[u] % R == me):
        tw = twins[u]
        m = fl.new_model(ctx.run.seed)
        m.load_state_dict(glob)
        x, y = tw.trained_on()
        fl.train_epochs(m, x, y, p.E_us, p.lr, g)
        tw.model = fl.state_bytes(m.state_dict())
        _save_twin(ctx, fx, u, data=False, weights=True)
        moved = {"mig_energy": slot.mig_energy[u]} if u in slot.mig_energy else {}
        rows.append({**moved, "user": u, "samples": int(y.size),
                     "accuracy": fl.accuracy(m, data.x_test, data.y_test),
                     "emd_realized": fl.emd_of(y, data.p_all)})
    for u, e in slot.mig_energy.items():  # twins that left: their migration energy still counts
        if plan.assoc[u] % R != me:
            rows.append({"user": u, "mig_energy": e, "left": True})
    done_rows: dict[int, dict[str, Any]] = {}
    for r in rows:
        done_rows.setdefault(r["user"], {}).update(r)
    if slot.pending_global is not None:
        slot.pending_global = None
        fx.delete(ctx.key(me, "pending-global"))
        _save_edge_slot(ctx, fx, slot)
    fx.publish(ctx.stream("cloud"), EdgeSlotDone(
        run_id=plan.run_id, round=plan.round, replica=me, users=list(done_rows.values()),
        migrate_s=slot.migrate_s, finetune_s=time.perf_counter() - t0, **slot.report.fields()))
