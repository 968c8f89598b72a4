"""Failover on a Redis Cluster of 3 primaries + 3 replicas (tests/conftest.py
``failover_cluster``): the primary serving a run's hash slot is killed with SIGKILL in the
middle of bus traffic that writes twins; its replica is promoted and the work completes with
every bus guarantee: each message still in the stream applied exactly once (twin versions and
histories, the messages it sent), nothing left pending, no dead letter. Redis replication is
asynchronous, so a write the old primary acknowledged in the last moments before the kill can
be missing after the promotion (``twinbed bench failover`` measures how many): the test
requires that any such loss is of writes acknowledged *before* the kill, and counts it."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
import redis

from twinbed import keys, redisconn, signing
from twinbed.bus import REDIS_DOWN, Bus, Effects, Envelope, Worker, commit, decode_entry
from twinbed.config import Role
from twinbed.localcluster import LocalCluster, cluster_ports
from twinbed.messages import Message
from twinbed.stack import find_redis_server
from twinbed.twins import TwinStore, twin_id

SEEDS = signing.new_seeds()
KEYS = {role: signing.memory_keys(role, SEEDS) for role in ("sensor", "cloud")}
TWINS = 4


class Tick(Message):
    """A test-only message (its TYPE cannot collide with a real one)."""

    TYPE: ClassVar[str] = "twinbed-tests.failover.tick"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor", "cloud")
    n: int


async def _send(r: redisconn.aioredis.Redis, bus: Bus, stream: str, run: str, n: int,
                seq: int) -> None:
    """Publish message ``n`` with a fixed ``(sender, seq)`` until Redis acknowledges it: a
    sender re-sending after an error it cannot read (the commit's reply lost) sends the same
    message again, which the consumer applies once."""
    while True:
        fx = bus.effects()
        fx.publish(stream, Tick(run_id=run, round=n // TWINS, n=n), seq=seq)
        try:
            await commit(r, fx)
            return
        except REDIS_DOWN:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("wait", [0, 1], ids=["async", "wait-1"])
async def test_a_primary_killed_mid_traffic_is_replaced_and_no_message_is_lost_or_doubled(
        failover_cluster: LocalCluster, uid: str, wait: int) -> None:
    """``wait``: the commits wait for one replica (TWINBED_REDIS_WAIT_REPLICAS=1); then no
    acknowledged write may be lost at all."""
    cluster = failover_cluster
    run = f"fo{uid}"
    inbox, out = keys.stream(run, "cloud"), keys.stream(run, "controller")
    n_msgs, kill_at = 600, 200
    short_before = redisconn.WAIT_STATS.short
    # the sender's client and the consumer's
    rp = redisconn.connect(cluster.replica_url, wait_replicas=wait, wait_ms=500)
    rc = redisconn.connect(cluster.replica_url, wait_replicas=wait, wait_ms=500)
    store = TwinStore(rc)
    cloud = Bus(rc, "cloud-fo", KEYS["cloud"])

    async def handler(env: Envelope, fx: Effects) -> None:
        n = env.msg.n  # type: ignore[attr-defined]
        store.update(fx, twin=twin_id(run, f"s{n % TWINS}"), kind="test", run_id=run,
                     round_=n // TWINS, state={"n": n}, modeled_s=0.0, aoi_modeled_s=0.0,
                     wall=time.time(), aoi_wall_s=0.0, fidelity={})
        fx.publish(out, Tick(run_id=run, round=env.msg.round, n=n))

    async def streams() -> list[str]:
        return [inbox]

    worker = Worker(cloud, "cloud", "c1", streams, handler, block_ms=50, reclaim_idle_s=1.0)
    await worker.ensure_group(inbox)
    sensor = Bus(rp, "sensor-fo", KEYS["sensor"])
    base = time.time_ns()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    acked_before_kill: set[int] = set()
    killed = None
    t_kill = 0.0
    short_at_kill = short_before
    try:
        for n in range(n_msgs):
            if n == kill_at:
                # the run's slot has been written and read for a while: kill its primary
                short_at_kill = redisconn.WAIT_STATS.short
                killed = await asyncio.to_thread(cluster.kill_owner, inbox)
                t_kill = time.monotonic()
            await _send(rp, sensor, inbox, run, n, base + n)
            if killed is None:
                acked_before_kill.add(n)
            await asyncio.sleep(0.002)
        promoted = await asyncio.to_thread(cluster.wait_promoted, inbox, killed)
        assert promoted is not killed and promoted.alive
        # every message the stream holds now is applied (the work completes)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            present = {decode_entry(inbox, i.decode(), f, KEYS["cloud"].ring).msg.n
                       for i, f in await rc.xrange(inbox)}
            applied = 0
            for k in range(TWINS):
                applied += int(await rc.hget(keys.twin_key(twin_id(run, f"s{k}")), "version")
                               or 0)
            if applied >= len(present) and (await rc.xpending(inbox, "cloud"))["pending"] == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    recovered_s = time.monotonic() - t_kill

    entries = [decode_entry(inbox, i.decode(), f, KEYS["cloud"].ring)
               for i, f in await rc.xrange(inbox)]
    present = {e.msg.n for e in entries}  # type: ignore[attr-defined]
    # each message in the stream once in the twins: no round twice, one version per entry
    in_twins: list[int] = []
    for k in range(TWINS):
        hist = await store.history(twin_id(run, f"s{k}"))
        rounds = [h.round for h in hist]
        assert len(rounds) == len(set(rounds)), f"twin s{k}: a message applied twice"
        assert [h.version for h in hist] == list(range(1, len(hist) + 1))
        twin = await store.get(twin_id(run, f"s{k}"))
        assert twin is not None and twin.version == len(hist)
        in_twins += [h.state["n"] for h in hist]
    assert sorted(in_twins) == sorted(present), "a message in the stream not applied once"
    # what the handler sent: once per applied message
    sent = [decode_entry(out, i.decode(), f, KEYS["cloud"].ring).msg.n  # type: ignore[attr-defined]
            for i, f in await rc.xrange(out)]
    assert sorted(sent) == sorted(present)
    assert (await rc.xpending(inbox, "cloud"))["pending"] == 0
    assert await rc.xlen(keys.dead_letter(inbox)) == 0
    # writes lost at the failover were acknowledged before the kill (asynchronous
    # replication), never after the promotion
    lost = set(range(n_msgs)) - present
    assert lost <= acked_before_kill, sorted(lost - acked_before_kill)
    if wait and short_at_kill == short_before:  # every commit before the kill reached the replica
        assert lost == set(), sorted(lost)
    print(f"failover: {len(lost)} acked publishes lost, {worker.stats.duplicates} duplicates "
          f"skipped, recovered {recovered_s:.1f} s after the kill")
    await rp.aclose()
    await rc.aclose()


class _DropOneExecReply:
    """A TCP proxy in front of a real Redis that forwards everything, except that the first
    reply after a packet holding ``EXEC`` is dropped and the client's connection cut: Redis
    applied the transaction, the client never hears of it."""

    def __init__(self) -> None:
        self.upstream = 0
        self.dropped = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port: int = self.server.sockets[0].getsockname()[1]
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        exec_seen = asyncio.Event()

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                if b"EXEC" in data and not self.dropped:
                    exec_seen.set()
                uw.write(data)
                await uw.drain()
            uw.close()

        async def server_to_client() -> None:
            while data := await ur.read(65536):
                if exec_seen.is_set() and not self.dropped:
                    self.dropped += 1
                    writer.transport.abort()
                    uw.close()
                    return
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(client_to_server(), server_to_client(), return_exceptions=True)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def one_node_cluster(tmp_path: Path) -> AsyncIterator[tuple[_DropOneExecReply, str]]:
    """A Redis Cluster of one primary holding every slot, announcing the proxy's port, so the
    cluster client (which connects to what ``CLUSTER SLOTS`` names) goes through the proxy."""
    proxy = _DropOneExecReply()
    proxy_port = await proxy.start()
    [port] = cluster_ports(1)
    proxy.upstream = port
    proc = subprocess.Popen(
        [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
         str(tmp_path), "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
         "--cluster-announce-port", str(proxy_port),
         "--cluster-announce-bus-port", str(port + 10000)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        direct = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
        for _ in range(200):
            try:
                direct.ping()
                break
            except redis.ConnectionError:
                await asyncio.sleep(0.025)
        direct.execute_command("CLUSTER", "ADDSLOTS", *range(16384))
        for _ in range(400):
            if direct.cluster("INFO").get("cluster_state") == "ok":
                break
            await asyncio.sleep(0.025)
        yield proxy, f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        await proxy.stop()


async def test_a_commit_waits_for_a_replica_and_a_timeout_is_counted_not_raised(
        redis_url: str, failover_cluster: LocalCluster, uid: str) -> None:
    """TWINBED_REDIS_WAIT_REPLICAS: the transaction returns its replies after the WAIT; with
    no replica (a single Redis) the WAIT times out, which is counted and not an error."""
    stats = redisconn.WAIT_STATS
    key = f"tb:{{t{uid}}}:n"
    for url, short in ((cluster_url := failover_cluster.url, 0), (redis_url, 1)):
        r = redisconn.connect(url, wait_replicas=1, wait_ms=1000 if short == 0 else 20)
        before = (stats.commits, stats.short)
        try:
            async with r.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.incr(key)
                assert await pipe.execute() == [1, 2]
            assert await r.incr(key) == 3  # a plain command: no WAIT
        finally:
            await r.aclose()
        assert (stats.commits, stats.short) == (before[0] + 1, before[1] + short), url
    assert cluster_url.startswith("redis+cluster://")


async def test_a_cluster_transaction_whose_reply_is_lost_is_not_sent_again(
        one_node_cluster: tuple[_DropOneExecReply, str], uid: str) -> None:
    """A MULTI/EXEC whose connection breaks after it was sent raises CommitUnknownError and
    is not sent again. redis-py's cluster client re-sends a transaction on a broken connection
    (after re-reading the slot map), which at a failover can apply it twice: a twin's version
    incremented twice, a history entry written twice. A real Redis behind a proxy that lets
    the transaction through and drops its reply once."""
    proxy, direct_url = one_node_cluster
    r = redisconn.connect(f"redis+cluster://127.0.0.1:{proxy.port}")
    direct = redisconn.connect(direct_url)
    key = f"tb:{{t{uid}}}:n"
    try:
        with pytest.raises(redisconn.CommitUnknownError):
            async with r.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                await pipe.execute()
        assert proxy.dropped == 1
        assert await direct.get(key) == b"1", "the transaction was sent twice"
        # the client goes on: the next transaction is sent once and answered
        async with r.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            assert await pipe.execute() == [2]
        assert await r.get(key) == b"2"
    finally:
        await r.aclose()
        await direct.aclose()


async def test_an_aborted_transaction_leaves_the_connection_as_it_was(
        redis_url: str, uid: str) -> None:
    """A command refused while queued aborts the transaction (EXECABORT, nothing applied):
    the error reaches the caller as before, and the connection's next transaction is read
    reply by reply as usual."""
    r = redisconn.connect(redis_url)
    key = f"tb:{{t{uid}}}:n"
    try:
        with pytest.raises(redis.ResponseError):
            async with r.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.execute_command("NO-SUCH-COMMAND")
                await pipe.execute()
        assert await r.get(key) is None
        async with r.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.incr(key)
            assert await pipe.execute() == [1, 2]
    finally:
        await r.aclose()


async def test_a_client_whose_default_node_dies_reads_streams_again_after_the_failover(
        failover_cluster: LocalCluster, uid: str) -> None:
    """The primary the cluster client picked as its default node (its seed) is killed.
    redis-py asked that node for the keys of every XREADGROUP (``COMMAND GETKEYS``), outside
    its retry loop, so once it died every read failed on it for good, and the slot map was
    never re-read: a live service's worker stayed stuck for minutes. Now stream reads find
    their slot themselves, and after the failover reads and commits work on every slot,
    including the dead primary's; reads need no round trip to any other node."""
    cluster = failover_cluster
    r = redisconn.connect(cluster.url)
    try:
        await r.initialize()  # type: ignore[attr-defined]
        default = r.get_default_node()  # type: ignore[attr-defined]
        # a stream on each primary: the default's, and the others'
        names: dict[int, str] = {}
        for i in range(200):
            s = keys.stream(f"dn{uid}{i}", "cloud")
            names.setdefault(cluster.owner(s).port, s)
        assert len(names) == 3 and default.port in names
        for s in names.values():
            await r.xgroup_create(s, "g", id="0", mkstream=True)
            await r.xadd(s, {"f": "before"})
        dead_stream = names[default.port]
        killed = await asyncio.to_thread(cluster.kill_owner, dead_stream)
        assert killed.port == default.port
        await asyncio.to_thread(cluster.wait_promoted, dead_stream, killed)
        read: dict[str, int] = {}
        for _ in range(100):  # redis-py's own retries take a few attempts to re-read the map
            try:
                for s in names.values():
                    if s not in read:
                        reply = await r.xreadgroup("g", "c", {s: ">"}, count=10)
                        read[s] = len(reply[0][1])
                async with r.pipeline(transaction=True) as pipe:
                    pipe.xadd(dead_stream, {"f": "after"})
                    await pipe.execute()
                break
            except redisconn.UNAVAILABLE:
                await asyncio.sleep(0.2)
        assert read == {s: 1 for s in names.values()}, read
        assert [f[b"f"] for _, f in await r.xrange(dead_stream)][-1] == b"after"
    finally:
        await r.aclose()


def test_a_stream_read_finds_its_slot_without_asking_a_server() -> None:
    """XREAD/XREADGROUP keys are the first half of what follows STREAMS."""
    from twinbed.redisconn import _stream_keys  # noqa: PLC0415

    assert _stream_keys("XREADGROUP", ("GROUP", "g", "c", "COUNT", 5, "BLOCK", 10, "STREAMS",
                                       "a", "b", ">", ">")) == ["a", "b"]
    assert _stream_keys("xread", (b"streams", b"a", b"0")) == [b"a"]
    assert _stream_keys("XADD", ("a", "*", "f", "v")) is None
