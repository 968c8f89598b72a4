"""This suite runs against a single Redis and a 3-node Redis Cluster (issue #19): ``aredis``
is parametrized over both (tests/conftest.py ``any_redis_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from twinbed import redisconn


@pytest.fixture
async def aredis(any_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An async client as the services make it, on a single Redis and on the cluster."""
    r = redisconn.connect(any_redis_url)
    yield r
    await r.aclose()
