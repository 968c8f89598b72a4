"""The sync agents: whether the BS spends an RB on sending the network state this slot.

Each maps the BS's decision state (:func:`simulate.decision_state`) to ``sync: bool``:

- ``never`` / ``always``: the two extremes.
- ``periodic-k``: sync every ``sync_period_slots``-th slot.
- ``error-aware`` (none of the papers has it): the BS runs the cloud's GRU, so it knows the
  twin's error ``||s_t - s_hat_t||^2`` exactly and syncs when the slot's reward says so:
  reward (17) > reward (15), i.e. ``(1 - eps)/U * err > eps * (rate lost to the sync RB)``.
- ``sac`` (the paper's proposal) and ``dqn`` (its GRU + DQN baseline): stable-baselines3 agents
  trained by ``twinbed train network-twin --algorithm sac|dqn`` on :mod:`env`; they see the
  observation of :func:`env.observation` (not the twin's error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twinbed.runtime import RunContext
from twinbed.scenarios.network_twin.learned import AGENTS, GRU, LEARNED
from twinbed.scenarios.network_twin.params import NetworkTwinParams

__all__ = ["ALGORITHMS", "LEARNED", "agent_file", "decide", "predictor_for", "rule",
           "train_command"]

ALGORITHMS = ("never", "always", "periodic-k", "error-aware", *LEARNED)


def agent_file(data_dir: str | Path, algorithm: str, U: int) -> Path:
    """Where ``twinbed train network-twin`` saves the agent (the user's copy, which wins over
    the shipped one: :data:`learned.AGENTS`)."""
    return AGENTS[algorithm].user_path(data_dir, NetworkTwinParams(U=U), 0)


def train_command(algorithm: str, U: int) -> str:
    return AGENTS[algorithm].train_command(NetworkTwinParams(U=U), 0)


def rule(p: NetworkTwinParams, algorithm: str, state: dict[str, Any]) -> bool:
    """The non-learned agents."""
    if algorithm == "never":
        return False
    if algorithm == "always":
        return True
    if algorithm == "periodic-k":
        return int(state["unsynced"]) + 1 >= p.sync_period_slots
    if algorithm == "error-aware":
        lost = p.epsilon * (float(state["rate_nosync"]) - float(state["rate_sync"]))
        penalty = (1 - p.epsilon) / p.U * float(state["err_if_skip"])
        return bool(state["feasible"]) and penalty > lost
    raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")


def predictor_for(ctx: RunContext) -> Any:
    """The twin's predictor for this run (once per process): the GRU or hold."""
    from twinbed.scenarios.network_twin.gru import HoldPredictor

    p = ctx.params
    assert isinstance(p, NetworkTwinParams)
    return HoldPredictor() if p.predictor == "hold" else ctx.artifact(GRU)


def _agent(ctx: RunContext) -> Any:
    return ctx.artifact(AGENTS[ctx.run.algorithm])


def decide(ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
    """The run's agent on one slot's state: ``{"sync": bool}``."""
    p = ctx.params
    assert isinstance(p, NetworkTwinParams)
    alg = ctx.run.algorithm
    if alg in LEARNED:
        from twinbed.scenarios.network_twin.env import action_to_sync, observation

        action, _ = _agent(ctx).predict(observation(p, state), deterministic=True)
        sync = action_to_sync(action)
    else:
        sync = rule(p, alg, state)
    return {"sync": bool(sync)}
