"""What a scenario's role handler (and its decision maker) gets to work with during a run."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from twinbed import keys
from twinbed.bus import Bus, Effects, Envelope
from twinbed.config import Settings, get_settings
from twinbed.runs import RunConfig

__all__ = ["RoleHandler", "RunContext", "offline_context"]


@dataclass
class RunContext:
    """One run as seen by one service process (or, offline, by an in-process caller)."""

    run: RunConfig
    params: BaseModel
    bus: Bus | None
    settings: Settings
    role: str
    cache: dict[str, Any] = field(default_factory=dict)  # process-local, rebuilt after a restart
    replica: int = 0  # which process of its role this is (0..replicas-1)
    replicas: int = 1

    def replica_stream(self, role: str, replica: int) -> str:
        """The stream only replica ``replica`` of ``role`` reads."""
        return keys.replica_stream(self.run.id, role, replica)

    @property
    def redis(self):  # noqa: ANN201 - redis.asyncio.Redis
        if self.bus is None:
            raise RuntimeError("this run context is offline: it has no Redis")
        return self.bus.redis

    def stream(self, role: str) -> str:
        return keys.stream(self.run.id, role)

    def key(self, *parts: str | int) -> str:
        """A run-scoped Redis key owned by this role."""
        return ":".join([keys.PREFIX, self.run.id, self.role, *map(str, parts)])


def offline_context(
    scenario: str,
    params: BaseModel,
    algorithm: str,
    seed: int = 0,
    *,
    rounds: int = 1,
    settings: Settings | None = None,
    role: str = "controller",
) -> RunContext:
    """A context without a bus: what ``ScenarioSpec.decide`` sees when called in-process."""
    cfg = RunConfig(id="offline", scenario=scenario, algorithm=algorithm, seed=seed,
                    rounds=rounds, params=params.model_dump(mode="json"), overrides={},
                    deadline_s=60.0, created_wall=time.time())
    return RunContext(run=cfg, params=params, bus=None, settings=settings or get_settings(),
                      role=role)


RoleHandler = Callable[[RunContext, Envelope, Effects], Awaitable[None]]
