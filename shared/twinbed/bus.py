"""Redis-stream transport: at-least-once delivery with exactly-once effects.

Each role reads its streams through a consumer group. A batch of entries is read at once
(``XREADGROUP ... COUNT n``), every entry is decoded into its versioned pydantic model and handed
to a handler together with an :class:`Effects` recorder. The handler reads what it needs from
Redis and *records* the writes that make up its effect (store a twin, publish the next message).
Then one ``MULTI/EXEC`` transaction applies, for the whole batch:

- the recorded effects of every handler that succeeded,
- the ``(sender, seq)`` marks of those messages in the group's seen-set,
- the dead letters of the entries that failed validation or handling (with the error),
- ``XACK`` of every entry of the batch.

A handler may also record ``fx.precommit(...)`` writes: idempotent writes to keys outside its
run (a global index), applied just before the transaction and outside it, because on a Redis
Cluster one transaction cannot span hash slots (every key of one run shares a slot,
twinbed.keys; a global key has its own). A crash between the two leaves the index naming what
does not exist yet; the batch stays pending and its replay writes both again. Readers of such
indexes skip names that do not exist.

On a Redis Cluster the worker reads each slot's streams with its own ``XREADGROUP`` and
commits the batch slot by slot (one run's entries in one transaction); on a single Redis it
is one read and one transaction for everything, as before.

So an entry is acknowledged exactly when its effect is stored; a crash before ``EXEC`` leaves
the whole batch pending, to be re-read by the restarted consumer (its own pending entries first)
or reclaimed by another one with ``XAUTOCLAIM`` once idle, and the seen-set makes the replay a
no-op for anything that did commit. A failing entry never stops the worker.

Wire format of one stream entry: two fields, so Redis and the client handle two values per
message, not eight. ``m`` is the header and the body in one string, lines separated by
``\n``: type, version, sender, seq, wall time sent, the payload's SHA-256 hex digest (empty
without a payload), then the JSON body (JSON escapes newlines, so the body is the rest).
``p``, only when there is a binary payload, is the bytes. ``s`` is the sender role's Ed25519
signature of the destination stream's name and ``m`` (:mod:`twinbed.signing`): ``m`` holds
the payload's digest, so the signature covers sender, type, run, round, seq and payload.
Entries appended to one stream together share one signature over a Merkle root; each then
has ``t``, its proof (:func:`twinbed.signing.sign_batch`). A
consumer verifies it, and that the signer's role may send the type, before it parses the
body; an entry that fails is dead-lettered with the reason and acknowledged.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import ResponseError

from twinbed import keys
from twinbed.messages import Message, lookup
from twinbed.redisconn import UNAVAILABLE, first_answer, slot_groups
from twinbed.signing import BusKeys, KeyRing, RejectedError, sender_role, sign_batch

__all__ = [
    "Bus",
    "ChecksumError",
    "RejectedError",
    "Effects",
    "Envelope",
    "Handler",
    "Worker",
    "commit",
    "decode_batch",
    "decode_entry",
    "encode",
    "sign_entries",
]

log = logging.getLogger(__name__)

STREAM_MAXLEN = 100_000  # approximate cap per stream (XADD MAXLEN ~)
# Redis unreachable, restarting, still loading its data, a cluster failing over, or a commit
# whose reply a broken connection lost (twinbed.redisconn.UNAVAILABLE): wait and retry, never
# dead-letter or fail a run for it.
REDIS_DOWN = UNAVAILABLE
MAX_ATTEMPTS = 5  # a batch whose bookkeeping fails this often: its entries are dead-lettered
DEAD_EXCERPT = 4096  # bytes of a dead letter's message (and of its payload) kept

# Release one entry's claim, only if that entry holds it (KEYS and ARGV as above).
_RELEASE_LUA = """
if redis.call('SREM', KEYS[2], ARGV[2]) == 1 then redis.call('SREM', KEYS[1], ARGV[1]) end
return 0
"""

# The dedup check of one stream's batch, atomic with a claim. ARGV: the batch's distinct
# (sender, seq) members, then for each "<member>|<entry id>". A member in the group's seen-set
# (KEYS[1]) was applied; a member in the claims set (KEYS[2]) is held by the entry named in the
# owners set (KEYS[3]), which another consumer of the group is handling now (or which this
# entry itself is: re-read after a crash before its commit, or reclaimed). Returns per member 1
# to skip (applied, or held by another entry), 0 to handle, and claims the new ones. The
# commit's transaction adds the seen-marks and removes the claims of what it applied or
# dead-lettered, so the two sets hold only entries in flight. (Sets, not one hash of owners:
# a hash under 128 fields is a ziplist, and HSET of a batch's 256 fields into it cost Redis
# more than the rest of the bus's commands together.)
_CLAIM_LUA = """
local n = #ARGV / 2
local seen = redis.call('SMISMEMBER', KEYS[1], unpack(ARGV, 1, n))
local held = redis.call('SMISMEMBER', KEYS[2], unpack(ARGV, 1, n))
local claim, own = {}, {}
for i = 1, n do
  if seen[i] == 0 then
    if held[i] == 0 then
      claim[#claim + 1] = ARGV[i]
      own[#own + 1] = ARGV[n + i]
    elseif redis.call('SISMEMBER', KEYS[3], ARGV[n + i]) == 0 then
      seen[i] = 1
    end
  end
end
if #claim > 0 then
  redis.call('SADD', KEYS[2], unpack(claim))
  redis.call('SADD', KEYS[3], unpack(own))
end
return seen
"""


class ChecksumError(ValueError):
    """The payload bytes do not match the checksum that travelled with them."""


class Envelope(NamedTuple):
    """A decoded stream entry (a named tuple: a batch makes thousands; a frozen dataclass costs
    several times more to build)."""

    msg: Message
    sender: str
    seq: int
    payload: bytes | None
    stream: str
    entry_id: str
    sent_wall: float


def encode(msg: Message, sender: str, seq: int, payload: bytes | None = None,
           wall: str | None = None, *, stream: str, keys: BusKeys) -> dict[str, Any]:
    """The stream-entry fields of ``msg`` for ``stream``, signed with ``keys`` (see the module
    docstring). ``wall``: the send time as text (``repr(time.time())`` when not given; a
    batch passes one for all)."""
    fields = _unsigned(msg, sender, seq, payload, wall)
    sign_entries(keys, stream, [fields])
    return fields


def _unsigned(msg: Message, sender: str, seq: int, payload: bytes | None,
              wall: str | None) -> dict[str, Any]:
    if "\n" in sender:
        raise ValueError(f"a sender name cannot contain a newline: {sender!r}")
    digest = "" if payload is None else hashlib.sha256(payload).hexdigest()
    head = (f"{msg.TYPE}\n{msg.VERSION}\n{sender}\n{seq}\n"
            f"{repr(time.time()) if wall is None else wall}\n{digest}\n")
    m = (head + msg.model_dump_json()).encode()
    return {"m": m} if payload is None else {"m": m, "p": payload}


def sign_entries(keys: BusKeys, stream: str, entries: Sequence[dict[str, Any]]) -> None:
    """Sign the encoded ``entries`` that go to ``stream`` in one command, in place: one alone
    gets its signature ``s``; several share one signature over their Merkle root, each with
    its proof ``t`` (one Ed25519 signature per command, not per message)."""
    if len(entries) == 1:
        entries[0]["s"] = keys.sign(stream, entries[0]["m"])
        return
    for f, (sig, proof) in zip(entries, sign_batch(keys, stream, [f["m"] for f in entries]),
                               strict=True):
        f["s"], f["t"] = sig, proof


class _Head(NamedTuple):
    cls: type[Message]
    sender: str
    seq: int
    wall: float
    payload: bytes | None
    body: bytes


def _head(stream: str, fields: dict[bytes, bytes], ring: KeyRing) -> _Head:
    """The header of one raw entry, its signature, signer and payload checked. Raises
    :class:`RejectedError` (signature, signer, type not the signer's) or another ValueError
    saying what is wrong."""
    m = fields.get(b"m")
    if m is None:
        raise ValueError("stream entry has no field 'm'")
    parts = m.split(b"\n", 6)
    if len(parts) < 7:
        raise ValueError(f"malformed header: {len(parts) - 1} of 6 header lines")
    type_b, version, sender_b, seq, wall, digest, body = parts
    sender = sender_b.decode(errors="replace")
    ring.verify(stream, m, fields.get(b"s"), sender, fields.get(b"t"))
    cls = _lookup(type_b, version)
    role = sender_role(sender)
    if role not in cls.SENT_BY:
        raise RejectedError("type-not-allowed", f"role {role!r} may not send {cls.TYPE!r} "
                            f"(sent by: {', '.join(cls.SENT_BY)})")
    payload = fields.get(b"p")
    if digest:
        if payload is None:
            raise ValueError("entry has a checksum but no payload")
        if hashlib.sha256(payload).hexdigest().encode() != digest:
            raise ChecksumError(f"payload checksum mismatch ({len(payload)} bytes)")
    elif payload is not None:
        raise ValueError("entry has a payload but no checksum")
    return _Head(cls, sender, int(seq), float(wall or 0), payload, body)


_CLASSES: dict[tuple[bytes, bytes], type[Message]] = {}


def _lookup(type_b: bytes, version: bytes) -> type[Message]:
    """The message class of a header (cached: the registry only grows)."""
    cls = _CLASSES.get((type_b, version))
    if cls is None:
        cls = _CLASSES[(type_b, version)] = lookup(type_b.decode(), int(version))
    return cls


_LISTS: dict[type[Message], TypeAdapter[list[Any]]] = {}


def _validate_many(cls: type[Message], bodies: list[bytes]) -> list[Message] | None:
    """Validate many bodies of one class in one pydantic call (``None`` if any is invalid:
    the caller then validates them one by one, for each entry's own error)."""
    adapter = _LISTS.get(cls)
    if adapter is None:
        adapter = _LISTS[cls] = TypeAdapter(list[cls])  # type: ignore[valid-type]
    try:
        out: list[Message] = adapter.validate_json(b"[" + b",".join(bodies) + b"]")
    except ValidationError:
        return None
    return out if len(out) == len(bodies) else None  # a body that holds two: one by one


def decode_entry(stream: str, entry_id: str, fields: dict[bytes, bytes], ring: KeyRing
                 ) -> Envelope:
    """Verify and validate one raw entry. Raises ValueError (or a subclass) saying what is
    wrong."""
    h = _head(stream, fields, ring)
    return Envelope(msg=h.cls.model_validate_json(h.body), sender=h.sender, seq=h.seq,
                    payload=h.payload, stream=stream, entry_id=entry_id, sent_wall=h.wall)


def decode_batch(entries: Sequence[tuple[str, str, dict[bytes, bytes]]], ring: KeyRing,
                 rejected: dict[str, int] | None = None) -> list[Envelope | str]:
    """Decode a batch: each entry's :class:`Envelope`, or the text of why it is invalid
    (``rejected`` counts the refused signatures, signers and types by reason). The same checks
    as :func:`decode_entry`, for many entries at once:

    - signatures: :meth:`KeyRing.verify_many` (a signed batch read whole is one Merkle tree
      rebuilt and one signature checked);
    - bodies of one message class are validated together in one pydantic call; a batch with
      an invalid body falls back to one call per entry, so every error names its own entry.
    """
    out: list[Envelope | str] = ["invalid message"] * len(entries)
    parsed: list[tuple[int, list[bytes], str]] = []  # entry, header lines and body, sender
    items: list[tuple[str, bytes, bytes | None, str, bytes | None]] = []
    for i, (stream, _, fields) in enumerate(entries):
        m = fields.get(b"m")
        if m is None:
            out[i] = "invalid message: ValueError: stream entry has no field 'm'"
            continue
        parts = m.split(b"\n", 6)
        if len(parts) < 7:
            out[i] = (f"invalid message: ValueError: malformed header: {len(parts) - 1} of 6 "
                      "header lines")
            continue
        sender = parts[2].decode(errors="replace")
        parsed.append((i, parts, sender))
        items.append((stream, m, fields.get(b"s"), sender, fields.get(b"t")))
    heads: dict[int, tuple[str, int, float, bytes | None]] = {}
    groups: dict[type[Message], list[int]] = {}
    sha256 = hashlib.sha256
    for (i, parts, sender), role in zip(parsed, ring.verify_many(items), strict=True):
        try:
            if isinstance(role, RejectedError):
                raise role
            cls = _CLASSES.get((parts[0], parts[1])) or _lookup(parts[0], parts[1])
            if role not in cls.SENT_BY:
                raise RejectedError("type-not-allowed", f"role {role!r} may not send "
                                    f"{cls.TYPE!r} (sent by: {', '.join(cls.SENT_BY)})")
            payload = entries[i][2].get(b"p")
            digest = parts[5]
            if digest:
                if payload is None:
                    raise ValueError("entry has a checksum but no payload")
                if sha256(payload).hexdigest().encode() != digest:
                    raise ChecksumError(f"payload checksum mismatch ({len(payload)} bytes)")
            elif payload is not None:
                raise ValueError("entry has a payload but no checksum")
            heads[i] = (sender, int(parts[3]), float(parts[4] or 0), payload)
        except RejectedError as exc:
            out[i] = f"rejected ({exc.reason}): {exc}"
            if rejected is not None:
                rejected[exc.reason] = rejected.get(exc.reason, 0) + 1
            continue
        except (ValueError, ValidationError) as exc:
            out[i] = f"invalid message: {_one_line(exc)}"
            continue
        groups.setdefault(cls, []).append(i)
    body = {i: parts[6] for i, parts, _ in parsed}
    for cls, idx in groups.items():
        many = _validate_many(cls, [body[i] for i in idx])
        if many is None:  # one by one, for each entry's own error
            many = []
            for i in idx:
                try:
                    many.append(cls.model_validate_json(body[i]))
                except (ValueError, ValidationError) as exc:
                    out[i] = f"invalid message: {_one_line(exc)}"
                    many.append(None)  # type: ignore[arg-type]
        for i, msg in zip(idx, many, strict=True):
            if msg is not None:
                stream, entry_id, _ = entries[i]
                sender, seq, wall, payload = heads[i]
                out[i] = Envelope(msg, sender, seq, payload, stream, entry_id, wall)
    return out


class Effects:
    """Records Redis write commands to be applied atomically when the batch commits.

    Any redis-py command method works: ``fx.hset(key, mapping=...)``, ``fx.xadd(...)``,
    ``fx.evalsha(...)``. Nothing is sent until the bus commits; a handler that raises leaves
    no trace. ``fx.publish(...)`` records an outgoing bus message.
    """

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._wall = ""  # one send time for what a handler publishes (set at its first)
        self._out: dict[str, list[dict[str, Any]]] = {}  # stream -> encoded messages
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.pre: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))

        return record

    def publish(
        self, stream: str, msg: Message, payload: bytes | None = None, seq: int | None = None
    ) -> None:
        seq = self._bus.next_seq() if seq is None else seq
        if not self._wall:
            self._wall = repr(time.time())
        out = self._out.get(stream)
        if out is None:  # one command per stream at the first publish's place (xadd_many)
            out = self._out[stream] = []
            self.calls.append((_PUBLISH, (stream, out), {}))
        # signed at apply(), all of the stream's messages at once (one signature)
        out.append(_unsigned(msg, self._bus.sender, seq, payload, self._wall))

    def precommit(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Record a write applied just *before* the commit's transaction and outside it: a
        global key (``tb:twins``) that on a Redis Cluster lives in another hash slot than the
        run's keys. It must be idempotent and harmless if the commit never comes (a crash in
        between: the batch is replayed and writes it again), e.g. ``ZADD NX`` to an index
        whose readers skip names that do not exist."""
        self.pre.append((name, args, kwargs))

    def apply_precommit(self, pipe: Any) -> None:
        for name, args, kwargs in self.pre:
            getattr(pipe, name)(*args, **kwargs)

    def outgoing(self) -> Iterable[tuple[str, list[dict[str, Any]]]]:
        """The messages recorded so far, per stream (encoded; signed at :meth:`apply`, or
        before by the worker for all of a batch's handlers at once)."""
        return self._out.items()

    def apply(self, pipe: Any) -> None:
        for name, args, kwargs in self.calls:
            if name == _PUBLISH:
                stream, entries = args
                if "s" not in entries[0]:
                    sign_entries(self._bus.keys, stream, entries)
                xadd_many(pipe, stream, entries)
            else:
                getattr(pipe, name)(*args, **kwargs)


async def commit(redis: aioredis.Redis, *effects: Effects) -> list[Any]:
    """Apply recorded ``effects`` outside a worker (the run driver, tests): their precommit
    writes first, then everything else in one MULTI/EXEC (one hash slot on a cluster).
    Returns the transaction's replies."""
    if any(fx.pre for fx in effects):
        async with redis.pipeline(transaction=False) as pipe:
            for fx in effects:
                fx.apply_precommit(pipe)
            await pipe.execute()
    async with redis.pipeline(transaction=True) as pipe:
        for fx in effects:
            fx.apply(pipe)
        return list(await pipe.execute())


_PUBLISH = "_publish"  # Effects.calls entry: (stream, [fields...]) to append with xadd_many

# KEYS: stream. ARGV: maxlen, the number of fields c of every entry, their c names, then c values
# per entry. Returns how many it appended. One shape per call, so the common ones (1 to 4
# fields: m, s, t, p) call XADD with their arguments directly: a table built and unpacked per
# entry, and each entry's field names and count sent along, cost Redis more than the XADD
# itself (a batch of 256 1-KiB messages: 5.2 us of Redis CPU per entry with the table, 3.3 us
# without; twinbed bench bus).
_XADD_MANY = """
local A, key, mx, c = ARGV, KEYS[1], ARGV[1], tonumber(ARGV[2])
local f1, f2, f3, f4, n = A[3], A[4], A[5], A[6], 0
local first = 3 + c
if c == 4 then
  for i = first, #A, 4 do
    redis.call('XADD', key, 'MAXLEN', '~', mx, '*', f1, A[i], f2, A[i + 1], f3, A[i + 2],
               f4, A[i + 3])
    n = n + 1
  end
elseif c == 3 then
  for i = first, #A, 3 do
    redis.call('XADD', key, 'MAXLEN', '~', mx, '*', f1, A[i], f2, A[i + 1], f3, A[i + 2])
    n = n + 1
  end
elseif c == 2 then
  for i = first, #A, 2 do
    redis.call('XADD', key, 'MAXLEN', '~', mx, '*', f1, A[i], f2, A[i + 1])
    n = n + 1
  end
else
  for i = first, #A, c do
    local args = {'XADD', key, 'MAXLEN', '~', mx, '*'}
    for j = 0, c - 1 do
      args[7 + 2 * j] = A[3 + j]
      args[8 + 2 * j] = A[i + j]
    end
    redis.call(unpack(args))
    n = n + 1
  end
end
return n
"""


def xadd_many(pipe: Any, stream: str, entries: Sequence[dict[str, Any]]) -> None:
    """Queue on ``pipe`` the appending of ``entries`` (encoded messages) to ``stream``, in
    order: one XADD for one entry, else one script per run of entries with the same fields
    (a batch is mostly one), which runs the XADDs inside Redis, so a batch costs the client
    one command and one reply, not one per message."""
    if len(entries) == 1:
        pipe.xadd(stream, entries[0], maxlen=STREAM_MAXLEN, approximate=True)
        return
    i = 0
    while i < len(entries):
        names = tuple(entries[i])  # in order: the values below go in the same order
        j = i + 1
        while j < len(entries) and tuple(entries[j]) == names:
            j += 1
        args: list[Any] = [STREAM_MAXLEN, len(names), *names]
        for f in entries[i:j]:
            args += f.values()
        pipe.eval(_XADD_MANY, 1, stream, *args)
        i = j


class Bus:
    """A sender on the bus: publishes messages with its name and a per-process sequence,
    signed with its role's key (``keys``; the sender name must begin with that role, see
    :func:`twinbed.signing.sender_role`). ``keys.ring`` verifies what its workers read.

    Sequence numbers start from the wall clock in nanoseconds, so a restarted sender never
    reuses one; ``(sender, seq)`` identifies a message for idempotent handling.
    """

    def __init__(self, redis: aioredis.Redis, sender: str, keys: BusKeys) -> None:
        if sender_role(sender) != keys.signer.role:
            raise ValueError(f"sender name {sender!r} must begin with its signing role "
                             f"{keys.signer.role!r} (e.g. {keys.signer.role}@host, "
                             f"{keys.signer.role}.1): consumers check the name against the "
                             "signature")
        self.redis = redis
        self.sender = sender
        self.keys = keys
        self._seq = itertools.count(time.time_ns())

    def next_seq(self) -> int:
        return next(self._seq)

    def over(self, redis: aioredis.Redis) -> Bus:
        """The same sender (name, key, sequence) over another connection: a redis.asyncio
        client belongs to one event loop, so a process with two loops (a service's HTTP API
        and its bus thread) has one client per loop, and this keeps one sequence, so the
        two never send the same ``(sender, seq)`` (next() on one itertools.count is atomic
        under the GIL)."""
        twin = Bus(redis, self.sender, self.keys)
        twin._seq = self._seq
        return twin

    def effects(self) -> Effects:
        return Effects(self)

    async def publish(self, stream: str, msg: Message, payload: bytes | None = None) -> str:
        entry_id = await self.redis.xadd(
            stream, encode(msg, self.sender, self.next_seq(), payload, stream=stream,
                           keys=self.keys),
            maxlen=STREAM_MAXLEN, approximate=True,
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    async def publish_many(self, items: Iterable[tuple[str, Message, bytes | None]]) -> None:
        """Publish many messages in one round trip (one command per stream)."""
        wall = repr(time.time())
        by_stream: dict[str, list[dict[str, Any]]] = {}
        for stream, msg, payload in items:
            by_stream.setdefault(stream, []).append(
                _unsigned(msg, self.sender, self.next_seq(), payload, wall))
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, entries in by_stream.items():
                sign_entries(self.keys, stream, entries)
                xadd_many(pipe, stream, entries)
            await pipe.execute()


Handler = Callable[[Envelope, Effects], Awaitable[None]]
# stream, id, fields, envelope, its "sender:seq" member and "member|entry id" (its claim)
_Fresh = tuple[str, str, dict[bytes, bytes], Envelope, str, str]


@dataclass
class WorkerStats:
    handled: int = 0
    duplicates: int = 0
    dead: int = 0
    reclaimed: int = 0
    batches: int = 0
    handle_s: float = 0.0
    by_type: dict[str, int] = field(default_factory=dict)
    # dead-lettered for their signature, signer or type, by reason (twinbed.signing)
    rejected: dict[str, int] = field(default_factory=dict)


class Worker:
    """Consumes streams through a consumer group; see the module docstring for the guarantees.

    ``streams`` returns the stream names to read now (it is re-evaluated every loop, so new
    runs are picked up); ``handler`` gets every valid, not-yet-seen message.

    Batches: a handler that also has ``async batch_key(env) -> Hashable | None`` and
    ``async handle_batch(envs, fx) -> [exception or None per env]`` gets consecutive entries
    with the same non-None key in one call, recording all their effects in one ``fx`` (so
    one oracle read, one twin-store script, one report command per batch, not per message).
    The guarantees stay per entry: an entry whose outcome is an exception is dead-lettered and
    must have recorded nothing; the others commit with the batch's acks. If the call raises,
    the entries are handled one by one, so each error names its own entry. A group's effects
    failing at commit dead-letter every entry of the group.
    """

    def __init__(
        self,
        bus: Bus,
        group: str,
        consumer: str,
        streams: Callable[[], Awaitable[Sequence[str]]],
        handler: Handler,
        *,
        count: int = 256,
        block_ms: int = 200,
        reclaim_idle_s: float = 10.0,
    ) -> None:
        self.bus = bus
        self.redis = bus.redis
        self.group = group
        self.consumer = consumer
        self._streams = streams
        self.handler = handler
        self.count = count
        self.block_ms = block_ms
        self.reclaim_idle_ms = int(reclaim_idle_s * 1000)
        self.stats = WorkerStats()
        self._groups: set[str] = set()
        self._backlog_done: set[str] = set()  # streams whose own pending entries were re-read
        self._gone: set[str] = set()  # streams deleted under us (a deleted run): never re-created
        self._last_reclaim = 0.0
        self._attempts: dict[tuple[str, str], int] = {}  # entry -> failed bookkeeping tries
        self._last_log = 0.0

    # -- setup ---------------------------------------------------------------------------
    async def ensure_group(self, stream: str) -> None:
        if stream in self._groups:
            return
        try:
            await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:  # only "group exists" is expected; anything else is real
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(stream)

    def seen_key(self, stream: str) -> str:
        return keys.seen_set(stream, self.group)

    def claims_keys(self, stream: str) -> tuple[str, str]:
        """The group's claims on ``stream``: the members held, and "member|entry id" of
        each holder (:data:`_CLAIM_LUA`)."""
        held = keys.claims(stream, self.group)
        return held, f"{held}:owners"

    # -- the loop ------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set. Errors talking to Redis are retried with backoff."""
        backoff = 0.1
        while not stop.is_set():
            try:
                await self.step()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down or restarting: keep the worker alive
                now = time.monotonic()
                if now - self._last_log >= 30:  # at most one line per 30 s, however long
                    self._last_log = now
                    log.warning("worker %s/%s: step failed (%s); retrying with backoff "
                                "(logged at most every 30 s)", self.group, self.consumer,
                                _one_line(exc), exc_info=not isinstance(exc, REDIS_DOWN))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 2, 5.0)

    async def step(self, block_ms: int | None = None) -> int:
        """One read-handle-commit cycle. Returns how many entries it took."""
        streams = [s for s in await self._streams() if s not in self._gone]
        try:
            return await self._step(streams, block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # A stream vanished between listing and reading: its run was deleted (DELETE
            # /runs/{id}, only for finished runs). Forget it instead of re-creating it empty.
            for s in streams:
                if not await self.redis.exists(s):
                    self._gone.add(s)
                    self._groups.discard(s)
                    self._backlog_done.discard(s)
            return 0

    async def _step(self, streams: list[str], block_ms: int | None) -> int:
        if not streams:
            await asyncio.sleep((block_ms if block_ms is not None else self.block_ms) / 1000)
            return 0
        for s in streams:
            await self.ensure_group(s)
        # After a (re)start, first re-read this consumer's own pending entries ("0"), then new.
        ids = {s: ("0" if s not in self._backlog_done else ">") for s in streams}
        block = None if any(v == "0" for v in ids.values()) else (
            block_ms if block_ms is not None else self.block_ms)
        slots = slot_groups(self.redis, streams)
        if len(slots) == 1:
            reply = await self.redis.xreadgroup(
                self.group, self.consumer, ids, count=self.count, block=block
            )
        else:
            reply = await self._read_slots(slots, ids, block)
        entries: list[tuple[str, str, dict[bytes, bytes]]] = []
        for stream_b, items in reply or []:
            stream = stream_b.decode() if isinstance(stream_b, bytes) else stream_b
            if ids[stream] == "0" and not items:
                self._backlog_done.add(stream)
            for entry_id, fields in items:
                if fields:  # a pending entry deleted by XTRIM comes back with no fields
                    entries.append((stream, _s(entry_id), fields))
                else:
                    await self.redis.xack(stream, self.group, entry_id)
        if time.monotonic() - self._last_reclaim > self.reclaim_idle_ms / 2000:
            entries += await self.reclaim(streams)
        if not entries:
            return 0
        parts = slot_groups(self.redis, entries, key=lambda e: e[0])
        if len(parts) == 1:
            await self._process_bounded(entries)
            return len(entries)
        # a cluster: one commit per hash slot (a transaction cannot span slots). Each part
        # keeps every guarantee on its own (its effects, seen-marks, dead letters and acks
        # commit together); a part that fails stays pending and is retried, the others
        # stand, as independent runs should
        failed: Exception | None = None
        for part in parts:
            try:
                await self._process_bounded(part)
            except REDIS_DOWN:
                raise
            except Exception as exc:  # noqa: BLE001 - raised after the other parts ran
                failed = failed or exc
        if failed is not None:
            raise failed
        return len(entries)

    async def _read_slots(self, slots: list[list[str]], ids: dict[str, str],
                          block: int | None) -> list[Any]:
        """XREADGROUP over streams in several hash slots (a Redis Cluster: one command per
        slot). First one non-blocking read per slot; only when all are empty, one blocking read
        per slot at once, taking the first that answers and cancelling the others. A cancelled
        read may have been served just before it was dropped: its entries are then pending
        for this consumer, so its streams re-read their own backlog ("0") at the next step
        and nothing waits for the reclaim, nor is lost."""

        async def read(group: list[str], blk: int | None) -> Any:
            return await self.redis.xreadgroup(self.group, self.consumer,
                                               {s: ids[s] for s in group}, count=self.count,
                                               block=blk)

        replies = await asyncio.gather(*(read(g, None) for g in slots), return_exceptions=True)
        failed = next((r for r in replies if isinstance(r, BaseException)), None)
        if failed is not None:
            # one slot's read failed (NOGROUP: a deleted run) while others may have been
            # served: what they delivered is pending for this consumer and is re-read from
            # its own backlog at the next step, not dropped until the reclaim
            for group in slots:
                self._backlog_done.difference_update(group)
            raise failed
        out = [x for rep in replies for x in rep or []]  # type: ignore[union-attr]
        if block is None or any(items for _, items in out):
            return out
        tasks, done = await first_answer([read(g, block) for g in slots])
        failed = next((t.exception() for t in done if t.exception() is not None), None)
        for group, t in zip(slots, tasks, strict=True):
            if t not in done or failed is not None:
                self._backlog_done.difference_update(group)
        if failed is not None:
            raise failed
        taken: list[Any] = []
        for t in tasks:
            if t in done:
                taken += t.result() or []
        return taken

    async def _process_bounded(self, entries: Sequence[tuple[str, str, dict[bytes, bytes]]]
                               ) -> None:
        """:meth:`process`, with the bus's own bookkeeping errors bounded. A batch that fails
        for another reason than Redis being down (a seen-set or stream key of the wrong type,
        a script error) is split by stream, so other streams and runs go on; the entries that
        still fail are left pending and retried (re-read at once, with the worker's backoff)
        until they failed MAX_ATTEMPTS times, then dead-lettered one by one and acked."""
        try:
            await self.process(entries)
            if self._attempts:
                for e in entries:
                    self._attempts.pop((e[0], e[1]), None)
            return
        except REDIS_DOWN:
            raise
        except Exception as exc0:
            first: Exception = exc0
        by_stream: dict[str, list[tuple[str, str, dict[bytes, bytes]]]] = {}
        for e in entries:
            by_stream.setdefault(e[0], []).append(e)
        failing: list[tuple[list[tuple[str, str, dict[bytes, bytes]]], Exception]] = []
        if len(by_stream) == 1:
            failing.append((list(entries), first))
        else:
            for part in by_stream.values():
                try:
                    await self.process(part)
                except REDIS_DOWN:
                    raise
                except Exception as exc1:
                    failing.append((part, exc1))
        retry: list[str] = []
        for part, exc in failing:
            for stream, entry_id, fields in part:
                n = self._attempts.get((stream, entry_id), 0) + 1
                if n < MAX_ATTEMPTS:
                    self._attempts[(stream, entry_id)] = n
                    self._backlog_done.discard(stream)  # re-read our pending entries next
                    retry.append(entry_id)
                    continue
                self._attempts.pop((stream, entry_id), None)
                async with self.redis.pipeline(transaction=False) as pipe:
                    self._dead_letter(pipe, stream, entry_id, fields,
                                      f"bus bookkeeping failed {n} times: {_one_line(exc)}")
                    member = _member(fields)
                    if member is not None:  # its claim, if it holds one: a retry may apply it
                        pipe.eval(_RELEASE_LUA, 2, *self.claims_keys(stream), member,
                                  f"{member}|{entry_id}")
                    pipe.xack(stream, self.group, entry_id)
                    await pipe.execute(raise_on_error=False)
                self.stats.dead += 1
                log.warning("dead-lettered %s %s after %d failed attempts: %s", stream,
                            entry_id, n, _one_line(exc))
        if len(self._attempts) > 100_000:  # entries that vanished (trimmed, reclaimed)
            self._attempts.clear()
        if retry:
            raise RuntimeError(f"bus bookkeeping failed for {len(retry)} entries (retried up "
                               f"to {MAX_ATTEMPTS} times): {_one_line(failing[0][1])}")

    async def reclaim(self, streams: Sequence[str]) -> list[tuple[str, str, dict[bytes, bytes]]]:
        """Take over entries that another (dead) consumer left pending for too long."""
        self._last_reclaim = time.monotonic()
        out: list[tuple[str, str, dict[bytes, bytes]]] = []
        for stream in streams:
            start = "0-0"
            while True:
                res = await self.redis.xautoclaim(
                    stream, self.group, self.consumer, self.reclaim_idle_ms,
                    start_id=start, count=self.count,
                )
                start, claimed = _s(res[0]), res[1]
                for entry_id, fields in claimed:
                    if fields:
                        out.append((stream, _s(entry_id), fields))
                    else:  # deleted meanwhile; Redis < 7 keeps it pending, without its id:
                        self._backlog_done.discard(stream)  # re-read our own PEL to ack it
                if start == "0-0" or not claimed:
                    break
        self.stats.reclaimed += len(out)
        return out

    async def _groups_of(self, fresh: list[_Fresh]) -> list[list[_Fresh]]:
        """Consecutive entries the handler takes together (same non-None ``batch_key``)."""
        key_of = getattr(self.handler, "batch_key", None)
        if key_of is None:
            return [[f] for f in fresh]
        out: list[list[_Fresh]] = []
        last: Hashable | None = None
        for f in fresh:
            try:
                key = await key_of(f[3])
            except Exception:  # noqa: BLE001 - the one-by-one path reports the error
                key = None
            if key is not None and out and key == last:
                out[-1].append(f)
            else:
                out.append([f])
            last = key
        return out

    async def _handle_one(self, env: Envelope) -> Effects | str:
        """The entry's effects, or the dead letter's text."""
        fx = self.bus.effects()
        try:
            await self.handler(env, fx)
        except asyncio.CancelledError:
            raise
        except REDIS_DOWN:
            raise  # Redis down mid-handler: the batch stays pending and is retried
        except Exception as exc:
            log.warning("handler failed on %s %s: %s", env.stream, env.entry_id, exc)
            return _handler_error(exc)
        return fx

    async def _handle_group(self, group: list[_Fresh]) -> list[Effects | str] | None:
        """Handle entries together with the handler's ``handle_batch(envs, fx)``, which
        records the effects of all of them in one ``fx`` and returns, per entry, None or the
        exception that makes it a dead letter (it must record nothing for those). ``None``
        when the call itself raised: the caller then handles them one by one, so each error
        names its own entry."""
        fx = self.bus.effects()
        try:
            errs = await self.handler.handle_batch([g[3] for g in group], fx)  # type: ignore[attr-defined]
        except asyncio.CancelledError:
            raise
        except REDIS_DOWN:
            raise
        except Exception as exc:  # noqa: BLE001 - retried one by one
            log.info("batch of %d failed (%s); handling one by one", len(group), exc)
            return None
        if len(errs) != len(group):
            raise RuntimeError(f"handle_batch returned {len(errs)} outcomes for {len(group)}")
        return [fx if e is None else _handler_error(e) for e in errs]

    def _dead_letter(self, pipe: Any, stream: str, entry_id: str,
                     fields: dict[bytes, bytes], error: str) -> None:
        # a bounded excerpt, not the whole message: dead letters must not be a way to store
        # (or to be made to copy) large payloads; the sizes say what was cut
        letter: dict[bytes, bytes | str] = {}
        for k, v in fields.items():
            letter[k] = v[:DEAD_EXCERPT]
            if len(v) > DEAD_EXCERPT:
                letter[b"dl_size_" + k] = str(len(v))
        letter.update({b"dl_stream": stream, b"dl_id": entry_id, b"dl_group": self.group,
                       b"dl_error": error[:4000]})
        pipe.xadd(keys.dead_letter(stream), letter, maxlen=STREAM_MAXLEN, approximate=True)

    async def process(self, entries: Sequence[tuple[str, str, dict[bytes, bytes]]]) -> None:
        """Decode, dedupe, handle and commit one batch (see the module docstring).

        If it fails (Redis unreachable at the commit: a network cut, a timeout), the batch's
        entries stay pending and nothing of them is kept in this process either: the
        handler's process-local state is dropped (its ``forget()``, if it has one: the
        services' run contexts, whose caches mirror Redis and were already changed by the
        handlers), so the replay rebuilds it from Redis as a restarted process would, and this
        consumer re-reads its pending entries at once instead of waiting for the reclaim. A
        cache kept across a failed commit made the replay believe the work was done and
        publish nothing: a live fl-migration slot cut off from Redis for a few seconds hung
        until the round deadline."""
        try:
            await self._process(entries)
        except BaseException:
            forget = getattr(self.handler, "forget", None)
            if forget is not None:
                forget()
            self._backlog_done.difference_update(stream for stream, _, _ in entries)
            raise

    async def _process(self, entries: Sequence[tuple[str, str, dict[bytes, bytes]]]) -> None:
        self.stats.batches += 1
        dead: list[tuple[str, str, dict[bytes, bytes], str]] = []
        # One round trip (one claim script per stream) tells which (sender, seq) this group
        # has already applied, and claims the others for their entries, so that two consumers
        # of the group holding two copies of one message (a sender's retry) never both apply
        # it: the second copy is skipped and acked, the first stays pending until it commits.
        # stream -> member -> its first "member|entry" (None once an entry took it)
        asked: dict[str, dict[str, str | None]] = {}
        valid: list[tuple[tuple[str, str, dict[bytes, bytes]], Envelope, str]] = []
        for entry, got in zip(entries, decode_batch(entries, self.bus.keys.ring,
                                                    self.stats.rejected), strict=True):
            if isinstance(got, str):
                dead.append((*entry, got))
                continue
            member = f"{got.sender}:{got.seq}"  # as the seen-set holds it
            valid.append((entry, got, member))
            owners = asked.get(entry[0])
            if owners is None:
                owners = asked[entry[0]] = {}
            if member not in owners:
                owners[member] = f"{member}|{entry[1]}"
        skip: dict[str, set[str]] = {}  # per stream: applied, or held by another entry
        if asked:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream, owners in asked.items():
                    pipe.eval(_CLAIM_LUA, 3, self.seen_key(stream), *self.claims_keys(stream),
                              *owners, *owners.values())
                for (stream, owners), answer in zip(asked.items(), await pipe.execute(),
                                                    strict=True):
                    skip[stream] = {m for m, a in zip(owners, answer, strict=True) if a}

        # the entries to handle, in order (duplicates skipped); the claims of every one of
        # them are released at the commit, whether applied or dead-lettered
        fresh: list[_Fresh] = []
        claimed: dict[str, tuple[list[str], list[str]]] = {}  # stream -> members, owners
        for (stream, entry_id, fields), env, member in valid:
            owners = asked[stream]
            owner = owners[member]
            if owner is None or member in skip[stream]:
                self.stats.duplicates += 1
                continue
            owners[member] = None  # taken: a later copy in this batch is skipped
            mine = claimed.get(stream)
            if mine is None:
                mine = claimed[stream] = ([], [])
            mine[0].append(member)
            mine[1].append(owner)
            fresh.append((stream, entry_id, fields, env, member, owner))
        # each group of entries that commits (or fails at commit) together, with its effects
        done: list[tuple[list[tuple[str, str, dict[bytes, bytes]]], Effects]] = []
        marks: dict[str, list[str]] = {}
        by_type = self.stats.by_type
        t0 = time.perf_counter()
        for group in await self._groups_of(fresh):
            if len(group) == 1:  # the common case, without the bookkeeping of a group
                stream, entry_id, fields, env, member, _ = group[0]
                outcome = await self._handle_one(env)
                if isinstance(outcome, str):
                    dead.append((stream, entry_id, fields, outcome))
                    continue
                done.append(([(stream, entry_id, fields)], outcome))
                m = marks.get(stream)
                if m is None:
                    m = marks[stream] = []
                m.append(member)
                t = env.msg.TYPE
                by_type[t] = by_type.get(t, 0) + 1
                continue
            outcomes = await self._handle_group(group)
            if outcomes is None:  # one by one (also the fallback when a batch call raised)
                outcomes = [await self._handle_one(g[3]) for g in group]
            shared: dict[int, tuple[list[tuple[str, str, dict[bytes, bytes]]], Effects]] = {}
            for (stream, entry_id, fields, env, member, _), outcome in zip(group, outcomes,
                                                                           strict=True):
                if isinstance(outcome, str):
                    dead.append((stream, entry_id, fields, outcome))
                    continue
                slot = shared.get(id(outcome))
                if slot is None:
                    slot = shared[id(outcome)] = ([], outcome)
                    done.append(slot)
                slot[0].append((stream, entry_id, fields))
                marks.setdefault(stream, []).append(member)
                t = env.msg.TYPE
                by_type[t] = by_type.get(t, 0) + 1
        self.stats.handle_s += time.perf_counter() - t0

        # what every handler of the batch publishes to one stream is signed together: one
        # Ed25519 signature per stream and batch (a base station forwarding 256 uplinks as
        # 256 syncs signs once), each entry with its own proof
        outgoing: dict[str, list[dict[str, Any]]] = {}
        for _, fx in done:
            if fx.calls:  # a publish is recorded in calls too
                for stream, encoded in fx.outgoing():
                    outgoing.setdefault(stream, []).extend(encoded)
        for stream, encoded in outgoing.items():
            sign_entries(self.bus.keys, stream, encoded)

        # writes outside the run (a global index: Effects.precommit) go first, outside the
        # transaction: on a cluster they live in other hash slots. If the commit below never
        # happens, they name what does not exist yet; the batch is replayed and writes both
        pre = [fx for _, fx in done if fx.pre]
        if pre:
            async with self.redis.pipeline(transaction=False) as pipe:
                for fx in pre:
                    fx.apply_precommit(pipe)
                await pipe.execute()

        async with self.redis.pipeline(transaction=True) as pipe:
            spans: list[tuple[int, int, list[tuple[str, str, dict[bytes, bytes]]]]] = []
            for members_of, fx in done:
                if fx.calls:  # (a handler that recorded nothing has nothing to check)
                    first = len(pipe)
                    fx.apply(pipe)
                    spans.append((first, len(pipe), members_of))
            for stream, members in marks.items():
                pipe.sadd(self.seen_key(stream), *members)
            for stream, (members, owned) in claimed.items():
                held_key, owners_key = self.claims_keys(stream)
                pipe.srem(held_key, *members)
                pipe.srem(owners_key, *owned)
            for stream, entry_id, fields, error in dead:
                self._dead_letter(pipe, stream, entry_id, fields, error)
            by_stream: dict[str, list[str]] = {}
            for stream, entry_id, _ in entries:
                by_stream.setdefault(stream, []).append(entry_id)
            for stream, ids in by_stream.items():
                pipe.xack(stream, self.group, *ids)
            results = await pipe.execute(raise_on_error=False)
        # Redis has no rollback: a recorded write that fails inside EXEC (say INCR on a
        # string) leaves the rest applied. Make that visible instead of silent.
        # (a group handled together fails together: its effects were one recording)
        failed = []
        for a, b, group_entries in spans:
            err = next((res for res in results[a:b] if isinstance(res, Exception)), None)
            if err is not None:
                failed += [(entry, err) for entry in group_entries]
        if failed:
            async with self.redis.pipeline(transaction=True) as pipe:
                for (stream, entry_id, fields), err in failed:
                    self._dead_letter(pipe, stream, entry_id, fields,
                                      f"effect failed at commit: {_one_line(err)}")
                await pipe.execute()
        for res in results[spans[-1][1] if spans else 0:]:
            if isinstance(res, Exception):  # the bus's own bookkeeping failed: that is fatal
                raise res
        self.stats.handled += sum(len(g) for g, _ in done) - len({e[1] for e, _ in failed})
        self.stats.dead += len(dead) + len({e[1] for e, _ in failed})


def _member(fields: dict[bytes, bytes]) -> str | None:
    """The "sender:seq" of a raw entry, from its header alone (None if it has none)."""
    parts = fields.get(b"m", b"").split(b"\n", 4)
    if len(parts) < 5:
        return None
    return f"{parts[2].decode(errors='replace')}:{parts[3].decode(errors='replace')}"


def _handler_error(exc: BaseException) -> str:
    return (f"handler error: {_one_line(exc)}\n"
            + "".join(traceback.format_exception(exc)[-3:]))


def _s(x: bytes | str) -> str:
    return x.decode() if isinstance(x, bytes) else x


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", "; ")
    return f"{type(exc).__name__}: {text}"[:1000]

