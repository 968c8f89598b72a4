"""In-process slots: the same decisions and modeled metrics the live run produces, no I/O.

The instance comes from ``rng(seed, "instance")``, users from ``rng(seed, "users")``, their
moves from ``rng(seed, "mobility", t)``, new data from ``rng(seed, "data", t)``; the live
services draw the same streams, so a live run equals this simulation slot for slot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twinbed.scenarios.fl_migration import algorithms, model
from twinbed.scenarios.fl_migration.allocation import allocate_fast
from twinbed.scenarios.fl_migration.artifacts import AGENTS, Policy
from twinbed.scenarios.fl_migration.env import decode, observe
from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["Policy", "decide_slot", "load_policy", "simulate", "slot_record"]


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
    c: model.Costs = ev.pop("costs")  # type: ignore[assignment]
    ev.update(round=st.t, slot_s=p.slot_s, assoc=np.asarray(assoc).tolist(), gamma=np.asarray(gamma).tolist(),
              rho=c.rho.tolist(), C_s=c.total.tolist())
    return ev


def simulate(p: FlMigrationParams, algorithm: str = "nearest", seed: int = 0, rounds: int = 1,
             policy: Policy | None = None, data_dir: str | Path | None = None
             ) -> list[dict[str, Any]]:
    """``rounds`` slots of ``algorithm``; learned schemes load their agent (the user's in
    ``data_dir``, default the settings' data directory, else the shipped one) unless
    ``policy`` is given."""
    if algorithm not in algorithms.ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(algorithms.ALGORITHMS)}")
    if algorithm in algorithms.LEARNED and policy is None:
        if data_dir is None:
            from twinbed.config import get_settings

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
