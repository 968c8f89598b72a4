"""The cloud's twin store: current state, version, timestamps, AoI, fidelity, capped history.

A twin update is one Lua script, so the version increment, the new state and the history entry
are atomic and can ride in the bus's commit transaction (see :class:`twinbed.bus.Effects`).
The history is a Redis stream per twin (capped); the server-sent events endpoint tails it.

Keys (twinbed.keys): a twin's hash and history and its run's twin index share the run's hash
slot, so the update script stays one atomic script on a Redis Cluster. The global index
``tb:twins`` lives in another slot: it is written with ``ZADD NX`` just before the commit
(:meth:`twinbed.bus.Effects.precommit`), never inside the script. A crash between the two
leaves an id in the index whose twin is not written yet (the batch is replayed and writes it);
every reader skips ids without a twin, and no twin is ever missing from the index.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from pydantic import BaseModel
from pydantic_core import to_json as _pydantic_json

from twinbed import keys
from twinbed.bus import Effects
from twinbed.redisconn import first_answer, slot_groups

__all__ = ["Twin", "TwinStore", "TwinUpdate", "twin_id"]


def to_json(value: Any) -> bytes:
    """A twin's state or fidelity as standard JSON: NaN and infinities become null, as a
    browser's JSON.stringify makes them (pydantic writes NaN/Infinity by default, which
    JSON.parse, and so the dashboard, rejects; the list endpoint passes it through)."""
    return _pydantic_json(value, inf_nan_mode="null")


# KEYS: twin hash, history stream, the run's twins index (one hash slot: the run's).
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


# The same for many twins in one call. KEYS: per twin its hash, history and run's twins index
# (one run's twins: one hash slot).
# ARGV: history_len, then per twin the 10 fields of _UPDATE's ARGV 1-10. Returns the versions.
_UPDATE_MANY = """
local out, n = {}, #KEYS / 3
for t = 0, n - 1 do
  local h, s, a = KEYS[1 + 3 * t], KEYS[2 + 3 * t], 1 + 10 * t
  local v = redis.call('HINCRBY', h, 'version', 1)
  redis.call('HSET', h, 'id', ARGV[a + 1], 'kind', ARGV[a + 2], 'run_id', ARGV[a + 3],
    'round', ARGV[a + 4], 'state', ARGV[a + 5], 'modeled_s', ARGV[a + 6],
    'aoi_modeled_s', ARGV[a + 7], 'wall', ARGV[a + 8], 'aoi_wall_s', ARGV[a + 9],
    'fidelity', ARGV[a + 10])
  redis.call('XADD', s, 'MAXLEN', '~', ARGV[1], '*', 'version', v, 'round', ARGV[a + 4],
    'state', ARGV[a + 5], 'modeled_s', ARGV[a + 6], 'aoi_modeled_s', ARGV[a + 7],
    'wall', ARGV[a + 8], 'aoi_wall_s', ARGV[a + 9], 'fidelity', ARGV[a + 10])
  redis.call('ZADD', KEYS[3 + 3 * t], 'NX', ARGV[a + 8], ARGV[a + 1])
  out[#out + 1] = v
end
return out
"""


class TwinUpdate(NamedTuple):
    """One twin's new version, for :meth:`TwinStore.update_many`."""

    twin: str
    kind: str
    run_id: str
    round: int
    state: dict[str, Any]
    modeled_s: float
    aoi_modeled_s: float
    wall: float
    aoi_wall_s: float
    fidelity: dict[str, Any]


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


# KEYS: twin hashes (of one hash slot). ARGV: their ids. Returns each twin as its JSON object,
# false (nil) where it does not exist (a list
# page's element, written by Redis from the stored text: state and fidelity are stored as JSON,
# floats as their repr, nan/inf become null). One reply of ~1 KiB strings that hiredis parses
# in C, instead of 11 fields per twin parsed and formatted in Python (4x the cloud's CPU; one
# joined string built in Lua costs Redis half as much again).
_PAGE_JSON = r"""
local enc, out = cjson.encode, {}
local function num(x)
  if x == 'nan' or x == 'inf' or x == '-inf' then return 'null' end
  return x
end
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'id', 'kind', 'run_id', 'version', 'round', 'state',
    'modeled_s', 'aoi_modeled_s', 'wall', 'aoi_wall_s', 'fidelity')
  if v[4] then  -- no version: the twin is gone
    out[i] = '{"id":' .. enc((v[1] ~= '' and v[1]) or ARGV[i]) ..
      ',"kind":' .. enc(v[2] or '') .. ',"run_id":' .. enc(v[3] or '') ..
      ',"version":' .. v[4] .. ',"round":' .. v[5] ..
      ',"state":' .. v[6] .. ',"modeled_s":' .. num(v[7]) ..
      ',"aoi_modeled_s":' .. num(v[8]) .. ',"wall":' .. num(v[9]) ..
      ',"aoi_wall_s":' .. num(v[10]) .. ',"fidelity":' .. v[11] .. ',"entry_id":null}'
  else
    out[i] = false
  end
end
return out
"""


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
        fx.precommit("zadd", keys.TWINS_INDEX, {twin: float(wall)}, nx=True)
        fx.eval(
            _UPDATE, 3, keys.twin_key(twin), keys.twin_history(twin), keys.run_twins(run_id),
            twin, kind, run_id, round_, to_json(state), repr(float(modeled_s)),
            repr(float(aoi_modeled_s)), repr(float(wall)), repr(float(aoi_wall_s)),
            to_json(fidelity), self.history_len,
        )

    def update_many(self, fx: Effects, updates: Sequence[TwinUpdate]) -> None:
        """Record many updates as one script call (one command for a batch, not one per
        twin); each twin's update is what :meth:`update` does, in order. State and fidelity
        are written as JSON by pydantic's encoder (in Rust: ~1.4 us for a compression state,
        json.dumps ~15 us; the same values read back, non-ASCII as UTF-8, not escaped)."""
        if not updates:
            return
        keys_: list[str] = []
        args: list[Any] = [self.history_len]
        first: dict[str, float] = {}  # the global index's ZADD NX: each twin's first wall
        for u in updates:
            first.setdefault(u.twin, float(u.wall))
            keys_ += (keys.twin_key(u.twin), keys.twin_history(u.twin), keys.run_twins(u.run_id))
            args += (u.twin, u.kind, u.run_id, u.round, to_json(u.state),
                     repr(float(u.modeled_s)), repr(float(u.aoi_modeled_s)),
                     repr(float(u.wall)), repr(float(u.aoi_wall_s)), to_json(u.fidelity))
        fx.precommit("zadd", keys.TWINS_INDEX, first, nx=True)
        fx.eval(_UPDATE_MANY, len(keys_), *keys_, *args)

    async def get(self, twin: str) -> Twin | None:
        h = _decode(await self.r.hgetall(keys.twin_key(twin)))
        return _twin(h) if h else None

    async def ids(self, run_id: str | None = None, limit: int = 1000, cursor: int = 0
                  ) -> list[str]:
        """Twin ids in order of first update, ``limit`` from position ``cursor``: a run's
        from its own index (older runs, written before it existed: filtered from the global
        one), or every run's."""
        end = cursor + limit - 1
        if run_id is None:
            return [x.decode() for x in await self.r.zrange(keys.TWINS_INDEX, cursor, end)]
        got = await self.r.zrange(keys.run_twins(run_id), cursor, end)
        if got or cursor or await self.r.exists(keys.run_twins(run_id)):
            return [x.decode() for x in got]
        ids = [x.decode() for x in await self.r.zrange(keys.TWINS_INDEX, 0, -1)]
        return [i for i in ids if i.startswith(run_id + ".")][:limit]

    async def get_many(self, twins: Sequence[str]) -> list[Twin]:
        """The twins of ``twins`` that exist, in order, in one pipelined round trip."""
        if not twins:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for t in twins:
                pipe.hgetall(keys.twin_key(t))
            got = await pipe.execute()
        return [_twin(_decode(h)) for h in got if h]

    async def get_many_json(self, twins: Sequence[str]) -> bytes:
        """The JSON array of :meth:`get_many`'s twins, written from the stored text (the
        state and fidelity are stored as JSON already): what a list page sends, without
        parsing every twin's state into objects and serializing it back (most of a 1,000
        twin page's time)."""
        if not twins:
            return b"[]"
        # one script, one reply: redis-py's pipeline reads 1,000 replies one by one, each
        # under its own asyncio timeout, and that cost more than Redis's work. On a cluster
        # one script per hash slot (a run's page is one; a page of every run's twins is not)
        groups = slot_groups(self.r, twins, key=keys.twin_key)
        if len(groups) == 1:
            got = await self.r.eval(_PAGE_JSON, len(twins), *(keys.twin_key(t) for t in twins),
                                    *twins)
            return b"[" + b",".join(x for x in got if x) + b"]"
        replies = await asyncio.gather(*(
            self.r.eval(_PAGE_JSON, len(g), *(keys.twin_key(t) for t in g), *g) for g in groups))
        by_id = {t: x for g, rep in zip(groups, replies, strict=True)
                 for t, x in zip(g, rep, strict=False)}
        return b"[" + b",".join(x for t in twins if (x := by_id.get(t))) + b"]"

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
        streams = {keys.twin_history(t): c for t, c in cursors.items()}
        groups = slot_groups(self.r, list(streams))
        if len(groups) == 1:
            reply = await self.r.xread(streams, block=block_ms, count=100)
        else:  # a cluster, twins of several runs: one blocking read per hash slot, the first
            # to answer wins; XREAD holds no server state, so cancelling the others is free
            tasks, done = await first_answer(
                [self.r.xread({s: streams[s] for s in g}, block=block_ms, count=100)
                 for g in groups])
            reply = [x for t in tasks if t in done for x in t.result() or []]
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
