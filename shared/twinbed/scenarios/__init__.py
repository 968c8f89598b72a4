"""The scenarios: one folder per seed paper, found by discovery.

A scenario is a sub-package ``twinbed.scenarios.<module>`` whose ``spec`` module defines
``SCENARIO``, a :class:`twinbed.contract.Scenario` (the typed contract: parameters, decision
state and action, policies with their artifacts, world, roles, parties, summarize). Its
``artifacts/`` folder holds the artifacts it ships. It may also have a ``commands`` module with
``COMMANDS``, a list of :class:`twinbed.commands.Command` (``twinbed reproduce|train|solve|
calibrate <target>``). Adding a sixth scenario is adding a folder.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from twinbed.contract.scenario import Scenario

__all__ = [
    "AnyScenario",
    "UnknownScenarioError",
    "get_scenario",
    "scenario_modules",
    "scenario_names",
]

AnyScenario = Scenario[Any, Any, Any, Any, Any, Any]
"""What the core works with: a scenario of any parameters and models."""

HERE = Path(__file__).parent


class UnknownScenarioError(ValueError):
    pass


def scenario_modules() -> dict[str, str]:
    """Scenario folders under this package: module name -> import path of its ``spec``."""
    return {m.name: f"{__name__}.{m.name}.spec" for m in pkgutil.iter_modules([str(HERE)])
            if m.ispkg and (HERE / m.name / "spec.py").exists()}


def load_spec(module: str, folder: Path) -> AnyScenario:
    """The scenario a ``spec`` module defines, with its shipped-artifact folder set."""
    mod = importlib.import_module(module)
    shipped = folder / "artifacts"
    found = getattr(mod, "SCENARIO", None)
    if isinstance(found, Scenario):
        return found.with_shipped_dir(shipped)
    raise RuntimeError(f"{module} defines no SCENARIO (a twinbed.contract.Scenario)")


def _registry() -> dict[str, AnyScenario]:
    specs: dict[str, AnyScenario] = {}
    for name, module in scenario_modules().items():
        spec = load_spec(module, HERE / name)
        if spec.name in specs:
            raise RuntimeError(f"two scenarios are named {spec.name!r}")
        specs[spec.name] = spec
    return specs


_CACHE: dict[str, AnyScenario] = {}


def scenario_names() -> list[str]:
    """Every scenario's name; importing them registers their message types."""
    if not _CACHE:
        _CACHE.update(_registry())
    return sorted(_CACHE)


def get_scenario(name: str) -> AnyScenario:
    names = scenario_names()
    try:
        return _CACHE[name]
    except KeyError:
        raise UnknownScenarioError(
            f"unknown scenario {name!r}; known: {', '.join(names)}") from None
