"""The ``fl-migration`` scenario as the services see it (see twinbed.scenarios.ScenarioSpec)."""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbed.runtime import RunContext
from twinbed.scenarios import ScenarioSpec
from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.algorithms import ALGORITHMS, LEARNED
from twinbed.scenarios.fl_migration.artifacts import AGENTS, agent_specs
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.roles import HANDLERS, parties, summarize
from twinbed.scenarios.fl_migration.simulate import decide_slot, simulate

__all__ = ["SPEC", "decide"]


def decide(ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
    """kappa^t and gamma^t for the slot state the cloud's edge-server twins hold."""
    p = ctx.params
    assert isinstance(p, FlMigrationParams)
    seed = ctx.run.seed
    if "instance" not in ctx.cache:
        ctx.cache["instance"] = model.draw_instance(p, seed)
    inst = ctx.cache["instance"]
    try:
        st = model.SlotState(int(state["t"]), np.asarray(state["user_xy"], float).reshape(p.U, 2),
                             np.zeros((p.U, 2)), np.asarray(state["n_new"], np.int64),
                             np.asarray(state["n_prev"], np.int64),
                             np.asarray(state["prev_assoc"], np.int64))
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"bad fl-migration slot state: {e}") from None
    if st.n_new.shape != (p.U,) or st.prev_assoc.shape != (p.U,) or np.any(
            (st.prev_assoc < 0) | (st.prev_assoc >= p.S)):
        raise ValueError(f"expected {p.U} users with servers in [0, {p.S})")
    # a learned scheme's agent: the user's in the data directory, else the shipped one
    policy = ctx.artifact(AGENTS[ctx.run.algorithm]) if ctx.run.algorithm in LEARNED else None
    assoc, gamma = decide_slot(p, inst, st, ctx.run.algorithm, seed, policy)
    return {"assoc": assoc.tolist(), "gamma": gamma.tolist()}


SPEC = ScenarioSpec(
    name="fl-migration",
    params_model=FlMigrationParams,
    algorithms=ALGORITHMS,
    decide=decide,
    handlers=HANDLERS,
    parties=parties,
    summarize=summarize,
    first_role="cloud",
    duration_key="slot_s",
    simulate=simulate,
    artifacts=agent_specs,
    headline=("objective", "reward", "utility", "migrations"),
)
