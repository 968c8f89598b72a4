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
from twinbed.seeding import rng

__all__ = ["SemanticWorld", "SlotState", "outcome_of"]

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


class SemanticWorld:
    """Deterministic slots of one run (positions are iterated once and cached); a
    :class:`twinbed.contract.World`."""

    def __init__(self, p: SemanticParams, seed: int) -> None:
        self.p = p
        self.seed = seed
        self._mob = [model.init_mobility(p, rng(seed, "mobility", "init"))]

    @classmethod
    def for_run(cls, ctx: RunContext[SemanticParams]) -> SemanticWorld:
        """The world of a run (its parameters and seed)."""
        return cls(ctx.params, ctx.run.seed)

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

    # -- twinbed.contract.World -------------------------------------------------------------
    def decision_state(self, round_: int) -> SlotView:
        s = self.slot(round_)
        return SlotView(slot=round_, d_m=s.d_m.tolist(), D_bits=s.D_bits.tolist(),
                        h2=s.h2.tolist())

    def outcome(self, round_: int, modeled_start_s: float, state: SlotView,
                action: Resources) -> SemanticOutcome:
        """Slot ``round_``'s modeled metrics (it starts at n tau whatever the caller's clock)."""
        return outcome_of(self.p, self.slot(round_), action_of(action))
