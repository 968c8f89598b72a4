"""The ``semantic`` scenario's policy registry: the baselines of algorithms.py and the two
learned agents (stable-baselines3 SAC and PPO, trained by ``twinbed train semantic
--algorithm sac|ppo`` on :class:`env.SemanticSyncEnv`), each declaring its artifact once
(:data:`learned.AGENTS`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from twinbed.contract import Policy, RunContext, registry
from twinbed.scenarios.semantic.algorithms import (
    AGENTS as LEARNED,
)
from twinbed.scenarios.semantic.algorithms import (
    BASELINES,
    action_from_vector,
    observation,
)
from twinbed.scenarios.semantic.contract import Resources, SlotView
from twinbed.scenarios.semantic.learned import AGENTS
from twinbed.scenarios.semantic.optimum import Action
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.world import SlotState

__all__ = ["POLICIES", "SUMMARIES", "decider"]

SUMMARIES = {
    "per-slot-optimum": "everything known (d, D, this slot's fading), solved exactly: the bound",
    "no-semantic": "the paper's w/o SC: phi = 1, the rest optimal at the mean fading",
    "random": "phi ~ U[phi_min, 1], the rest optimal at the mean fading",
    "sac": "the paper's SAC agent (learned)",
    "ppo": "the paper's PPO baseline (learned)",
}

Decider = Callable[[SlotState], Action]


def decider(p: SemanticParams, algorithm: str, seed: int, agent: Any = None) -> Decider:
    """``algorithm`` as a slot -> action function: a baseline of the run with ``seed``, or the
    loaded SB3 ``agent`` of a learned one (its K is checked when it is loaded)."""
    if algorithm in BASELINES:
        fn = BASELINES[algorithm]
        return lambda s: fn(p, s, seed)
    if algorithm not in AGENTS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(SUMMARIES)}")
    if agent is None:
        raise ValueError(f"the {algorithm} policy needs its trained agent")

    def act(s: SlotState) -> Action:
        a, _ = agent.predict(observation(p, s), deterministic=True)
        return action_from_vector(p, a)

    return act


def _resources(act: Action) -> Resources:
    return Resources.model_validate(
        {k: np.asarray(v, dtype=float).tolist() for k, v in act._asdict().items()})


def _policy(name: str) -> Policy[SemanticParams, SlotView, Resources]:
    learned = name in AGENTS

    def make(ctx: RunContext[SemanticParams]) -> Callable[[SlotView], Resources]:
        p = ctx.params
        fn = decider(p, name, ctx.run.seed, ctx.artifact(AGENTS[name]) if learned else None)

        def decide(view: SlotView) -> Resources:
            s = SlotState.of_view(view)
            for what, a in (("d_m", s.d_m), ("D_bits", s.D_bits), ("h2", s.h2)):
                if a.shape != (p.K,):
                    raise ValueError(f"expected {p.K} values of {what}, got shape {a.shape}")
            return _resources(fn(s))

        return decide

    return Policy(name, make, SUMMARIES[name], artifacts=(AGENTS[name],) if learned else ())


# per-slot-optimum stays first: it is the default algorithm
POLICIES = registry(*(_policy(n) for n in (*BASELINES, *LEARNED)))
