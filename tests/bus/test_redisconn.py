"""Commands packed by hiredis (twinbed.redisconn) against a real redis-server: the same bytes
on the wire and the same errors as redis-py's own packer."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from twinbed import redisconn

VALUES = [bytearray(b"ba"), "text", "ünïcode", b"\x00\xffbytes", 7, -3, 2**70, 0.1, 1e300, -2.5e-8, "a b c"]


def test_packing_equals_redis_pys_own() -> None:
    """Byte for byte what redis-py's pure-Python packer sends, for every argument kind."""
    ref = Connection()
    for v in VALUES:
        assert redisconn.pack_command("SET", "k", v) == b"".join(ref.pack_command("SET", "k", v))
    assert redisconn.pack_command("CONFIG GET", "maxmemory") == b"".join(
        ref.pack_command("CONFIG GET", "maxmemory"))
    assert redisconn.pack_command("SET", "k", memoryview(b"mv")) == b"".join(
        ref.pack_command("SET", "k", b"mv"))


@pytest.mark.parametrize("bad", [True, None, {"a": 1}, [1]])
def test_values_redis_py_refuses_are_refused(bad: object) -> None:
    with pytest.raises(DataError):
        redisconn.pack_command("SET", "k", bad)


async def test_values_round_trip_through_commands_and_pipelines(redis_url: str, uid: str) -> None:
    r = redisconn.connect(redis_url)
    try:
        assert r.connection_pool.connection_class is redisconn.HiredisConnection
        for i, v in enumerate(VALUES):
            await r.set(f"t{uid}:{i}", v)
        async with r.pipeline(transaction=True) as p:
            for i in range(len(VALUES)):
                p.get(f"t{uid}:{i}")
            got = await p.execute()
        plain = aioredis.Redis.from_url(redis_url)
        try:
            for i, v in enumerate(VALUES):
                await plain.set(f"t{uid}:ref", v)
                assert got[i] == await plain.get(f"t{uid}:ref"), v
        finally:
            await plain.aclose()
        with pytest.raises(DataError):
            await r.set(f"t{uid}:x", True)
        assert await r.ping()  # the connection is still usable after a refused command
    finally:
        await r.aclose()


async def test_an_idle_connection_revives_after_a_redis_restart(tmp_path) -> None:  # noqa: ANN001
    """The first command after Redis restarted (on an idle pooled connection the old server
    closed) succeeds: the health-check PING reconnects once. Without it the command failed
    with "Connection closed by server" (a service's first /health after a restart was 503)."""
    import subprocess
    import time

    import redis

    from twinbed.stack import find_redis_server, free_port

    port = free_port()

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
             str(tmp_path), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            try:
                if redis.Redis(port=port).ping():
                    return proc
            except redis.exceptions.ConnectionError:
                time.sleep(0.025)
        proc.kill()
        raise RuntimeError("redis-server did not start")

    proc = start()
    r = redisconn.connect(f"redis://127.0.0.1:{port}/0", health_check_interval=1)
    try:
        assert await r.set("k", "before")
        proc.kill()
        proc.wait(timeout=10)
        proc = start()
        time.sleep(1.1)  # idle past the health-check interval, as a quiet service is
        assert await r.get("k") is None  # a new, empty server answered
        assert await r.set("k", "after") and await r.get("k") == b"after"
    finally:
        await r.aclose()
        proc.kill()
        proc.wait(timeout=10)


async def test_a_cluster_url_gives_a_cluster_client_packing_with_hiredis(
        redis_cluster_url: str) -> None:
    """``redis+cluster://`` selects Redis Cluster mode: a RedisCluster whose node
    connections pack commands with hiredis, and slot_groups splits keys by hash slot there
    (on a single Redis it keeps them in one group)."""
    from redis.asyncio.cluster import RedisCluster  # noqa: PLC0415 - this test's alone

    from twinbed import keys  # noqa: PLC0415

    assert redisconn.is_cluster_url(redis_cluster_url)
    assert redisconn.cluster_url("redis+cluster://u:p@h:1") == "redis://u:p@h:1"
    assert redisconn.cluster_url("redis://h:1/0") is None
    r = redisconn.connect(redis_cluster_url)
    try:
        assert isinstance(r, RedisCluster) and redisconn.is_cluster(r)
        await r.set(keys.run_key("a", "x"), 1)
        nodes = r.get_nodes()
        assert len(nodes) == 3
        assert all(n.connection_class is redisconn.HiredisConnection for n in nodes)
        names = [keys.stream("a", "x"), keys.stream("b", "x"), keys.run_key("a", "y"),
                 keys.twin_key("a.s-0"), keys.twin_history("b.s-0")]
        assert redisconn.slot_groups(r, names) == [[names[0], names[2], names[3]],
                                                   [names[1], names[4]]]
        assert redisconn.slot_groups(object(), names) == [names]
    finally:
        await r.aclose()


async def test_a_cluster_transaction_queues_its_commands_without_a_thread_each(
        redis_cluster_url: str, uid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """redis-py's cluster transaction looks up each queued command's slot in a new thread
    with its own event loop (~1.5 ms a command: the bus on a cluster ran at ~0.1x its single
    Redis rate). The project's cluster client queues the commands a commit holds with the
    slot of their key, starts no thread, and the transaction applies all of them on the
    slot's node; a command outside the known set still works (redis-py's way), and keys of
    two slots in one transaction are still refused."""
    import threading  # noqa: PLC0415 - this test's alone

    from redis.exceptions import RedisClusterException  # noqa: PLC0415

    r = redisconn.connect(redis_cluster_url)
    tag = f"tb:{{t{uid}}}"
    started: list[object] = []
    real_start = threading.Thread.start

    def counting_start(self: threading.Thread) -> None:
        started.append(self)
        real_start(self)

    try:
        await r.set(f"{tag}:warm", 1)  # the slot map, before counting
        monkeypatch.setattr(threading.Thread, "start", counting_start)
        async with r.pipeline(transaction=True) as p:
            for i in range(50):
                p.incr(f"{tag}:n")
                p.sadd(f"{tag}:s", i)
            p.eval("return redis.call('INCR', KEYS[1])", 1, f"{tag}:n")
            p.xadd(f"{tag}:x", {"i": 1})
            got = await p.execute()
        assert started == [] and got[-2] == 51
        assert await r.scard(f"{tag}:s") == 50
        async with r.pipeline(transaction=True) as p:
            p.getrange(f"{tag}:warm", 0, 0)  # not in the known set: redis-py's own path
            p.incr(f"{tag}:n")
            assert await p.execute() == [b"1", 52]
        with pytest.raises(RedisClusterException):
            async with r.pipeline(transaction=True) as p:
                p.incr(f"{tag}:n")
                p.incr(f"tb:{{other{uid}}}:n")
                await p.execute()
    finally:
        await r.aclose()


def test_a_cluster_url_names_several_seeds() -> None:
    """``redis+cluster://h1:p1,h2:p2``: the first seed's plain URL (with the credentials,
    database and options) and the others' addresses; a seed without a port is refused."""
    assert redisconn.cluster_seeds("redis+cluster://:pw@a:1,b:2,[::1]:3/0?x=1") == (
        "redis://:pw@a:1/0?x=1", [("b", 2), ("::1", 3)])
    assert redisconn.cluster_seeds("rediss+cluster://a:1?x=1") == ("rediss://a:1?x=1", [])
    assert redisconn.cluster_seeds("redis://a:1,b:2") is None
    with pytest.raises(ValueError, match="host:port"):
        redisconn.cluster_seeds("redis+cluster://a:1,b")


async def test_a_client_whose_first_seed_is_down_starts_from_the_next(
        redis_cluster_url: str) -> None:
    """A service (or `twinbed` command) started while its first seed node is down reaches
    the cluster through the next seed, async and sync clients alike; with the dead seed
    alone it cannot (the reason a deployment names several)."""
    from redis.exceptions import RedisClusterException  # noqa: PLC0415

    from twinbed import keys  # noqa: PLC0415
    from twinbed.stack import free_port, sync_client  # noqa: PLC0415

    live = redis_cluster_url.split("://", 1)[1]
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    r = redisconn.connect(f"redis+cluster://{dead},{live}")
    try:
        await r.set(keys.run_key("seeds", "x"), "1")
        assert await r.get(keys.run_key("seeds", "x")) == b"1"
        assert all(n.connection_class is redisconn.HiredisConnection for n in r.get_nodes())
    finally:
        await r.aclose()
    s = sync_client(f"redis+cluster://{dead},{live}")
    try:
        assert s.get(keys.run_key("seeds", "x")) == b"1"
    finally:
        s.close()
    alone = redisconn.connect(f"redis+cluster://{dead}")
    try:
        with pytest.raises(RedisClusterException):
            await alone.get(keys.run_key("seeds", "x"))
    finally:
        await alone.aclose()
