"""Decision makers: one registry per scenario, name -> factory, artifacts declared once.

A :class:`Policy` is a named factory: given the run's context it returns the function that
maps a round's :class:`~twinbed.contract.models.DecisionState` to an
:class:`~twinbed.contract.models.Action`. The factory runs once per run and process (a trained
agent is loaded once, not once per round); a learned policy lists the artifacts it loads in
``artifacts``, and loads them with ``ctx.artifact(spec)``. From that declaration the core
derives the preflight check of ``POST /runs`` and ``twinbed simulate``, the missing-artifact
error and the train command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from twinbed.artifacts import ArtifactSpec
from twinbed.runtime import RunContext

__all__ = ["Decide", "Policy", "UnknownAlgorithmError", "registry"]

P = TypeVar("P", bound=BaseModel)
S = TypeVar("S", bound=BaseModel)
A = TypeVar("A", bound=BaseModel)

Decide = Callable[[S], A]
"""A built policy: the round's decision state -> the round's action."""


class UnknownAlgorithmError(ValueError):
    pass


@dataclass(frozen=True)
class Policy(Generic[P, S, A]):
    """One selectable algorithm of a scenario."""

    name: str
    make: Callable[[RunContext[P]], Callable[[S], A]]
    summary: str = ""
    artifacts: tuple[ArtifactSpec[P, Any], ...] = ()
    # what the algorithm needs of the parameters beyond their own validation (a small
    # instance, say): raises ValueError saying how to fix them; run by the preflight
    check: Callable[[P], None] | None = None

    @property
    def learned(self) -> bool:
        return bool(self.artifacts)


def registry(*policies: Policy[P, S, A]) -> dict[str, Policy[P, S, A]]:
    """Name -> policy, in the given order (the first is the default); names must be unique."""
    out: dict[str, Policy[P, S, A]] = {}
    for pol in policies:
        if pol.name in out:
            raise ValueError(f"two policies are named {pol.name!r}")
        out[pol.name] = pol
    if not out:
        raise ValueError("a scenario needs at least one policy")
    return out


def lookup(policies: dict[str, Policy[P, S, A]], name: str, scenario: str) -> Policy[P, S, A]:
    try:
        return policies[name]
    except KeyError:
        raise UnknownAlgorithmError(
            f"unknown algorithm {name!r} for scenario {scenario!r}; known: "
            f"{', '.join(policies)}") from None


def names(policies: Sequence[Policy[Any, Any, Any]]) -> tuple[str, ...]:
    return tuple(p.name for p in policies)
