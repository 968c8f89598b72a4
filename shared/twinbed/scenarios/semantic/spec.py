"""The ``semantic`` scenario's contract (:class:`twinbed.contract.Scenario`).

| part | where |
| --- | --- |
| parameters | params.py (:class:`SemanticParams`) |
| decision state, action, report, round, outcome | contract.py |
| policies (three baselines; SAC, PPO, their artifacts) | policies.py, algorithms.py, learned.py |
| world (mobility, data sizes, fading; eqs. 5-22 of a slot) | world.py |
| roles (basestation, sensor, edge, cloud) | roles.py |
| parties, summarize | here |
| run artifacts: the real semantic codec | learned.py |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from twinbed.artifacts import ArtifactSpec
from twinbed.contract import Scenario
from twinbed.scenarios.semantic.contract import (
    PER_UD,
    Resources,
    SemanticOutcome,
    SemanticRound,
    SlotView,
    UDReport,
)
from twinbed.scenarios.semantic.learned import CODEC
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.policies import POLICIES
from twinbed.scenarios.semantic.roles import ROLES, ud_name
from twinbed.scenarios.semantic.world import SemanticWorld

__all__ = ["PER_UD", "SCENARIO", "parties", "run_artifacts", "summarize"]


def parties(p: SemanticParams) -> list[str]:
    """Every UD completes a slot (its twin updated, reported by the cloud)."""
    return [ud_name(k) for k in range(p.K)]


def summarize(p: SemanticParams, round_: int, reports: Mapping[str, UDReport],
              missing: list[str]) -> SemanticRound:
    """Slot metrics: per-UD lists (None for a missing UD), T[n], the penalties and reward (22)."""
    rows = [reports.get(ud_name(k)) for k in range(p.K)]
    out: dict[str, Any] = {n: [getattr(r, n) if r is not None else None for r in rows]
                           for n in PER_UD}
    out["slot_s"] = p.tau_s
    present = [r for r in rows if r is not None]
    if present and not missing:
        t_dt, e = np.array(out["t_dt"]), np.array(out["e"])
        out["T_s"] = float(np.sum(out["t"]))
        out["P_t"] = float(p.W * np.sum(np.maximum(0.0, t_dt - p.deadline_s)))
        out["P_e"] = float(p.W * np.sum(np.maximum(0.0, e - p.E_max_j)))
        out["P_f"] = float(p.W * max(0.0, float(np.sum(out["f_e_hz"])) - p.f_e_max_hz) / 1e9)
        out["reward"] = -(out["T_s"] + out["P_t"] + out["P_e"] + out["P_f"])
        out["violations"] = int(np.sum((t_dt > p.deadline_s) | (e > p.E_max_j)))
    if present:
        out["fidelity_nrmse_max"] = max((r.fidelity_nrmse or 0.0) for r in present)
        first = min(r.sampled_wall for r in present)
        out["pipeline_wall_s"] = max(r.twin_wall for r in present) - first
    out["missing"] = missing
    return SemanticRound.model_validate(out)


def run_artifacts(p: SemanticParams) -> Sequence[ArtifactSpec[SemanticParams, Any]]:
    """Every run's UDs encode and its edge decodes with the trained semantic codec."""
    return [CODEC]


SCENARIO: Scenario[SemanticParams, SlotView, Resources, UDReport, SemanticRound,
                   SemanticOutcome] = Scenario(
    name="semantic",
    params=SemanticParams,
    state=SlotView,
    action=Resources,
    report=UDReport,
    metrics=SemanticRound,
    outcome=SemanticOutcome,
    policies=POLICIES,
    world=SemanticWorld.for_run,
    roles=ROLES,
    parties=parties,
    summarize=summarize,
    first_role="basestation",
    duration_key="slot_s",
    headline=("T_s", "reward", "violations"),
    run_artifacts=run_artifacts,
)
