"""The seeded slots of a ``network-twin`` run: the same draws, decisions and twin updates in
the live roles, the gymnasium environment, the evaluations and the in-process runner.

Randomness comes from named streams of the run's seed, exactly as the services draw it:
``rng(seed, "start")`` the users' first positions, ``rng(seed, "mobility", t)`` slot t's moves
(t >= 1), ``rng(seed, "channel", t)`` slot t's fading and interference. The twin starts synced
(its M-slot history is the first state repeated); in slot t the twin's prediction is the
predictor applied to its last M states; the agent sees :meth:`NetworkWorld.state` and decides;
the twin then takes the state (sync) or its prediction (eq. 4).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from twinbed.runtime import RunContext
from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.contract import NetworkOutcome, SyncAction, SyncState
from twinbed.scenarios.network_twin.gru import HoldPredictor
from twinbed.scenarios.network_twin.learned import GRU
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.seeding import rng

__all__ = [
    "NetworkWorld",
    "Predictor",
    "channel_for_slot",
    "positions_after",
    "predictor_for",
    "start_positions",
    "sync_state",
]

Array = npt.NDArray[np.float64]


class Predictor(Protocol):
    """The twin's predictor: the last M twin states (M, U, 2) -> the next state (U, 2)."""

    def predict(self, history: Any) -> Any: ...


def predictor_for(ctx: RunContext[NetworkTwinParams]) -> Predictor:
    """The run's twin predictor (once per process): the trained GRU, or hold the last state."""
    if ctx.params.predictor == "hold":
        return HoldPredictor()
    predictor: Predictor = ctx.artifact(GRU)
    return predictor


def start_positions(p: NetworkTwinParams, seed: int) -> Array:
    return model.initial_positions(p, rng(seed, "start"))


def positions_after(p: NetworkTwinParams, seed: int, slot: int, prev: Array,
                    before: Array | None = None) -> Array:
    """Slot ``slot``'s positions given slot ``slot - 1``'s (``prev``) and, for a mobility
    with memory, slot ``slot - 2``'s (``before``; None for slot 1) (model.move, stream
    "mobility")."""
    return model.move(p, prev, rng(seed, "mobility", slot), before=before)


def channel_for_slot(p: NetworkTwinParams, seed: int, slot: int) -> model.Channel:
    return model.draw_channel(p, rng(seed, "channel", slot))


def sync_state(slot: int, pos: Array, last_sync: Array, unsynced: int,
               out: model.SlotOutcome, err_if_skip: float) -> SyncState:
    """What the BS knows when it asks whether to sync (the live ``DecisionRequest``)."""
    return SyncState(
        slot=slot, positions=pos.tolist(), last_sync=last_sync.tolist(), unsynced=unsynced,
        feasible=out.feasible, cloud_rb=out.cloud_rb, rate_nosync=out.rate_nosync,
        rate_sync=out.rate_sync, err_if_skip=err_if_skip)


class NetworkWorld:
    """One run's physical network and its twin, slot by slot (a :class:`twinbed.contract.World`;
    see the module docstring). Slots are played in order."""

    def __init__(self, p: NetworkTwinParams, seed: int, predictor: Predictor) -> None:
        self.p, self.seed, self.predictor = p, seed, predictor
        self.slot = 0
        self.pos = start_positions(p, seed)
        self.before: Array | None = None  # the previous slot's positions (mobility memory)
        self.history: deque[Array] = deque([self.pos.copy()] * p.M, maxlen=p.M)
        self.last_sync = self.pos.copy()
        self.unsynced = 0
        self._prepare()

    @classmethod
    def for_run(cls, ctx: RunContext[NetworkTwinParams]) -> NetworkWorld:
        """The world of a run: its parameters, its seed and its twin's predictor."""
        return cls(ctx.params, ctx.run.seed, predictor_for(ctx))

    def _prepare(self) -> None:
        self.outcome_now = model.slot_outcome(self.p, self.pos,
                                              channel_for_slot(self.p, self.seed, self.slot))
        self.prediction = np.asarray(self.predictor.predict(np.stack(self.history)), float)
        self.err_if_skip = model.twin_error_sq(self.pos, self.prediction)

    def state(self) -> SyncState:
        """The current slot's decision state."""
        return sync_state(self.slot, self.pos, self.last_sync, self.unsynced, self.outcome_now,
                          self.err_if_skip)

    def step(self, sync: bool, modeled_start_s: float = 0.0) -> NetworkOutcome:
        """Apply the decision to the current slot, return its record, advance one slot.

        A sync with no RB meeting the delay bound (5e) is not possible: the slot is unsynced.
        """
        p, out = self.p, self.outcome_now
        synced = bool(sync) and out.feasible
        twin = self.pos if synced else self.prediction
        rate = out.rate_sync if synced else out.rate_nosync
        err = 0.0 if synced else self.err_if_skip
        rec = NetworkOutcome(
            round=self.slot, modeled_start_s=modeled_start_s, slot=self.slot, synced=synced,
            requested_sync=bool(sync), sum_rate=rate, err_sq=err,
            reward=model.reward(p, synced, rate, err),
            cloud_rb=out.cloud_rb if synced else -1,
            cloud_delay=out.cloud_delay if synced else 0.0,
            rb=(out.rb_sync if synced else out.rb_nosync).tolist(),
            positions=self.pos.tolist(), twin=np.asarray(twin).tolist(), slot_s=1.0)
        self.history.append(np.array(twin, dtype=float))
        if synced:
            self.last_sync, self.unsynced = self.pos.copy(), 0
        else:
            self.unsynced += 1
        self.slot += 1
        self.pos, self.before = (positions_after(p, self.seed, self.slot, self.pos, self.before),
                                 self.pos)
        self._prepare()
        return rec

    # -- twinbed.contract.World -------------------------------------------------------------
    def decision_state(self, round_: int) -> SyncState:
        self._at(round_)
        return self.state()

    def outcome(self, round_: int, modeled_start_s: float, state: SyncState,
                action: SyncAction) -> NetworkOutcome:
        self._at(round_)
        return self.step(action.sync, modeled_start_s)

    def _at(self, round_: int) -> None:
        if round_ != self.slot:
            raise ValueError(f"expected slot {self.slot} (slots are played in order), got "
                             f"{round_}")
