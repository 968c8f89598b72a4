"""The slot-by-slot seeded world of one ``semantic`` run: mobility, sensed data sizes, fading,
and the modeled outcome of a slot's decisions; the same for the live roles, the gymnasium
environment, the figures and the core's in-process runner.

Slot n of a run with root seed s draws from named streams, so every process sees the same
world for the same seed: initial positions from ``rng(s, "mobility", "init")``, the move into
slot n+1 from ``rng(s, "mobility", n)``, D_k[n] from ``rng(s, "data", n)`` and the Rayleigh
fading of slot n from ``rng(s, "fading", n)``. Slots are fixed: slot n starts at n tau in
modeled time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from twinbed.runtime import RunContext
from twinbed.scenarios.semantic import model
from twinbed.scenarios.semantic.contract import Resources, SemanticOutcome, SlotView
from twinbed.scenarios.semantic.optimum import Action
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.seeding import rng, rngs_seeds

__all__ = ["SemanticWorld", "SemanticWorldReference", "SlotState", "draw_cycles", "outcome_of"]

Array = npt.NDArray[np.float64]


class SlotState(NamedTuple):
    """What slot n is: positions (K, 2) [m], distances d (K,) [m], D (K,) [bit], |g|^2 (K,)."""

    slot: int
    pos_m: Array
    d_m: Array
    D_bits: Array
    h2: Array

    @classmethod
    def of_view(cls, view: SlotView) -> SlotState:
        """The slot as a decision maker sees it (no positions: only d, D, |g|^2)."""
        d = np.asarray(view.d_m, dtype=float)
        return cls(view.slot, np.zeros((d.size, 2)), d, np.asarray(view.D_bits, dtype=float),
                   np.asarray(view.h2, dtype=float))


def outcome_of(p: SemanticParams, s: SlotState, act: Action) -> SemanticOutcome:
    """Modeled metrics of one slot for decisions ``act`` (eqs. 5-22)."""
    out = model.slot(p, s.D_bits, s.d_m, s.h2, *act)
    cols = {"phi": act.phi, "f_hz": act.f_hz, "p_w": act.p_w, "f_e_hz": act.f_e_hz,
            "d_m": s.d_m, "D_bits": s.D_bits, "h2": s.h2, "t_s": out.t_s, "t_en": out.t_en,
            "t_up": out.t_up, "t_de": out.t_de, "t_dt": out.t_dt, "t": out.t, "e": out.e,
            "rate_bps": out.rate_bps}
    return SemanticOutcome.model_validate({
        "round": s.slot, "modeled_start_s": s.slot * p.tau_s, "slot_s": p.tau_s,
        **{k: np.asarray(v, dtype=float).tolist() for k, v in cols.items()},
        "T_s": float(out.T), "P_t": float(out.P_t), "P_e": float(out.P_e),
        "P_f": float(out.P_f), "reward": float(out.reward),
        "violations": int(np.sum((out.t_dt > p.deadline_s) | (out.e > p.E_max_j)))})


def action_of(resources: Resources) -> Action:
    return Action(*(np.asarray(getattr(resources, k), dtype=float) for k in Action._fields))


def _start(p: SemanticParams, seeds: list[int]) -> tuple[Array, Array, Array]:
    """Slot 0 of each seed's world: positions (S, 1, K, 2), speed and heading (S, 1, 2, K),
    mean headings (S, K) (model.init_mobility on ``rng(seed, "mobility", "init")``)."""
    m0 = [model.init_mobility(p, rng(s, "mobility", "init")) for s in seeds]
    return (np.array([m.pos_m for m in m0])[:, None],
            np.array([[m.speed_mps, m.heading_rad] for m in m0])[:, None],
            np.array([m.mean_heading_rad for m in m0]))


def _moves(p: SemanticParams, seeds: list[int], pos: Array, sh: Array, mean_heading: Array,
           ks: range) -> tuple[Array, Array]:
    """The moves ``ks`` (the move into slot k + 1 draws ``rng(seed, "mobility", k)``) of each
    seed's world from positions (S, K, 2), speed and heading (S, 2, K): GaussMarkovPolar.step,
    slot by slot for speed and heading (one (S, 2, K) array: speeds floored at 0, headings
    free), then every move and position at once (the cumulative sum adds the moves in slot
    order, as the step does). Returns positions (S, L, K, 2) and speed, heading (S, L, 2, K)."""
    gm, K = model._gauss_markov(p), p.K
    a, sd = gm.memory, np.sqrt(1.0 - gm.memory**2)
    w = np.array([[g.standard_normal((2, K)) for g in gs]
                  for gs in rngs_seeds(seeds, "mobility", last=ks)])  # (S, L, 2, K)
    noise = w * np.array([sd * gm.speed_std, sd * gm.heading_std])[:, None]
    c = np.stack([np.full(mean_heading.shape, (1 - a) * gm.mean_speed),
                  (1 - a) * mean_heading], axis=1)
    low = np.stack([np.zeros(K), np.full(K, -np.inf)])
    out = np.empty((len(seeds), len(ks) + 1, 2, K))
    out[:, 0] = sh
    for i in range(len(ks)):
        out[:, i + 1] = np.maximum(low, a * out[:, i] + c + noise[:, i])
    speed, heading = out[:, :-1, 0], out[:, :-1, 1]
    step = (gm.tau_s * speed[..., None]) * np.stack([np.cos(heading), np.sin(heading)], axis=-1)
    step[:, 0] = pos + step[:, 0]
    return np.cumsum(step, axis=1), out[:, 1:]


def _data_fading(p: SemanticParams, seeds: list[int], slots: range) -> tuple[Array, Array]:
    """D (model.draw_data_bits on ``rng(seed, "data", n)``) and |g|^2 (model.draw_fading on
    ``rng(seed, "fading", n)``: |(x + j y) / sqrt 2|^2, the same elementwise operations) of
    ``slots`` of each seed's world, each (S, L, K)."""
    D = np.array([[g.uniform(p.D_min_bits, p.D_max_bits, p.K) for g in gs]
                  for gs in rngs_seeds(seeds, "data", last=slots)])
    xy = np.array([[(g.standard_normal(p.K), g.standard_normal(p.K)) for g in gs]
                   for gs in rngs_seeds(seeds, "fading", last=slots)])  # (S, L, 2, K)
    return D, np.abs((xy[:, :, 0] + 1j * xy[:, :, 1]) / np.sqrt(2.0)) ** 2


def draw_cycles(p: SemanticParams, seeds: list[int]) -> tuple[Array, Array, Array]:
    """d, D and |g|^2 of the N slots of each seed's world, each (S, N, K): what
    ``SemanticWorld(p, seed).slots(p.N)`` gives, for many seeds in one vectorized pass."""
    pos, sh, mh = _start(p, seeds)
    if p.N > 1:
        more, _ = _moves(p, seeds, pos[:, -1], sh[:, -1], mh, range(0, p.N - 1))
        pos = np.concatenate([pos, more], axis=1)
    D, h2 = _data_fading(p, seeds, range(p.N))
    return model.distance_m(p, pos), D, h2


def _frozen(a: np.ndarray) -> np.ndarray:
    """The world hands out views of its drawn slots: read-only, so no caller can change them."""
    a.flags.writeable = False
    return a


class SemanticWorld:
    """Deterministic slots of one run; a :class:`twinbed.contract.World`.

    The slots are drawn a block at a time (the first block is the cycle's N slots): the same
    named per-slot streams as :class:`SemanticWorldReference` (one generator per stream and
    slot, seeded in one vectorized pass, :func:`twinbed.seeding.rngs`), the Gauss-Markov
    recurrence iterated over a (2, K) array, and positions, distances and fading computed for
    the whole block at once with the same elementwise operations, so every number equals the
    slot-by-slot reference's bit for bit (tests/scenarios/test_semantic_fastpath.py)."""

    def __init__(self, p: SemanticParams, seed: int) -> None:
        self.p = p
        self.seed = seed
        pos, sh, mh = _start(p, [seed])
        self._pos, self._sh, self._mean_heading = pos[0], sh[0], mh[0]  # (slots, K, 2) ...
        self._d = model.distance_m(p, self._pos)
        self._D = np.empty((0, p.K))
        self._h2 = np.empty((0, p.K))

    @classmethod
    def for_run(cls, ctx: RunContext[SemanticParams]) -> SemanticWorld:
        """The world of a run (its parameters and seed)."""
        return cls(ctx.params, ctx.run.seed)

    def _draw(self, n: int) -> None:
        """Draw slots up to ``n`` (inclusive), at least the cycle's N, doubling."""
        have = len(self._D)
        if n < have:
            return
        to = max(n + 1, self.p.N, 2 * have)
        if to > len(self._pos):
            ks = range(len(self._pos) - 1, to - 1)
            pos, sh = _moves(self.p, [self.seed], self._pos[-1][None], self._sh[-1][None],
                             self._mean_heading[None], ks)
            self._pos = _frozen(np.concatenate([self._pos, pos[0]]))
            self._sh = _frozen(np.concatenate([self._sh, sh[0]]))
            self._d = _frozen(np.concatenate([self._d, model.distance_m(self.p, pos[0])]))
        D, h2 = _data_fading(self.p, [self.seed], range(have, to))
        self._D = _frozen(np.concatenate([self._D, D[0]]))
        self._h2 = _frozen(np.concatenate([self._h2, h2[0]]))

    def mobility(self, n: int) -> model.Mobility:
        if n < 0:
            raise ValueError(f"expected slot >= 0, got {n}")
        self._draw(n)
        return model.Mobility(self._pos[n], self._sh[n, 0], self._sh[n, 1], self._mean_heading)

    def slot(self, n: int) -> SlotState:
        if n < 0:
            raise ValueError(f"expected slot >= 0, got {n}")
        self._draw(n)
        return SlotState(slot=n, pos_m=self._pos[n], d_m=self._d[n], D_bits=self._D[n],
                         h2=self._h2[n])

    def slots(self, n: int) -> tuple[Array, Array, Array]:
        """(d, D, |g|^2) of slots 0 .. n-1, each (n, K) (read-only views)."""
        self._draw(n - 1)
        return self._d[:n], self._D[:n], self._h2[:n]

    # -- twinbed.contract.World -------------------------------------------------------------
    def decision_state(self, round_: int) -> SlotView:
        s = self.slot(round_)
        return SlotView(slot=round_, d_m=s.d_m.tolist(), D_bits=s.D_bits.tolist(),
                        h2=s.h2.tolist())

    def outcome(self, round_: int, modeled_start_s: float, state: SlotView,
                action: Resources) -> SemanticOutcome:
        """Slot ``round_``'s modeled metrics (it starts at n tau whatever the caller's clock)."""
        return outcome_of(self.p, self.slot(round_), action_of(action))


class SemanticWorldReference(SemanticWorld):
    """The slot-by-slot world (three seeded generators and one mobility step per slot): the
    definition :class:`SemanticWorld` reproduces, kept for the equality tests and the bench."""

    def __init__(self, p: SemanticParams, seed: int) -> None:
        self.p = p
        self.seed = seed
        self._mob = [model.init_mobility(p, rng(seed, "mobility", "init"))]

    def mobility(self, n: int) -> model.Mobility:
        if n < 0:
            raise ValueError(f"expected slot >= 0, got {n}")
        while len(self._mob) <= n:
            k = len(self._mob) - 1
            self._mob.append(model.step_mobility(self.p, self._mob[k],
                                                 rng(self.seed, "mobility", k)))
        return self._mob[n]

    def slot(self, n: int) -> SlotState:
        pos = self.mobility(n).pos_m
        return SlotState(
            slot=n, pos_m=pos, d_m=model.distance_m(self.p, pos),
            D_bits=model.draw_data_bits(self.p, rng(self.seed, "data", n)),
            h2=model.draw_fading(self.p, rng(self.seed, "fading", n)),
        )

    def slots(self, n: int) -> tuple[Array, Array, Array]:
        s = [self.slot(i) for i in range(n)]
        return (np.array([x.d_m for x in s]), np.array([x.D_bits for x in s]),
                np.array([x.h2 for x in s]))
