"""The ``fl-migration`` scenario as the services see it (see twinbed.scenarios.ScenarioSpec)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twinbed.runtime import RunContext
from twinbed.scenarios import ScenarioSpec
from twinbed.scenarios.fl_migration import model
from twinbed.scenarios.fl_migration.algorithms import ALGORITHMS, LEARNED
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.roles import HANDLERS, parties, summarize
from twinbed.scenarios.fl_migration.simulate import decide_slot, load_policy, simulate

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
    policy = None
    if ctx.run.algorithm in LEARNED:
        if "policy" not in ctx.cache:
            ctx.cache["policy"] = load_policy(p, ctx.run.algorithm, seed, ctx.settings.data_dir)
        policy = ctx.cache["policy"]
    assoc, gamma = decide_slot(p, inst, st, ctx.run.algorithm, seed, policy)
    return {"assoc": assoc.tolist(), "gamma": gamma.tolist()}


def preflight(p: FlMigrationParams, algorithm: str, data_dir: Path) -> None:
    """A learned scheme needs its trained agent (the error names the train command)."""
    if algorithm in LEARNED:
        from twinbed.scenarios.fl_migration.simulate import train_command

        # the run's seed is not known here: any seed's agent for this (U, S) passes, the
        # decision maker then names the exact one if it is missing
        pattern = f"fl-migration-{algorithm}-U{p.U}-S{p.S}-seed*.zip"
        if not any(Path(data_dir, "agents").glob(pattern)):
            raise ValueError(f"no trained {algorithm} agent for U={p.U}, S={p.S} in "
                             f"{Path(data_dir, 'agents')}; train it with "
                             f"`{train_command(p, algorithm, 0)}` (--seed = the run's seed)")


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
    preflight=preflight,
    headline=("objective", "reward", "utility", "migrations"),
)
