"""The Redis-stream bus against a real redis-server: delivery, atomic commit, dedupe, reclaim,
dead letters, batching and consumer-group setup (see the docstring of :mod:`twinbed.bus`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import pytest
import redis.asyncio as aioredis
import redis.asyncio.client
import redis.asyncio.cluster
import redis.exceptions
from redis.exceptions import ResponseError

from twinbed import keys, signing
from twinbed.bus import (
    DEAD_EXCERPT,
    MAX_ATTEMPTS,
    Bus,
    Effects,
    Envelope,
    Worker,
    decode_entry,
    encode,
)
from twinbed.config import Role
from twinbed.messages import Message


class Ping(Message):
    """A test-only message (its TYPE cannot collide with a real one)."""

    TYPE: ClassVar[str] = "twinbed-tests.bus.ping"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor", "edge")
    n: int


Handler = Callable[[Envelope, Effects], Awaitable[None]]
GROUP = "g"
SEEDS = signing.new_seeds()
KEYS = {role: signing.memory_keys(role, SEEDS) for role in SEEDS}
RING = KEYS["sensor"].ring


def tbus(r: aioredis.Redis, sender: str) -> Bus:
    """A bus signing as the role its sender name begins with."""
    role = signing.sender_role(sender)
    assert role is not None
    return Bus(r, sender, KEYS[role])


def ping(n: int, round_: int = 0) -> Ping:
    return Ping(run_id="r1", round=round_, n=n)


@pytest.fixture
def stream(uid: str) -> str:
    return keys.stream(f"t{uid}", "x")


def make_worker(
    r: aioredis.Redis, stream: str, handler: Handler, *, consumer: str = "c1",
    sender: str = "edge-worker", group: str = GROUP, **kw: Any,
) -> Worker:
    async def streams() -> list[str]:
        return [stream]

    kw.setdefault("block_ms", 20)
    return Worker(tbus(r, sender), group, consumer, streams, handler, **kw)


async def drain(worker: Worker, expect: int, max_steps: int = 6) -> int:
    """Step until at least ``expect`` entries were taken; returns how many were.

    (A fresh worker's first step only re-reads its own pending backlog, so it may take 0.)
    """
    total = 0
    for _ in range(max_steps):
        total += await worker.step()
        if total >= expect:
            return total
    raise AssertionError(f"worker took {total} of {expect} entries in {max_steps} steps")


async def pending(r: aioredis.Redis, stream: str, group: str = GROUP) -> int:
    return (await r.xpending(stream, group))["pending"]


async def dead_letters(r: aioredis.Redis, stream: str) -> list[dict[bytes, bytes]]:
    return [f for _, f in await r.xrange(keys.dead_letter(stream))]


def counting_handler(counter: str, seen: list[Envelope] | None = None) -> Handler:
    async def handler(env: Envelope, fx: Effects) -> None:
        if seen is not None:
            seen.append(env)
        fx.incr(counter)

    return handler


# -- delivery and commit ----------------------------------------------------------------------

async def test_publish_then_step_delivers_message_and_applies_effects_on_commit(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """The handler gets the decoded model and exact payload; effects and ack happen at commit."""
    payload = bytes(range(256)) * 4 + b"\x00\xff"
    key, out = f"tb:{{t{uid}}}:k", keys.stream(f"t{uid}", "out")
    seen: list[Envelope] = []
    during: dict[str, Any] = {}

    async def handler(env: Envelope, fx: Effects) -> None:
        seen.append(env)
        fx.set(key, env.msg.n)
        fx.publish(out, ping(env.msg.n + 1, env.msg.round))
        # Inside the handler nothing is applied and the entry is still pending.
        during["pending"] = await pending(aredis, stream)
        during["key"] = await aredis.get(key)
        during["out"] = await aredis.exists(out)

    w = make_worker(aredis, stream, handler)
    await w.ensure_group(stream)
    sender = tbus(aredis, "sensor-1")
    entry_id = await sender.publish(stream, ping(7, round_=3), payload)

    assert await drain(w, 1) == 1
    assert len(seen) == 1
    env = seen[0]
    assert isinstance(env.msg, Ping) and env.msg == ping(7, round_=3)
    assert env.payload == payload
    assert (env.sender, env.stream, env.entry_id) == ("sensor-1", stream, entry_id)
    assert during == {"pending": 1, "key": None, "out": 0}

    assert await pending(aredis, stream) == 0
    assert await aredis.get(key) == b"7"
    [(out_id, fields)] = await aredis.xrange(out)
    out_env = decode_entry(out, out_id.decode(), fields, RING)
    assert out_env.msg == ping(8, round_=3) and out_env.sender == "edge-worker"
    assert out_env.payload is None
    assert (w.stats.handled, w.stats.dead, w.stats.duplicates) == (1, 0, 0)
    assert w.stats.by_type == {Ping.TYPE: 1}


async def test_handler_error_discards_its_effects_and_dead_letters_the_entry(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """A raising handler leaves no effect; its entry is dead-lettered and acked, others commit."""
    bad_key, good_key = f"tb:{{t{uid}}}:bad", f"tb:{{t{uid}}}:good"

    async def handler(env: Envelope, fx: Effects) -> None:
        if env.msg.n == 1:
            fx.set(bad_key, "should not exist")
            fx.publish(keys.stream(f"t{uid}", "out"), ping(99))
            raise RuntimeError("boom on message 1")
        fx.incr(good_key)

    w = make_worker(aredis, stream, handler)
    await w.ensure_group(stream)
    bus = tbus(aredis, "sensor")
    await bus.publish_many([(stream, ping(0), None), (stream, ping(1), None),
                            (stream, ping(2), None)])
    bad_id = (await aredis.xrange(stream))[1][0]

    assert await drain(w, 3) == 3
    assert await aredis.get(bad_key) is None
    assert not await aredis.exists(keys.stream(f"t{uid}", "out"))
    assert await aredis.get(good_key) == b"2"
    assert await pending(aredis, stream) == 0
    [letter] = await dead_letters(aredis, stream)
    assert letter[b"dl_id"] == bad_id and letter[b"dl_stream"] == stream.encode()
    assert letter[b"dl_group"] == GROUP.encode()
    assert b"RuntimeError: boom on message 1" in letter[b"dl_error"]
    # the original entry travels with the letter
    assert json.loads(letter[b"m"].split(b"\n", 6)[6])["n"] == 1
    assert (w.stats.handled, w.stats.dead) == (2, 1)

    await bus.publish(stream, ping(3))
    assert await drain(w, 1) == 1
    assert await aredis.get(good_key) == b"3"


async def _fail_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every MULTI/EXEC fail as if Redis went away (plain pipelines still work)."""
    original = redis.asyncio.client.Pipeline.execute

    async def execute(self: Any, raise_on_error: bool = True) -> Any:
        if self.is_transaction:
            raise redis.exceptions.ConnectionError("simulated crash before EXEC")
        return await original(self, raise_on_error)

    monkeypatch.setattr(redis.asyncio.client.Pipeline, "execute", execute)
    cluster_original = redis.asyncio.cluster.ClusterPipeline.execute

    async def cluster_execute(self: Any, raise_on_error: bool = True,
                              allow_redirections: bool = True) -> Any:
        if self._transaction:
            raise redis.exceptions.ConnectionError("simulated crash before EXEC")
        return await cluster_original(self, raise_on_error, allow_redirections)

    monkeypatch.setattr(redis.asyncio.cluster.ClusterPipeline, "execute", cluster_execute)


@pytest.mark.parametrize("crash", ["exec-fails", "handler-cancelled"])
async def test_crash_before_commit_leaves_entry_pending_and_restart_applies_it_once(
    aredis: aioredis.Redis, stream: str, uid: str, monkeypatch: pytest.MonkeyPatch, crash: str
) -> None:
    """A crash before EXEC applies nothing; a restarted same-name consumer re-reads and applies once."""
    counter = f"tb:{{t{uid}}}:n"

    async def cancelled(env: Envelope, fx: Effects) -> None:
        fx.incr(counter)
        raise asyncio.CancelledError

    first = make_worker(aredis, stream, cancelled if crash == "handler-cancelled"
                        else counting_handler(counter))
    await first.ensure_group(stream)
    await tbus(aredis, "sensor").publish(stream, ping(1))
    if crash == "exec-fails":
        await _fail_transactions(monkeypatch)
        with pytest.raises(redis.exceptions.ConnectionError):
            await drain(first, 1)
        monkeypatch.undo()
    else:
        with pytest.raises(asyncio.CancelledError):
            await drain(first, 1)

    assert await aredis.get(counter) is None
    [p] = await aredis.xpending_range(stream, GROUP, min="-", max="+", count=10)
    assert p["consumer"] == b"c1"

    # The restarted consumer (same name; reclaim far away) takes its own pending entry first.
    restarted = make_worker(aredis, stream, counting_handler(counter), reclaim_idle_s=60)
    assert await restarted.step() == 1
    assert restarted.stats.reclaimed == 0
    assert await restarted.step() == 0  # the backlog is not re-read twice
    assert await aredis.get(counter) == b"1"
    assert await pending(aredis, stream) == 0
    assert restarted.stats.handled == 1


async def test_restart_rereads_a_backlog_larger_than_one_batch(
    aredis: aioredis.Redis, stream: str, uid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted consumer re-reads all its pending entries, batch by batch, before new ones."""
    counter = f"tb:{{t{uid}}}:n"
    first = make_worker(aredis, stream, counting_handler(counter), count=10)
    await first.ensure_group(stream)
    await tbus(aredis, "sensor").publish_many([(stream, ping(i), None) for i in range(5)])
    await _fail_transactions(monkeypatch)
    with pytest.raises(redis.exceptions.ConnectionError):
        await drain(first, 5)
    monkeypatch.undo()
    assert await pending(aredis, stream) == 5

    seen: list[Envelope] = []
    restarted = make_worker(aredis, stream, counting_handler(counter, seen), count=2,
                            reclaim_idle_s=60)
    assert [await restarted.step() for _ in range(3)] == [2, 2, 1]
    assert [e.msg.n for e in seen] == [0, 1, 2, 3, 4]
    assert restarted.stats.reclaimed == 0
    assert await aredis.get(counter) == b"5" and await pending(aredis, stream) == 0


async def test_same_sender_and_seq_is_applied_once_within_and_across_batches(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """Entries repeating a (sender, seq) are acked as duplicates without a second effect."""
    counter = f"tb:{{t{uid}}}:n"
    w = make_worker(aredis, stream, counting_handler(counter))
    await w.ensure_group(stream)
    fields = encode(ping(1), "sensor-dup", 42, stream=stream, keys=KEYS["sensor"])

    await aredis.xadd(stream, fields)
    await aredis.xadd(stream, fields)  # same batch
    assert await drain(w, 2) == 2
    assert await aredis.get(counter) == b"1"
    assert (w.stats.handled, w.stats.duplicates) == (1, 1)

    await aredis.xadd(stream, fields)  # after the first one committed
    assert await drain(w, 1) == 1
    assert await aredis.get(counter) == b"1"
    assert w.stats.duplicates == 2

    # The identity is the pair: the same seq from another sender is a different message.
    await aredis.xadd(stream, encode(ping(1), "sensor-other", 42, stream=stream,
                                     keys=KEYS["sensor"]))
    assert await drain(w, 1) == 1
    assert await aredis.get(counter) == b"2"
    assert await pending(aredis, stream) == 0


# -- reclaim ----------------------------------------------------------------------------------

async def test_entries_of_a_dead_consumer_are_reclaimed_once_idle(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """XAUTOCLAIM hands a dead consumer's pending entries to a live one, but only once idle."""
    counter = f"tb:{{t{uid}}}:n"
    seen: list[Envelope] = []
    b = make_worker(aredis, stream, counting_handler(counter, seen), consumer="B",
                    reclaim_idle_s=0.3)
    await b.ensure_group(stream)
    await tbus(aredis, "sensor").publish_many([(stream, ping(i), None) for i in range(5)])
    got = await aredis.xreadgroup(GROUP, "A", {stream: ">"}, count=100)  # A dies, never acks
    assert len(got[0][1]) == 5

    assert await b.step() == 0  # not idle yet: A might still be working on them
    assert b.stats.reclaimed == 0 and await pending(aredis, stream) == 5

    await asyncio.sleep(0.4)
    assert await b.step() == 5
    assert b.stats.reclaimed == 5
    assert sorted(e.msg.n for e in seen) == list(range(5))
    assert await aredis.get(counter) == b"5"
    assert await pending(aredis, stream) == 0


async def test_pending_entry_deleted_from_stream_is_acked_not_handled(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """A consumer's own pending entry that was trimmed away comes back empty and is just acked."""
    counter = f"tb:{{t{uid}}}:n"
    w = make_worker(aredis, stream, counting_handler(counter))
    await w.ensure_group(stream)
    entry_id = await tbus(aredis, "sensor").publish(stream, ping(1))
    await aredis.xreadgroup(GROUP, "c1", {stream: ">"})  # c1 read it, then crashed
    await aredis.xdel(stream, entry_id)

    restarted = make_worker(aredis, stream, counting_handler(counter))
    assert await restarted.step() == 0
    assert restarted.stats.handled == 0
    assert await pending(aredis, stream) == 0
    assert await aredis.get(counter) is None


async def test_reclaimed_entry_deleted_from_stream_is_acked(
    aredis: aioredis.Redis, stream: str, uid: str, request: pytest.FixtureRequest
) -> None:
    """A dead consumer's pending entry that was trimmed away does not stay pending forever."""
    counter = f"tb:{{t{uid}}}:n"
    b = make_worker(aredis, stream, counting_handler(counter), consumer="B",
                    reclaim_idle_s=0.05)
    await b.ensure_group(stream)
    entry_id = await tbus(aredis, "sensor").publish(stream, ping(1))
    await aredis.xreadgroup(GROUP, "A", {stream: ">"})
    await aredis.xdel(stream, entry_id)
    await asyncio.sleep(0.1)

    await b.step()  # reclaims it (no fields)
    await asyncio.sleep(0.1)
    await b.step()  # and again, if it is still pending
    assert await aredis.get(counter) is None
    assert await pending(aredis, stream) == 0


# -- dead letters -----------------------------------------------------------------------------

def _fields(stream: str, changes: dict[str, Any], *, sign_as: str | None = "sensor"
            ) -> dict[str, Any]:
    """A valid entry for ``stream`` with a payload (``m`` header + body, ``s`` signature,
    ``p`` bytes), with some header lines (type, version, sender, seq, wall, digest), the body,
    or a field changed; ``None`` drops the field. The changed ``m`` is signed again by
    ``sign_as`` (a role whose key holder wrote it so), unless ``sign_as`` is None (tampered
    on the way) or ``s`` is among the changes."""
    f = encode(ping(1), "sensor", 1, payload=b"payload-bytes", stream=stream,
               keys=KEYS["sensor"])
    lines = dict(zip(["type", "version", "sender", "seq", "wall", "digest", "body"],
                     f["m"].decode().split("\n", 6), strict=True))
    for k, v in changes.items():
        if k in lines:
            lines[k] = v
        elif v is None:
            f.pop(k, None)
        else:
            f[k] = v
    if "m" not in changes:
        f["m"] = "\n".join(v for v in lines.values() if v is not None).encode()
        if sign_as is not None and "s" not in changes:
            f["s"] = KEYS[sign_as].sign(stream, f["m"])
    return f


BAD_ENTRIES = {
    "unknown type": (dict(type="no.such.type"), "unknown message type 'no.such.type'"),
    "unknown version": (dict(version="99"), "version 99"),
    "non-integer version": (dict(version="one"), "invalid literal for int()"),
    "non-integer seq": (dict(seq="x"), "invalid literal for int()"),
    "negative round": (dict(body='{"run_id":"r1","round":-1,"n":1}'),
                       "greater than or equal to 0"),
    "extra body field": (dict(body='{"run_id":"r1","round":0,"n":1,"x":2}'),
                         "Extra inputs are not permitted"),
    "malformed JSON": (dict(body='{"run_id": "r1", "round": 0,'), "Invalid JSON"),
    "empty body": (dict(body=""), "Invalid JSON"),
    "two bodies in one": (dict(body='{"run_id":"r1","round":0,"n":1},{"run_id":"r1",'
                               '"round":0,"n":2}'), "Invalid JSON"),
    "header line missing": (dict(body=None), "malformed header: 5 of 6 header lines"),
    "no header at all": (dict(m=None), "no field 'm'"),
    "checksum mismatch": (dict(p=b"payload-bytez"), "checksum mismatch"),
    "checksum without payload": (dict(p=None), "checksum but no payload"),
    "payload without checksum": (dict(digest=""), "payload but no checksum"),
}


@pytest.mark.parametrize("case", list(BAD_ENTRIES))
async def test_invalid_entry_is_dead_lettered_and_worker_carries_on(
    aredis: aioredis.Redis, stream: str, uid: str, case: str
) -> None:
    """Each kind of invalid entry lands in the dead-letter stream with an error naming it."""
    changes, expected = BAD_ENTRIES[case]
    fields = _fields(stream, changes)
    seen: list[Envelope] = []
    w = make_worker(aredis, stream, counting_handler(f"tb:{{t{uid}}}:n", seen))
    await w.ensure_group(stream)
    bad_id = await aredis.xadd(stream, fields)

    assert await drain(w, 1) == 1
    [letter] = await dead_letters(aredis, stream)
    assert letter[b"dl_id"] == bad_id
    error = letter[b"dl_error"].decode()
    assert error.startswith("invalid message: ") and expected in error, error
    assert seen == [] and w.stats.dead == 1
    assert await pending(aredis, stream) == 0

    await tbus(aredis, "sensor").publish(stream, ping(2))
    assert await drain(w, 1) == 1
    assert [e.msg.n for e in seen] == [2]
    assert w.stats.handled == 1 and len(await dead_letters(aredis, stream)) == 1


# -- signatures (twinbed.signing) ------------------------------------------------------------

REJECTED = {
    # a sensor's key holder names another role as the sender: the basestation's key does
    # not verify the sensor's signature
    "forged sender": (dict(sender="basestation"), "sensor", "bad-signature"),
    # the payload swapped on the way, its digest fixed up, the entry not signed again
    "tampered payload": (dict(p=b"other-bytes!!",
                              digest=hashlib.sha256(b"other-bytes!!").hexdigest()),
                         None, "bad-signature"),
    "tampered run id": (dict(body='{"run_id":"r2","round":0,"n":1}'), None, "bad-signature"),
    # a captured entry re-added with a fresh sequence number (dedup keys on sender and seq)
    "replay with a new seq": (dict(seq="2"), None, "bad-signature"),
    # the basestation signs honestly, but Ping is a sensor's or an edge's message
    "wrong role for the type": (dict(sender="basestation@host"), "basestation",
                                "type-not-allowed"),
    "sender of no role": (dict(sender="intruder"), "sensor", "unknown-signer"),
    "missing signature": (dict(s=None), None, "unsigned"),
    "signature of garbage": (dict(s=b"\x00" * 64), None, "bad-signature"),
}


@pytest.mark.parametrize("case", list(REJECTED))
async def test_a_refused_signature_is_dead_lettered_with_its_reason_acked_and_counted(
    aredis: aioredis.Redis, stream: str, uid: str, case: str
) -> None:
    """Forged, tampered, replayed-with-a-new-seq, unsigned or wrongly-typed entries never reach
    the handler: each is dead-lettered with the reason, acknowledged once (not retried),
    counted by reason, and the worker goes on with the next entry."""
    changes, sign_as, reason = REJECTED[case]
    seen: list[Envelope] = []
    w = make_worker(aredis, stream, counting_handler(f"tb:{{t{uid}}}:n", seen))
    await w.ensure_group(stream)
    bad_id = await aredis.xadd(stream, _fields(stream, changes, sign_as=sign_as))
    await tbus(aredis, "sensor").publish(stream, ping(2))

    assert await drain(w, 2) == 2
    assert [e.msg.n for e in seen] == [2]
    [letter] = await dead_letters(aredis, stream)
    assert letter[b"dl_id"] == bad_id
    assert letter[b"dl_error"].decode().startswith(f"rejected ({reason}): "), letter
    assert w.stats.rejected == {reason: 1} and w.stats.dead == 1
    assert await pending(aredis, stream) == 0
    assert await w.step() == 0  # acked: never read again


async def test_a_captured_entry_re_added_is_applied_once(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """A replay of a signed entry as it was (same sender and seq) is skipped by the group's
    seen-set; copied onto another stream (a replica's, another role's) its signature, which
    names the destination stream, fails."""
    counter = f"tb:{{t{uid}}}:n"
    other = stream + ".1"
    w = make_worker(aredis, stream, counting_handler(counter))
    w2 = make_worker(aredis, other, counting_handler(counter), consumer="c2")
    await w.ensure_group(stream)
    await w2.ensure_group(other)
    await tbus(aredis, "sensor").publish(stream, ping(1))
    assert await drain(w, 1) == 1
    [(_, captured)] = await aredis.xrange(stream)

    await aredis.xadd(stream, captured)
    assert await drain(w, 1) == 1
    assert await aredis.get(counter) == b"1" and w.stats.duplicates == 1

    await aredis.xadd(other, captured)
    assert await drain(w2, 1) == 1
    assert await aredis.get(counter) == b"1" and w2.stats.rejected == {"bad-signature": 1}
    assert await pending(aredis, stream) == 0 and await pending(aredis, other) == 0


async def test_a_batch_is_signed_once_and_each_entry_verifies_on_its_own(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """Messages appended to one stream in one command share one signature over a Merkle root;
    each entry carries its proof (``t``), so consumers of one group that read different parts
    of the batch each verify theirs. A batch entry with its body changed, with a malformed
    proof, or copied onto another stream, is refused."""
    await tbus(aredis, "sensor").publish_many([(stream, ping(i), None) for i in range(5)])
    entries = await aredis.xrange(stream)
    assert len({f[b"s"] for _, f in entries}) == 1 and all(b"t" in f for _, f in entries)
    seen1: list[Envelope] = []
    seen2: list[Envelope] = []
    w1 = make_worker(aredis, stream, counting_handler(f"tb:{{t{uid}}}:n", seen1), count=2)
    w2 = make_worker(aredis, stream, counting_handler(f"tb:{{t{uid}}}:n", seen2), consumer="c2",
                     count=2)
    await w1.ensure_group(stream)
    await w1.step(), await w2.step()  # backlogs: nothing yet
    assert await w1.step() == 2 and await w2.step() == 2 and await w1.step() == 1
    assert sorted(e.msg.n for e in seen1 + seen2) == [0, 1, 2, 3, 4]
    assert w1.stats.rejected == w2.stats.rejected == {}

    (_, third) = entries[2]
    tampered = {**third, b"m": third[b"m"].replace(b'"n":2', b'"n":7')}
    truncated = {**third, b"t": third[b"t"][:-1]}
    for fields in (tampered, truncated):
        await aredis.xadd(stream, fields)
    assert await drain(w1, 2) == 2
    assert w1.stats.rejected == {"bad-signature": 2}
    other = stream + ".1"
    w3 = make_worker(aredis, other, counting_handler(f"tb:{{t{uid}}}:n", seen1), consumer="c3")
    await w3.ensure_group(other)
    await aredis.xadd(other, third)
    assert await drain(w3, 1) == 1 and w3.stats.rejected == {"bad-signature": 1}
    assert sorted(e.msg.n for e in seen1 + seen2) == [0, 1, 2, 3, 4]


async def test_a_batch_read_whole_with_one_entry_tampered_refuses_only_that_one(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """A consumer that reads a signed batch whole checks it as one tree (one hash per entry);
    when one entry of it was changed the tree does not match, and the entries are checked one
    by one: that one is refused, the others are handled."""
    await tbus(aredis, "sensor").publish_many([(stream, ping(i), None) for i in range(6)])
    entries = await aredis.xrange(stream)
    await aredis.delete(stream)
    for i, (_, f) in enumerate(entries):
        if i == 4:
            f = {**f, b"m": f[b"m"].replace(b'"n":4', b'"n":9')}
        await aredis.xadd(stream, f)
    seen: list[Envelope] = []
    w = make_worker(aredis, stream, counting_handler(f"tb:{{t{uid}}}:n", seen))
    await w.ensure_group(stream)
    assert await drain(w, 6) == 6
    assert sorted(e.msg.n for e in seen) == [0, 1, 2, 3, 5]
    assert w.stats.rejected == {"bad-signature": 1} and w.stats.batches <= 2
    assert await pending(aredis, stream) == 0


async def test_a_handlers_fan_out_is_one_signed_batch(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """What one handler publishes to one stream is appended by one command and signed once."""
    out = keys.stream(f"t{uid}", "out")

    async def fan_out(env: Envelope, fx: Effects) -> None:
        for i in range(3):
            fx.publish(out, ping(10 + i))

    w = make_worker(aredis, stream, fan_out)
    await w.ensure_group(stream)
    await tbus(aredis, "sensor").publish(stream, ping(1))
    assert await drain(w, 1) == 1
    got = await aredis.xrange(out)
    assert len(got) == 3 and len({f[b"s"] for _, f in got}) == 1
    envs = [decode_entry(out, i.decode(), f, RING) for i, f in got]
    assert [e.msg.n for e in envs] == [10, 11, 12]


async def test_what_a_batchs_handlers_publish_to_one_stream_is_signed_once(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """A worker signs the messages every handler of a read batch sends to one stream together
    (one signature per stream and commit: a base station forwarding many uplinks signs once);
    each still decodes on its own."""
    out = keys.stream(f"t{uid}", "out")

    async def forward(env: Envelope, fx: Effects) -> None:
        fx.publish(out, ping(100 + env.msg.n))

    w = make_worker(aredis, stream, forward)
    await w.ensure_group(stream)
    await tbus(aredis, "sensor").publish_many([(stream, ping(i), None) for i in range(4)])
    assert await drain(w, 4) == 4
    got = await aredis.xrange(out)
    assert len({f[b"s"] for _, f in got}) == 1
    assert [decode_entry(out, i.decode(), f, RING).msg.n for i, f in got] == [100, 101, 102, 103]


async def test_a_sender_name_must_begin_with_its_signing_role(aredis: aioredis.Redis) -> None:
    """A process cannot sign under another role's name: the bus refuses to be built so."""
    with pytest.raises(ValueError, match="must begin with its signing role 'sensor'"):
        Bus(aredis, "basestation@host", KEYS["sensor"])
    assert [signing.sender_role(n) for n in
            ("edge", "edge.1-local", "cloud@host", "sensor-3", "sensors", "x-edge", "")] == [
        "edge", "edge", "cloud", "sensor", None, None, None]


def test_dead_letter_stream_stays_within_the_run() -> None:
    """The dead letters of a run's stream go to that run's own dead-letter stream."""
    assert keys.dead_letter(keys.stream("r9", "edge")) == "tb:{r9}:dead"
    assert keys.dead_letter("elsewhere") == "tb:dead"


# -- batching ---------------------------------------------------------------------------------

async def test_publish_many_is_consumed_in_large_batches_in_stream_order(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """500 messages are read 256 at a time (two batches) and handled in stream order."""
    order: list[int] = []

    async def handler(env: Envelope, fx: Effects) -> None:
        order.append(env.msg.n)
        fx.rpush(f"tb:{{t{uid}}}:order", env.msg.n)

    w = make_worker(aredis, stream, handler, count=256)
    await w.ensure_group(stream)
    await tbus(aredis, "sensor").publish_many([(stream, ping(i), None) for i in range(500)])
    assert await aredis.xlen(stream) == 500

    taken = [await w.step() for _ in range(3)]  # the first step drains the (empty) backlog
    assert sum(taken) == 500 and max(taken) == 256
    assert w.stats.batches == 2
    assert order == list(range(500))
    assert [int(x) for x in await aredis.lrange(f"tb:{{t{uid}}}:order", 0, -1)] == list(range(500))
    assert await pending(aredis, stream) == 0


async def test_publish_many_assigns_increasing_seqs(aredis: aioredis.Redis, stream: str) -> None:
    """A sender's messages carry its name and strictly increasing sequence numbers."""
    await tbus(aredis, "sensor-snd").publish_many([(stream, ping(i), None) for i in range(20)])
    envs = [decode_entry(stream, i.decode(), f, RING) for i, f in await aredis.xrange(stream)]
    seqs = [e.seq for e in envs]
    assert seqs == sorted(set(seqs)) and {e.sender for e in envs} == {"sensor-snd"}


# -- groups -----------------------------------------------------------------------------------

async def test_group_creation_is_idempotent(aredis: aioredis.Redis, stream: str, uid: str) -> None:
    """Creating an existing group (same worker twice, or a second worker) is not an error."""
    counter = f"tb:{{t{uid}}}:n"
    w1 = make_worker(aredis, stream, counting_handler(counter), consumer="c1")
    await w1.ensure_group(stream)
    await w1.ensure_group(stream)
    w2 = make_worker(aredis, stream, counting_handler(counter), consumer="c2")
    await w2.ensure_group(stream)  # hits BUSYGROUP in Redis
    groups = await aredis.xinfo_groups(stream)
    assert [g["name"] for g in groups] == [GROUP.encode()]

    await tbus(aredis, "sensor").publish_many([(stream, ping(i), None) for i in range(4)])
    assert await drain(w1, 4) == 4
    assert await w2.step() + await w2.step() == 0
    assert await aredis.get(counter) == b"4"  # one group: each message handled once


async def test_group_creation_propagates_errors_other_than_busygroup(
    aredis: aioredis.Redis, uid: str
) -> None:
    """ensure_group on a key holding a non-stream value raises instead of swallowing it."""
    key = keys.stream(f"t{uid}", "notastream")
    await aredis.set(key, "plain string")
    w = make_worker(aredis, key, counting_handler(f"tb:{{t{uid}}}:n"))
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await w.ensure_group(key)
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await w.step()  # not cached as created


async def test_step_without_streams_waits_and_takes_nothing(aredis: aioredis.Redis) -> None:
    """With no active streams a step sleeps for the block time and returns 0."""
    async def no_streams() -> list[str]:
        return []

    w = Worker(tbus(aredis, "sensor"), GROUP, "c1", no_streams, counting_handler("unused"),
               block_ms=30)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await w.step() == 0
    assert loop.time() - t0 >= 0.025


# -- commit-time failures, and a known gap (strict xfail: remove the marker when fixed) --------

async def test_effect_failing_inside_exec_is_not_acked_silently(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """An entry whose effect fails at EXEC is either left pending or dead-lettered, never lost."""
    text_key, other = f"tb:{{t{uid}}}:text", f"tb:{{t{uid}}}:other"
    await aredis.set(text_key, "not a number")

    async def handler(env: Envelope, fx: Effects) -> None:
        fx.set(other, "partial")
        fx.incr(text_key)  # fails at EXEC time: value is not an integer

    w = make_worker(aredis, stream, handler)
    await w.ensure_group(stream)
    await tbus(aredis, "sensor").publish(stream, ping(1))
    await drain(w, 1)

    letters = await dead_letters(aredis, stream)
    assert len(letters) == 1 and b"effect failed at commit" in letters[0][b"dl_error"]
    assert w.stats.dead == 1 and w.stats.handled == 0


async def test_duplicate_handled_concurrently_by_two_consumers_is_applied_once(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """Exactly-once effects hold across consumers of one group, not only within one: two
    copies of one message (the sender retried) read at the same time by two consumers are
    applied once; the other copy is acked without its effect, and nothing stays pending or
    claimed. (Before the claim, both dedupe checks passed while neither had committed: a
    handler that takes a while made both apply it.)"""
    counter = f"tb:{{t{uid}}}:n"
    calls: list[str] = []

    def handler_of(name: str) -> Handler:
        async def handler(env: Envelope, fx: Effects) -> None:
            calls.append(name)
            await asyncio.sleep(0.2)  # the other consumer's check runs meanwhile
            fx.incr(counter)
        return handler

    a = make_worker(aredis, stream, handler_of("A"), consumer="A", count=1)
    b = make_worker(aredis, stream, handler_of("B"), consumer="B", count=1)
    await a.ensure_group(stream)
    await b.ensure_group(stream)
    fields = encode(ping(1), "sensor-retrying", 7, stream=stream, keys=KEYS["sensor"])
    await aredis.xadd(stream, fields)
    await aredis.xadd(stream, fields)  # the sender retried after a timeout
    await a.step()  # drain the (empty) own backlogs first
    await b.step()

    assert await asyncio.gather(a.step(), b.step()) == [1, 1]
    assert await aredis.get(counter) == b"1"
    assert len(calls) == 1 and a.stats.duplicates + b.stats.duplicates == 1
    assert (await aredis.xpending(stream, GROUP))["pending"] == 0
    for key in a.claims_keys(stream):  # claims live only while in flight
        assert await aredis.scard(key) == 0


async def test_a_claimed_entry_re_read_after_a_crash_is_applied(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """A consumer that claimed an entry and died before its commit left the claim: the same
    entry, reclaimed by another consumer, finds its own claim and is applied (a claim never
    turns an entry into a lost duplicate); a later copy of the message is then skipped."""
    counter = f"tb:{{t{uid}}}:n"

    async def dies(env: Envelope, fx: Effects) -> None:
        raise asyncio.CancelledError  # the process ends inside the handler

    async def handler(env: Envelope, fx: Effects) -> None:
        fx.incr(counter)

    a = make_worker(aredis, stream, dies, consumer="A", count=1)
    await a.ensure_group(stream)
    fields = encode(ping(1), "sensor-x", 3, stream=stream, keys=KEYS["sensor"])
    await aredis.xadd(stream, fields)
    await a.step()  # own backlog
    with pytest.raises(asyncio.CancelledError):
        await a.step()
    assert await aredis.scard(a.claims_keys(stream)[0]) == 1
    b = make_worker(aredis, stream, handler, consumer="B", count=10, reclaim_idle_s=0.0)
    await b.ensure_group(stream)
    taken = await b.reclaim([stream])
    await b.process(taken)
    assert await aredis.get(counter) == b"1"
    await aredis.xadd(stream, fields)  # a retried copy, after the commit
    await b.step()
    await b.step()
    assert await aredis.get(counter) == b"1" and b.stats.duplicates >= 1
    assert (await aredis.xpending(stream, GROUP))["pending"] == 0
    for key in a.claims_keys(stream):
        assert await aredis.scard(key) == 0


async def test_stream_deleted_under_the_worker_is_forgotten_not_recreated(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """A finished run deleted (DELETE /runs/{id}) while a worker still lists its stream: the
    next step takes nothing and does not raise, and the stream is not re-created empty; other
    streams go on being served."""
    other = keys.stream(f"t{uid}", "other")

    async def streams() -> list[str]:
        return [stream, other]

    w = Worker(tbus(aredis, "edge-worker"), GROUP, "c1", streams, counting_handler(f"tb:{{t{uid}}}:n"),
               block_ms=20)
    assert await w.step() == 0  # creates both groups, reads the (empty) backlog
    await aredis.delete(stream)
    for _ in range(3):
        assert await w.step() == 0
    assert await aredis.exists(stream) == 0
    await tbus(aredis, "sensor").publish(other, ping(1))
    assert await drain(w, 1) == 1
    assert await aredis.get(f"tb:{{t{uid}}}:n") == b"1"
    assert await aredis.exists(stream) == 0


# -- the wire format ----------------------------------------------------------------------------

def test_an_entry_is_two_fields_header_and_body_then_payload() -> None:
    """``m`` carries type, version, sender, seq, wall, digest and the JSON body; ``p`` the bytes
    (absent without a payload); what is encoded decodes to the same message."""
    with_payload = encode(ping(5), "sensor-snd", 77, payload=b"\x00bytes", wall="12.5",
                          stream="s", keys=KEYS["sensor"])
    assert set(with_payload) == {"m", "s", "p"} and with_payload["p"] == b"\x00bytes"
    head = with_payload["m"].decode().split("\n", 6)
    assert head[:5] == [Ping.TYPE, "1", "sensor-snd", "77", "12.5"]
    assert head[5] == hashlib.sha256(b"\x00bytes").hexdigest()
    assert json.loads(head[6]) == {"run_id": "r1", "round": 0, "n": 5}
    env = decode_entry("s", "1-0", {k.encode(): v if isinstance(v, bytes) else v.encode()
                                    for k, v in with_payload.items()}, RING)
    assert (env.msg, env.sender, env.seq, env.payload, env.sent_wall) == (
        ping(5), "sensor-snd", 77, b"\x00bytes", 12.5)
    assert set(encode(ping(5), "sensor-snd", 78, stream="s", keys=KEYS["sensor"])) == {"m", "s"}
    with pytest.raises(ValueError, match="newline"):
        encode(ping(5), "two\nlines", 1, stream="s", keys=KEYS["sensor"])


async def test_one_bad_body_in_a_batch_dead_letters_only_that_entry(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """Bodies of one type are validated together; one invalid body among them sends only its
    own entry to the dead letters, with its own error, and the rest are handled in order."""
    order: list[int] = []

    async def handler(env: Envelope, fx: Effects) -> None:
        order.append(env.msg.n)

    w = make_worker(aredis, stream, handler)
    await w.ensure_group(stream)
    bus = tbus(aredis, "sensor")
    await bus.publish_many([(stream, ping(i), None) for i in range(3)])
    bad = _fields(stream, {"body": '{"run_id":"r1","round":0,"n":"three"}', "seq": "1",
                           "digest": ""}, sign_as="sensor")
    bad.pop("p")
    await aredis.xadd(stream, bad)
    await bus.publish_many([(stream, ping(i), None) for i in range(4, 6)])

    assert await drain(w, 6) == 6
    assert order == [0, 1, 2, 4, 5]
    [letter] = await dead_letters(aredis, stream)
    assert b"int_parsing" in letter[b"dl_error"] or b"valid integer" in letter[b"dl_error"]
    assert (w.stats.handled, w.stats.dead) == (5, 1)


# -- batch handlers ---------------------------------------------------------------------------

class BatchHandler:
    """A handler that also takes consecutive entries together (``batch_key``/``handle_batch``):
    odd n is that entry's error; n == 13 makes the whole call raise."""

    def __init__(self, counter: str) -> None:
        self.counter = counter
        self.calls: list[list[int]] = []

    async def __call__(self, env: Envelope, fx: Effects) -> None:
        err = (await self.handle_batch([env], fx))[0]
        if err is not None:
            raise err

    async def batch_key(self, env: Envelope) -> str:
        return env.stream

    async def handle_batch(self, envs: list[Envelope], fx: Effects) -> list[Exception | None]:
        ns = [e.msg.n for e in envs]
        self.calls.append(ns)
        if 13 in ns and len(ns) > 1:
            raise RuntimeError("the whole batch fails")
        out: list[Exception | None] = []
        for n in ns:
            if n % 2:
                out.append(ValueError(f"odd {n}"))
            else:
                fx.incr(self.counter)
                out.append(None)
        return out


async def test_batch_handler_takes_the_batch_at_once_and_keeps_per_entry_guarantees(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """One call for the batch, one effects recording; an entry whose outcome is an error is
    dead-lettered with it, the others commit with the acks; a replay applies nothing twice."""
    counter = f"tb:{{t{uid}}}:n"
    h = BatchHandler(counter)
    w = make_worker(aredis, stream, h)
    await w.ensure_group(stream)
    bus = tbus(aredis, "sensor")
    await bus.publish_many([(stream, ping(n), None) for n in (0, 1, 2, 4)])

    assert await drain(w, 4) == 4
    assert h.calls == [[0, 1, 2, 4]]
    assert await aredis.get(counter) == b"3"
    assert await pending(aredis, stream) == 0
    [letter] = await dead_letters(aredis, stream)
    assert b"ValueError: odd 1" in letter[b"dl_error"]
    assert (w.stats.handled, w.stats.dead) == (3, 1)

    # a replay of the same entries (a crash after EXEC, say) is skipped by the seen-set
    entries = [(stream, eid.decode(), f) for eid, f in await aredis.xrange(stream)]
    await w.process(entries)
    assert await aredis.get(counter) == b"3"
    assert w.stats.duplicates == 3


async def test_a_batch_call_that_raises_is_handled_one_by_one(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """If the batch call raises, every entry is handled alone: each error names its entry."""
    counter = f"tb:{{t{uid}}}:n"
    h = BatchHandler(counter)
    w = make_worker(aredis, stream, h)
    await w.ensure_group(stream)
    await tbus(aredis, "sensor").publish_many([(stream, ping(n), None) for n in (0, 13, 2)])

    assert await drain(w, 3) == 3
    assert h.calls == [[0, 13, 2], [0], [13], [2]]
    assert await aredis.get(counter) == b"2"
    [letter] = await dead_letters(aredis, stream)
    assert b"odd 13" in letter[b"dl_error"]
    assert await pending(aredis, stream) == 0


async def test_a_batch_whose_effects_fail_at_commit_dead_letters_all_its_entries(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """The entries of one batch recorded their effects together, so they fail together."""
    wrong = f"tb:{{t{uid}}}:string"
    await aredis.set(wrong, "not a number")

    class Failing(BatchHandler):
        async def handle_batch(self, envs: list[Envelope], fx: Effects
                               ) -> list[Exception | None]:
            fx.incr(wrong)  # fails inside EXEC
            return [None] * len(envs)

    w = make_worker(aredis, stream, Failing(f"tb:{{t{uid}}}:n"))
    await w.ensure_group(stream)
    await tbus(aredis, "sensor").publish_many([(stream, ping(n), None) for n in (0, 2)])
    assert await drain(w, 2) == 2
    letters = await dead_letters(aredis, stream)
    assert len(letters) == 2
    assert all(b"effect failed at commit" in x[b"dl_error"] for x in letters)
    assert await pending(aredis, stream) == 0

# -- a commit that never applied leaves no process-local state behind (the network-cut test)

async def test_a_failed_commit_drops_the_handlers_state_and_replays_at_once(
        aredis: aioredis.Redis, redis_url: str, stream: str, uid: str) -> None:
    """A batch whose MULTI/EXEC never applies stays pending, and the handler's process-local
    state (changed by the handler for writes that never reached Redis) is dropped through its
    ``forget()``: the replay, re-read at once, redoes the work instead of trusting a cache that
    says it is done. Here the commit is refused (the worker's Redis user loses its keys between
    handler and commit: EXECABORT); live it was Redis cut off from an edge mid-commit."""
    from urllib.parse import urlsplit

    from twinbed import redisconn

    if redisconn.is_cluster(aredis):
        pytest.skip("single Redis only: ACL users are per node (the refusal is what matters)")
    user, counter = f"u{uid}", f"tb:{{t{uid}}}:n"
    await aredis.acl_setuser(user, enabled=True, passwords=[f"+pw{uid}"], keys=["*"],
                             commands=["+@all"])
    r = redisconn.connect(f"redis://{user}:pw{uid}@{urlsplit(redis_url).netloc}/0")

    class Cached:
        """Like a scenario's ctx.cache: marks its work done in memory before the commit."""

        def __init__(self) -> None:
            self.done: set[int] = set()
            self.calls = self.forgotten = 0

        async def __call__(self, env: Envelope, fx: Effects) -> None:
            self.calls += 1
            if env.msg.n in self.done:  # type: ignore[attr-defined]
                return  # the cache says it is done: nothing to record
            self.done.add(env.msg.n)  # type: ignore[attr-defined]
            fx.incr(counter)
            if self.calls == 1:  # this attempt's commit will be refused
                await aredis.acl_setuser(user, enabled=True, reset_keys=True,
                                         keys=[f"elsewhere{uid}"], commands=["+@all"])

        def forget(self) -> None:
            self.forgotten += 1
            self.done.clear()

    h = Cached()
    try:
        w = make_worker(r, stream, h)
        await w.ensure_group(stream)
        await tbus(aredis, "sensor").publish(stream, ping(7))
        with pytest.raises(RuntimeError, match="NoPermission"):
            await drain(w, 1)
        assert h.forgotten == 1
        assert await aredis.get(counter) is None and await pending(aredis, stream) == 1
        await aredis.acl_setuser(user, enabled=True, keys=["*"], commands=["+@all"])
        assert await w.step() == 1  # its own pending entry, at once (no reclaim wait)
        assert h.calls == 2
        assert await aredis.get(counter) == b"1" and await pending(aredis, stream) == 0
    finally:
        await r.aclose()
        await aredis.acl_deluser(user)


# -- bounded retries of the bus's own bookkeeping (issue #14, item 3) and bounded dead letters

async def test_broken_bookkeeping_is_dead_lettered_after_bounded_retries_and_jams_nothing(
        aredis: aioredis.Redis, uid: str) -> None:
    poisoned, healthy = keys.stream(f"p{uid}", "x"), keys.stream(f"h{uid}", "x")
    bus = tbus(aredis, "sensor-x")
    counter = f"tb:{{h{uid}}}:count"  # the healthy run's slot (one transaction)

    async def streams() -> list[str]:
        return [poisoned, healthy]

    worker = Worker(tbus(aredis, "edge-w"), GROUP, "c1", streams, counting_handler(counter),
                    block_ms=20)
    await worker.ensure_group(poisoned)
    await aredis.set(worker.seen_key(poisoned), "not a set")  # WRONGTYPE for SMISMEMBER
    for n in range(3):
        await bus.publish(poisoned, ping(n))
        await bus.publish(healthy, ping(n))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(400):
            if (int(await aredis.get(counter) or 0) == 3
                    and len(await dead_letters(aredis, poisoned)) == 3):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert int(await aredis.get(counter) or 0) == 3  # the healthy stream was handled
    letters = await dead_letters(aredis, poisoned)
    assert len(letters) == 3
    for letter in letters:
        assert f"bus bookkeeping failed {MAX_ATTEMPTS} times".encode() in letter[b"dl_error"]
        assert b"WRONGTYPE" in letter[b"dl_error"]
    assert await pending(aredis, poisoned) == 0 and await pending(aredis, healthy) == 0
    assert worker._attempts == {}


async def test_a_dead_letter_keeps_a_bounded_excerpt(aredis: aioredis.Redis, uid: str) -> None:
    stream = keys.stream(f"t{uid}", "x")

    async def fail(env: Envelope, fx: Effects) -> None:
        raise RuntimeError("boom")

    async def streams() -> list[str]:
        return [stream]

    worker = Worker(tbus(aredis, "edge-w"), GROUP, "c1", streams, fail, block_ms=20)
    await worker.ensure_group(stream)
    payload = b"\x01" * (1 << 20)
    await tbus(aredis, "sensor-x").publish(stream, ping(1), payload)
    for _ in range(4):
        await worker.step()
    (letter,) = await dead_letters(aredis, stream)
    assert len(letter[b"p"]) == DEAD_EXCERPT and letter[b"dl_size_p"] == str(1 << 20).encode()
    assert b"RuntimeError: boom" in letter[b"dl_error"]


async def test_a_worker_over_several_runs_handles_each_and_loses_nothing(
        aredis: aioredis.Redis, uid: str) -> None:
    """One worker reading the streams of several runs (on a cluster: several hash slots, one
    read and one commit per slot; a blocking read per slot, the first answer taken and the
    others cancelled) handles every entry once, each with its own run's effects, also when
    messages come while it blocks."""
    runs = [f"m{uid}{i}" for i in range(3)]
    streams_ = [keys.stream(r, "x") for r in runs]
    counters = {s: keys.role_key(r, "x", "n") for r, s in zip(runs, streams_, strict=True)}

    async def handler(env: Envelope, fx: Effects) -> None:
        fx.incr(counters[env.stream])

    async def streams() -> list[str]:
        return streams_

    w = Worker(tbus(aredis, "edge-w"), GROUP, "c1", streams, handler, block_ms=50)
    bus = tbus(aredis, "sensor-x")
    for s in streams_:
        await w.ensure_group(s)
    await bus.publish_many([(s, ping(n), None) for n in range(5) for s in streams_])
    total = 0
    for _ in range(10):
        total += await w.step()
    assert total == 15
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    try:
        for n in range(12):  # one at a time, to one run, while the worker blocks on all
            await bus.publish(streams_[n % 3], ping(100 + n))
            await asyncio.sleep(0.02)
        for _ in range(400):
            if [await aredis.get(counters[s]) for s in streams_] == [b"9"] * 3:
                break
            await asyncio.sleep(0.025)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert [await aredis.get(counters[s]) for s in streams_] == [b"9"] * 3
    assert [await pending(aredis, s) for s in streams_] == [0, 0, 0]
    assert w.stats.handled == 27 and w.stats.duplicates == 0


async def test_a_run_deleted_under_a_worker_over_several_runs_delays_no_other_run(
        aredis: aioredis.Redis, uid: str) -> None:
    """A deleted run's stream answers NOGROUP; on a cluster the other runs' reads (other
    slots) may have been served in the same step: those entries are re-read from the
    consumer's own backlog at once, not left for the reclaim."""
    gone, kept = keys.stream(f"g{uid}", "x"), keys.stream(f"k{uid}", "x")
    counter = keys.role_key(f"k{uid}", "x", "n")

    async def streams() -> list[str]:
        return [gone, kept]

    w = Worker(tbus(aredis, "edge-w"), GROUP, "c1", streams, counting_handler(counter),
               block_ms=20, reclaim_idle_s=600)
    for s in (gone, kept):
        await w.ensure_group(s)
    assert await drain(w, 0) == 0  # the backlog of both is read
    await aredis.delete(gone)
    await tbus(aredis, "sensor-x").publish(kept, ping(1))
    total = 0
    for _ in range(4):
        total += await w.step()
    assert total == 1 and await aredis.get(counter) == b"1"
    assert await pending(aredis, kept) == 0 and w.stats.reclaimed == 0


async def test_a_dead_lettered_copy_releases_only_its_own_claim(
    aredis: aioredis.Redis, stream: str, uid: str
) -> None:
    """The claim of an entry dead-lettered after failed bookkeeping is released only if that
    entry holds it: releasing another entry's claim would let a third copy be applied beside
    the holder."""
    from twinbed.bus import _RELEASE_LUA  # noqa: PLC0415 - this test's alone

    w = make_worker(aredis, stream, counting_handler(f"tb:{{t{uid}}}:n"))
    held, owners = w.claims_keys(stream)
    await aredis.sadd(held, "s:1")
    await aredis.sadd(owners, "s:1|1-1")
    await aredis.eval(_RELEASE_LUA, 2, held, owners, "s:1", "s:1|2-2")  # another copy
    assert await aredis.smembers(held) == {b"s:1"}
    await aredis.eval(_RELEASE_LUA, 2, held, owners, "s:1", "s:1|1-1")  # the holder
    assert await aredis.scard(held) == 0 and await aredis.scard(owners) == 0
