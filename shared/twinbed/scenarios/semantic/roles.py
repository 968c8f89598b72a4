"""What each service does in a live ``semantic`` slot.

1. controller -> basestation ``RoundStart``: the BS takes slot n of the run's world (the same
   named seed streams as world.SemanticWorld: UD distances, D_k[n], the fading it measures)
   and asks the controller's decision maker (:func:`twinbed.contract.ask` with a
   :class:`SlotView`).
2. controller -> basestation ``Decision`` (:class:`Resources`): the BS sends each UD its
   ``Assign`` (phi, f, p, f_e, D).
3. sensor service (the UDs): UD k moves (Gauss-Markov, the run's world), senses D_k/16 int16
   samples of the physical process, publishes them on the oracle stream, encodes them with the
   real semantic codec at phi_k (:func:`twinbed.observation.observe`) and sends the ``Uplink``
   with its position.
4. basestation: stamps the modeled terms of eqs. (5)-(18) for UD k (model.slot) and forwards a
   ``Recover`` to the edge.
5. edge: recovers the samples with the real decoder (the allocated edge CPU gives the modeled
   recovery time t_de of eq. 14) and forwards a ``Sync`` with the recovered samples.
6. cloud: updates UD k's twin (recovered samples, position, modeled time and AoI), fidelity
   against the oracle (RMSE, NRMSE, exact), and reports the UD's slot to the controller
   (:func:`twinbed.observation.record`).
"""

from __future__ import annotations

import base64
import hashlib
import time

import numpy as np
from pydantic import BaseModel, ConfigDict

from twinbed.bus import Effects, Envelope
from twinbed.codecs.semantic import SemanticCodec
from twinbed.contract import Roles, RunContext, ask
from twinbed.contract.naming import entity, twin_kind
from twinbed.messages import RoundStart
from twinbed.observation import Fidelity, TwinWrite, observe, record
from twinbed.physical import BandLimitedSignal, from_bytes, to_bytes
from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.contract import Resources, UDReport
from twinbed.scenarios.semantic.learned import CODEC
from twinbed.scenarios.semantic.messages import Assign, Recover, Sync, Uplink
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import SemanticWorld

__all__ = ["ROLES", "TWIN_KIND", "n_samples", "ud_name"]

BITS_PER_SAMPLE = 16
TWIN_KIND = twin_kind("semantic", "ud")

Ctx = RunContext[SemanticParams]


def ud_name(k: int) -> str:
    """UD k's entity (and twin, and party) name: ``ud-<k>``."""
    return entity("ud", k)


def n_samples(D_bits: float) -> int:
    """int16 samples a UD senses for D bits."""
    return max(1, int(D_bits // BITS_PER_SAMPLE))


def _world(ctx: Ctx) -> SemanticWorld:
    return ctx.cached("world", lambda: SemanticWorld.for_run(ctx))


def _check_ud(p: SemanticParams, k: int) -> None:
    if k >= p.K:
        raise ValueError(f"message for UD {k}, but the run has K={p.K} UDs")


class SlotRecord(BaseModel):
    """The BS's state of slot n (Redis ``...:basestation:round:<n>``): the view it asked
    about, when the slot started and, once decided, the decisions."""

    model_config = ConfigDict(extra="forbid")

    slot: int
    d_m: list[float]
    D_bits: list[float]
    h2: list[float]
    modeled_start_s: float
    phi: list[float] | None = None
    f_hz: list[float] | None = None
    p_w: list[float] | None = None
    f_e_hz: list[float] | None = None


# -- basestation ---------------------------------------------------------------------------
async def bs_round_start(ctx: Ctx, msg: RoundStart, env: Envelope, fx: Effects) -> None:
    view = _world(ctx).decision_state(msg.round)
    fx.set(ctx.key("round", msg.round), SlotRecord(
        **view.model_dump(), modeled_start_s=msg.modeled_start_s).model_dump_json())
    ask(ctx, fx, msg.round, view)


async def _round_state(ctx: Ctx, round_: int) -> SlotRecord:
    cache: dict[int, SlotRecord] = ctx.cached("rounds", dict)
    if round_ in cache:
        return cache[round_]
    raw = await ctx.redis.get(ctx.key("round", round_))
    if raw is None:
        raise LookupError(f"basestation has no state for slot {round_} (RoundStart missing?)")
    state = SlotRecord.model_validate_json(raw)
    if state.phi is not None:
        cache.clear()
        cache[round_] = state
    return state


async def bs_decision(ctx: Ctx, round_: int, action: Resources, fx: Effects) -> None:
    p = ctx.params
    for name in ("phi", "f_hz", "p_w", "f_e_hz"):
        if len(getattr(action, name)) != p.K:
            raise ValueError(f"decision {name!r} must be a list of {p.K} numbers, got "
                             f"{getattr(action, name)!r:.80}")
    state = (await _round_state(ctx, round_)).model_copy(update=action.model_dump())
    fx.set(ctx.key("round", round_), state.model_dump_json())
    for k in range(p.K):
        fx.publish(ctx.stream("sensor"), Assign(
            run_id=ctx.run.id, round=round_, ud=k, phi=action.phi[k], f_hz=action.f_hz[k],
            p_w=action.p_w[k], f_e_hz=action.f_e_hz[k], D_bits=state.D_bits[k]))


async def bs_uplink(ctx: Ctx, msg: Uplink, env: Envelope, fx: Effects) -> None:
    p = ctx.params
    k = msg.ud
    _check_ud(p, k)
    state = await _round_state(ctx, msg.round)
    if state.phi is None or state.f_hz is None or state.p_w is None or state.f_e_hz is None:
        raise LookupError(f"uplink for slot {msg.round} before the decision")
    d = model.distance_m(p, np.asarray([msg.pos_m]))  # from the position the UD reports
    D, h2 = np.array([state.D_bits[k]]), np.array([state.h2[k]])
    f, pw, fe = np.array([state.f_hz[k]]), np.array([state.p_w[k]]), np.array([state.f_e_hz[k]])
    out = model.slot(p, D, d, h2, np.array([msg.phi]), f, pw, fe)
    fx.publish(ctx.stream("edge"), Recover(
        **msg.model_dump(), f_hz=float(f[0]), p_w=float(pw[0]), f_e_hz=float(fe[0]),
        D_bits=float(D[0]), d_m=float(d[0]), h2=float(h2[0]), rate_bps=float(out.rate_bps[0]),
        t_s=float(out.t_s[0]), t_en=float(out.t_en[0]), t_up=float(out.t_up[0]),
        t_de=float(out.t_de[0]), t_dt=float(out.t_dt[0]), t=float(out.t[0]), e=float(out.e[0]),
        modeled_start_s=float(state.modeled_start_s), forwarded_wall=time.time(),
    ), payload=env.payload)


# -- sensor service: the UDs ---------------------------------------------------------------
def _signal(ctx: Ctx) -> BandLimitedSignal:
    return ctx.cached("signal", lambda: BandLimitedSignal(ctx.run.seed, ctx.params.K))


async def ud_assign(ctx: Ctx, msg: Assign, env: Envelope, fx: Effects) -> None:
    p = ctx.params
    k = msg.ud
    _check_ud(p, k)
    pos = _world(ctx).mobility(msg.round).pos_m[k]  # the UD has moved into slot n
    x = _signal(ctx).samples(k, msg.round, n_samples(msg.D_bits))
    codec: SemanticCodec = ctx.artifact(CODEC)
    seen = await observe(ctx, msg.round, ud_name(k), to_bytes(x),
                         lambda raw: codec.encode(x, msg.phi))
    blob = seen.blob or b""
    fx.publish(ctx.stream("basestation"), Uplink(
        run_id=msg.run_id, round=msg.round, ud=k, phi=msg.phi,
        phi_achieved=len(blob) / len(seen.raw), encode_s=seen.encode_s,
        raw_bytes=len(seen.raw), n_samples=x.size, pos_m=(float(pos[0]), float(pos[1])),
        oracle_id=seen.oracle_id, sampled_wall=seen.sampled_wall), payload=blob)


# -- edge ----------------------------------------------------------------------------------
async def edge_recover(ctx: Ctx, msg: Recover, env: Envelope, fx: Effects) -> None:
    if env.payload is None:
        raise ValueError("recover message carries no payload")
    codec: SemanticCodec = ctx.artifact(CODEC)
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
async def cloud_sync(ctx: Ctx, msg: Sync, env: Envelope, fx: Effects) -> None:
    if env.payload is None:
        raise ValueError("sync message carries no payload")
    x = from_bytes(env.payload)
    fields = msg.model_dump(exclude={"run_id", "round", "oracle_id", "recovered_sha256"})

    def report(fid: Fidelity, twin_wall: float) -> UDReport:
        return UDReport(**fields, twin_wall=twin_wall, fidelity_nrmse=fid.nrmse,
                        fidelity_exact=fid.exact)

    await record(ctx, fx, [TwinWrite(
        round=msg.round, entity=ud_name(msg.ud), kind=TWIN_KIND,
        state={"round": msg.round, "pos_m": list(msg.pos_m), "n_samples": msg.n_samples,
               "samples_int16_b64": base64.b64encode(env.payload).decode(),
               "sha256": msg.recovered_sha256, "phi": msg.phi},
        value=x, oracle_id=msg.oracle_id, modeled_s=msg.modeled_start_s + msg.t,
        aoi_modeled_s=msg.t, sampled_wall=msg.sampled_wall, report=report)])


ROLES: Roles[SemanticParams, Resources] = Roles(Resources)
ROLES.on("basestation", RoundStart, bs_round_start)
ROLES.on_action("basestation", bs_decision)
ROLES.on("basestation", Uplink, bs_uplink)
ROLES.on("sensor", Assign, ud_assign)
ROLES.on("edge", Recover, edge_recover)
ROLES.on("cloud", Sync, cloud_sync)
