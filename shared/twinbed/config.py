"""The one settings model: every knob is a ``TWINBED_*`` environment variable.

Nothing reads the environment anywhere else. Services get their settings through the cached
:func:`get_settings` (tests call ``get_settings.cache_clear()`` after changing the environment).
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from twinbed.redisconn import cluster_seeds

__all__ = ["ROLES", "Role", "Settings", "get_settings", "DEFAULT_PORTS"]

Role = Literal["cloud", "controller", "basestation", "edge", "sensor"]
ROLES: tuple[str, ...] = ("cloud", "controller", "basestation", "edge", "sensor")

# Default HTTP port of each role when several run on one host (``make up``).
DEFAULT_PORTS: dict[str, int] = {
    "controller": 8000,
    "cloud": 8001,
    "basestation": 8002,
    "edge": 8003,
    "sensor": 8004,
}


class Settings(BaseSettings):
    """Settings of a twinbed process. Field ``x`` is read from ``TWINBED_X``."""

    model_config = SettingsConfigDict(env_prefix="TWINBED_", extra="ignore")

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis server that carries the bus and the "
        "stores; redis+cluster://host:port (rediss+cluster:// with TLS) selects a Redis Cluster "
        "(the others are discovered; every key of one run shares a hash slot); name several "
        "seeds, redis+cluster://h1:p1,h2:p2,h3:p3, so that a client started or re-reading "
        "the slot map while one is down asks the next"
    )
    stack_redis_url: str = Field(
        "", description="an existing Redis for the local stack (`twinbed up`): it starts no "
        "Redis of its own and gives every service this URL (redis://, or redis+cluster:// "
        "for a Redis Cluster; its users are the operator's, not one per role); empty: the "
        "stack starts its own")
    redis_wait_replicas: int = Field(
        0, ge=0, le=16, description="after every commit (a MULTI/EXEC: a bus batch with its "
        "twin writes, a run's records) wait until this many replicas have it (WAIT); 0: do "
        "not wait. Narrows what a Redis failover can lose of acknowledged work (see "
        "docs/ARCHITECTURE.md, Redis Cluster: failover)")
    redis_wait_ms: int = Field(
        100, ge=1, le=60_000, description="the longest a commit waits for its replicas "
        "(TWINBED_REDIS_WAIT_REPLICAS); past it the commit stands on the primary alone")
    api_token: str = Field(
        "", description="Bearer token required by endpoints that change state; empty closes "
        "them (403 with how to set one)"
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=256 * 1024 * 1024,
        description="largest request body a service reads (413 past it), checked after the token",
    )
    host: str = Field("127.0.0.1", description="interface the HTTP server binds")
    port: int | None = Field(
        None, ge=1, le=65535, description="HTTP port; default: the role's entry in DEFAULT_PORTS"
    )
    data_dir: Path = Field(Path("data"), description="artifacts: run records, figures, models")
    consumer: str = Field(
        "", description="consumer name in the stream groups; default: role@hostname"
    )
    reclaim_idle_s: float = Field(
        10.0, gt=0, description="pending entries idle this long are reclaimed from dead consumers"
    )
    read_count: int = Field(256, ge=1, description="stream entries fetched per read")
    read_block_ms: int = Field(200, ge=1, description="how long one blocking read waits")
    round_deadline_s: float = Field(
        60.0, gt=0, description="a round closes after this many wall seconds, missing parties noted"
    )
    history_len: int = Field(1000, ge=1, description="twin history entries kept per twin")
    max_event_streams: int = Field(
        1000, ge=1, description="concurrent server-sent-event streams a service serves (one "
        "shared Redis reader for all of them); the next client gets 429")
    keep_runs: int = Field(
        500, ge=1, description="finished runs kept; the controller deletes older ones (Redis "
        "and the records on disk)"
    )
    run_ttl_s: float = Field(
        0.0, ge=0, description="finished runs older than this many seconds are deleted; 0: no TTL"
    )
    bus_key: Path | None = Field(
        None, description="this role's private bus signing key (hex seed, mode 0600); "
        "services refuse to start without it (twinbed.signing)")
    bus_pubkeys: Path | None = Field(
        None, description="folder of every role's public bus key (<role>.pub); consumers "
        "verify each message's signature with them")
    log_level: str = Field("info", description="uvicorn/python log level")
    replicas: int = Field(
        1, ge=1, le=1024,
        description="processes of this role that exist; each also reads its own replica stream",
    )
    replica: int | None = Field(
        None, ge=0,
        description="this process's replica index; default: claim a free one in Redis (a lease)",
    )
    edge_replicas: int = Field(
        2, ge=1, le=64, description="edge processes the local stack (`twinbed up`) starts"
    )
    sensor_replicas: int = Field(
        1, ge=1, le=64, description="sensor processes the local stack (`twinbed up`) starts; "
        "they share the sensors' stream (compression's K sensors spread over them)"
    )

    @field_validator("redis_url", "stack_redis_url")
    @classmethod
    def _seeds(cls, v: str) -> str:
        cluster_seeds(v)  # a malformed seed list is a clear error here, not at first use
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.lower()
        if v not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError(f"expected one of critical/error/warning/info/debug, got {v!r}")
        return v

    @model_validator(mode="after")
    def _replica_in_range(self) -> Settings:
        if self.replica is not None and self.replica >= self.replicas:
            raise ValueError(f"expected TWINBED_REPLICA < TWINBED_REPLICAS ({self.replicas}), "
                             f"got {self.replica}")
        return self

    def port_for(self, role: str) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[role]

    def consumer_name(self, role: str) -> str:
        return self.consumer or f"{role}@{socket.gethostname()}"


@functools.lru_cache
def get_settings() -> Settings:
    return Settings()
