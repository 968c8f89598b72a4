"""What each service does in a live ``compression`` round.

1. controller -> basestation ``RoundStart``: the BS draws the round's Rician channels (the same
   seeded draw as :func:`simulate.channel_for_round`) and asks the controller for the allocation
   (``DecisionRequest``; the decision maker is the run's algorithm).
2. controller -> basestation ``Decision``: the BS sends every sensor its ``Offer`` (b_k, f_k, CSI).
3. sensor: plays its best response (eq. 9) to b_k, samples the physical process, publishes the
   ground truth on the oracle stream, compresses the real samples with the real lossless codec
   setting whose measured ratio is closest to beta_k, and sends the ``Uplink``.
4. basestation: stamps the modeled T_comp, T_tr, T_DT (eqs. 2, 5, 6) and forwards a ``Sync``.
5. cloud: decompresses, verifies the checksum, updates the sensor's twin (state, version, AoI,
   fidelity against the oracle) and reports the sensor's round to the controller.

With ``stackelberg`` steps 1-2 are the live Algorithm 1 instead: the BS sends every sensor a
``Negotiate`` (iteration 0: the equal split), each sensor initializes or steps its own dual
variables (Redis, written with its answer) and sends an ``Answer`` with beta_k; when all K are
in, the BS applies the stopping rule and either re-solves (26) and sends iteration l + 1 or
sends the final ``Offer`` s (with the agreed beta_k); the negotiation's iterations, messages and
wall time ride on the ``Sync`` into the round's metrics.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np

from twinbed.bus import ChecksumError, Effects, Envelope
from twinbed.codecs import CodecPoint, calibrate, closest_setting, get_codec
from twinbed.messages import Decision, DecisionRequest, OracleSample, RoundReport, RoundStart
from twinbed.physical import BandLimitedSignal, from_bytes, to_bytes
from twinbed.runtime import RunContext
from twinbed.scenarios.compression import follower, model
from twinbed.scenarios.compression.leader import Warm, solve_leader_fast
from twinbed.scenarios.compression.messages import Answer, Negotiate, Offer, Sync, Uplink
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.scenarios.compression.simulate import channel_for_round
from twinbed.twins import TwinStore, twin_id

__all__ = ["HANDLERS", "NEGOTIATED", "sensor_name"]

CALIBRATION_BLOCK = 0  # each sensor calibrates its codec ladder on its first block of samples
NEGOTIATED = "stackelberg"  # played live across the services (Algorithm 1), not by decide()
STATE_TTL_S = 24 * 3600


def sensor_name(k: int) -> str:
    return f"sensor-{k}"


def _params(ctx: RunContext) -> CompressionParams:
    assert isinstance(ctx.params, CompressionParams)
    return ctx.params


def _arrays(ctx: RunContext) -> model.SensorArrays:
    if "arrays" not in ctx.cache:
        ctx.cache["arrays"] = model.sensor_arrays(_params(ctx))
    return ctx.cache["arrays"]


# -- basestation ---------------------------------------------------------------------------
async def bs_round_start(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, RoundStart)
    p = _params(ctx)
    H = channel_for_round(p, ctx.run.seed, msg.round)
    fx.set(ctx.key("round", msg.round), json.dumps(
        {"H_gain": H.tolist(), "modeled_start_s": msg.modeled_start_s}))
    if ctx.run.algorithm != NEGOTIATED:
        fx.publish(ctx.stream("controller"), DecisionRequest(
            run_id=msg.run_id, round=msg.round, state={"H_gain": H.tolist()}, reply_to=ctx.role))
        return
    # Algorithm 1 live: iteration 0 offers the equal split, from which every sensor
    # initializes its dual variables lambda^(0) and answers beta^(0)
    b0 = np.full(p.K, p.B_hz / p.K)
    neg = {"iteration": 0, "b_hz": b0.tolist(), "f_hz": np.full(p.K, p.C_dt_hz / p.K).tolist(),
           "U_prev": None, "started_wall": time.time(), "messages": p.K}
    _store_neg(ctx, fx, msg.round, neg)
    sensors = ctx.stream("sensor")
    for k in range(p.K):
        fx.publish(sensors, Negotiate(run_id=msg.run_id, round=msg.round, sensor=k, iteration=0,
                                      b_hz=float(b0[k]), H_gain=float(H[k])))


def _store_neg(ctx: RunContext, fx: Effects, round_: int, neg: dict[str, Any]) -> None:
    """The negotiation's state (without the answers, which are a hash per iteration)."""
    neg = {k: v for k, v in neg.items() if k != "answers"}
    fx.set(ctx.key("neg", round_), json.dumps(neg), ex=STATE_TTL_S)
    ctx.cache.setdefault("neg", {})[round_] = {**neg, "answers": {}}


async def _neg_state(ctx: RunContext, round_: int) -> dict[str, Any]:
    """The BS's negotiation state of a round: the process cache, else rebuilt from Redis (after
    a restart: the state of the current iteration and the answers committed so far)."""
    cache: dict[int, dict[str, Any]] = ctx.cache.setdefault("neg", {})
    if round_ in cache:
        return cache[round_]
    raw = await ctx.redis.get(ctx.key("neg", round_))
    if raw is None:
        raise LookupError(f"basestation has no negotiation for round {round_}")
    neg = json.loads(raw)
    got = await ctx.redis.hgetall(ctx.key("neg", round_, "answers", neg["iteration"]))
    neg["answers"] = {int(k): float(v) for k, v in got.items()}
    cache.clear()
    cache[round_] = neg
    return neg


async def bs_answer(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    """Collect the sensors' answers of one iteration; when all K are in, either stop (the
    paper's rule: |U^(l) - U^(l-1)| <= xi or l = L_max) and offer the agreed allocation, or
    re-solve the leader problem (26) for the new ratios and offer iteration l + 1."""
    msg = env.msg
    assert isinstance(msg, Answer)
    p = _params(ctx)
    if msg.sensor >= p.K:
        raise ValueError(f"answer from sensor {msg.sensor}, but the run has K={p.K} sensors")
    neg = await _neg_state(ctx, msg.round)
    if msg.iteration != neg["iteration"] or msg.sensor in neg["answers"]:
        return  # a stale or repeated answer changes nothing
    neg["answers"][msg.sensor] = msg.beta
    neg["messages"] += 1
    fx.hset(ctx.key("neg", msg.round, "answers", msg.iteration), str(msg.sensor), repr(msg.beta))
    fx.expire(ctx.key("neg", msg.round, "answers", msg.iteration), STATE_TTL_S)
    if len(neg["answers"]) < p.K:
        return
    state = await _round_state(ctx, msg.round)
    H = np.asarray(state["H_gain"], dtype=float)
    s = _arrays(ctx)
    beta = np.array([neg["answers"][k] for k in range(p.K)])
    b, f = np.asarray(neg["b_hz"]), np.asarray(neg["f_hz"])
    it = neg["iteration"]
    if it >= 1:
        U = float(np.max(model.timings(p, beta, b, f, H, s).T_total))
        done = (neg["U_prev"] is not None and abs(U - neg["U_prev"]) <= p.xi) or it >= p.L_max
        if done:
            stats = {"iterations": it, "messages": neg["messages"],
                     "wall_s": time.time() - neg["started_wall"]}
            _offer_all(ctx, fx, msg.run_id, msg.round, state, b.tolist(), f.tolist(),
                       beta.tolist(), negotiation=stats)
            ctx.cache.get("neg", {}).pop(msg.round, None)
            return
        neg["U_prev"] = U
    w = neg.get("warm")  # warm start where the previous leader solve ended, as in-process
    warm = Warm(w[0], w[1], np.asarray(w[2], dtype=float)) if w else None
    sol = solve_leader_fast(p, beta, H, s, warm=warm)
    nxt = {**neg, "iteration": it + 1, "b_hz": sol.b_hz.tolist(), "f_hz": sol.f_hz.tolist(),
           "messages": neg["messages"] + p.K,
           "warm": None if sol.warm is None else [sol.warm.log_rho, sol.warm.T_s,
                                                  sol.warm.log_z.tolist()]}
    _store_neg(ctx, fx, msg.round, nxt)
    sensors = ctx.stream("sensor")
    for k in range(p.K):
        fx.publish(sensors, Negotiate(run_id=msg.run_id, round=msg.round, sensor=k,
                                      iteration=it + 1, b_hz=float(sol.b_hz[k]),
                                      H_gain=float(H[k])))


async def _round_state(ctx: RunContext, round_: int) -> dict[str, Any]:
    """The BS's stored state of a round; cached once the allocation is in (it never changes
    after that), so K uplinks do not parse K-long lists K times."""
    cache: dict[int, dict[str, Any]] = ctx.cache.setdefault("rounds", {})
    if round_ in cache:
        return cache[round_]
    raw = await ctx.redis.get(ctx.key("round", round_))
    if raw is None:
        raise LookupError(f"basestation has no state for round {round_} (RoundStart missing?)")
    state = json.loads(raw)
    if "b_hz" in state:
        cache.clear()  # rounds run one after another: keep only the current one
        state["arrays"] = {k: np.asarray(state[k]) for k in ("H_gain", "b_hz", "f_hz")}
        cache[round_] = state
    return state


async def bs_decision(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Decision)
    state = {k: v for k, v in (await _round_state(ctx, msg.round)).items() if k != "arrays"}
    b = msg.decision["b_hz"]
    f = msg.decision["f_hz"]
    beta = msg.decision.get("beta")
    K = _params(ctx).K
    if len(b) != K or len(f) != K or (beta is not None and len(beta) != K):
        raise ValueError(f"decision has {len(b)} bandwidths and {len(f)} speeds for {K} sensors")
    _offer_all(ctx, fx, msg.run_id, msg.round, state, b, f, beta)


def _offer_all(ctx: RunContext, fx: Effects, run_id: str, round_: int, state: dict[str, Any],
               b: list[float], f: list[float], beta: list[float] | None,
               negotiation: dict[str, Any] | None = None) -> None:
    """Store the round's allocation and send every sensor its ``Offer``."""
    state = {k: v for k, v in state.items() if k != "arrays"}
    state.update(b_hz=b, f_hz=f)
    if negotiation is not None:
        state["negotiation"] = negotiation
    fx.set(ctx.key("round", round_), json.dumps(state))
    sensors = ctx.stream("sensor")
    for k in range(len(b)):
        fx.publish(sensors, Offer(run_id=run_id, round=round_, sensor=k, b_hz=b[k],
                                  f_hz=f[k], H_gain=state["H_gain"][k],
                                  beta=None if beta is None else beta[k]))


async def bs_uplink(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Uplink)
    p = _params(ctx)
    k = msg.sensor
    if k >= p.K:
        raise ValueError(f"uplink from sensor {k}, but the run has K={p.K} sensors")
    state = await _round_state(ctx, msg.round)
    if "arrays" not in state:
        raise LookupError(f"uplink for round {msg.round} before the allocation was decided")
    s = _arrays(ctx)
    sl = slice(k, k + 1)
    b, f, H = (state["arrays"][name][sl] for name in ("b_hz", "f_hz", "H_gain"))
    rate = model.rate_bps(b, H, s.p_w[sl], p.N0_w_per_hz)
    t = model.timings(p, np.array([msg.beta_model]), b, f, H,
                      model.SensorArrays(*(a[sl] for a in s)))
    fx.publish(ctx.stream("cloud"), Sync(
        **msg.model_dump(),
        b_hz=float(b[0]), f_hz=float(f[0]), rate_bps=float(rate[0]),
        T_comp_s=float(t.T_comp[0]), T_tr_s=float(t.T_tr[0]), T_DT_s=float(t.T_DT[0]),
        T_total_s=float(t.T_total[0]), modeled_start_s=float(state["modeled_start_s"]),
        forwarded_wall=time.time(),
        **{f"negotiation_{k}": v for k, v in state.get("negotiation", {}).items()},
    ), payload=env.payload)


# -- sensor --------------------------------------------------------------------------------
def _sensor_view(ctx: RunContext, k: int, b_hz: float, H_gain: float, what: str
                 ) -> tuple[CompressionParams, model.SensorArrays, slice, np.ndarray]:
    """Sensor k's parameters, constants slice and rate (eq. 3) at the offered bandwidth."""
    p = _params(ctx)
    if k >= p.K:
        raise ValueError(f"{what} for sensor {k}, but the run has K={p.K} sensors")
    s = _arrays(ctx)
    sl = slice(k, k + 1)
    rate = model.rate_bps(np.array([b_hz]), np.array([H_gain]), s.p_w[sl], p.N0_w_per_hz)
    return p, s, sl, rate


async def sensor_negotiate(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    """Algorithm 1, lines 5-6, for this sensor: lambda^(0) from the equal split at iteration
    0, else one dual step (24) at the offered bandwidth; answer beta by (19). The dual
    variables live in Redis (written with the answer, atomically)."""
    msg = env.msg
    assert isinstance(msg, Negotiate)
    p, s, sl, rate = _sensor_view(ctx, msg.sensor, msg.b_hz, msg.H_gain, "negotiation")
    k = msg.sensor
    D, fs = s.D_bits[sl], s.f_s_hz[sl]
    key = ctx.key("lam", msg.round, k)
    if msg.iteration == 0:
        lam = follower.dual_init(D, rate)
    else:
        raw = await ctx.redis.get(key)
        if raw is None:
            raise LookupError(f"sensor {k} has no dual variables for round {msg.round}")
        lam = follower.dual_step(np.array([json.loads(raw)]), D, fs, rate, p.epsilon,
                                 p.beta_max)
    beta = follower.dual_state(lam, D, fs, rate, p.epsilon, p.beta_max).beta
    fx.set(key, json.dumps(lam[0].tolist()), ex=STATE_TTL_S)
    fx.publish(ctx.stream("basestation"), Answer(
        run_id=msg.run_id, round=msg.round, sensor=k, iteration=msg.iteration,
        beta=float(beta[0]), lam=lam[0].tolist()))


def _signal(ctx: RunContext) -> BandLimitedSignal:
    if "signal" not in ctx.cache:
        ctx.cache["signal"] = BandLimitedSignal(ctx.run.seed, _params(ctx).K)
    return ctx.cache["signal"]


def _ladder(ctx: RunContext, k: int) -> list[CodecPoint]:
    """Sensor k's measured (ratio, time) per codec setting, on its own calibration block."""
    table: dict[int, list[CodecPoint]] = ctx.cache.setdefault("ladder", {})
    if k not in table:
        x = _signal(ctx).samples(k, CALIBRATION_BLOCK, _params(ctx).n_samples)
        table[k] = calibrate(to_bytes(x), repeats=1)
    return table[k]


async def sensor_offer(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Offer)
    p, s, sl, rate = _sensor_view(ctx, msg.sensor, msg.b_hz, msg.H_gain, "offer")
    k = msg.sensor
    if msg.beta is None:
        beta = float(model.best_response(rate, s.f_s_hz[sl], p.epsilon, p.beta_max)[0])
    else:
        beta = float(msg.beta)

    x = _signal(ctx).samples(k, msg.round, p.n_samples)
    raw = to_bytes(x)
    sampled = time.time()
    # Published at once (not with the batch): the uplink must name the oracle entry. A replay
    # after a crash publishes the same truth again, which is harmless: twins never read it.
    oracle = OracleSample(run_id=msg.run_id, round=msg.round, entity=sensor_name(k),
                          sampled_at_wall=sampled)
    oracle_id = await ctx.bus.publish(ctx.stream("oracle"), oracle, raw)

    setting = closest_setting(_ladder(ctx, k), beta)
    codec = get_codec(setting.name)
    t0 = time.perf_counter()
    blob = codec.encode(raw)
    codec_s = time.perf_counter() - t0
    fx.publish(ctx.stream("basestation"), Uplink(
        run_id=msg.run_id, round=msg.round, sensor=k, beta_model=beta, codec=setting.name,
        beta_achieved=len(raw) / len(blob), codec_s=codec_s, raw_bytes=len(raw),
        raw_sha256=hashlib.sha256(raw).hexdigest(), oracle_id=oracle_id, sampled_wall=sampled,
    ), payload=blob)


# -- cloud ---------------------------------------------------------------------------------
async def cloud_sync(ctx: RunContext, env: Envelope, fx: Effects) -> None:
    msg = env.msg
    assert isinstance(msg, Sync)
    if env.payload is None:
        raise ValueError("sync message carries no payload")
    t0 = time.perf_counter()
    raw = get_codec(msg.codec).decode(env.payload)
    decode_s = time.perf_counter() - t0
    if hashlib.sha256(raw).hexdigest() != msg.raw_sha256:
        raise ChecksumError(f"decompressed samples of sensor {msg.sensor} fail their checksum")
    samples = from_bytes(raw)

    fidelity: dict[str, Any] = {"oracle_id": msg.oracle_id, "available": False}
    truth = await ctx.redis.xrange(ctx.stream("oracle"), min=msg.oracle_id, max=msg.oracle_id)
    if truth:
        ref = from_bytes(truth[0][1][b"p"])
        err = samples.astype(np.int64) - ref.astype(np.int64)
        fidelity.update(available=True, exact=bool(raw == truth[0][1][b"p"]),
                        rmse=float(np.sqrt(np.mean(err**2))) if err.size else 0.0,
                        max_abs_err=int(np.max(np.abs(err))) if err.size else 0)

    now = time.time()
    name = sensor_name(msg.sensor)
    TwinStore(ctx.redis, ctx.settings.history_len).update(
        fx, twin=twin_id(msg.run_id, name), kind="compression.sensor", run_id=msg.run_id,
        round_=msg.round,
        state={"round": msg.round, "samples": samples.tolist(), "sha256": msg.raw_sha256,
               "codec": msg.codec},
        modeled_s=msg.modeled_start_s + msg.T_total_s, aoi_modeled_s=msg.T_total_s,
        wall=now, aoi_wall_s=now - msg.sampled_wall, fidelity=fidelity,
    )
    metrics = msg.model_dump(exclude={"run_id", "round", "oracle_id", "raw_sha256"})
    metrics.update(decode_s=decode_s, twin_wall=now, fidelity_exact=fidelity.get("exact"))
    fx.publish(ctx.stream("controller"), RoundReport(
        run_id=msg.run_id, round=msg.round, party=name, metrics=metrics))


HANDLERS = {
    "basestation": {RoundStart: bs_round_start, Decision: bs_decision, Uplink: bs_uplink,
                    Answer: bs_answer},
    "sensor": {Offer: sensor_offer, Negotiate: sensor_negotiate},
    "cloud": {Sync: cloud_sync},
}
