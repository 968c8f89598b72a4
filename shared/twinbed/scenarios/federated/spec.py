"""The ``federated`` scenario's contract (:class:`twinbed.contract.Scenario`).

| part | where |
| --- | --- |
| parameters | params.py (:class:`FederatedParams`) |
| decision state, action, report, round, outcome | contract.py |
| policies (baselines; DMO, dmo-shared, artifacts) | policies.py, algorithms.py, artifacts.py |
| world (the instance, each frame's draws, playing a frame: SOCF, eqs. 2-25) | world.py |
| roles (cloud, sensor, edge) | roles.py |
| parties, summarize | here |
"""

from __future__ import annotations

from collections.abc import Mapping

from twinbed.contract import Scenario
from twinbed.scenarios.federated.contract import (
    CloudReport,
    FederatedOutcome,
    FederatedRound,
    FrameDecision,
    FrameState,
)
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.policies import POLICIES
from twinbed.scenarios.federated.roles import ROLES
from twinbed.scenarios.federated.world import FederatedWorld

__all__ = ["SCENARIO", "parties", "summarize"]


def parties(p: FederatedParams) -> list[str]:
    """The cloud completes a frame (once it has integrated every partial-DT)."""
    return ["cloud"]


def summarize(p: FederatedParams, round_: int, reports: Mapping[str, CloudReport],
              missing: list[str]) -> FederatedRound:
    """The frame's record is the cloud's report (empty but ``missing`` without it)."""
    cloud = reports.get("cloud")
    return FederatedRound(**(dict(cloud) if cloud is not None else {}), missing=missing)


SCENARIO: Scenario[FederatedParams, FrameState, FrameDecision, CloudReport, FederatedRound,
                   FederatedOutcome] = Scenario(
    name="federated",
    params=FederatedParams,
    state=FrameState,
    action=FrameDecision,
    report=CloudReport,
    metrics=FederatedRound,
    outcome=FederatedOutcome,
    policies=POLICIES,
    world=FederatedWorld.for_run,
    roles=ROLES,
    parties=parties,
    summarize=summarize,
    first_role="cloud",
    duration_key="T_s",
    headline=("U", "reward", "Q", "changes"),
)
