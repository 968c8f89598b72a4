"""The slots in-process: the same draws, decisions and twin updates the live services make.

Randomness comes from named streams of the run's seed, exactly as the services draw it:
``rng(seed, "start")`` the users' first positions, ``rng(seed, "mobility", t)`` slot t's moves
(t >= 1), ``rng(seed, "channel", t)`` slot t's fading and interference. The twin starts synced
(its M-slot history is the first state repeated); in slot t the twin's prediction is the
predictor applied to its last M states; the agent sees :func:`decision_state` and decides; the
twin then takes the state (sync) or its prediction (eq. 4).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

import numpy as np

from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.seeding import rng

__all__ = [
    "NetworkSim",
    "Predictor",
    "channel_for_slot",
    "decision_state",
    "positions_after",
    "simulate",
    "start_positions",
]


class Predictor(Protocol):
    def predict(self, history: np.ndarray) -> np.ndarray: ...


def start_positions(p: NetworkTwinParams, seed: int) -> np.ndarray:
    return model.initial_positions(p, rng(seed, "start"))


def positions_after(p: NetworkTwinParams, seed: int, slot: int, prev: np.ndarray) -> np.ndarray:
    """Slot ``slot``'s positions given slot ``slot - 1``'s (eq. 1, stream "mobility")."""
    return model.move(p, prev, rng(seed, "mobility", slot))


def channel_for_slot(p: NetworkTwinParams, seed: int, slot: int) -> model.Channel:
    return model.draw_channel(p, rng(seed, "channel", slot))


def decision_state(p: NetworkTwinParams, slot: int, pos: np.ndarray, last_sync: np.ndarray,
                   unsynced: int, out: model.SlotOutcome, err_if_skip: float
                   ) -> dict[str, Any]:
    """What the BS knows when it asks whether to sync (JSON-able; the live DecisionRequest).

    ``err_if_skip`` is ||s_t - s_hat_t||^2, the twin's error without a sync: only a BS that
    runs the cloud's GRU knows it (the ``error-aware`` agent); learned agents do not see it.
    """
    return {
        "slot": slot, "positions": pos.tolist(), "last_sync": last_sync.tolist(),
        "unsynced": unsynced, "feasible": out.feasible, "cloud_rb": out.cloud_rb,
        "rate_nosync": out.rate_nosync, "rate_sync": out.rate_sync,
        "err_if_skip": err_if_skip,
    }


class NetworkSim:
    """One run's physical network and its twin, slot by slot (see the module docstring)."""

    def __init__(self, p: NetworkTwinParams, seed: int, predictor: Predictor) -> None:
        self.p, self.seed, self.predictor = p, seed, predictor
        self.slot = 0
        self.pos = start_positions(p, seed)
        self.history: deque[np.ndarray] = deque([self.pos.copy()] * p.M, maxlen=p.M)
        self.last_sync = self.pos.copy()
        self.unsynced = 0
        self._prepare()

    def _prepare(self) -> None:
        self.outcome = model.slot_outcome(self.p, self.pos,
                                          channel_for_slot(self.p, self.seed, self.slot))
        self.prediction = np.asarray(self.predictor.predict(np.stack(self.history)), float)
        self.err_if_skip = model.twin_error_sq(self.pos, self.prediction)

    def state(self) -> dict[str, Any]:
        return decision_state(self.p, self.slot, self.pos, self.last_sync, self.unsynced,
                              self.outcome, self.err_if_skip)

    def step(self, sync: bool) -> dict[str, Any]:
        """Apply the decision to the current slot, return its record, advance one slot.

        A sync with no RB meeting the delay bound (5e) is not possible: the slot is unsynced.
        """
        p, out = self.p, self.outcome
        synced = bool(sync) and out.feasible
        twin = self.pos if synced else self.prediction
        rate = out.rate_sync if synced else out.rate_nosync
        err = 0.0 if synced else self.err_if_skip
        rec = {
            "round": self.slot, "slot": self.slot, "synced": synced, "requested_sync": bool(sync),
            "sum_rate": rate, "err_sq": err, "reward": model.reward(p, synced, rate, err),
            "cloud_rb": out.cloud_rb if synced else -1,
            "cloud_delay": out.cloud_delay if synced else 0.0,
            "rb": (out.rb_sync if synced else out.rb_nosync).tolist(),
            "positions": self.pos.tolist(), "twin": np.asarray(twin).tolist(),
            "slot_s": 1.0,
        }
        self.history.append(np.array(twin, dtype=float))
        if synced:
            self.last_sync, self.unsynced = self.pos.copy(), 0
        else:
            self.unsynced += 1
        self.slot += 1
        self.pos = positions_after(p, self.seed, self.slot, self.pos)
        self._prepare()
        return rec


def simulate(p: NetworkTwinParams, algorithm: str = "never", seed: int = 0, rounds: int = 1,
             *, data_dir: str | None = None) -> list[dict[str, Any]]:
    """Per-slot records of ``rounds`` slots under ``algorithm`` (the live metrics)."""
    from twinbed.config import get_settings
    from twinbed.runtime import offline_context
    from twinbed.scenarios.network_twin.algorithms import ALGORITHMS, decide, predictor_for

    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    ctx = offline_context("network-twin", p, algorithm, seed, rounds=rounds, settings=settings)
    sim = NetworkSim(p, seed, predictor_for(ctx))
    return [sim.step(decide(ctx, sim.state())["sync"]) for _ in range(rounds)]
