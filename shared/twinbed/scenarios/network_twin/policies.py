"""The ``network-twin`` scenario's policy registry: the four rules of algorithms.py and the two
learned sync agents (stable-baselines3, trained by ``twinbed train network-twin --algorithm
sac|dqn`` on :class:`env.NetworkTwinEnv`), each declaring its artifact once
(:data:`learned.AGENTS`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from twinbed.contract import Policy, RunContext, registry
from twinbed.scenarios.network_twin.algorithms import RULES, rule
from twinbed.scenarios.network_twin.contract import SyncAction, SyncState
from twinbed.scenarios.network_twin.learned import AGENTS, LEARNED
from twinbed.scenarios.network_twin.params import NetworkTwinParams

__all__ = ["POLICIES", "SUMMARIES", "action_to_sync", "observation", "observation_of"]

SUMMARIES = {
    "never": "never sync: the twin runs on its predictor alone",
    "always": "sync every slot the delay bound allows",
    "periodic-k": "sync every sync_period_slots-th slot",
    "error-aware": "sync when reward (17) beats (15), knowing the twin's error (not in paper)",
    "sac": "the paper's GRU + SAC sync agent (learned)",
    "dqn": "the paper's GRU + DQN baseline (learned)",
}

Decide = Callable[[SyncState], SyncAction]
NetworkPolicy = Policy[NetworkTwinParams, SyncState, SyncAction]

COST_SCALE = 10.0


def observation(p: NetworkTwinParams, state: SyncState) -> np.ndarray:
    """The learned agents' observation of a decision state (the table in :mod:`env`)."""
    pos = np.asarray(state.positions, dtype=float).ravel() / p.half_blocks
    last = np.asarray(state.last_sync, dtype=float).ravel() / p.half_blocks
    age = min(1.0, float(state.unsynced) / p.episode_slots)
    cost = p.epsilon * (state.rate_nosync - state.rate_sync) / COST_SCALE
    extra = [age, float(np.clip(cost, 0.0, 10.0)), 1.0 if state.feasible else 0.0]
    return np.concatenate([pos, last, extra]).astype(np.float32)


def observation_of(p: NetworkTwinParams, pos: np.ndarray, last_sync: np.ndarray, unsynced: int,
                   out: Any) -> np.ndarray:
    """:func:`observation` of the state :func:`world.sync_state` would build from these arrays
    and the slot's outcome (no lists, no validation; the same operations, the same float32)."""
    age = min(1.0, float(unsynced) / p.episode_slots)
    cost = p.epsilon * (out.rate_nosync - out.rate_sync) / COST_SCALE
    extra = [age, float(np.clip(cost, 0.0, 10.0)), 1.0 if out.feasible else 0.0]
    return np.concatenate([pos.ravel() / p.half_blocks, last_sync.ravel() / p.half_blocks,
                           extra]).astype(np.float32)


def action_to_sync(action: Any) -> bool:
    """Discrete 1, or a continuous action above 0, means sync."""
    a = np.asarray(action)
    if np.issubdtype(a.dtype, np.floating):
        return bool(a.reshape(-1)[0] > 0.0)
    return bool(int(a.reshape(-1)[0]) == 1)


def _rule(name: str) -> NetworkPolicy:
    def make(ctx: RunContext[NetworkTwinParams]) -> Decide:
        p = ctx.params
        return lambda state: SyncAction(sync=rule(p, name, state))

    return Policy(name, make, SUMMARIES[name])


def _learned(name: str) -> NetworkPolicy:
    spec = AGENTS[name]

    def make(ctx: RunContext[NetworkTwinParams]) -> Decide:
        p, agent = ctx.params, ctx.artifact(spec)

        def decide(state: SyncState) -> SyncAction:
            action, _ = agent.predict(observation(p, state), deterministic=True)
            return SyncAction(sync=action_to_sync(action))

        return decide

    return Policy(name, make, SUMMARIES[name], artifacts=(spec,))


# never stays first: it is the default algorithm
POLICIES = registry(*(_rule(n) for n in RULES), *(_learned(n) for n in LEARNED))
