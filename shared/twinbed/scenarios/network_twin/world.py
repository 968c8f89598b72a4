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

from twinbed.mobility import Stay
from twinbed.runtime import RunContext
from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.contract import NetworkOutcome, SyncAction, SyncState
from twinbed.scenarios.network_twin.gru import HoldPredictor
from twinbed.scenarios.network_twin.learned import GRU
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.policies import observation_of
from twinbed.seeding import rng, rngs

__all__ = [
    "NetworkWorld",
    "NetworkWorldReference",
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
    see the module docstring). Slots are played in order.

    The physical slots (positions, channels, both branches' rates) do not depend on the sync
    decisions, so they are drawn a block at a time (:class:`_Trajectory`: the same named
    per-slot streams, seeded in one vectorized pass, rates for the whole block at once with the
    same elementwise operations); only the twin (history, prediction, last sync) is played slot
    by slot. Every number equals :class:`NetworkWorldReference`'s, the slot-by-slot definition
    (tests/scenarios/test_network_twin_fastpath.py)."""

    def __init__(self, p: NetworkTwinParams, seed: int, predictor: Predictor) -> None:
        self.p, self.seed, self.predictor = p, seed, predictor
        self._hold = type(predictor) is HoldPredictor  # predict = the newest twin state
        self._traj = self._trajectory()
        self.slot = 0
        self.pos = self._position(0, None, None)
        self.before: Array | None = None  # the previous slot's positions (mobility memory)
        self.history: deque[Array] = deque([self.pos.copy()] * p.M, maxlen=p.M)
        self.last_sync = self.pos.copy()
        self.unsynced = 0
        self._prepare()

    @classmethod
    def for_run(cls, ctx: RunContext[NetworkTwinParams]) -> NetworkWorld:
        """The world of a run: its parameters, its seed and its twin's predictor."""
        return cls(ctx.params, ctx.run.seed, predictor_for(ctx))

    def _trajectory(self) -> _Trajectory | None:
        return _Trajectory(self.p, self.seed)

    def _position(self, slot: int, prev: Array | None, before: Array | None) -> Array:
        assert self._traj is not None
        return self._traj.position(slot)

    def _outcome(self, slot: int) -> model.SlotOutcome:
        assert self._traj is not None
        return self._traj.outcome(slot)

    def _predict(self) -> Array:
        if self._hold:
            return np.array(self.history[-1], dtype=float)  # HoldPredictor.predict, no stack
        return np.asarray(self.predictor.predict(np.stack(self.history)), float)

    def _prepare(self) -> None:
        self.outcome_now = self._outcome(self.slot)
        self.prediction = self._predict()
        self.err_if_skip = model.twin_error_sq(self.pos, self.prediction)

    def state(self) -> SyncState:
        """The current slot's decision state."""
        return sync_state(self.slot, self.pos, self.last_sync, self.unsynced, self.outcome_now,
                          self.err_if_skip)

    def observation(self) -> np.ndarray:
        """The learned agents' observation of :meth:`state` (policies.observation), from the
        arrays."""
        return observation_of(self.p, self.pos, self.last_sync, self.unsynced, self.outcome_now)

    def advance(self, sync: bool) -> tuple[bool, float, float, float, int, Array]:
        """Apply the decision to the current slot and advance one slot; returns (synced, sum
        rate, twin error, reward, the cloud's RB or -1, the twin's state). A sync with no RB
        meeting the delay bound (5e) is not possible: the slot is unsynced."""
        p, out = self.p, self.outcome_now
        synced = bool(sync) and out.feasible
        twin = self.pos if synced else self.prediction
        rate = out.rate_sync if synced else out.rate_nosync
        err = 0.0 if synced else self.err_if_skip
        reward = model.reward(p, synced, rate, err)
        self.history.append(np.array(twin, dtype=float))
        if synced:
            self.last_sync, self.unsynced = self.pos.copy(), 0
        else:
            self.unsynced += 1
        self.slot += 1
        self.pos, self.before = self._position(self.slot, self.pos, self.before), self.pos
        self._prepare()
        return synced, rate, err, reward, out.cloud_rb if synced else -1, twin

    def step(self, sync: bool, modeled_start_s: float = 0.0) -> NetworkOutcome:
        """Apply the decision to the current slot, return its record, advance one slot."""
        slot, pos, out = self.slot, self.pos, self.outcome_now
        synced, rate, err, reward, cloud_rb, twin = self.advance(sync)
        return NetworkOutcome(
            round=slot, modeled_start_s=modeled_start_s, slot=slot, synced=synced,
            requested_sync=bool(sync), sum_rate=rate, err_sq=err, reward=reward,
            cloud_rb=cloud_rb, cloud_delay=out.cloud_delay if synced else 0.0,
            rb=(out.rb_sync if synced else out.rb_nosync).tolist(),
            positions=pos.tolist(), twin=np.asarray(twin).tolist(), slot_s=1.0)

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


class NetworkWorldReference(NetworkWorld):
    """The slot-by-slot world (two seeded generators, one move, one channel and the rates of
    each slot as it comes, the predictor on the stacked history): the definition
    :class:`NetworkWorld` reproduces, kept for the equality tests and the bench."""

    def _trajectory(self) -> _Trajectory | None:
        return None

    def _position(self, slot: int, prev: Array | None, before: Array | None) -> Array:
        if slot == 0:
            return start_positions(self.p, self.seed)
        assert prev is not None
        return positions_after(self.p, self.seed, slot, prev, before)

    def _outcome(self, slot: int) -> model.SlotOutcome:
        return model.slot_outcome(self.p, self.pos, channel_for_slot(self.p, self.seed, slot))

    def _predict(self) -> Array:
        return np.asarray(self.predictor.predict(np.stack(self.history)), float)


class _Trajectory:
    """The physical slots of one run, drawn a block at a time and reached in order: positions
    (slots, U, 2), the channel's rates (slots, U, N), the cloud's RB and delay; each slot's
    Hungarian assignments when it is reached. A block is an RL episode's slots and the one
    after (fewer if that would take over 32 MB of rates); only the current block is kept,
    with the last two positions before it (the mobility's memory)."""

    BLOCK_FLOATS = 1 << 22

    def __init__(self, p: NetworkTwinParams, seed: int) -> None:
        self.p, self.seed = p, seed
        self.probs = p.move_probs()
        self._block = max(1, min(p.episode_slots + 1, self.BLOCK_FLOATS // (p.U * p.N)))
        self._b0 = 0  # the first slot of the block
        self._pos = np.empty((0, p.U, 2))
        self._rates = np.empty((0, p.U, p.N))
        self._R = np.empty(0, dtype=int)
        self._delay = np.empty(0)
        self._tail: list[Array] = []  # the positions of the two slots before the block
        walk = p.mobility == "walk"
        self._disp = model.MOVES * p.step_blocks if walk else None  # step * MOVES[choice]
        self._cum = np.cumsum(self.probs, axis=1)[:, :-1] if walk else None

    def position(self, slot: int) -> Array:
        i = self._at(slot)  # (may draw the next block: self._pos after it)
        return self._pos[i].copy()

    def outcome(self, slot: int) -> model.SlotOutcome:
        i = self._at(slot)
        rates = self._rates[i]
        rb0, r0 = model.assign_rbs(rates)
        R, delay = int(self._R[i]), float(self._delay[i])
        rb1, r1 = (rb0, r0) if R < 0 else model.assign_rbs(rates, reserved=R)
        return model.SlotOutcome(rates, rb0, r0, R, delay, rb1, r1)

    def _at(self, slot: int) -> int:
        """The index of ``slot`` in the block, drawing the next block(s) if it is past it."""
        while slot >= self._b0 + len(self._rates):
            self._next_block()
        if slot < self._b0:
            raise ValueError(f"slot {slot} is past (slots are reached in order)")
        return slot - self._b0

    def _next_block(self) -> None:
        start = self._b0 + len(self._rates)
        to = start + self._block
        self._tail = [*self._tail, *self._pos[-2:]][-2:]
        if start == 0:
            first = start_positions(self.p, self.seed)
            pos = np.concatenate([first[None], self._move(1, to, first, None)])
        else:
            pos = self._move(start, to, self._tail[-1],
                             self._tail[-2] if len(self._tail) > 1 else None)
        self._b0, self._pos = start, pos
        self._channel(start, to)

    def _move(self, start: int, to: int, prev: Array, before: Array | None) -> Array:
        """Positions of slots ``start .. to - 1`` >= 1 (model.move, the stream "mobility" of
        each slot), from the two before them (``before`` None: ``prev`` is slot 0's)."""
        p = self.p
        if to <= start:
            return np.empty((0, p.U, 2))
        gens = rngs(self.seed, "mobility", last=range(start, to))
        if self._disp is None:  # gauss-markov: the border and the velocity make it sequential
            pos = prev
            moved = []
            for g in gens:
                pos, before = model.move(p, pos, g, probs=self.probs, before=before), pos
                moved.append(pos)
            return np.array(moved)
        # GridRandomWalk.move: u = random(U), the move by inverse CDF, pos + step * MOVES[m],
        # a step across the border not taken (Stay)
        assert self._cum is not None
        u = np.array([g.random(p.U) for g in gens])
        choice = (u[:, :, None] >= self._cum[None]).sum(axis=2)
        disp = self._disp[choice]  # (slots, U, 2)
        lim = p.half_blocks + Stay(p.half_blocks).tol
        free = np.cumsum(np.concatenate([prev[None], disp]), axis=0)[1:]  # no border
        if np.all(np.abs(free) <= lim):
            return free  # no step was refused: the same sums, slot by slot
        new = np.empty_like(disp)
        pos = prev
        for i in range(len(disp)):
            cand = pos + disp[i]
            inside = np.all(np.abs(cand) <= lim, axis=1)
            pos = new[i] = np.where(inside[:, None], cand, pos)
        return new

    def _channel(self, start: int, to: int) -> None:
        """model.draw_channel of slots start .. to-1 (stream "channel"), then the users' rates
        (model.user_rates), the cloud's rates and RB (model.cloud_rb) of all of them at once."""
        p = self.p
        lo, hi = p.interferer_ring_blocks
        shape, m = (p.U, p.N), p.fading_mean
        fad, cf, ring, ie = [], [], [], []
        for g in rngs(self.seed, "channel", last=range(start, to)):
            fad.append(g.exponential(m, size=shape))
            cf.append(g.exponential(m, size=p.N))
            ring.append(g.uniform(lo * lo, hi * hi, size=p.N))
            ie.append(g.exponential(m, size=p.N))
        r = np.sqrt(np.array(ring))
        interference = p.P * np.array(ie) / r**2
        d = np.maximum(np.linalg.norm(self._pos - np.asarray(p.bs_xy), axis=-1),
                       p.min_distance_blocks)
        rates = model._rate(p, np.array(fad) / d[..., None] ** 2, interference[:, None, :])
        dc = max(float(np.linalg.norm(np.subtract(p.cloud_xy, p.bs_xy))), p.min_distance_blocks)
        c = model._rate(p, np.array(cf) / dc**2, interference)
        with np.errstate(divide="ignore"):
            delay = np.where(c > 0, p.D / np.where(c > 0, c, 1.0), np.inf)
        feasible = delay <= p.gamma
        R = np.where(feasible.any(axis=1),
                     np.argmax(np.where(feasible, delay, -np.inf), axis=1), -1)
        rates.flags.writeable = False  # slots' outcomes hold views of it
        self._rates, self._R = rates, R
        self._delay = np.where(R >= 0, delay[np.arange(len(R)), np.maximum(R, 0)], np.inf)
