"""The observation path, written once: a sensor observes, the cloud records the twin.

Sensor side, :func:`observe`: sample (the caller's bytes), publish the ground truth on the
run's oracle stream (at once, not with the batch: the uplink must name the oracle entry; a
replay after a crash publishes the same truth again, harmless since twins never read it),
encode (timed), return what the uplink carries.

Cloud side, :func:`record`: for a batch of twin writes, read their oracle entries (one
pipelined round trip), compute each twin's fidelity against its truth, update the twins
(recorded in the bus effects, committed with the batch) and send each party's report to the
controller. A missing oracle entry (trimmed, or never published) means the same everywhere:
the twin is still updated, its fidelity says ``available: false`` and carries no error
numbers, and the report is sent; it is never an exception.

Twins that have no oracle (a learned model, a coalition's partial-DT: nothing is sensed to
compare them with) go through :func:`record_measured`: the scenario measures their fidelity
itself (a validation R^2, an accuracy against its target) and the core writes them the same
way (one script per batch, wall time and wall AoI stamped here).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis.exceptions
from pydantic import BaseModel, ConfigDict

from twinbed.bus import Effects
from twinbed.contract.models import PartyReport
from twinbed.contract.roles import report
from twinbed.messages import OracleSample
from twinbed.runtime import RunContext
from twinbed.twins import TwinStore, TwinUpdate, twin_id

__all__ = ["Fidelity", "MeasuredTwinWrite", "Observation", "TwinWrite", "fidelity", "observe",
           "read_oracle", "record", "record_measured"]


# -- sensor ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """What one observation produced: the oracle entry, the raw truth and its encoding."""

    oracle_id: str
    sampled_wall: float
    raw: bytes
    raw_sha256: str
    blob: bytes | None  # the encoded payload (None without an encoder)
    encode_s: float  # wall time of the encoder


async def observe(ctx: RunContext[Any], round_: int, entity: str, raw: bytes,
                  encode: Callable[[bytes], bytes] | None = None) -> Observation:
    """Publish ``raw`` (the sampled truth) on the oracle stream as ``entity``'s round
    ``round_`` and encode it (see the module docstring)."""
    sampled = time.time()
    oracle_id = await ctx.live_bus.publish(ctx.stream("oracle"), OracleSample(
        run_id=ctx.run.id, round=round_, entity=entity, sampled_at_wall=sampled), raw)
    blob, encode_s = None, 0.0
    if encode is not None:
        t0 = time.perf_counter()
        blob = encode(raw)
        encode_s = time.perf_counter() - t0
    return Observation(oracle_id, sampled, raw, hashlib.sha256(raw).hexdigest(), blob, encode_s)


# -- cloud -------------------------------------------------------------------------------------
class Fidelity(BaseModel):
    """A twin's state against the oracle's truth of the same round (stored with the twin).

    ``exact``: the bytes are equal. ``rmse``/``max_abs_err``: of the element-wise error;
    ``nrmse``: rmse over the truth's RMS (0 if the truth is all zero). Without the oracle
    entry only ``oracle_id`` and ``available: false``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    oracle_id: str | None
    available: bool
    exact: bool | None = None
    rmse: float | None = None
    nrmse: float | None = None
    max_abs_err: float | int | None = None


def fidelity(oracle_id: str | None, value: npt.NDArray[Any], truth: bytes | None) -> Fidelity:
    """Compare ``value`` with ``truth`` read as the same dtype (see :class:`Fidelity`)."""
    if truth is None:
        return Fidelity(oracle_id=oracle_id, available=False)
    v = np.ascontiguousarray(value)
    exact = v.tobytes() == truth
    if exact:  # lossless: no numbers to compute (the costly part, per update, on the cloud)
        return Fidelity(oracle_id=oracle_id, available=True, exact=True, rmse=0.0, nrmse=0.0,
                        max_abs_err=0 if v.dtype.kind in "iu" else 0.0)
    if len(truth) % v.dtype.itemsize:
        return Fidelity(oracle_id=oracle_id, available=True, exact=False)
    ref = np.frombuffer(truth, dtype=v.dtype)
    if ref.size != v.size:
        return Fidelity(oracle_id=oracle_id, available=True, exact=False)
    integer = np.issubdtype(v.dtype, np.integer)
    wide = np.int64 if integer else np.float64
    err = v.reshape(-1).astype(wide) - ref.astype(wide)
    if err.size == 0:
        return Fidelity(oracle_id=oracle_id, available=True, exact=exact, rmse=0.0, nrmse=0.0,
                        max_abs_err=0)
    rmse = float(np.sqrt(np.mean(err.astype(np.float64) ** 2)))
    rms = float(np.sqrt(np.mean(ref.astype(np.float64) ** 2)))
    big = np.max(np.abs(err))
    return Fidelity(oracle_id=oracle_id, available=True, exact=exact, rmse=rmse,
                    nrmse=rmse / rms if rms > 0 else 0.0,
                    max_abs_err=int(big) if integer else float(big))


@dataclass(frozen=True)
class TwinWrite:
    """One twin update the cloud records, and the report it sends for it."""

    round: int
    entity: str  # the twin's entity name (twinbed.contract.naming), also the report's party
    kind: str  # the twin kind, "<scenario>.<entity kind>"
    state: dict[str, Any]  # the twin's new state (JSON)
    value: npt.NDArray[Any]  # what the twin now holds, compared with the oracle's bytes
    oracle_id: str | None
    modeled_s: float
    aoi_modeled_s: float
    sampled_wall: float
    # the party's report, built once fidelity and the twin's wall time are known
    report: Callable[[Fidelity, float], PartyReport] | None = None
    # who reports (one of the scenario's parties); None: the twin's entity
    party: str | None = None


# KEYS: the oracle stream. ARGV: entry ids. Returns each entry's payload, or false (nil to the
# client) where the entry is gone or has none: one command and one flat reply for a batch.
_ORACLE_MANY = """
local out = {}
for i, id in ipairs(ARGV) do
  local e = redis.call('XRANGE', KEYS[1], id, id)
  local p = false
  if e[1] then
    local f = e[1][2]
    for j = 1, #f, 2 do
      if f[j] == 'p' then p = f[j + 1] end
    end
  end
  out[i] = p
end
return out
"""


_has_eval_ro: bool | None = None  # learnt at the first read: Redis 7+ has EVAL_RO, 6.2 not


async def _eval_read(r: Any, script: str, key: str, args: Sequence[str]) -> Any:
    """A read-only script on ``key``: EVAL_RO where the server has it, since Redis 7's ACL
    counts plain EVAL's keys as written and the cloud may only read the oracle stream
    (twinbed.acl); Redis 6.2 (the embedded server) has no read-only key grant either."""
    global _has_eval_ro
    if _has_eval_ro is not False:
        try:
            got = await r.eval_ro(script, 1, key, *args)
        except redis.exceptions.RedisError as e:
            # a single Redis says "unknown command"; a cluster client refuses a command the
            # servers' COMMAND table lacks before sending it ("... doesn't exist ...")
            text = str(e).lower()
            if "unknown command" not in text and "doesn't exist" not in text:
                raise
            _has_eval_ro = False
        else:
            _has_eval_ro = True
            return got
    return await r.eval(script, 1, key, *args)


async def read_oracle(ctx: RunContext[Any], ids: Sequence[str | None]) -> list[bytes | None]:
    """The oracle payloads of ``ids`` (None where an entry is missing), one round trip (one
    script, not one XRANGE per id: the replies' parsing cost the cloud more than Redis)."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return [None] * len(ids)
    got = iter(await _eval_read(ctx.redis, _ORACLE_MANY, ctx.stream("oracle"), wanted))
    return [None if i is None else next(got) for i in ids]


async def record(ctx: RunContext[Any], fx: Effects, writes: Sequence[TwinWrite],
                 truths: Sequence[bytes | None] | None = None) -> list[Fidelity]:
    """Oracle read, fidelity, twin update and report for a batch of writes (see the module
    docstring); returns each write's fidelity. ``truths``: the writes' oracle payloads when
    the caller already read them (:func:`read_oracle`, to build the twin's state from the
    truth), so they are not read twice."""
    if truths is None:
        truths = await read_oracle(ctx, [w.oracle_id for w in writes])
    elif len(truths) != len(writes):
        raise ValueError(f"expected one truth per write ({len(writes)}), got {len(truths)}")
    store = TwinStore(ctx.redis, ctx.settings.history_len)
    out: list[Fidelity] = []
    updates: list[TwinUpdate] = []
    run_id = ctx.run.id
    for w, truth in zip(writes, truths, strict=True):
        fid = fidelity(w.oracle_id, w.value, truth)
        now = time.time()
        updates.append(TwinUpdate(twin_id(run_id, w.entity), w.kind, run_id, w.round, w.state,
                                  w.modeled_s, w.aoi_modeled_s, now, now - w.sampled_wall,
                                  fid.model_dump(exclude_none=True)))
        if w.report is not None:
            report(ctx, fx, w.round, w.party or w.entity, w.report(fid, now))
        out.append(fid)
    store.update_many(fx, updates)  # one script for the batch's twins, history and index
    return out


@dataclass(frozen=True)
class MeasuredTwinWrite:
    """One update of a twin without an oracle; ``fidelity`` is the scenario's own measure."""

    round: int
    entity: str  # the twin's entity name (twinbed.contract.naming)
    kind: str  # the twin kind, "<scenario>.<entity kind>"
    state: dict[str, Any]
    fidelity: dict[str, Any]  # e.g. {"val_r2": 0.93}; values may be None (not measured)
    modeled_s: float
    aoi_modeled_s: float
    started_wall: float  # when the round began: the twin's wall AoI counts from it


def record_measured(ctx: RunContext[Any], fx: Effects,
                    writes: Sequence[MeasuredTwinWrite]) -> None:
    """Update a batch of oracle-less twins (recorded in ``fx``, committed with the batch)."""
    now = time.time()
    run_id = ctx.run.id
    TwinStore(ctx.redis, ctx.settings.history_len).update_many(fx, [
        TwinUpdate(twin_id(run_id, w.entity), w.kind, run_id, w.round, w.state, w.modeled_s,
                   w.aoi_modeled_s, now, now - w.started_wall, w.fidelity) for w in writes])
