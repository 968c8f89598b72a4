"""What a scenario's role handler (and its decision maker) gets to work with during a run.

:class:`RunContext` is generic in the scenario's parameter model, so ``ctx.params`` has the
scenario's own type (``RunContext[CompressionParams]``) and no handler narrows it with
``assert isinstance``. The services build one per run and role (and drop it when the run has
finished); :func:`offline_context` builds the same context in-process, with the data directory
given explicitly.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import redis.asyncio as aioredis
from pydantic import BaseModel

from twinbed import keys
from twinbed.artifacts import ArtifactSpec
from twinbed.bus import Bus, Effects, Envelope
from twinbed.config import Settings, get_settings
from twinbed.runs import RunConfig

__all__ = ["BatchRoleHandler", "RoleHandler", "RunContext", "offline_context"]

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")


@dataclass
class RunContext(Generic[P]):
    """One run as seen by one service process (or, offline, by an in-process caller)."""

    run: RunConfig
    params: P
    bus: Bus | None
    settings: Settings
    role: str
    cache: dict[str, Any] = field(default_factory=dict)  # process-local, rebuilt after a restart
    replica: int = 0  # which process of its role this is (0..replicas-1)
    replicas: int = 1
    shipped_dir: Path | None = None  # the scenario's shipped artifacts (package data)

    @property
    def data_dir(self) -> Path:
        """Where this run reads the user's trained artifacts (``TWINBED_DATA_DIR``)."""
        return Path(self.settings.data_dir)

    def replica_stream(self, role: str, replica: int) -> str:
        """The stream only replica ``replica`` of ``role`` reads."""
        return keys.replica_stream(self.run.id, role, replica)

    @property
    def redis(self) -> aioredis.Redis:
        if self.bus is None:
            raise RuntimeError("this run context is offline: it has no Redis")
        return self.bus.redis

    @property
    def live_bus(self) -> Bus:
        """The bus, or a clear error in-process (where no handler runs)."""
        if self.bus is None:
            raise RuntimeError("this run context is offline: it has no bus")
        return self.bus

    def stream(self, role: str) -> str:
        return keys.stream(self.run.id, role)

    def key(self, *parts: str | int) -> str:
        """A run-scoped Redis key owned by this role."""
        return keys.role_key(self.run.id, self.role, *parts)

    def cached(self, name: str, make: Callable[[], T]) -> T:
        """``make()`` once per run and process, typed: the world, a loaded agent, a table."""
        if name not in self.cache:
            self.cache[name] = make()
        return cast(T, self.cache[name])

    def artifact(self, spec: ArtifactSpec[P, T]) -> T:
        """The loaded artifact ``spec`` of this run (resolved and loaded once per process):
        the user's trained file in the data directory, else the shipped one."""
        if spec.shipped_dir is None and self.shipped_dir is not None:
            spec = spec.with_shipped_dir(self.shipped_dir)
        found = spec
        return self.cached(f"artifact:{spec.name}",
                           lambda: found.load_for(self.params, self.run.seed, self.data_dir))


def offline_context(
    scenario: str,
    params: P,
    algorithm: str,
    seed: int = 0,
    *,
    rounds: int = 1,
    settings: Settings | None = None,
    data_dir: str | Path | None = None,
    role: str = "controller",
    shipped_dir: Path | None = None,
) -> RunContext[P]:
    """A context without a bus: what a scenario's policy sees when called in-process.

    ``data_dir`` (else ``settings.data_dir``) is where trained artifacts are read from.
    """
    cfg = RunConfig(id="offline", scenario=scenario, algorithm=algorithm, seed=seed,
                    rounds=rounds, params=params.model_dump(mode="json"), overrides={},
                    deadline_s=60.0, created_wall=time.time())
    s = settings or get_settings()
    if data_dir is not None:
        s = s.model_copy(update={"data_dir": Path(data_dir)})
    return RunContext(run=cfg, params=params, bus=None, settings=s, role=role,
                      shipped_dir=shipped_dir)


RoleHandler = Callable[[RunContext[Any], Envelope, Effects], Awaitable[None]]
"""The uniform signature the services dispatch to (the contract wraps typed handlers in it)."""
BatchRoleHandler = Callable[[RunContext[Any], Sequence[Envelope], Effects],
                            Awaitable[Sequence[BaseException | None]]]
"""Several messages of one run and type at once: per message None or its error."""
