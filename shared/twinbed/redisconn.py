"""Async Redis clients whose commands are packed in C (hiredis), for the hot paths.

redis-py parses replies with hiredis when it is installed, but its asyncio connection still
packs every command into the RESP protocol in pure Python (``Connection.pack_command``): on the
bus that was ~44 % of the time of a publish-consume-ack cycle. redis-py's synchronous client
can pack with ``hiredis.pack_command`` (``HiredisRespSerializer``); its asyncio client cannot
(redis-py 8.1). :func:`connect` builds an ordinary ``redis.asyncio.Redis`` whose connections
pack with hiredis; everything else (pool, pipelines, retries, replies) is redis-py's own.

hiredis formats ``int`` and ``float`` arguments itself, byte for byte as redis-py's encoder
does (tests/bus/test_redisconn.py). Arguments neither packs (a ``bool``, ``None``, a dict)
raise redis-py's ``DataError``, as redis-py does.

A transaction is never sent twice. redis-py retries a command or a whole ``MULTI/EXEC`` whose
connection broke (10 times by default, the cluster client after re-reading the slot map),
which is what carries the clients through a Redis Cluster failover; but a transaction whose
``EXEC`` was sent and whose reply was lost may have been applied (and, on a cluster,
replicated to the replica that is promoted), and sending it again applies it twice (a twin's
version incremented twice). These connections raise :class:`CommitUnknownError` instead,
which redis-py does not retry; the caller decides (the bus leaves the batch pending and its
replay skips what the seen-set says was applied). :data:`UNAVAILABLE` is every error that
means "Redis is not answering now" (down, restarting, failing over), never a reason to
dead-letter a message or fail a run.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.cluster import (
    AbstractStrategy,
    ClusterNode,
    ClusterPipeline,
    RedisCluster,
    TransactionStrategy,
)
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.crc import key_slot
from redis.exceptions import (
    ClusterError,
    DataError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["CLUSTER_SCHEMES", "UNAVAILABLE", "WAIT_STATS", "CommitUnknownError", "WaitStats",
           "cluster_seeds", "cluster_url", "connect", "first_answer", "is_cluster",
           "is_cluster_url", "pack_command", "slot_groups"]


class CommitUnknownError(RedisError):
    """The connection broke after a ``MULTI/EXEC`` was sent and before its reply was read:
    the transaction may or may not have been applied. Not a ``ConnectionError``, so redis-py
    does not send it again; the caller finds out from Redis what happened."""


# Redis is not answering now: unreachable, restarting, loading its data (BusyLoadingError is
# a ConnectionError), a cluster failing over (CLUSTERDOWN, MASTERDOWN, TRYAGAIN, a slot
# without a live primary, redirections that did not settle), or a commit whose outcome the
# broken connection did not tell. Wait and retry; never dead-letter or fail a run for it.
UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError, RedisTimeoutError, ClusterError, TryAgainError, SlotNotCoveredError,
    CommitUnknownError)

# URL schemes that select Redis Cluster mode, and the plain scheme each stands for
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
K = TypeVar("K")


def pack_command(*args: Any) -> bytes:
    """One command in the RESP protocol, packed by hiredis (redis-py's argument rules: a
    first argument with spaces, ``"CONFIG GET"``, is several words)."""
    cmd = args[0]
    if (" " if isinstance(cmd, str) else b" ") in cmd:
        args = (*cmd.split(), *args[1:])
    try:  # hiredis refuses bool, None and containers, as redis-py's encoder does
        return hiredis.pack_command(args)
    except TypeError as exc:
        if not any(isinstance(a, bytearray) for a in args):
            kinds = ", ".join(sorted({type(a).__name__ for a in args}))
            raise DataError(f"{exc} (got {kinds})") from exc
    plain: tuple[Any, ...] = tuple(bytes(a) if isinstance(a, bytearray) else a for a in args)
    return hiredis.pack_command(plain)


class _HiredisPacking:
    """Mixin over a redis-py asyncio connection: pack commands with hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        return [pack_command(*args)]

    def pack_commands(self, commands: Any) -> list[bytes]:
        return [b"".join(pack_command(*cmd) for cmd in commands)]


def _is_exec(cmd: Any) -> bool:
    return isinstance(cmd, (str, bytes)) and cmd.upper() in ("EXEC", b"EXEC")


@dataclass
class WaitStats:
    """What the commits' ``WAIT`` cost in this process (``TWINBED_REDIS_WAIT_REPLICAS``)."""

    commits: int = 0  # transactions followed by a WAIT
    short: int = 0  # WAITs that timed out with fewer replicas than asked
    skipped: int = 0  # transactions not followed by one (within WAIT_PAUSE_S of a short one)
    seconds: float = 0.0  # time spent waiting


# After a WAIT that timed out, no connection of this process to that server sends one for
# this long: a primary without its replicas (one just promoted has none until one is added)
# would otherwise make every commit wait the whole timeout (a live compression round took
# 0.55 s instead of 0.07 s with a 500 ms timeout and a 1 s pause per connection).
WAIT_PAUSE_S = 10.0
_WAIT_PAUSED: dict[tuple[Any, ...], float] = {}  # server -> monotonic time WAITs resume


WAIT_STATS = WaitStats()


class _OnceCommit:
    """Mixin over a redis-py asyncio connection: once a packet holding ``EXEC`` was sent (or
    its sending failed part way), a broken connection before its replies are read is
    :class:`CommitUnknownError`, which redis-py does not retry (a ``ConnectionError`` would
    make it send the transaction again, applying it twice if the first one was applied).

    With ``wait_replicas`` > 0 (``TWINBED_REDIS_WAIT_REPLICAS``), the transaction's last
    reply is followed on the same connection by ``WAIT wait_replicas wait_ms``: the commit
    returns once that many replicas have it (or the timeout passed: counted in
    :data:`WAIT_STATS`, not an error; the write stands on the primary). A connection that
    breaks during the WAIT is :class:`CommitUnknownError` too: the primary may have died
    before a replica had the commit, and the caller's replay re-applies it on the promoted
    replica if it is missing there. After a WAIT that timed out, no connection to that
    server sends one for :data:`WAIT_PAUSE_S` (a primary that lost its replicas, e.g. one
    just promoted, would make every commit wait the whole timeout)."""

    wait_replicas = 0
    wait_ms = 0
    _exec_packet: Any = None  # the last packed MULTI/EXEC (by identity)
    _exec_len = 0  # its commands: the replies to read
    _exec_sent = False  # the replies being read are a transaction's
    _replies_left = 0

    def pack_commands(self, commands: Any) -> list[bytes]:
        cmds = list(commands)
        out: list[bytes] = super().pack_commands(cmds)  # type: ignore[misc]
        self._exec_packet = out if any(cmd and _is_exec(cmd[0]) for cmd in cmds) else None
        self._exec_len = len(cmds)
        return out

    def _unknown(self, exc: Exception) -> Exception:
        if not isinstance(exc, (RedisConnectionError, RedisTimeoutError, OSError)):
            return exc
        err = CommitUnknownError(f"the connection broke after a transaction was sent, "
                                 f"before its reply ({type(exc).__name__}: {exc}); it may "
                                 f"or may not have been applied")
        err.__cause__ = exc
        return err

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        is_exec = command is self._exec_packet and command is not None
        self._exec_sent = False  # (the health check's PING, sent from inside, reads plain)
        if is_exec:
            # connecting (refused: the node is dead) and the health check send nothing of the
            # transaction: their errors stay ConnectionErrors, which redis-py retries (the
            # cluster client after re-reading the slot map, finding the promoted replica)
            if not self.is_connected:  # type: ignore[attr-defined]
                await self.connect_check_health(check_health=False)  # type: ignore[attr-defined]
            if check_health:
                await self.check_health()  # type: ignore[attr-defined]
            try:
                await super().send_packed_command(command, False)  # type: ignore[misc]
            except Exception as exc:
                raise self._unknown(exc) from exc
            self._exec_sent = True
            self._replies_left = self._exec_len
            return
        await super().send_packed_command(command, check_health)  # type: ignore[misc]

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            reply = await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            if not self._exec_sent:
                raise
            unknown = self._unknown(exc)
            if unknown is not exc:  # the connection broke: the transaction's fate is unknown
                self._exec_sent = False
                raise unknown from exc
            # an error reply (a command refused while queued; EXECABORT): one reply read
            self._replies_left -= 1
            if self._replies_left <= 0:
                self._exec_sent = False
            raise
        if self._exec_sent:
            self._replies_left -= 1
            if self._replies_left <= 0:  # EXEC's reply: the transaction is applied
                if self.wait_replicas > 0:
                    await self._wait()
                self._exec_sent = False
        return reply

    def _server(self) -> tuple[Any, ...]:
        return (getattr(self, "host", None), getattr(self, "port", None),
                getattr(self, "path", None))

    async def _wait(self) -> None:
        t0 = time.perf_counter()
        if t0 < _WAIT_PAUSED.get(self._server(), 0.0):
            WAIT_STATS.skipped += 1
            return
        try:
            await super().send_packed_command(  # type: ignore[misc]
                self.pack_command("WAIT", self.wait_replicas, self.wait_ms), False)  # type: ignore[attr-defined]
            acked = await super().read_response()  # type: ignore[misc]
        except Exception as exc:
            self._exec_sent = False
            raise self._unknown(exc) from exc
        finally:
            WAIT_STATS.seconds += time.perf_counter() - t0
        WAIT_STATS.commits += 1
        if isinstance(acked, int) and acked < self.wait_replicas:
            WAIT_STATS.short += 1
            _WAIT_PAUSED[self._server()] = time.perf_counter() + WAIT_PAUSE_S


class _Revived:
    """Mixin over a redis-py asyncio connection: an idle connection is PINGed before use
    (``health_check_interval``); when that PING finds it closed by the server (Redis was
    restarted), reconnect once and go on, instead of failing the command that was about to be
    sent. redis-py 8 retries the PING only with a connection-level ``retry``, which would also
    retry commands, and a command whose reply was lost may have been applied (a transaction
    must not run twice: the single client is built without one; the cluster client has one,
    and :class:`_OnceCommit` keeps it from re-sending a transaction). The PING is idempotent;
    the command is still sent once."""

    async def check_health(self) -> None:
        try:
            await super().check_health()  # type: ignore[misc]
        except (RedisConnectionError, OSError):
            await self.disconnect()  # type: ignore[attr-defined]
            await self.connect()  # type: ignore[attr-defined]  # Redis still down: raises


class HiredisConnection(_OnceCommit, _Revived, _HiredisPacking, Connection):
    """A TCP connection packing with hiredis."""


class HiredisUnixConnection(_OnceCommit, _Revived, _HiredisPacking, UnixDomainSocketConnection):
    """A unix-socket connection packing with hiredis."""


class OnceCommitSSLConnection(_OnceCommit, _Revived, SSLConnection):
    """A TLS connection (redis-py's own packer) that never re-sends a transaction."""


_FAST = {Connection: HiredisConnection, UnixDomainSocketConnection: HiredisUnixConnection,
         SSLConnection: OnceCommitSSLConnection}


def cluster_url(url: str) -> str | None:
    """The plain ``redis://`` URL of a ``redis+cluster://`` one (its first seed, when it
    names several); None for a single Redis."""
    seeds = cluster_seeds(url)
    return None if seeds is None else seeds[0]


def cluster_seeds(url: str) -> tuple[str, list[tuple[str, int]]] | None:
    """A ``redis+cluster://`` URL naming one seed node or several, comma-separated
    (``redis+cluster://:pw@10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379/0``): the plain URL of
    the first and the ``(host, port)`` of the others; None for a single Redis. A client
    started, or re-reading the slot map, while one seed is down asks the next (redis-py
    tries every startup node), so a deployment should name several."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower()) if sep else None
    if plain is None:
        return None
    m = re.fullmatch(r"(?P<auth>[^@/?]*@)?(?P<hosts>[^/?]*)(?P<tail>.*)", rest, re.S)
    assert m is not None  # every string matches
    first, *others = m["hosts"].split(",")
    extra: list[tuple[str, int]] = []
    for h in others:
        host, colon, port = h.strip().rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"a cluster seed must be host:port, got {h!r} in the Redis URL")
        extra.append((host.strip("[]"), int(port)))
    return f"{plain}://{m['auth'] or ''}{first}{m['tail']}", extra


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` selects Redis Cluster mode (``redis+cluster://``)."""
    return cluster_url(url) is not None


def is_cluster(r: Any) -> bool:
    """Whether ``r`` is a Redis Cluster client (or one of its pipelines)."""
    return isinstance(r, RedisCluster) or getattr(r, "cluster_client", None) is not None


def slot_groups(r: Any, items: Sequence[K], key: Any = None) -> list[list[K]]:
    """``items`` grouped by the hash slot of their key (``key(item)``, else the item), in
    order of first appearance; one group with all of them on a single Redis (where nothing
    needs splitting, so it stays one command)."""
    if not items:
        return []
    if not is_cluster(r):
        return [list(items)]
    groups: dict[int, list[K]] = {}
    for it in items:
        k = it if key is None else key(it)
        groups.setdefault(key_slot(k.encode() if isinstance(k, str) else k), []).append(it)
    return list(groups.values())


async def first_answer(reads: Sequence[Awaitable[K]]) -> tuple[list[asyncio.Task[K]],
                                                                set[asyncio.Task[K]]]:
    """Run several blocking reads (one per hash slot on a cluster, where one command cannot
    span slots) and wait for the first to answer; the others are cancelled and awaited, so
    none outlives the call. Returns every task, in the order given, and the set that finished:
    a finished task may hold an exception, which the caller reads (``t.exception()``) and
    decides on, since what a cancelled read leaves behind differs (XREAD: nothing; XREADGROUP:
    entries pending for the consumer)."""
    tasks = [asyncio.ensure_future(r) for r in reads]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return tasks, done


# commands whose first argument is their (first) key: a transaction's slot is that key's
KEY_FIRST = frozenset({
    "SET", "SETEX", "PSETEX", "SETNX", "GETSET", "GETDEL", "INCR", "INCRBY", "INCRBYFLOAT",
    "DECR", "DECRBY", "APPEND", "DEL", "UNLINK", "EXPIRE", "PEXPIRE", "EXPIREAT",
    "PEXPIREAT", "PERSIST", "HSET", "HSETNX", "HMSET", "HDEL", "HINCRBY", "HINCRBYFLOAT",
    "SADD", "SREM", "ZADD", "ZREM", "ZINCRBY", "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "LPUSH",
    "RPUSH", "LPOP", "RPOP", "LTRIM", "LREM", "LSET", "XADD", "XACK", "XDEL", "XTRIM",
})


def _first_key(args: tuple[Any, ...]) -> bytes | None:
    """The first key of a command as a cluster transaction queues it, when it is known
    without asking the server; None otherwise."""
    name = str(args[0]).upper()
    if name in KEY_FIRST and len(args) > 1:
        key = args[1]
    elif name in ("EVAL", "EVALSHA") and len(args) > 3 and int(args[2]) > 0:
        key = args[3]
    else:
        return None
    if isinstance(key, str):
        return key.encode()
    return key if isinstance(key, bytes) else None


class _SlotTransaction(TransactionStrategy):
    """redis-py's cluster transaction (MULTI/EXEC on the node of its slot, with its retries
    and redirections), except how it queues a command: redis-py 8.1 runs every queued
    command's slot lookup (``_determine_slot``, async) in a new thread with its own event
    loop, ~1.5 ms per command, so a cluster commit of 256 messages took 0.4 s and the bus ran
    at ~0.1x its single-Redis rate. The slot of a command whose key is known (every command
    a commit holds: :data:`KEY_FIRST`, EVAL with keys) is the CRC16 of that key, as redis-py
    computes it; anything else (WATCH, a command with no key) goes redis-py's way."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        key = _first_key(args)
        if (key is None or self._watching or self._explicit_transaction
                or self._pipe.cluster_client._initialize):
            return super().execute_command(*args, **kwargs)
        self._pipeline_slots.add(key_slot(key))
        return AbstractStrategy.execute_command(self, *args, **kwargs)


def _stream_keys(command: Any, args: tuple[Any, ...]) -> list[Any] | None:
    """The keys of an ``XREAD``/``XREADGROUP`` (the first half of what follows ``STREAMS``);
    None for another command."""
    if str(command).upper() not in ("XREAD", "XREADGROUP"):
        return None
    for i, a in enumerate(args):
        if isinstance(a, (str, bytes)) and a.upper() in ("STREAMS", b"STREAMS"):
            rest = args[i + 1:]
            return list(rest[:len(rest) // 2])
    return None


class _Cluster(RedisCluster):
    """``RedisCluster`` whose transactions queue commands without a thread each
    (:class:`_SlotTransaction`), and whose stream reads find their slot without asking a
    server (:meth:`_determine_slot`)."""

    async def _determine_slot(self, command: str, *args: Any) -> int:
        """The hash slot of a command. redis-py asks a server (``COMMAND GETKEYS``, on the
        node it picked as default when it last read the slot map) for the keys of a command
        whose keys move, ``XREADGROUP`` among them: a round trip per read, and, when that
        node dies, an error raised before redis-py's retry loop, so nothing re-reads the slot
        map and every later read fails on the dead node. A worker stayed stuck so for
        minutes after the kill of a primary that was its client's default node (the seed,
        usually). Stream reads get their keys here; and an unanswered ``COMMAND GETKEYS``
        of any other command marks the slot map for re-reading, as a failed command does."""
        keys = _stream_keys(command, args)
        if keys:
            slots = {self.keyslot(k) for k in keys}
            if len(slots) != 1:
                raise RedisClusterException(f"{command} - all keys must map to the same key slot")
            return slots.pop()
        try:
            return await super()._determine_slot(command, *args)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            self._initialize = True  # the next command re-reads the slot map and the parser's node
            raise

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None
                 ) -> ClusterPipeline:
        pipe = super().pipeline(transaction, shard_hint)
        if transaction:
            pipe._execution_strategy = _SlotTransaction(pipe)
        return pipe


def _connection_class(base: type, wait_replicas: int, wait_ms: int) -> type | None:
    fast = _FAST.get(base)
    if fast is None or wait_replicas <= 0:
        return fast
    return type(f"{fast.__name__}Wait{wait_replicas}", (fast,),
                {"wait_replicas": wait_replicas, "wait_ms": wait_ms})


def connect(url: str, *, wait_replicas: int = 0, wait_ms: int = 100,
            **kwargs: Any) -> aioredis.Redis:
    """``redis.asyncio.Redis.from_url(url, **kwargs)`` with hiredis command packing (TLS
    connections, ``rediss://``, keep redis-py's packer). A ``redis+cluster://`` URL gives a
    ``RedisCluster`` (typed as ``Redis``: the commands the project uses are the same).
    ``wait_replicas`` > 0: every transaction is followed by ``WAIT wait_replicas wait_ms``
    (see :class:`_OnceCommit`)."""
    seeds = cluster_seeds(url)
    if seeds is not None:
        plain, others = seeds
        kwargs.pop("db", None)
        if others:
            kwargs["startup_nodes"] = [ClusterNode(h, p) for h, p in others]
        cluster = _Cluster.from_url(plain, **kwargs)
        fast_cls = _connection_class(
            cluster.connection_kwargs.get("connection_class", Connection), wait_replicas,
            wait_ms)
        if fast_cls is not None:
            cluster.connection_kwargs["connection_class"] = fast_cls
            for node in cluster.nodes_manager.startup_nodes.values():
                node.connection_class = fast_cls
        return cluster  # type: ignore[return-value]
    client = aioredis.Redis.from_url(url, **kwargs)
    pool = client.connection_pool
    fast = _connection_class(pool.connection_class, wait_replicas, wait_ms)
    if fast is not None:
        pool.connection_class = fast
    return client
