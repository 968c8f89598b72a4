"""COMPATIBILITY PATH (temporary): scenarios not yet migrated onto :mod:`twinbed.contract`.

Until every scenario folder defines a typed ``SCENARIO`` (a :class:`twinbed.contract.Scenario`)
in its ``spec.py``, a folder may still define ``SPEC``, the old untyped
:class:`ScenarioSpec`. The registry wraps it in :class:`LegacyScenario`, which offers the
services and the CLI the same operations as a :class:`~twinbed.contract.Scenario` (``decide_json``,
``summarize_json``, ``preflight``, ``simulate``, ``handler``), so main stays green while the
scenarios migrate one by one. The list of folders still on this path is
:data:`twinbed.scenarios.NOT_YET_MIGRATED`; the last scenario to migrate deletes this module,
that list and the ``SPEC`` branch of the registry (docs/ARCHITECTURE.md, "Migrating a scenario
onto the contract").
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from twinbed.artifacts import ArtifactSpec, Resolved
from twinbed.config import get_settings
from twinbed.contract.policy import UnknownAlgorithmError
from twinbed.messages import Message
from twinbed.runtime import BatchRoleHandler, RoleHandler, RunContext, offline_context

__all__ = ["LegacyScenario", "ScenarioSpec"]


@dataclass(frozen=True)
class ScenarioSpec:
    """The old, untyped scenario description (see the module docstring)."""

    name: str
    params_model: type[BaseModel]
    algorithms: tuple[str, ...]
    # (ctx, state) -> decision, run by the controller for a DecisionRequest
    decide: Callable[[RunContext[Any], dict[str, Any]], dict[str, Any]]
    # role -> message type -> handler
    handlers: Mapping[str, Mapping[type[Message], RoleHandler]]
    # the parties whose RoundReports complete a round
    parties: Callable[[Any], list[str]]
    # (params, round, reports by party, missing parties) -> the round's metrics
    summarize: Callable[[Any, int, dict[str, dict[str, Any]], list[str]], dict[str, Any]]
    first_role: str = "basestation"
    duration_key: str = "T_max_s"
    headline: tuple[str, ...] = ()
    # in-process rounds: (params, algorithm, seed, rounds) -> per-round records
    simulate: Callable[[Any, str, int, int], list[dict[str, Any]]] | None = None
    # (params, algorithm, data_dir) -> None, raising ValueError naming the fix
    preflight: Callable[[Any, str, Path], None] | None = None
    # (params, algorithm) -> the learned artifacts the run needs, declared once
    # (twinbed.artifacts.ArtifactSpec); resolved, checked and reported like the contract's
    artifacts: Callable[[Any, str], Sequence[ArtifactSpec[Any, Any]]] | None = None


@contextlib.contextmanager
def _data_dir(data_dir: str | Path) -> Iterator[None]:
    """Old ``simulate`` functions read the data directory from the settings; point them at
    ``data_dir`` for the call only (compatibility path; migrated scenarios take it as an
    argument)."""
    old = os.environ.get("TWINBED_DATA_DIR")
    os.environ["TWINBED_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TWINBED_DATA_DIR", None)
        else:
            os.environ["TWINBED_DATA_DIR"] = old
        get_settings.cache_clear()


@dataclass(frozen=True)
class LegacyScenario:
    """A :class:`ScenarioSpec` behind the operations of :class:`twinbed.contract.Scenario`."""

    spec: ScenarioSpec
    shipped_dir: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def params(self) -> type[BaseModel]:
        return self.spec.params_model

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self.spec.algorithms

    @property
    def first_role(self) -> str:
        return self.spec.first_role

    @property
    def duration_key(self) -> str:
        return self.spec.duration_key

    @property
    def headline(self) -> tuple[str, ...]:
        return self.spec.headline

    def parties(self, params: Any) -> list[str]:
        return self.spec.parties(params)

    def _check(self, algorithm: str) -> None:
        if algorithm not in self.spec.algorithms:
            raise UnknownAlgorithmError(
                f"unknown algorithm {algorithm!r} for scenario {self.name!r}; known: "
                f"{', '.join(self.spec.algorithms)}")

    def decide_json(self, ctx: RunContext[Any], state: Mapping[str, Any]) -> dict[str, Any]:
        return self.spec.decide(ctx, dict(state))

    def summarize_json(self, params: Any, round_: int, reports: Mapping[str, Mapping[str, Any]],
                       missing: list[str]) -> dict[str, Any]:
        return self.spec.summarize(params, round_, {k: dict(v) for k, v in reports.items()},
                                   missing)

    def __getattr__(self, name: str) -> Any:
        """Everything else the old spec had (``decide``, ``summarize``, ``params_model``,
        ``handlers``...), for the unmigrated scenarios' own code and tests."""
        return getattr(self.spec, name)

    def preflight(self, params: Any, algorithm: str, *where: Any) -> dict[str, Resolved]:
        """``preflight(params, algorithm, seed, data_dir)`` as the contract's, or the old
        ``preflight(params, algorithm, data_dir)``."""
        data_dir = where[-1]
        seed = where[0] if len(where) > 1 else 0
        self._check(algorithm)
        used = {a.name: a.check(data_dir, params, seed)
                for a in self.artifacts_for(params, algorithm)}
        if self.spec.preflight is not None:
            self.spec.preflight(params, algorithm, Path(data_dir) if data_dir else data_dir)
        return used

    def artifacts_for(self, params: Any, algorithm: str) -> list[ArtifactSpec[Any, Any]]:
        """The declared artifacts a run needs (``ScenarioSpec.artifacts``), shipped dir set."""
        if self.spec.artifacts is None:
            return []
        specs = list(self.spec.artifacts(params, algorithm))
        if self.shipped_dir is None:
            return specs
        return [s if s.shipped_dir is not None else s.with_shipped_dir(self.shipped_dir)
                for s in specs]

    def handler(self, role: str, msg_type: type[Message]) -> RoleHandler | None:
        return self.spec.handlers.get(role, {}).get(msg_type)

    def batch_handler(self, role: str, msg_type: type[Message]) -> BatchRoleHandler | None:
        return None  # the compatibility path handles one message at a time

    @property
    def can_simulate(self) -> bool:
        return self.spec.simulate is not None

    def simulate(self, params: Any, algorithm: str, seed: int, rounds: int,
                 data_dir: str | Path | None = None) -> list[dict[str, Any]]:
        self._check(algorithm)
        if self.spec.simulate is None:
            raise ValueError(f"scenario {self.name!r} has no in-process simulation")
        if data_dir is None:
            return self.spec.simulate(params, algorithm, seed, rounds)
        with _data_dir(data_dir):
            return self.spec.simulate(params, algorithm, seed, rounds)

    def offline(self, params: Any, algorithm: str, seed: int = 0, *, rounds: int = 1,
                data_dir: str | Path | None = None) -> RunContext[Any]:
        return offline_context(self.name, params, algorithm, seed, rounds=rounds,
                               data_dir=data_dir, shipped_dir=self.shipped_dir)
