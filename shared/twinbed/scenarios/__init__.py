"""The scenarios: one folder per seed paper, found by discovery.

A scenario is a sub-package ``twinbed.scenarios.<module>`` whose ``spec`` module defines
``SCENARIO``, a :class:`twinbed.contract.Scenario` (the typed contract: parameters, decision
state and action, policies with their artifacts, world, roles, parties, summarize). Its
``artifacts/`` folder holds the artifacts it ships. It may also have a ``commands`` module with
``COMMANDS``, a list of :class:`twinbed.commands.Command` (``twinbed reproduce|train|solve|
calibrate <target>``). Adding a sixth scenario is adding a folder (``twinbed new-scenario
NAME`` writes a working one).

Where scenarios are found (:func:`search_path`): this package's folder first, then each
directory listed in ``TWINBED_SCENARIO_PATH`` (``os.pathsep``-separated, like ``PYTHONPATH``).
A scenario folder outside the package is imported as ``twinbed.scenarios.<module>`` all the
same (those directories extend this package's ``__path__``), so a folder moves between the
two without an edit; the services of a local stack inherit the variable. Two folders with one
module name are an error, not a silent shadowing.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from typing import Any

from twinbed.contract.scenario import Scenario

__all__ = [
    "AnyScenario",
    "SEARCH_PATH_ENV",
    "UnknownScenarioError",
    "get_scenario",
    "refresh",
    "scenario_folders",
    "scenario_modules",
    "scenario_names",
    "search_path",
]

AnyScenario = Scenario[Any, Any, Any, Any, Any, Any]
"""What the core works with: a scenario of any parameters and models."""

HERE = Path(__file__).parent


class UnknownScenarioError(ValueError):
    pass


SEARCH_PATH_ENV = "TWINBED_SCENARIO_PATH"
"""Directories (``os.pathsep``-separated) searched for scenario folders after the package's."""


def search_path() -> list[Path]:
    """Where scenario folders are discovered: this package's folder, then each directory of
    ``TWINBED_SCENARIO_PATH`` in order (read on every call, so a test can set it)."""
    extra = [Path(d) for d in os.environ.get(SEARCH_PATH_ENV, "").split(os.pathsep) if d]
    return [HERE, *extra]


def _import_from(folder: Path) -> None:
    """Let ``twinbed.scenarios.<module>`` import from ``folder`` (a search-path directory)."""
    where = str(folder.resolve())
    if where not in __path__:
        __path__.append(where)
        importlib.invalidate_caches()


# a module of a folder on the search path imports before discovery runs (its own tests do)
for _extra in search_path()[1:]:
    _import_from(_extra)


def scenario_folders() -> dict[str, Path]:
    """Module name -> scenario folder (a package with a ``spec.py``) on the search path."""
    found: dict[str, Path] = {}
    seen: set[Path] = set()
    for directory in search_path():
        if not directory.is_dir() or directory.resolve() in seen:
            continue  # a directory listed twice (or the package's own) is searched once
        seen.add(directory.resolve())
        for m in sorted(pkgutil.iter_modules([str(directory)]), key=lambda m: m.name):
            folder = directory / m.name
            if not (m.ispkg and (folder / "spec.py").exists()):
                continue
            if m.name in found:
                raise RuntimeError(f"two scenario folders are named {m.name!r}: "
                                   f"{found[m.name]} and {folder} ({SEARCH_PATH_ENV})")
            found[m.name] = folder
        if directory != HERE:
            _import_from(directory)
    return found


def scenario_modules() -> dict[str, str]:
    """Scenario folders on the search path: module name -> import path of its ``spec``."""
    return {name: f"{__name__}.{name}.spec" for name in scenario_folders()}


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
    for name, folder in scenario_folders().items():
        spec = load_spec(f"{__name__}.{name}.spec", folder)
        if spec.name in specs:
            raise RuntimeError(f"two scenarios are named {spec.name!r}")
        specs[spec.name] = spec
    return specs


# per search path: a test that sets TWINBED_SCENARIO_PATH sees its folders, and no longer
# once it is unset
_CACHE: dict[str, dict[str, AnyScenario]] = {}


def _scenarios() -> dict[str, AnyScenario]:
    key = os.environ.get(SEARCH_PATH_ENV, "")
    if key not in _CACHE:
        _CACHE[key] = _registry()
    return _CACHE[key]


def refresh() -> None:
    """Forget what was discovered (after a new folder was written into a searched directory)."""
    _CACHE.clear()
    importlib.invalidate_caches()


def scenario_names() -> list[str]:
    """Every scenario's name; importing them registers their message types."""
    return sorted(_scenarios())


def get_scenario(name: str) -> AnyScenario:
    specs = _scenarios()
    names = sorted(specs)
    try:
        return specs[name]
    except KeyError:
        raise UnknownScenarioError(
            f"unknown scenario {name!r}; known: {', '.join(names)}") from None
