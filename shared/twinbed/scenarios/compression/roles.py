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
from twinbed.scenarios.compression import model
from twinbed.scenarios.compression.messages import Offer, Sync, Uplink
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.scenarios.compression.simulate import channel_for_round
from twinbed.twins import TwinStore, twin_id

__all__ = ["HANDLERS", "sensor_name"]

CALIBRATION_BLOCK = 0  # each sensor calibrates its codec ladder on its first block of samples


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
    H = channel_for_round(_params(ctx), ctx.run.seed, msg.round)
    fx.set(ctx.key("round", msg.round), json.dumps(
        {"H_gain": H.tolist(), "modeled_start_s": msg.modeled_start_s}))
    fx.publish(ctx.stream("controller"), DecisionRequest(
        run_id=msg.run_id, round=msg.round, state={"H_gain": H.tolist()}, reply_to=ctx.role))


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
    state.update(b_hz=b, f_hz=f)
    fx.set(ctx.key("round", msg.round), json.dumps(state))
    sensors = ctx.stream("sensor")
    for k in range(K):
        fx.publish(sensors, Offer(run_id=msg.run_id, round=msg.round, sensor=k, b_hz=b[k],
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
    ), payload=env.payload)


# -- sensor --------------------------------------------------------------------------------
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
    p = _params(ctx)
    k = msg.sensor
    if k >= p.K:
        raise ValueError(f"offer for sensor {k}, but the run has K={p.K} sensors")
    s = _arrays(ctx)
    sl = slice(k, k + 1)
    rate = model.rate_bps(np.array([msg.b_hz]), np.array([msg.H_gain]), s.p_w[sl], p.N0_w_per_hz)
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
    "basestation": {RoundStart: bs_round_start, Decision: bs_decision, Uplink: bs_uplink},
    "sensor": {Offer: sensor_offer},
    "cloud": {Sync: cloud_sync},
}
