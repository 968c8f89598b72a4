"""What each service does in a live ``semantic`` slot.

1. controller -> basestation ``RoundStart``: the BS takes slot n of the run's world (the same
   named seed streams as process.World: UD distances, D_k[n], the fading it measures) and asks
   the controller's decision maker (``DecisionRequest`` with d, D, |g|^2 and the slot).
2. controller -> basestation ``Decision``: the BS sends each UD its ``Assign`` (phi, f, p, f_e, D).
3. sensor service (the UDs): UD k moves (Gauss-Markov, the run's world), senses D_k/16 int16
   samples of the physical process, publishes them on the oracle stream, encodes them with the
   real semantic codec at phi_k and sends the ``Uplink`` with its position.
4. basestation: stamps the modeled terms of eqs. (5)-(18) for UD k (model.slot) and forwards a
   ``Recover`` to the edge.
5. edge: recovers the samples with the real decoder (the allocated edge CPU gives the modeled
   recovery time t_de of eq. 14) and forwards a ``Sync`` with the recovered samples.
6. cloud: updates UD k's twin (recovered samples, position, modeled time and AoI), fidelity
   against the oracle (RMSE, NRMSE, exact), and reports the UD's slot to the controller.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import numpy as np

from twinbed.bus import Effects, Envelope
from twinbed.messages import Decision, DecisionRequest, OracleSample, RoundReport, RoundStart
from twinbed.physical import BandLimitedSignal, from_bytes, to_bytes
from twinbed.runtime import RunContext
from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.learned import CODEC
from twinbed.scenarios.semantic.messages import Assign, Recover, Sync, Uplink
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.process import World
from twinbed.twins import TwinStore, twin_id

__all__ = ["HANDLERS", "n_samples", "ud_name"]

BITS_PER_SAMPLE = 16


def ud_name(k: int) -> str:
    return f"ud-{k}"


def n_samples(D_bits: float) -> int:
    """int16 samples a UD senses for D bits."""
    return max(1, int(D_bits // BITS_PER_SAMPLE))


def _params(ctx: RunContext) -> SemanticParams:
    assert isinstance(ctx.params, SemanticParams)
    return ctx.params


def _world(ctx: RunContext) -> World:
    if "world" not in ctx.cache:
        ctx.cache["world"] = World(_params(ctx), ctx.run.seed)
    return ctx.cache["world"]


def _check_ud(p: SemanticParams, k: int) -> None:
    if k >= p.K:
        raise ValueError(f"message for UD {k}, but the run has K={p.K} UDs")


# -- basestation ---------------------------------------------------------------------------
async def bs_round_start(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, RoundStart)
    s = _world(ctx).slot(msg.round)
    state = {"slot": msg.round, "d_m": s.d_m.tolist(), "D_bits": s.D_bits.tolist(),
             "h2": s.h2.tolist()}
    fx.set(ctx.key("round", msg.round), json.dumps({**state, "modeled_start_s": msg.modeled_start_s}))
    fx.publish(ctx.stream("controller"), DecisionRequest(
        run_id=msg.run_id, round=msg.round, state=state, reply_to=ctx.role))


async def _round_state(ctx: RunContext, round_: int) -> dict[str, Any]:
    cache: dict[int, dict[str, Any]] = ctx.cache.setdefault("rounds", {})
    if round_ in cache:
        return cache[round_]
    raw = await ctx.redis.get(ctx.key("round", round_))
    if raw is None:
        raise LookupError(f"basestation has no state for slot {round_} (RoundStart missing?)")
    state = json.loads(raw)
    if "phi" in state:
        cache.clear()
        cache[round_] = state
    return state


async def bs_decision(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Decision)
    p = _params(ctx)
    state = await _round_state(ctx, msg.round)
    dec = {k: msg.decision.get(k) for k in ("phi", "f_hz", "p_w", "f_e_hz")}
    for k, v in dec.items():
        if not isinstance(v, list) or len(v) != p.K:
            raise ValueError(f"decision {k!r} must be a list of {p.K} numbers, got {v!r:.80}")
    state = {**state, **dec}
    fx.set(ctx.key("round", msg.round), json.dumps(state))
    for k in range(p.K):
        fx.publish(ctx.stream("sensor"), Assign(
            run_id=msg.run_id, round=msg.round, ud=k, phi=dec["phi"][k], f_hz=dec["f_hz"][k],
            p_w=dec["p_w"][k], f_e_hz=dec["f_e_hz"][k], D_bits=state["D_bits"][k]))


async def bs_uplink(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Uplink)
    p = _params(ctx)
    k = msg.ud
    _check_ud(p, k)
    state = await _round_state(ctx, msg.round)
    if "phi" not in state:
        raise LookupError(f"uplink for slot {msg.round} before the decision")
    d = model.distance_m(p, np.asarray([msg.pos_m]))  # from the position the UD reports
    D, h2 = np.array([state["D_bits"][k]]), np.array([state["h2"][k]])
    f, pw, fe = (np.array([state[n][k]]) for n in ("f_hz", "p_w", "f_e_hz"))
    out = model.slot(p, D, d, h2, np.array([msg.phi]), f, pw, fe)
    fx.publish(ctx.stream("edge"), Recover(
        **msg.model_dump(), f_hz=float(f[0]), p_w=float(pw[0]), f_e_hz=float(fe[0]),
        D_bits=float(D[0]), d_m=float(d[0]), h2=float(h2[0]), rate_bps=float(out.rate_bps[0]),
        t_s=float(out.t_s[0]), t_en=float(out.t_en[0]), t_up=float(out.t_up[0]),
        t_de=float(out.t_de[0]), t_dt=float(out.t_dt[0]), t=float(out.t[0]), e=float(out.e[0]),
        modeled_start_s=float(state["modeled_start_s"]), forwarded_wall=time.time(),
    ), payload=env.payload)


# -- sensor service: the UDs ---------------------------------------------------------------
def _signal(ctx: RunContext) -> BandLimitedSignal:
    if "signal" not in ctx.cache:
        ctx.cache["signal"] = BandLimitedSignal(ctx.run.seed, _params(ctx).K)
    return ctx.cache["signal"]


async def ud_assign(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Assign)
    p = _params(ctx)
    k = msg.ud
    _check_ud(p, k)
    pos = _world(ctx).mobility(msg.round).pos_m[k]  # the UD has moved into slot n
    x = _signal(ctx).samples(k, msg.round, n_samples(msg.D_bits))
    raw = to_bytes(x)
    sampled = time.time()
    oracle_id = await ctx.bus.publish(ctx.stream("oracle"), OracleSample(
        run_id=msg.run_id, round=msg.round, entity=ud_name(k), sampled_at_wall=sampled), raw)
    codec = ctx.artifact(CODEC)
    t0 = time.perf_counter()
    blob = codec.encode(x, msg.phi)
    encode_s = time.perf_counter() - t0
    fx.publish(ctx.stream("basestation"), Uplink(
        run_id=msg.run_id, round=msg.round, ud=k, phi=msg.phi,
        phi_achieved=len(blob) / len(raw), encode_s=encode_s, raw_bytes=len(raw),
        n_samples=x.size, pos_m=(float(pos[0]), float(pos[1])), oracle_id=oracle_id,
        sampled_wall=sampled), payload=blob)


# -- edge ----------------------------------------------------------------------------------
async def edge_recover(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Recover)
    if env.payload is None:
        raise ValueError("recover message carries no payload")
    codec = ctx.artifact(CODEC)
    t0 = time.perf_counter()
    x = codec.decode(env.payload)
    decode_s = time.perf_counter() - t0
    if x.size != msg.n_samples:
        raise ValueError(f"recovered {x.size} samples, the UD sensed {msg.n_samples}")
    raw = to_bytes(x)
    fx.publish(ctx.stream("cloud"), Sync(
        **msg.model_dump(), decode_s=decode_s,
        recovered_sha256=hashlib.sha256(raw).hexdigest()), payload=raw)


# -- cloud ---------------------------------------------------------------------------------
async def cloud_sync(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Sync)
    if env.payload is None:
        raise ValueError("sync message carries no payload")
    x = from_bytes(env.payload)
    fidelity: dict[str, Any] = {"oracle_id": msg.oracle_id, "available": False}
    truth = await ctx.redis.xrange(ctx.stream("oracle"), min=msg.oracle_id, max=msg.oracle_id)
    if truth:
        ref = from_bytes(truth[0][1][b"p"]).astype(np.float64)
        err = x.astype(np.float64) - ref
        rmse = float(np.sqrt(np.mean(err**2)))
        rms = float(np.sqrt(np.mean(ref**2)))
        fidelity.update(available=True, exact=bool(env.payload == truth[0][1][b"p"]),
                        rmse=rmse, nrmse=rmse / rms if rms > 0 else 0.0,
                        max_abs_err=int(np.max(np.abs(err))))
    now = time.time()
    name = ud_name(msg.ud)
    TwinStore(ctx.redis, ctx.settings.history_len).update(
        fx, twin=twin_id(msg.run_id, name), kind="semantic.ud", run_id=msg.run_id,
        round_=msg.round,
        state={"round": msg.round, "pos_m": list(msg.pos_m), "n_samples": msg.n_samples,
               "samples_int16_b64": base64.b64encode(env.payload).decode(),
               "sha256": msg.recovered_sha256, "phi": msg.phi},
        modeled_s=msg.modeled_start_s + msg.t, aoi_modeled_s=msg.t, wall=now,
        aoi_wall_s=now - msg.sampled_wall, fidelity=fidelity,
    )
    metrics = msg.model_dump(exclude={"run_id", "round", "oracle_id", "recovered_sha256"})
    metrics.update(twin_wall=now, fidelity_nrmse=fidelity.get("nrmse"),
                   fidelity_exact=fidelity.get("exact"))
    fx.publish(ctx.stream("controller"), RoundReport(
        run_id=msg.run_id, round=msg.round, party=name, metrics=metrics))


HANDLERS = {
    "basestation": {RoundStart: bs_round_start, Decision: bs_decision, Uplink: bs_uplink},
    "sensor": {Assign: ud_assign},
    "edge": {Recover: edge_recover},
    "cloud": {Sync: cloud_sync},
}
