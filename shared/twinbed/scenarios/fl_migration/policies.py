"""The ``fl-migration`` scenario's policy registry: the association schemes (Fig. 6-8), each
deciding kappa^t; gamma^t comes from the convex allocation (:mod:`.allocation`) except under
``nearest-random``. The learned schemes (``ppo``, ``actor-critic``, ``ddpg``) declare their
agent once (:data:`.artifacts.AGENTS`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twinbed.artifacts import ArtifactSpec
from twinbed.contract import Policy, RunContext, registry
from twinbed.scenarios.fl_migration.algorithms import ALGORITHMS
from twinbed.scenarios.fl_migration.artifacts import AGENTS
from twinbed.scenarios.fl_migration.contract import Association, SlotView
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.world import FlMigrationWorld

__all__ = ["POLICIES", "SUMMARIES"]

SUMMARIES = {
    "ppo": "the paper's PPO association agent (learned)",
    "actor-critic": "actor-critic (A2C) association agent (learned)",
    "nearest": "every twin on its user's nearest server, gamma by the convex allocation",
    "nearest-random": "nearest server, random gamma",
    "ddpg": "DDPG association agent (learned)",
    "greedy-optimum": "greedy search of the association on the slot's objective: the bound",
}

Ctx = RunContext[FlMigrationParams]


def _player(name: str) -> Callable[[Ctx], Callable[[SlotView], Association]]:
    """The factory of scheme ``name``: loads its trained agent once (if it has one)."""
    spec = AGENTS.get(name)

    def make(ctx: Ctx) -> Callable[[SlotView], Association]:
        agent = ctx.artifact(spec) if spec is not None else None
        world = ctx.cached("world", lambda: FlMigrationWorld.for_run(ctx))
        return lambda view: world.decide(view, name, agent)

    return make


def _policy(name: str) -> Policy[FlMigrationParams, SlotView, Association]:
    spec = AGENTS.get(name)
    arts: tuple[ArtifactSpec[FlMigrationParams, Any], ...] = (spec,) if spec is not None else ()
    return Policy(name=name, make=_player(name), summary=SUMMARIES[name], artifacts=arts)


POLICIES = registry(*(_policy(name) for name in ALGORITHMS))
