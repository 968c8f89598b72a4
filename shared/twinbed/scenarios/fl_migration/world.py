"""The slot-by-slot seeded world of one ``fl-migration`` run, without I/O: the instance, the
users' moves and uploads, a scheme's decision for a slot and the slot's modeled metrics; the
same for the controller's live decision, the cloud's twins, the environment and the core's
in-process runner.

The instance comes from ``rng(seed, "instance")``, users from ``rng(seed, "users")``, their
moves from ``rng(seed, "mobility", t)``, new data from ``rng(seed, "data", t)``; the live
services draw the same streams, so a live run equals an in-process one slot for slot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twinbed.config import get_settings
from twinbed.runtime import RunContext
from twinbed.scenarios.fl_migration import algorithms, model
from twinbed.scenarios.fl_migration.allocation import allocate_fast
from twinbed.scenarios.fl_migration.artifacts import AGENTS, Policy
from twinbed.scenarios.fl_migration.contract import Association, FlMigrationOutcome, SlotView
from twinbed.scenarios.fl_migration.env import decode, observe
from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["FlMigrationWorld", "Policy", "decide_slot", "load_policy", "simulate", "instance",
           "slot_record", "slot_state", "view_of"]


def load_policy(p: FlMigrationParams, scheme: str, seed: int, data_dir: str | Path) -> Policy:
    """The trained agent of ``scheme`` for this instance (U, S, seed), trained over all EMDs:
    the user's file in ``data_dir`` else the shipped one (:data:`.artifacts.AGENTS`);
    MissingArtifactError names the train command."""
    return AGENTS[scheme].load_for(p, seed, data_dir)


def decide_slot(p: FlMigrationParams, inst: model.Instance, st: model.SlotState, scheme: str,
                seed: int, policy: Policy | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(kappa^t, gamma^t) of ``scheme`` for one slot."""
    if scheme in algorithms.LEARNED:
        if policy is None:
            raise ValueError(f"scheme {scheme!r} needs its trained policy")
        assoc = decode(p, inst, st, policy(observe(p, inst, st)), scheme == "ddpg")
    elif scheme in ("nearest", "nearest-random"):
        assoc = algorithms.nearest(p, inst, st)
    elif scheme == "greedy-optimum":
        assoc = algorithms.greedy_optimum(p, inst, st)
    else:
        raise ValueError(f"unknown algorithm {scheme!r}; known: {', '.join(algorithms.ALGORITHMS)}")
    if scheme == "nearest-random":
        gamma = algorithms.random_gamma(p, seed, st.t)
    else:
        gamma = allocate_fast(p, model.server_coefficients(p, inst, st, assoc), assoc,
                              inst.q).gamma
    return assoc, gamma


def slot_record(p: FlMigrationParams, inst: model.Instance, st: model.SlotState,
                assoc: np.ndarray, gamma: np.ndarray) -> dict[str, Any]:
    ev = model.evaluate(p, inst, st, assoc, gamma)
    c = ev.pop("costs")
    if not isinstance(c, model.Costs):
        raise TypeError(f"expected the slot's Costs, got {type(c).__name__}")
    ev.update(round=st.t, slot_s=p.slot_s, assoc=np.asarray(assoc).tolist(),
              gamma=np.asarray(gamma).tolist(), rho=c.rho.tolist(), C_s=c.total.tolist())
    return ev


def simulate(p: FlMigrationParams, algorithm: str = "nearest", seed: int = 0, rounds: int = 1,
             policy: Policy | None = None, data_dir: str | Path | None = None
             ) -> list[dict[str, Any]]:
    """``rounds`` slots of ``algorithm``; learned schemes load their agent (the user's in
    ``data_dir``, default the settings' data directory, else the shipped one) unless
    ``policy`` is given."""
    if algorithm not in algorithms.ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: "
                         f"{', '.join(algorithms.ALGORITHMS)}")
    if algorithm in algorithms.LEARNED and policy is None:
        if data_dir is None:

            data_dir = get_settings().data_dir
        policy = load_policy(p, algorithm, seed, data_dir)
    inst = model.draw_instance(p, seed)
    st = model.first_state(p, inst, seed)
    out = []
    for _ in range(rounds):
        assoc, gamma = decide_slot(p, inst, st, algorithm, seed, policy)
        out.append(slot_record(p, inst, st, assoc, gamma))
        st = model.next_state(p, st, assoc, seed)
    return out


def instance(ctx: RunContext[FlMigrationParams]) -> model.Instance:
    """The run's instance (drawn once per process from its seed)."""
    return ctx.cached("inst", lambda: model.draw_instance(ctx.params, ctx.run.seed))


def slot_state(p: FlMigrationParams, view: SlotView) -> model.SlotState:
    """The decision maker's slot from the cloud's view (no velocities: no scheme uses them);
    raises ValueError on a view of another U or S."""
    try:
        st = model.SlotState(view.t, np.asarray(view.user_xy, float).reshape(p.U, 2),
                             np.zeros((p.U, 2)), np.asarray(view.n_new, np.int64),
                             np.asarray(view.n_prev, np.int64),
                             np.asarray(view.prev_assoc, np.int64))
    except ValueError as e:
        raise ValueError(f"bad fl-migration slot state: {e}") from None
    if st.n_new.shape != (p.U,) or st.n_prev.shape != (p.U,) or st.prev_assoc.shape != (p.U,) \
            or np.any((st.prev_assoc < 0) | (st.prev_assoc >= p.S)):
        raise ValueError(f"expected {p.U} users with servers in [0, {p.S})")
    return st


def view_of(st: model.SlotState) -> SlotView:
    return SlotView(t=st.t, user_xy=st.user_xy.tolist(), n_new=st.n_new.tolist(),
                    n_prev=st.n_prev.tolist(), prev_assoc=st.prev_assoc.tolist())


class FlMigrationWorld:
    """Deterministic slots of one run; a :class:`twinbed.contract.World`. In-process, the
    slots are played in order: slot t + 1 starts where slot t's association left the twins."""

    def __init__(self, p: FlMigrationParams, seed: int) -> None:
        self.p = p
        self.seed = seed
        self.inst = model.draw_instance(p, seed)
        self._st = model.first_state(p, self.inst, seed)

    @classmethod
    def for_run(cls, ctx: RunContext[FlMigrationParams]) -> FlMigrationWorld:
        """The world of a run (its parameters and seed)."""
        return cls(ctx.params, ctx.run.seed)

    def decide(self, view: SlotView, scheme: str, policy: Policy | None) -> Association:
        """``scheme``'s (kappa^t, gamma^t) for the slot the view shows."""
        assoc, gamma = decide_slot(self.p, self.inst, slot_state(self.p, view), scheme,
                                   self.seed, policy)
        return Association(assoc=np.asarray(assoc).tolist(), gamma=np.asarray(gamma).tolist())

    # -- twinbed.contract.World -------------------------------------------------------------
    def decision_state(self, round_: int) -> SlotView:
        if round_ != self._st.t:
            raise ValueError(f"expected slot {self._st.t} next, got {round_}")
        return view_of(self._st)

    def outcome(self, round_: int, modeled_start_s: float, state: SlotView,
                action: Association) -> FlMigrationOutcome:
        """Slot ``round_``'s modeled metrics; the twins then move to ``action.assoc``."""
        assoc = np.asarray(action.assoc, np.int64)
        rec = slot_record(self.p, self.inst, self._st, assoc, np.asarray(action.gamma, float))
        del rec["round"]
        self._st = model.next_state(self.p, self._st, assoc, self.seed)
        return FlMigrationOutcome(round=round_, modeled_start_s=modeled_start_s, **rec)
