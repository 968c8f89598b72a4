"""What each service does in a live ``compression`` round.

1. controller -> basestation ``RoundStart``: the BS draws the round's Rician channels (the same
   seeded draw as :func:`world.channel_for_round`) and asks the controller for the allocation
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

import base64
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict

from twinbed.bus import ChecksumError, Effects, Envelope
from twinbed.codecs import CodecPoint, calibrate, closest_setting, get_codec
from twinbed.contract import Roles, RunContext, ask
from twinbed.contract.naming import entity, twin_kind
from twinbed.messages import RoundStart
from twinbed.observation import Fidelity, TwinWrite, observe, record
from twinbed.physical import BandLimitedSignal, from_bytes, to_bytes
from twinbed.scenarios.compression import follower, model
from twinbed.scenarios.compression.contract import (
    AllocationAction,
    ChannelState,
    SensorReport,
)
from twinbed.scenarios.compression.leader import Warm, solve_leader_fast
from twinbed.scenarios.compression.messages import (
    Answer,
    Negotiate,
    Offer,
    Sync,
    Uplink,
)
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.scenarios.compression.world import CompressionWorld

__all__ = ["NEGOTIATED", "ROLES", "TWIN_KIND", "sensor_name", "twin_state"]

CALIBRATION_BLOCK = 0  # each sensor calibrates its codec ladder on its first block of samples
NEGOTIATED = "stackelberg"  # played live across the services (Algorithm 1), not by decide()
STATE_TTL_S = 24 * 3600
TWIN_KIND = twin_kind("compression", "sensor")

Ctx = RunContext[CompressionParams]


def sensor_name(k: int) -> str:
    """Sensor k's entity (and twin, and party) name: ``sensor-<k>``."""
    return entity("sensor", k)


def _world(ctx: Ctx) -> CompressionWorld:
    return ctx.cached("world", lambda: CompressionWorld.for_run(ctx))


def _arrays(ctx: Ctx) -> model.SensorArrays:
    return ctx.cached("arrays", lambda: model.sensor_arrays(ctx.params))


# -- the basestation's stored state ----------------------------------------------------------
class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NegotiationStats(_Stored):
    iterations: int
    messages: int
    wall_s: float


class RoundState(_Stored):
    """The BS's state of one round (Redis ``...:basestation:round:<r>``)."""

    H_gain: list[float]
    modeled_start_s: float
    b_hz: list[float] | None = None
    f_hz: list[float] | None = None
    negotiation: NegotiationStats | None = None


class Negotiation(_Stored):
    """Algorithm 1's state at the BS for one round (the answers are a hash per iteration)."""

    iteration: int
    b_hz: list[float]
    f_hz: list[float]
    U_prev: float | None
    started_wall: float
    messages: int
    warm: tuple[float, float, list[float]] | None = None


@dataclass
class _Live:
    """A negotiation in this process: its state and the answers of the current iteration."""

    round: int
    state: Negotiation
    answers: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Decided:
    """A round whose allocation is in: it never changes, so it is cached with its arrays."""

    round: int
    state: RoundState
    H: np.ndarray
    b: np.ndarray
    f: np.ndarray


# -- basestation ---------------------------------------------------------------------------
async def bs_round_start(ctx: Ctx, msg: RoundStart, env: Envelope, fx: Effects) -> None:
    p = ctx.params
    H = _world(ctx).channel(msg.round)
    fx.set(ctx.key("round", msg.round),
           RoundState(H_gain=H.tolist(), modeled_start_s=msg.modeled_start_s).model_dump_json())
    if ctx.run.algorithm != NEGOTIATED:
        ask(ctx, fx, msg.round, ChannelState(H_gain=H.tolist()))
        return
    # Algorithm 1 live: iteration 0 offers the equal split, from which every sensor
    # initializes its dual variables lambda^(0) and answers beta^(0)
    b0 = np.full(p.K, p.B_hz / p.K)
    neg = Negotiation(iteration=0, b_hz=b0.tolist(), f_hz=np.full(p.K, p.C_dt_hz / p.K).tolist(),
                      U_prev=None, started_wall=time.time(), messages=p.K)
    _store_neg(ctx, fx, msg.round, neg)
    sensors = ctx.stream("sensor")
    for k in range(p.K):
        fx.publish(sensors, Negotiate(run_id=msg.run_id, round=msg.round, sensor=k, iteration=0,
                                      b_hz=float(b0[k]), H_gain=float(H[k])))


def _store_neg(ctx: Ctx, fx: Effects, round_: int, neg: Negotiation) -> None:
    fx.set(ctx.key("neg", round_), neg.model_dump_json(), ex=STATE_TTL_S)
    ctx.cache["neg"] = _Live(round_, neg)


async def _neg_state(ctx: Ctx, round_: int) -> _Live:
    """The BS's negotiation of a round: the process cache, else rebuilt from Redis (after a
    restart: the state of the current iteration and the answers committed so far)."""
    live = ctx.cache.get("neg")
    if isinstance(live, _Live) and live.round == round_:
        return live
    raw = await ctx.redis.get(ctx.key("neg", round_))
    if raw is None:
        raise LookupError(f"basestation has no negotiation for round {round_}")
    neg = Negotiation.model_validate_json(raw)
    got = await ctx.redis.hgetall(ctx.key("neg", round_, "answers", neg.iteration))
    live = _Live(round_, neg, {int(k): float(v) for k, v in got.items()})
    ctx.cache["neg"] = live
    return live


async def bs_answer(ctx: Ctx, msg: Answer, env: Envelope, fx: Effects) -> None:
    """Collect the sensors' answers of one iteration; when all K are in, either stop (the
    paper's rule: |U^(l) - U^(l-1)| <= xi or l = L_max) and offer the agreed allocation, or
    re-solve the leader problem (26) for the new ratios and offer iteration l + 1."""
    p = ctx.params
    if msg.sensor >= p.K:
        raise ValueError(f"answer from sensor {msg.sensor}, but the run has K={p.K} sensors")
    live = await _neg_state(ctx, msg.round)
    neg = live.state
    if msg.iteration != neg.iteration or msg.sensor in live.answers:
        return  # a stale or repeated answer changes nothing
    live.answers[msg.sensor] = msg.beta
    neg.messages += 1
    fx.hset(ctx.key("neg", msg.round, "answers", msg.iteration), str(msg.sensor), repr(msg.beta))
    fx.expire(ctx.key("neg", msg.round, "answers", msg.iteration), STATE_TTL_S)
    if len(live.answers) < p.K:
        return
    state = await _round_state(ctx, msg.round)
    H = np.asarray(state.H_gain, dtype=float)
    s = _arrays(ctx)
    beta = np.array([live.answers[k] for k in range(p.K)])
    b, f = np.asarray(neg.b_hz), np.asarray(neg.f_hz)
    it = neg.iteration
    if it >= 1:
        U = float(np.max(model.timings(p, beta, b, f, H, s).T_total))
        done = (neg.U_prev is not None and abs(U - neg.U_prev) <= p.xi) or it >= p.L_max
        if done:
            stats = NegotiationStats(iterations=it, messages=neg.messages,
                                     wall_s=time.time() - neg.started_wall)
            _offer_all(ctx, fx, msg.round, state, b.tolist(), f.tolist(), beta.tolist(),
                       negotiation=stats)
            ctx.cache.pop("neg", None)
            return
        neg.U_prev = U
    w = neg.warm  # warm start where the previous leader solve ended, as in-process
    warm = Warm(w[0], w[1], np.asarray(w[2], dtype=float)) if w else None
    sol = solve_leader_fast(p, beta, H, s, warm=warm)
    nxt = neg.model_copy(update={
        "iteration": it + 1, "b_hz": sol.b_hz.tolist(), "f_hz": sol.f_hz.tolist(),
        "messages": neg.messages + p.K,
        "warm": None if sol.warm is None else (sol.warm.log_rho, sol.warm.T_s,
                                                sol.warm.log_z.tolist())})
    _store_neg(ctx, fx, msg.round, nxt)
    sensors = ctx.stream("sensor")
    for k in range(p.K):
        fx.publish(sensors, Negotiate(run_id=msg.run_id, round=msg.round, sensor=k,
                                      iteration=it + 1, b_hz=float(sol.b_hz[k]),
                                      H_gain=float(H[k])))


async def _round_state(ctx: Ctx, round_: int) -> RoundState:
    decided = ctx.cache.get("decided")
    if isinstance(decided, _Decided) and decided.round == round_:
        return decided.state
    raw = await ctx.redis.get(ctx.key("round", round_))
    if raw is None:
        raise LookupError(f"basestation has no state for round {round_} (RoundStart missing?)")
    return RoundState.model_validate_json(raw)


async def _decided(ctx: Ctx, round_: int) -> _Decided:
    """The round's allocation with its arrays; cached once the allocation is in (it never
    changes after that), so K uplinks do not parse K-long lists K times."""
    decided = ctx.cache.get("decided")
    if isinstance(decided, _Decided) and decided.round == round_:
        return decided
    state = await _round_state(ctx, round_)
    if state.b_hz is None or state.f_hz is None:
        raise LookupError(f"uplink for round {round_} before the allocation was decided")
    out = _Decided(round_, state, np.asarray(state.H_gain), np.asarray(state.b_hz),
                   np.asarray(state.f_hz))
    ctx.cache["decided"] = out  # rounds run one after another: keep only the current one
    return out


async def bs_allocation(ctx: Ctx, round_: int, action: AllocationAction, fx: Effects) -> None:
    """The controller's allocation: offer every sensor its share."""
    state = await _round_state(ctx, round_)
    K = ctx.params.K
    b, f, beta = action.b_hz, action.f_hz, action.beta
    if len(b) != K or len(f) != K or (beta is not None and len(beta) != K):
        raise ValueError(f"decision has {len(b)} bandwidths and {len(f)} speeds for {K} sensors")
    _offer_all(ctx, fx, round_, state, b, f, beta)


def _offer_all(ctx: Ctx, fx: Effects, round_: int, state: RoundState, b: list[float],
               f: list[float], beta: list[float] | None,
               negotiation: NegotiationStats | None = None) -> None:
    """Store the round's allocation and send every sensor its ``Offer``."""
    update: dict[str, object] = {"b_hz": b, "f_hz": f}
    if negotiation is not None:
        update["negotiation"] = negotiation
    done = state.model_copy(update=update)
    fx.set(ctx.key("round", round_), done.model_dump_json())
    sensors = ctx.stream("sensor")
    for k in range(len(b)):
        fx.publish(sensors, Offer(run_id=ctx.run.id, round=round_, sensor=k, b_hz=b[k],
                                  f_hz=f[k], H_gain=done.H_gain[k],
                                  beta=None if beta is None else beta[k]))


async def bs_uplink(ctx: Ctx, msg: Uplink, env: Envelope, fx: Effects) -> None:
    """Stamp the modeled times (eqs. 2, 5, 6) on sensor k's uplink and forward it."""
    p = ctx.params
    k = msg.sensor
    if k >= p.K:
        raise ValueError(f"uplink from sensor {k}, but the run has K={p.K} sensors")
    d = await _decided(ctx, msg.round)
    s = _arrays(ctx)
    sl = slice(k, k + 1)
    b, f, H = d.b[sl], d.f[sl], d.H[sl]
    rate = model.rate_bps(b, H, s.p_w[sl], p.N0_w_per_hz)
    t = model.timings(p, np.array([msg.beta_model]), b, f, H,
                      model.SensorArrays(*(a[sl] for a in s)))
    neg = d.state.negotiation
    fx.publish(ctx.stream("cloud"), Sync(
        **msg.model_dump(),
        b_hz=float(b[0]), f_hz=float(f[0]), rate_bps=float(rate[0]),
        T_comp_s=float(t.T_comp[0]), T_tr_s=float(t.T_tr[0]), T_DT_s=float(t.T_DT[0]),
        T_total_s=float(t.T_total[0]), modeled_start_s=float(d.state.modeled_start_s),
        forwarded_wall=time.time(),
        negotiation_iterations=None if neg is None else neg.iterations,
        negotiation_messages=None if neg is None else neg.messages,
        negotiation_wall_s=None if neg is None else neg.wall_s,
    ), payload=env.payload)


# -- sensor --------------------------------------------------------------------------------
def _sensor_view(ctx: Ctx, k: int, b_hz: float, H_gain: float, what: str
                 ) -> tuple[model.SensorArrays, slice, np.ndarray]:
    """Sensor k's constants slice and rate (eq. 3) at the offered bandwidth."""
    p = ctx.params
    if k >= p.K:
        raise ValueError(f"{what} for sensor {k}, but the run has K={p.K} sensors")
    s = _arrays(ctx)
    sl = slice(k, k + 1)
    rate = model.rate_bps(np.array([b_hz]), np.array([H_gain]), s.p_w[sl], p.N0_w_per_hz)
    return s, sl, rate


async def sensor_negotiate(ctx: Ctx, msg: Negotiate, env: Envelope, fx: Effects) -> None:
    """Algorithm 1, lines 5-6, for this sensor: lambda^(0) from the equal split at iteration
    0, else one dual step (24) at the offered bandwidth; answer beta by (19). The dual
    variables live in Redis (written with the answer, atomically)."""
    p = ctx.params
    s, sl, rate = _sensor_view(ctx, msg.sensor, msg.b_hz, msg.H_gain, "negotiation")
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


def _signal(ctx: Ctx) -> BandLimitedSignal:
    return ctx.cached("signal", lambda: BandLimitedSignal(ctx.run.seed, ctx.params.K))


def _ladder(ctx: Ctx, k: int) -> list[CodecPoint]:
    """Sensor k's measured (ratio, time) per codec setting, on its own calibration block."""
    table: dict[int, list[CodecPoint]] = ctx.cached("ladder", dict)
    if k not in table:
        x = _signal(ctx).samples(k, CALIBRATION_BLOCK, ctx.params.n_samples)
        table[k] = calibrate(to_bytes(x), repeats=1)
    return table[k]


async def sensor_offer(ctx: Ctx, msg: Offer, env: Envelope, fx: Effects) -> None:
    """Play the best response (or the fixed ratio), observe the process, compress the real
    samples with the codec setting closest to beta_k, uplink."""
    p = ctx.params
    s, sl, rate = _sensor_view(ctx, msg.sensor, msg.b_hz, msg.H_gain, "offer")
    k = msg.sensor
    if msg.beta is None:
        beta = float(model.best_response(rate, s.f_s_hz[sl], p.epsilon, p.beta_max)[0])
    else:
        beta = float(msg.beta)
    setting = closest_setting(_ladder(ctx, k), beta)
    raw = to_bytes(_signal(ctx).samples(k, msg.round, p.n_samples))
    seen = await observe(ctx, msg.round, sensor_name(k), raw, get_codec(setting.name).encode)
    blob = seen.blob or b""
    fx.publish(ctx.stream("basestation"), Uplink(
        run_id=msg.run_id, round=msg.round, sensor=k, beta_model=beta, codec=setting.name,
        beta_achieved=len(raw) / len(blob), codec_s=seen.encode_s, raw_bytes=len(raw),
        raw_sha256=seen.raw_sha256, oracle_id=seen.oracle_id, sampled_wall=seen.sampled_wall,
    ), payload=blob)


# -- cloud ---------------------------------------------------------------------------------
def twin_state(round_: int, raw: bytes, sha256: str, codec: str) -> dict[str, object]:
    """A sensor twin's state: the round's samples (little-endian int16, base64: a JSON list
    of integers cost the cloud 110-170 us per update to build and store) and how they
    travelled. The dashboard's twin page reads ``samples_int16_b64`` as semantic's twins."""
    return {"round": round_, "samples_int16_b64": base64.b64encode(raw).decode("ascii"),
            "sha256": sha256, "codec": codec}


async def cloud_syncs(ctx: Ctx, items: Sequence[tuple[Sync, Envelope]], fx: Effects
                      ) -> list[BaseException | None]:
    """Decompress and verify each sync, then update the sensors' twins and report their
    rounds for the whole batch at once (the core's :func:`twinbed.observation.record`: one
    oracle read, one twin-store script, one report command). A sync that fails its checks is
    that message's error (dead-lettered), the others go on."""
    expected = 2 * ctx.params.n_samples  # int16 samples: the only size a sync may decode to
    out: list[BaseException | None] = []
    writes: list[TwinWrite] = []
    for msg, env in items:
        try:
            writes.append(_sync_write(ctx, msg, env, expected))
        except ValueError as exc:  # ChecksumError and PayloadTooLargeError are ValueErrors
            out.append(exc)
        else:
            out.append(None)
    if writes:
        await record(ctx, fx, writes)
    return out


def _sync_write(ctx: Ctx, msg: Sync, env: Envelope, expected: int) -> TwinWrite:
    if env.payload is None:
        raise ValueError("sync message carries no payload")
    if msg.raw_bytes != expected:
        raise ValueError(f"sync of sensor {msg.sensor} declares {msg.raw_bytes} raw bytes; "
                         f"this run's rounds carry {expected}")
    if not 0 <= msg.sensor < ctx.params.K:
        raise ValueError(f"sync names sensor {msg.sensor}, not one of this run's K="
                         f"{ctx.params.K}")
    t0 = time.perf_counter()
    # capped, streaming decode: a compression bomb fails here (PayloadTooLargeError), before
    # any large allocation, and is dead-lettered with the reason
    raw = get_codec(msg.codec).decode(env.payload, max_size=expected)
    decode_s = time.perf_counter() - t0
    if hashlib.sha256(raw).hexdigest() != msg.raw_sha256:
        raise ChecksumError(f"decompressed samples of sensor {msg.sensor} fail their checksum")

    def report(fid: Fidelity, twin_wall: float) -> SensorReport:
        return SensorReport(
            sensor=msg.sensor, beta_model=msg.beta_model, codec=msg.codec,
            beta_achieved=msg.beta_achieved, codec_s=msg.codec_s, raw_bytes=msg.raw_bytes,
            sampled_wall=msg.sampled_wall, b_hz=msg.b_hz, f_hz=msg.f_hz, rate_bps=msg.rate_bps,
            T_comp_s=msg.T_comp_s, T_tr_s=msg.T_tr_s, T_DT_s=msg.T_DT_s,
            T_total_s=msg.T_total_s, modeled_start_s=msg.modeled_start_s,
            forwarded_wall=msg.forwarded_wall,
            negotiation_iterations=msg.negotiation_iterations,
            negotiation_messages=msg.negotiation_messages,
            negotiation_wall_s=msg.negotiation_wall_s,
            decode_s=decode_s, twin_wall=twin_wall, fidelity_exact=fid.exact)

    return TwinWrite(
        round=msg.round, entity=sensor_name(msg.sensor), kind=TWIN_KIND,
        state=twin_state(msg.round, raw, msg.raw_sha256, msg.codec),
        value=from_bytes(raw), oracle_id=msg.oracle_id,
        modeled_s=msg.modeled_start_s + msg.T_total_s, aoi_modeled_s=msg.T_total_s,
        sampled_wall=msg.sampled_wall, report=report)


ROLES: Roles[CompressionParams, AllocationAction] = Roles(AllocationAction)
ROLES.on("basestation", RoundStart, bs_round_start)
ROLES.on_action("basestation", bs_allocation)
ROLES.on("basestation", Uplink, bs_uplink)
ROLES.on("basestation", Answer, bs_answer)
ROLES.on("sensor", Offer, sensor_offer)
ROLES.on("sensor", Negotiate, sensor_negotiate)
ROLES.on_batch("cloud", Sync, cloud_syncs)
