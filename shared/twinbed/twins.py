"""The cloud's twin store: current state, version, timestamps, AoI, fidelity, capped history.

A twin update is one Lua script, so the version increment, the new state and the history entry
are atomic and can ride in the bus's commit transaction (see :class:`twinbed.bus.Effects`).
The history is a Redis stream per twin (capped); the server-sent events endpoint tails it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from twinbed import keys
from twinbed.bus import Effects

__all__ = ["Twin", "TwinStore", "twin_id"]


# KEYS: twin hash, history stream, twins index.
# ARGV: id, kind, run_id, round, state_json, modeled_s, aoi_modeled_s, wall, aoi_wall_s,
#       fidelity_json, history_len
_UPDATE = """
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'kind', ARGV[2], 'run_id', ARGV[3], 'round', ARGV[4],
  'state', ARGV[5], 'modeled_s', ARGV[6], 'aoi_modeled_s', ARGV[7], 'wall', ARGV[8],
  'aoi_wall_s', ARGV[9], 'fidelity', ARGV[10])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[11], '*', 'version', v, 'round', ARGV[4],
  'state', ARGV[5], 'modeled_s', ARGV[6], 'aoi_modeled_s', ARGV[7], 'wall', ARGV[8],
  'aoi_wall_s', ARGV[9], 'fidelity', ARGV[10])
redis.call('ZADD', KEYS[3], 'NX', ARGV[8], ARGV[1])
return v
"""


def twin_id(run_id: str, name: str) -> str:
    return f"{run_id}.{name}"


class Twin(BaseModel):
    """One twin as the REST API shows it (also one history entry, with ``version`` of then)."""

    id: str
    kind: str
    run_id: str
    version: int
    round: int
    state: dict[str, Any]
    modeled_s: float
    aoi_modeled_s: float
    wall: float
    aoi_wall_s: float
    fidelity: dict[str, Any]
    entry_id: str | None = None


def _decode(h: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in h.items()}


def _twin(d: dict[str, str], **extra: Any) -> Twin:
    return Twin(
        id=d.get("id", extra.get("id", "")),
        kind=d.get("kind", extra.get("kind", "")),
        run_id=d.get("run_id", extra.get("run_id", "")),
        version=int(d["version"]),
        round=int(d["round"]),
        state=json.loads(d["state"]),
        modeled_s=float(d["modeled_s"]),
        aoi_modeled_s=float(d["aoi_modeled_s"]),
        wall=float(d["wall"]),
        aoi_wall_s=float(d["aoi_wall_s"]),
        fidelity=json.loads(d["fidelity"]),
        entry_id=extra.get("entry_id"),
    )


class TwinStore:
    def __init__(self, redis: aioredis.Redis, history_len: int = 1000) -> None:
        self.r = redis
        self.history_len = history_len

    def update(
        self,
        fx: Effects,
        *,
        twin: str,
        kind: str,
        run_id: str,
        round_: int,
        state: dict[str, Any],
        modeled_s: float,
        aoi_modeled_s: float,
        wall: float,
        aoi_wall_s: float,
        fidelity: dict[str, Any],
    ) -> None:
        """Record the update in ``fx``; it is applied atomically when the batch commits."""
        fx.eval(
            _UPDATE, 3, keys.twin_key(twin), keys.twin_history(twin), keys.TWINS_INDEX,
            twin, kind, run_id, round_, json.dumps(state, separators=(",", ":")),
            repr(float(modeled_s)), repr(float(aoi_modeled_s)), repr(float(wall)),
            repr(float(aoi_wall_s)), json.dumps(fidelity), self.history_len,
        )

    async def get(self, twin: str) -> Twin | None:
        h = _decode(await self.r.hgetall(keys.twin_key(twin)))
        return _twin(h) if h else None

    async def ids(self, run_id: str | None = None, limit: int = 1000) -> list[str]:
        ids = [x.decode() for x in await self.r.zrange(keys.TWINS_INDEX, 0, -1)]
        if run_id is not None:
            ids = [i for i in ids if i.startswith(run_id + ".")]
        return ids[:limit]

    async def history(self, twin: str, start: str = "-", count: int | None = None) -> list[Twin]:
        head = await self.get(twin)
        if head is None:
            return []
        entries = await self.r.xrange(keys.twin_history(twin), min=start, count=count)
        return [self._entry(head, eid, f) for eid, f in entries]

    async def between(self, twin: str, after: str, upto: str, page: int = 100) -> AsyncIterator[
            list[Twin]]:
        """History entries with ids in (after, upto], oldest first, a page at a time."""
        head = await self.get(twin)
        if head is None:
            return
        while True:
            entries = await self.r.xrange(keys.twin_history(twin), min=f"({after}", max=upto,
                                          count=page)
            if not entries:
                return
            yield [self._entry(head, eid, f) for eid, f in entries]
            after = entries[-1][0].decode()

    async def last_entry_id(self, twin: str) -> str:
        """The id of the newest history entry ("0-0" if none): a cursor for :meth:`follow`."""
        last = await self.r.xrevrange(keys.twin_history(twin), count=1)
        return last[0][0].decode() if last else "0-0"

    async def follow(self, twin: str, last_id: str, block_ms: int) -> list[Twin]:
        """History entries after ``last_id``, waiting up to block_ms. Pass a concrete id (see
        :meth:`last_entry_id`), not '$', when calling in a loop, or updates between calls are
        lost."""
        head = await self.get(twin)
        if head is None:
            return []
        reply = await self.r.xread({keys.twin_history(twin): last_id}, block=block_ms, count=100)
        out: list[Twin] = []
        for _, entries in reply or []:
            out += [self._entry(head, eid, f) for eid, f in entries]
        return out

    async def follow_many(self, heads: dict[str, Twin], cursors: dict[str, str],
                          block_ms: int) -> list[Twin]:
        """History entries of several twins after their cursors, in one blocking XREAD (a
        run's live feed: one connection for every twin of the run). ``cursors`` is advanced in
        place; ``heads`` gives each twin's id, kind and run."""
        if not cursors:
            return []
        reply = await self.r.xread({keys.twin_history(t): c for t, c in cursors.items()},
                                   block=block_ms, count=100)
        by_stream = {keys.twin_history(t): t for t in cursors}
        out: list[Twin] = []
        for stream, entries in reply or []:
            tid = by_stream[stream.decode() if isinstance(stream, bytes) else stream]
            out += [self._entry(heads[tid], eid, f) for eid, f in entries]
            if entries:
                cursors[tid] = entries[-1][0].decode()
        return out

    @staticmethod
    def _entry(head: Twin, eid: bytes, fields: dict[bytes, bytes]) -> Twin:
        return _twin(_decode(fields), id=head.id, kind=head.kind, run_id=head.run_id,
                     entry_id=eid.decode())
