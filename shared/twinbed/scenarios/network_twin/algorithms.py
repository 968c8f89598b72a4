"""The sync rules: whether the BS spends an RB on sending the network state this slot.

Each maps the BS's decision state (:class:`contract.SyncState`) to ``sync: bool``:

- ``never`` / ``always``: the two extremes.
- ``periodic-k``: sync every ``sync_period_slots``-th slot.
- ``error-aware`` (none of the papers has it): the BS runs the cloud's GRU, so it knows the
  twin's error ``||s_t - s_hat_t||^2`` exactly and syncs when the slot's reward says so:
  reward (17) > reward (15), i.e. ``(1 - eps)/U * err > eps * (rate lost to the sync RB)``.

The learned agents (``sac``, the paper's proposal, and ``dqn``, its GRU + DQN baseline) are
in :mod:`policies`; they see :func:`env.observation` (not the twin's error).
"""

from __future__ import annotations

from twinbed.scenarios.network_twin.contract import SyncState
from twinbed.scenarios.network_twin.params import NetworkTwinParams

__all__ = ["RULES", "rule"]

RULES = ("never", "always", "periodic-k", "error-aware")


def rule(p: NetworkTwinParams, algorithm: str, state: SyncState) -> bool:
    """The non-learned agents' decision."""
    if algorithm == "never":
        return False
    if algorithm == "always":
        return True
    if algorithm == "periodic-k":
        return state.unsynced + 1 >= p.sync_period_slots
    if algorithm == "error-aware":
        lost = p.epsilon * (state.rate_nosync - state.rate_sync)
        penalty = (1 - p.epsilon) / p.U * state.err_if_skip
        return state.feasible and penalty > lost
    raise ValueError(f"unknown rule {algorithm!r}; known: {', '.join(RULES)}")
