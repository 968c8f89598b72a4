"""What each service does in a live ``network-twin`` slot (one round = one slot).

1. controller -> sensor ``RoundStart``: the sensor service moves the users one slot (eq. 1,
   stream ``rng(seed, "mobility", t)``), publishes the truth on the oracle stream and sends
   the ``Positions`` to the basestation (:func:`twinbed.observation.observe`).
2. basestation: draws the slot's channel (``rng(seed, "channel", t)``), computes both RB
   allocations (Hungarian, with and without the cloud RB R) and, running the same predictor as
   the cloud on its mirror of the twin, the twin's error if it does not sync; asks the
   controller's agent (:func:`twinbed.contract.ask` with a :class:`SyncState`).
3. controller -> basestation ``Decision`` (a :class:`SyncAction`): the basestation reports its
   rates and sends the cloud a ``TwinUpdate`` (the state, with its modeled delay, if synced).
4. cloud: the twin takes the state (source "measured") or advances by its GRU prediction
   (source "predicted"), compares every user with the oracle, updates twin ``<run>.network``
   and reports the twin's error (:func:`twinbed.observation.record`). Without the oracle
   entry the twin is still updated and its error is unknown (None), as everywhere.

The controller's summary of a slot is its reward (eq. 15 or 17) from both reports.
"""

from __future__ import annotations

from collections import deque
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from twinbed.bus import Effects, Envelope
from twinbed.contract import Roles, RunContext, ask, report
from twinbed.contract.naming import entity, twin_kind
from twinbed.messages import Decision, RoundStart
from twinbed.observation import Fidelity, TwinWrite, observe, read_oracle, record
from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.contract import (
    BasestationShare,
    CloudShare,
    SlotReport,
    SyncAction,
)
from twinbed.scenarios.network_twin.messages import Positions, TwinUpdate
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.world import (
    channel_for_slot,
    positions_after,
    predictor_for,
    start_positions,
    sync_state,
)

__all__ = ["ROLES", "TWIN_KIND", "TWIN_NAME"]

TWIN_NAME = entity("network")
TWIN_KIND = twin_kind("network-twin", "network")

Ctx = RunContext[NetworkTwinParams]
Grid = list[list[float]]


# -- the roles' stored state (Redis, per run and role) ----------------------------------------
class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid")


T = TypeVar("T", bound=_Stored)


class Users(_Stored):
    """The sensor service's users: their positions in slot ``slot`` and in the slot before
    (a mobility with memory moves on from the last displacement; None in slot 0)."""

    slot: int
    pos: Grid
    before: Grid | None = None


class Mirror(_Stored):
    """The basestation's mirror of the cloud twin after slot ``slot`` (-1: before slot 0)."""

    slot: int
    history: list[Grid]
    last_sync: Grid
    unsynced: int


class SlotState(_Stored):
    """What the basestation keeps of slot r between its question and the agent's answer."""

    positions: Grid
    prediction: Grid
    rate_nosync: float
    rate_sync: float
    cloud_rb: int
    cloud_delay: float | None  # None: no RB meets the delay bound
    rb_nosync: list[int]
    rb_sync: list[int]
    oracle_id: str
    sampled_wall: float
    modeled_start_s: float
    mirror: Mirror


class CloudTwin(_Stored):
    """The cloud's twin after slot ``slot``: its last M states and its newest measurement."""

    slot: int
    history: list[Grid]
    last_sync_slot: int
    last_delay: float


async def _load(ctx: Ctx, name: str, kind: type[T]) -> T | None:
    raw = await ctx.redis.get(ctx.key(name))
    return None if raw is None else kind.model_validate_json(raw)


def _check_round(last_slot: int | None, round_: int, what: str) -> None:
    last = -1 if last_slot is None else last_slot
    if round_ > last + 1:
        raise LookupError(f"{what}: slot {round_} arrived but the last one seen is {last}")


# -- sensor service: the users ----------------------------------------------------------------
async def sensor_round_start(ctx: Ctx, msg: RoundStart, env: Envelope, fx: Effects) -> None:
    p = ctx.params
    stored = await _load(ctx, "users", Users)
    _check_round(None if stored is None else stored.slot, msg.round, "sensor")
    before: list[list[float]] | None = None
    if msg.round == 0:
        pos = start_positions(p, ctx.run.seed)
    elif stored is not None and stored.slot == msg.round:  # a replay of this slot
        pos, before = np.asarray(stored.pos, dtype=float), stored.before
    elif stored is not None:
        prev = np.asarray(stored.pos, float)
        pos = positions_after(p, ctx.run.seed, msg.round, prev,
                              None if stored.before is None else np.asarray(stored.before))
        before = stored.pos
    else:
        raise LookupError(f"sensor: slot {msg.round} arrived but no earlier positions")
    fx.set(ctx.key("users"), Users(slot=msg.round, pos=pos.tolist(),
                                   before=before).model_dump_json())
    seen = await observe(ctx, msg.round, TWIN_NAME, pos.astype(np.float64).tobytes())
    fx.publish(ctx.stream("basestation"), Positions(
        run_id=msg.run_id, round=msg.round, positions=pos.tolist(), oracle_id=seen.oracle_id,
        sampled_wall=seen.sampled_wall, modeled_start_s=msg.modeled_start_s))


# -- basestation --------------------------------------------------------------------------------
async def bs_positions(ctx: Ctx, msg: Positions, env: Envelope, fx: Effects) -> None:
    p = ctx.params
    pos = np.asarray(msg.positions, dtype=float)
    if pos.shape != (p.U, 2):
        raise ValueError(f"expected positions of {p.U} users, got shape {pos.shape}")
    mirror = await _load(ctx, "mirror", Mirror)
    if msg.round == 0 or mirror is None:
        mirror = Mirror(slot=-1, history=[pos.tolist()] * p.M, last_sync=pos.tolist(),
                        unsynced=0)
    out = model.slot_outcome(p, pos, channel_for_slot(p, ctx.run.seed, msg.round))
    predictor = ctx.cached("predictor", lambda: predictor_for(ctx))
    prediction = np.asarray(predictor.predict(np.asarray(mirror.history, dtype=float)), float)
    err = model.twin_error_sq(pos, prediction)
    state = sync_state(msg.round, pos, np.asarray(mirror.last_sync, float), mirror.unsynced,
                       out, err)
    fx.set(ctx.key("round", msg.round), SlotState(
        positions=pos.tolist(), prediction=prediction.tolist(),
        rate_nosync=out.rate_nosync, rate_sync=out.rate_sync, cloud_rb=out.cloud_rb,
        cloud_delay=out.cloud_delay if out.feasible else None,
        rb_nosync=out.rb_nosync.tolist(), rb_sync=out.rb_sync.tolist(),
        oracle_id=msg.oracle_id, sampled_wall=msg.sampled_wall,
        modeled_start_s=msg.modeled_start_s, mirror=mirror).model_dump_json())
    ask(ctx, fx, msg.round, state)


async def bs_decision(ctx: Ctx, msg: Decision, env: Envelope, fx: Effects) -> None:
    """The agent's answer (registered on ``Decision`` rather than ``on_action``: the slot's
    record carries the controller's ``solve_s``)."""
    p = ctx.params
    action = SyncAction.model_validate(msg.decision)
    raw = await ctx.redis.get(ctx.key("round", msg.round))
    if raw is None:
        raise LookupError(f"basestation has no state for slot {msg.round} (Positions missing?)")
    st = SlotState.model_validate_json(raw)
    synced = action.sync and st.cloud_rb >= 0
    current = await _load(ctx, "mirror", Mirror)
    if current is not None and current.slot >= msg.round:
        raise LookupError(f"basestation already applied a decision for slot {msg.round}")
    mirror = st.mirror
    twin = st.positions if synced else st.prediction
    history = deque(mirror.history, maxlen=p.M)
    history.append(twin)
    fx.set(ctx.key("mirror"), Mirror(
        slot=msg.round, history=list(history),
        last_sync=st.positions if synced else mirror.last_sync,
        unsynced=0 if synced else mirror.unsynced + 1).model_dump_json())
    delay = float(st.cloud_delay or 0.0) if synced else 0.0
    fx.publish(ctx.stream("cloud"), TwinUpdate(
        run_id=msg.run_id, round=msg.round, synced=synced,
        positions=st.positions if synced else None,
        cloud_rb=st.cloud_rb if synced else -1, cloud_delay_s=delay,
        oracle_id=st.oracle_id, sampled_wall=st.sampled_wall,
        modeled_start_s=st.modeled_start_s))
    report(ctx, fx, msg.round, "basestation", SlotReport(basestation=BasestationShare(
        requested_sync=action.sync, synced=synced,
        sum_rate=st.rate_sync if synced else st.rate_nosync,
        rb=st.rb_sync if synced else st.rb_nosync,
        cloud_rb=st.cloud_rb if synced else -1, cloud_delay=delay,
        bs_err_if_skip=model.twin_error_sq(np.asarray(st.positions), np.asarray(st.prediction)),
        modeled_start_s=st.modeled_start_s, solve_s=msg.solve_s)))


# -- cloud: the network twin ---------------------------------------------------------------------
async def cloud_twin_update(ctx: Ctx, msg: TwinUpdate, env: Envelope, fx: Effects) -> None:
    p = ctx.params
    (raw,) = await read_oracle(ctx, [msg.oracle_id])
    truth = None if raw is None else np.frombuffer(raw, dtype=np.float64).reshape(p.U, 2)
    twin = await _load(ctx, "twin", CloudTwin)
    _check_round(None if twin is None else twin.slot, msg.round, "cloud")
    if msg.round == 0 or twin is None:
        # the twin is built from the first measurement, before slot 0's decision
        if truth is None:
            raise LookupError(f"oracle entry {msg.oracle_id} of slot {msg.round} is gone: the "
                              "twin is built from the first measurement")
        twin = CloudTwin(slot=-1, history=[truth.tolist()] * p.M, last_sync_slot=-1, last_delay=0.0)
    elif twin.slot == msg.round:
        raise LookupError(f"cloud already applied slot {msg.round}")
    if msg.synced:
        if msg.positions is None:
            raise ValueError(f"slot {msg.round}: a sync without the state")
        state = np.asarray(msg.positions, dtype=float)
        source = "measured"
    else:
        predictor = ctx.cached("predictor", lambda: predictor_for(ctx))
        state = np.asarray(predictor.predict(np.asarray(twin.history, float)), dtype=float)
        source = "predicted"
    history = deque(twin.history, maxlen=p.M)
    history.append(state.tolist())
    last_sync, last_delay = ((msg.round, msg.cloud_delay_s) if msg.synced
                             else (twin.last_sync_slot, twin.last_delay))
    fx.set(ctx.key("twin"), CloudTwin(slot=msg.round, history=list(history),
                                      last_sync_slot=last_sync,
                                      last_delay=last_delay).model_dump_json())
    if truth is None:
        err_user: list[float | None] = [None] * p.U
        err_sq = None
    else:
        err_user = np.sqrt(np.sum((state - truth) ** 2, axis=1)).tolist()
        err_sq = model.twin_error_sq(truth, state)
    aoi = (msg.round - last_sync) + last_delay  # slots since the newest measurement was taken

    def share(fid: Fidelity, twin_wall: float) -> SlotReport:
        return SlotReport(cloud=CloudShare(err_sq=err_sq, source=source, aoi_slots=aoi,
                                           twin_wall=twin_wall, sampled_wall=msg.sampled_wall))

    await record(ctx, fx, [TwinWrite(
        round=msg.round, entity=TWIN_NAME, kind=TWIN_KIND, party="cloud",
        state={"slot": msg.round, "source": source, "err_sq": err_sq,
               "users": [{"user": u, "x": float(state[u, 0]), "y": float(state[u, 1]),
                          "source": source, "error": err_user[u]} for u in range(p.U)]},
        value=np.ascontiguousarray(state, dtype=np.float64), oracle_id=msg.oracle_id,
        modeled_s=msg.modeled_start_s + msg.cloud_delay_s, aoi_modeled_s=aoi,
        sampled_wall=msg.sampled_wall, report=share)], truths=[raw])


ROLES: Roles[NetworkTwinParams, SyncAction] = Roles(SyncAction)
ROLES.on("sensor", RoundStart, sensor_round_start)
ROLES.on("basestation", Positions, bs_positions)
ROLES.on("basestation", Decision, bs_decision)
ROLES.on("cloud", TwinUpdate, cloud_twin_update)
