"""What each service does in a live ``network-twin`` slot (one round = one slot).

1. controller -> sensor ``RoundStart``: the sensor service moves the users one slot (eq. 1,
   stream ``rng(seed, "mobility", t)``), publishes the truth on the oracle stream and sends
   the ``Positions`` to the basestation.
2. basestation: draws the slot's channel (``rng(seed, "channel", t)``), computes both RB
   allocations (Hungarian, with and without the cloud RB R) and, running the same predictor as
   the cloud on its mirror of the twin, the twin's error if it does not sync; asks the
   controller's agent (``DecisionRequest``).
3. controller -> basestation ``Decision`` ``{"sync": bool}``: the basestation reports its rates
   and sends the cloud a ``TwinUpdate`` (the state, with its modeled delay, if synced).
4. cloud: the twin takes the state (source "measured") or advances by its GRU prediction
   (source "predicted"), compares every user with the oracle, updates twin ``<run>.network``
   and reports the twin's error.

The controller's summary of a slot is its reward (eq. 15 or 17) from both reports.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

import numpy as np

from twinbed.bus import Effects, Envelope
from twinbed.messages import Decision, DecisionRequest, OracleSample, RoundReport, RoundStart
from twinbed.runtime import RunContext
from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.algorithms import predictor_for
from twinbed.scenarios.network_twin.messages import Positions, TwinUpdate
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.simulate import (
    channel_for_slot,
    decision_state,
    positions_after,
    start_positions,
)
from twinbed.twins import TwinStore, twin_id

__all__ = ["HANDLERS", "TWIN_NAME"]

TWIN_NAME = "network"


def _params(ctx: RunContext) -> NetworkTwinParams:
    if not isinstance(ctx.params, NetworkTwinParams):
        raise TypeError(f"expected NetworkTwinParams, got {type(ctx.params).__name__}")
    return ctx.params


async def _load(ctx: RunContext, name: str) -> dict[str, Any] | None:
    raw = await ctx.redis.get(ctx.key(name))
    return json.loads(raw) if raw is not None else None


def _check_round(stored: dict[str, Any] | None, round_: int, what: str) -> None:
    last = -1 if stored is None else int(stored["slot"])
    if round_ > last + 1:
        raise LookupError(f"{what}: slot {round_} arrived but the last one seen is {last}")


# -- sensor service: the users ----------------------------------------------------------------
async def sensor_round_start(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, RoundStart)
    p = _params(ctx)
    stored = await _load(ctx, "users")
    _check_round(stored, msg.round, "sensor")
    if msg.round == 0:
        pos = start_positions(p, ctx.run.seed)
    elif stored is not None and stored["slot"] == msg.round:  # a replay of this slot
        pos = np.asarray(stored["pos"], dtype=float)
    else:
        assert stored is not None
        pos = positions_after(p, ctx.run.seed, msg.round, np.asarray(stored["pos"], float))
    fx.set(ctx.key("users"), json.dumps({"slot": msg.round, "pos": pos.tolist()}))
    sampled = time.time()
    oracle_id = await ctx.bus.publish(ctx.stream("oracle"), OracleSample(
        run_id=msg.run_id, round=msg.round, entity=TWIN_NAME, sampled_at_wall=sampled),
        pos.astype(np.float64).tobytes())
    fx.publish(ctx.stream("basestation"), Positions(
        run_id=msg.run_id, round=msg.round, positions=pos.tolist(), oracle_id=oracle_id,
        sampled_wall=sampled, modeled_start_s=msg.modeled_start_s))


# -- basestation --------------------------------------------------------------------------------
def _fresh_mirror(p: NetworkTwinParams, pos: np.ndarray) -> dict[str, Any]:
    return {"slot": -1, "history": [pos.tolist()] * p.M, "last_sync": pos.tolist(),
            "unsynced": 0}


async def bs_positions(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Positions)
    p = _params(ctx)
    pos = np.asarray(msg.positions, dtype=float)
    if pos.shape != (p.U, 2):
        raise ValueError(f"expected positions of {p.U} users, got shape {pos.shape}")
    mirror = await _load(ctx, "mirror")
    if msg.round == 0 or mirror is None:
        mirror = _fresh_mirror(p, pos)
    out = model.slot_outcome(p, pos, channel_for_slot(p, ctx.run.seed, msg.round))
    prediction = predictor_for(ctx).predict(np.asarray(mirror["history"], dtype=float))
    err = model.twin_error_sq(pos, prediction)
    state = decision_state(p, msg.round, pos, np.asarray(mirror["last_sync"], float),
                           int(mirror["unsynced"]), out, err)
    fx.set(ctx.key("round", msg.round), json.dumps({
        "positions": pos.tolist(), "prediction": np.asarray(prediction).tolist(),
        "rate_nosync": out.rate_nosync, "rate_sync": out.rate_sync, "cloud_rb": out.cloud_rb,
        "cloud_delay": out.cloud_delay if out.feasible else None,
        "rb_nosync": out.rb_nosync.tolist(), "rb_sync": out.rb_sync.tolist(),
        "oracle_id": msg.oracle_id, "sampled_wall": msg.sampled_wall,
        "modeled_start_s": msg.modeled_start_s, "mirror": mirror}))
    fx.publish(ctx.stream("controller"), DecisionRequest(
        run_id=msg.run_id, round=msg.round, state=state, reply_to=ctx.role))


async def bs_decision(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Decision)
    p = _params(ctx)
    raw = await ctx.redis.get(ctx.key("round", msg.round))
    if raw is None:
        raise LookupError(f"basestation has no state for slot {msg.round} (Positions missing?)")
    st = json.loads(raw)
    sync = msg.decision.get("sync")
    if not isinstance(sync, bool):
        raise ValueError(f"expected a decision {{'sync': bool}}, got {msg.decision!r}")
    synced = sync and st["cloud_rb"] >= 0
    current = await _load(ctx, "mirror")
    if current is not None and int(current["slot"]) >= msg.round:
        raise LookupError(f"basestation already applied a decision for slot {msg.round}")
    mirror = st["mirror"]
    twin = st["positions"] if synced else st["prediction"]
    history = deque(mirror["history"], maxlen=p.M)
    history.append(twin)
    fx.set(ctx.key("mirror"), json.dumps({
        "slot": msg.round, "history": list(history),
        "last_sync": st["positions"] if synced else mirror["last_sync"],
        "unsynced": 0 if synced else int(mirror["unsynced"]) + 1}))
    delay = float(st["cloud_delay"]) if synced else 0.0
    fx.publish(ctx.stream("cloud"), TwinUpdate(
        run_id=msg.run_id, round=msg.round, synced=synced,
        positions=st["positions"] if synced else None,
        cloud_rb=st["cloud_rb"] if synced else -1, cloud_delay_s=delay,
        oracle_id=st["oracle_id"], sampled_wall=st["sampled_wall"],
        modeled_start_s=st["modeled_start_s"]))
    fx.publish(ctx.stream("controller"), RoundReport(
        run_id=msg.run_id, round=msg.round, party="basestation", metrics={
            "requested_sync": sync, "synced": synced,
            "sum_rate": st["rate_sync"] if synced else st["rate_nosync"],
            "rb": st["rb_sync"] if synced else st["rb_nosync"],
            "cloud_rb": st["cloud_rb"] if synced else -1, "cloud_delay": delay,
            "bs_err_if_skip": model.twin_error_sq(st["positions"], st["prediction"]),
            "modeled_start_s": st["modeled_start_s"], "solve_s": msg.solve_s}))


# -- cloud: the network twin ---------------------------------------------------------------------
async def cloud_twin_update(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, TwinUpdate)
    p = _params(ctx)
    truth_entry = await ctx.redis.xrange(ctx.stream("oracle"), min=msg.oracle_id,
                                         max=msg.oracle_id)
    if not truth_entry:
        raise LookupError(f"oracle entry {msg.oracle_id} of slot {msg.round} is gone")
    truth = np.frombuffer(truth_entry[0][1][b"p"], dtype=np.float64).reshape(p.U, 2)
    twin = await _load(ctx, "twin")
    _check_round(twin, msg.round, "cloud")
    if msg.round == 0 or twin is None:
        # the twin is built from the first measurement, before slot 0's decision
        twin = {"slot": -1, "history": [truth.tolist()] * p.M, "last_sync_slot": -1,
                "last_delay": 0.0}
    elif twin["slot"] == msg.round:
        raise LookupError(f"cloud already applied slot {msg.round}")
    if msg.synced:
        if msg.positions is None:
            raise ValueError(f"slot {msg.round}: a sync without the state")
        state = np.asarray(msg.positions, dtype=float)
        source = "measured"
    else:
        state = np.asarray(predictor_for(ctx).predict(np.asarray(twin["history"], float)))
        source = "predicted"
    history = deque(twin["history"], maxlen=p.M)
    history.append(state.tolist())
    last_sync, last_delay = ((msg.round, msg.cloud_delay_s) if msg.synced
                             else (twin["last_sync_slot"], twin["last_delay"]))
    fx.set(ctx.key("twin"), json.dumps({"slot": msg.round, "history": list(history),
                                        "last_sync_slot": last_sync, "last_delay": last_delay}))
    err_user = np.sqrt(np.sum((state - truth) ** 2, axis=1))
    err_sq = model.twin_error_sq(truth, state)
    now = time.time()
    aoi = (msg.round - last_sync) + last_delay  # slots since the newest measurement was taken
    TwinStore(ctx.redis, ctx.settings.history_len).update(
        fx, twin=twin_id(msg.run_id, TWIN_NAME), kind="network_twin.network", run_id=msg.run_id,
        round_=msg.round,
        state={"slot": msg.round, "source": source, "err_sq": err_sq,
               "users": [{"user": u, "x": float(state[u, 0]), "y": float(state[u, 1]),
                          "source": source, "error": float(err_user[u])} for u in range(p.U)]},
        modeled_s=msg.modeled_start_s + msg.cloud_delay_s, aoi_modeled_s=aoi, wall=now,
        aoi_wall_s=now - msg.sampled_wall,
        fidelity={"oracle_id": msg.oracle_id, "available": True, "exact": bool(err_sq == 0.0),
                  "err_sq": err_sq, "rmse": float(np.sqrt(err_sq / (2 * p.U))),
                  "max_abs_err": float(err_user.max())})
    fx.publish(ctx.stream("controller"), RoundReport(
        run_id=msg.run_id, round=msg.round, party="cloud", metrics={
            "err_sq": err_sq, "source": source, "aoi_slots": aoi, "twin_wall": now,
            "sampled_wall": msg.sampled_wall}))


HANDLERS = {
    "sensor": {RoundStart: sensor_round_start},
    "basestation": {Positions: bs_positions, Decision: bs_decision},
    "cloud": {TwinUpdate: cloud_twin_update},
}
