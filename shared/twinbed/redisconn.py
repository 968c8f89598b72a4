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
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.cluster import (
    AbstractStrategy,
    ClusterPipeline,
    RedisCluster,
    TransactionStrategy,
)
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError

__all__ = ["CLUSTER_SCHEMES", "cluster_url", "connect", "first_answer", "is_cluster",
           "is_cluster_url", "pack_command", "slot_groups"]

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


class _Revived:
    """Mixin over a redis-py asyncio connection: an idle connection is PINGed before use
    (``health_check_interval``); when that PING finds it closed by the server (Redis was
    restarted), reconnect once and go on, instead of failing the command that was about to be
    sent. redis-py 8 retries the PING only with a connection-level ``retry``, which would also
    retry commands, and a command whose reply was lost may have been applied (a transaction
    must not run twice). The PING is idempotent; the command is still sent once."""

    async def check_health(self) -> None:
        try:
            await super().check_health()  # type: ignore[misc]
        except (RedisConnectionError, OSError):
            await self.disconnect()  # type: ignore[attr-defined]
            await self.connect()  # type: ignore[attr-defined]  # Redis still down: raises


class HiredisConnection(_Revived, _HiredisPacking, Connection):
    """A TCP connection packing with hiredis."""


class HiredisUnixConnection(_Revived, _HiredisPacking, UnixDomainSocketConnection):
    """A unix-socket connection packing with hiredis."""


_FAST = {Connection: HiredisConnection, UnixDomainSocketConnection: HiredisUnixConnection}


def cluster_url(url: str) -> str | None:
    """The plain ``redis://`` URL of a ``redis+cluster://`` one; None for a single Redis."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower()) if sep else None
    return None if plain is None else f"{plain}://{rest}"


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


class _Cluster(RedisCluster):
    """``RedisCluster`` whose transactions queue commands without a thread each
    (:class:`_SlotTransaction`)."""

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None
                 ) -> ClusterPipeline:
        pipe = super().pipeline(transaction, shard_hint)
        if transaction:
            pipe._execution_strategy = _SlotTransaction(pipe)
        return pipe


def connect(url: str, **kwargs: Any) -> aioredis.Redis:
    """``redis.asyncio.Redis.from_url(url, **kwargs)`` with hiredis command packing (TLS
    connections, ``rediss://``, keep redis-py's packer). A ``redis+cluster://`` URL gives a
    ``RedisCluster`` (typed as ``Redis``: the commands the project uses are the same)."""
    plain = cluster_url(url)
    if plain is not None:
        kwargs.pop("db", None)
        cluster = _Cluster.from_url(plain, **kwargs)
        fast_cls = _FAST.get(cluster.connection_kwargs.get("connection_class", Connection))
        if fast_cls is not None:
            cluster.connection_kwargs["connection_class"] = fast_cls
            for node in cluster.nodes_manager.startup_nodes.values():
                node.connection_class = fast_cls
        return cluster  # type: ignore[return-value]
    client = aioredis.Redis.from_url(url, **kwargs)
    pool = client.connection_pool
    fast = _FAST.get(pool.connection_class)
    if fast is not None:
        pool.connection_class = fast
    return client
