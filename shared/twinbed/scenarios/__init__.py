"""The scenarios: one folder per seed paper, registered here by name.

A :class:`ScenarioSpec` is everything the generic services need to run a scenario live: its
parameter model, its selectable algorithms, the handlers each role plays, the parties whose
reports complete a round, and how a round's reports become the round's metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from twinbed.messages import Message
from twinbed.runtime import RoleHandler

__all__ = ["ScenarioSpec", "UnknownScenarioError", "get_scenario", "scenario_names"]


class UnknownScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    params_model: type[BaseModel]
    algorithms: tuple[str, ...]
    # (params, algorithm, state) -> decision, run by the controller for a DecisionRequest
    decide: Callable[[Any, str, dict[str, Any]], dict[str, Any]]
    # role -> message type -> handler
    handlers: Mapping[str, Mapping[type[Message], RoleHandler]]
    # the parties whose RoundReports complete a round
    parties: Callable[[Any], list[str]]
    # (params, round, reports by party, missing parties) -> the round's metrics
    summarize: Callable[[Any, int, dict[str, dict[str, Any]], list[str]], dict[str, Any]]
    first_role: str = "basestation"


def _registry() -> dict[str, ScenarioSpec]:
    from twinbed.scenarios.compression.spec import SPEC as compression

    return {s.name: s for s in (compression,)}


_CACHE: dict[str, ScenarioSpec] = {}


def scenario_names() -> list[str]:
    if not _CACHE:
        _CACHE.update(_registry())
    return sorted(_CACHE)


def get_scenario(name: str) -> ScenarioSpec:
    names = scenario_names()
    try:
        return _CACHE[name]
    except KeyError:
        raise UnknownScenarioError(
            f"unknown scenario {name!r}; known: {', '.join(names)}") from None
