"""What a scenario's role handler gets to work with while a live run is on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from twinbed import keys
from twinbed.bus import Bus, Effects, Envelope
from twinbed.config import Settings
from twinbed.runs import RunConfig

__all__ = ["RoleHandler", "RunContext"]


@dataclass
class RunContext:
    """One run as seen by one service process."""

    run: RunConfig
    params: BaseModel
    bus: Bus
    settings: Settings
    role: str
    cache: dict[str, Any] = field(default_factory=dict)  # process-local, rebuilt after a restart

    @property
    def redis(self):  # noqa: ANN201 - redis.asyncio.Redis
        return self.bus.redis

    def stream(self, role: str) -> str:
        return keys.stream(self.run.id, role)

    def key(self, *parts: str | int) -> str:
        """A run-scoped Redis key owned by this role."""
        return ":".join([keys.PREFIX, self.run.id, self.role, *map(str, parts)])


RoleHandler = Callable[[RunContext, Envelope, Effects], Awaitable[None]]
