"""The ``federated`` scenario's policy registry: the schemes of algorithms.py (the framework
baselines of Fig. 8, the algorithm baselines of Fig. 9) and the two learned ones, ``dmo`` and
``dmo-shared``, each declaring its artifact once (:mod:`.artifacts`).

A built policy plays the controller's frame: it rebuilds the scheme from the learning state the
request carries (the controller keeps nothing between frames), lets the run's world play the
frame (:meth:`.world.FederatedWorld.play`) and returns the decisions, the coalitions, the
outcome and the next carried state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from twinbed.artifacts import ArtifactSpec
from twinbed.contract import Policy, RunContext, registry
from twinbed.scenarios.federated.algorithms import (
    FRAMEWORK,
    Exhaustive,
    make_policy,
    restore_policy,
)
from twinbed.scenarios.federated.algorithms import Policy as Scheme
from twinbed.scenarios.federated.artifacts import ARTIFACTS
from twinbed.scenarios.federated.contract import FrameDecision, FrameState
from twinbed.scenarios.federated.dmo import DmoPolicy
from twinbed.scenarios.federated.dmo_shared import SharedDmoPolicy
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import FederatedWorld

__all__ = ["POLICIES", "SUMMARIES", "check_exhaustive", "make_scheme"]

SUMMARIES = {
    "federated-myopic": "the proposed framework, per-frame best response (Fig. 8)",
    "dmo": "the paper's DMO: N + 2 PPO agents (learned)",
    "dmo-shared": "DMO's actions as heads of one PPO policy (learned, a comparison)",
    "nov": "non-overlapping coalitions, Y_max = 1 (Fig. 8)",
    "cen": "centralized upload of all sensing data to the cloud (Fig. 8)",
    "greedy": "gain-greedy, energy and configuration cost ignored (Fig. 9)",
    "qlearning": "tabular Q-learning over a joint discrete action (Fig. 9)",
    "lyapunov-bcd": "drift-plus-penalty, block coordinate descent (Fig. 9)",
    "tabu": "tabu search over the joint decision each frame (Fig. 9)",
    "bandit": "LinUCB contextual bandit over the joint discrete action (Fig. 9)",
    "exhaustive": "the per-frame optimum, small instances only (M <= 6, N <= 3)",
}

Ctx = RunContext[FederatedParams]


def check_exhaustive(p: FederatedParams) -> None:
    """``exhaustive`` needs a small instance (raises ValueError naming the limit)."""
    patterns = sum(1 for r in range(p.Y_max + 1) for _ in itertools.combinations(range(p.N), r))
    if patterns ** p.M > Exhaustive.LIMIT:
        raise ValueError(f"exhaustive search needs a small instance ({patterns}^{p.M} "
                         f"association patterns > {Exhaustive.LIMIT}); use M <= 6 and N <= 3")


def make_scheme(name: str, p: FederatedParams, agents: Any = None) -> Scheme:
    """A fresh decision maker for ``name``: a scheme of algorithms.py, or a learned one with
    its trained ``agents`` (``dmo``: the N + 2 PPO agents; ``dmo-shared``: the multi-head
    PPO)."""
    if name == "dmo":
        return DmoPolicy(p, agents)
    if name == "dmo-shared":
        return SharedDmoPolicy(p, agents)
    return make_policy(name, p)


def _player(name: str) -> Callable[[Ctx], Callable[[FrameState], FrameDecision]]:
    """The factory of scheme ``name``: loads its trained agents once (if it has any)."""
    spec = ARTIFACTS.get(name)

    def make(ctx: Ctx) -> Callable[[FrameState], FrameDecision]:
        p = ctx.params
        agents = None if spec is None else ctx.artifact(spec)
        world = ctx.cached("world", lambda: FederatedWorld.for_run(ctx))

        def decide(state: FrameState) -> FrameDecision:
            scheme = restore_policy(make_scheme(name, p, agents), state.policy)
            return world.play(state, scheme, FRAMEWORK[name])

        return decide

    return make


def _policy(name: str) -> Policy[FederatedParams, FrameState, FrameDecision]:
    spec = ARTIFACTS.get(name)
    arts: tuple[ArtifactSpec[FederatedParams, Any], ...] = (spec,) if spec is not None else ()
    return Policy(name=name, make=_player(name), summary=SUMMARIES[name], artifacts=arts,
                  check=check_exhaustive if name == "exhaustive" else None)


POLICIES = registry(*(_policy(name) for name in FRAMEWORK))
