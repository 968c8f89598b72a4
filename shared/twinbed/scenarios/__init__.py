"""The scenarios: one folder per seed paper, found by discovery.

A scenario is a sub-package ``twinbed.scenarios.<module>`` with a ``spec`` module that defines
``SPEC``, a :class:`ScenarioSpec`: everything the generic services need to run it live (its
parameter model, its selectable algorithms, the handlers each role plays, the parties whose
reports complete a round, how a round's reports become the round's metrics) and, optionally, its
in-process simulation and a preflight check of a run. Adding a sixth scenario is adding a folder.

A scenario may also have a ``commands`` module with ``COMMANDS``, a list of
:class:`twinbed.commands.Command` (``twinbed reproduce|train|solve|calibrate <target>``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from twinbed.messages import Message

if TYPE_CHECKING:
    from twinbed.runtime import RoleHandler, RunContext

__all__ = [
    "ScenarioSpec",
    "UnknownScenarioError",
    "get_scenario",
    "scenario_modules",
    "scenario_names",
]


class UnknownScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    params_model: type[BaseModel]
    algorithms: tuple[str, ...]
    # (ctx, state) -> decision, run by the controller for a DecisionRequest; ctx carries the
    # run (algorithm, seed), its params, the settings (data_dir for trained artifacts) and a
    # process-local cache (load a checkpoint once per run, not once per slot)
    decide: Callable[["RunContext", dict[str, Any]], dict[str, Any]]
    # role -> message type -> handler
    handlers: Mapping[str, Mapping[type[Message], "RoleHandler"]]
    # the parties whose RoundReports complete a round
    parties: Callable[[Any], list[str]]
    # (params, round, reports by party, missing parties) -> the round's metrics
    summarize: Callable[[Any, int, dict[str, dict[str, Any]], list[str]], dict[str, Any]]
    first_role: str = "basestation"
    # the round metric that says how long the round took in modeled time (the next round
    # starts then); a scenario with fixed slots reports its slot length under this key
    duration_key: str = "T_max_s"
    # the per-round scalar metrics `twinbed run` and `twinbed simulate` print (the paper's
    # objective, reward, ...); every one must be a key of the round record
    headline: tuple[str, ...] = ()
    # in-process rounds: (params, algorithm, seed, rounds) -> per-round records, the same
    # modeled metrics a live run reports
    simulate: Callable[[Any, str, int, int], list[dict[str, Any]]] | None = None
    # (params, algorithm, data_dir) -> None, raising ValueError with a message that says how
    # to fix it (e.g. the command that trains a missing checkpoint); POST /runs answers 422
    preflight: Callable[[Any, str, Path], None] | None = None


def scenario_modules() -> dict[str, str]:
    """Scenario folders under this package: module name -> import path of its ``spec``."""
    here = Path(__file__).parent
    return {m.name: f"{__name__}.{m.name}.spec" for m in pkgutil.iter_modules([str(here)])
            if m.ispkg and (here / m.name / "spec.py").exists()}


def _registry() -> dict[str, ScenarioSpec]:
    specs: dict[str, ScenarioSpec] = {}
    for module in scenario_modules().values():
        spec = importlib.import_module(module).SPEC
        if spec.name in specs:
            raise RuntimeError(f"two scenarios are named {spec.name!r}")
        specs[spec.name] = spec
    return specs


_CACHE: dict[str, ScenarioSpec] = {}


def scenario_names() -> list[str]:
    """Every scenario's name; importing them registers their message types."""
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
