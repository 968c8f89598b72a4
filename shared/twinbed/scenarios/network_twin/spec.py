"""The ``network-twin`` scenario's contract (:class:`twinbed.contract.Scenario`).

| part | where |
| --- | --- |
| parameters | params.py (:class:`NetworkTwinParams`) |
| decision state, action, reports, round, outcome | contract.py |
| policies (four rules; SAC, DQN with their artifacts) | policies.py, algorithms.py, learned.py |
| world (users' moves, channels, RBs, the twin's predictor; eqs. 1-4, 15, 17) | world.py |
| roles (sensor, basestation, cloud) | roles.py |
| parties, summarize | here |
| run artifacts: the cloud twin's GRU unless ``predictor=hold`` | learned.py |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twinbed.artifacts import ArtifactSpec
from twinbed.contract import Scenario
from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.contract import (
    NetworkOutcome,
    NetworkRound,
    SlotReport,
    SyncAction,
    SyncState,
)
from twinbed.scenarios.network_twin.learned import GRU
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.policies import POLICIES
from twinbed.scenarios.network_twin.roles import ROLES
from twinbed.scenarios.network_twin.world import NetworkWorld

__all__ = ["SCENARIO", "parties", "run_artifacts", "summarize"]


def parties(p: NetworkTwinParams) -> list[str]:
    """The basestation (decision, rates) and the cloud (the twin's error) complete a slot."""
    return ["basestation", "cloud"]


def summarize(p: NetworkTwinParams, round_: int, reports: Mapping[str, SlotReport],
              missing: list[str]) -> NetworkRound:
    """The slot's metrics; its reward (eq. 15 or 17) needs both shares and the twin's error."""
    bs_report, cloud_report = reports.get("basestation"), reports.get("cloud")
    bs = None if bs_report is None else bs_report.basestation
    cloud = None if cloud_report is None else cloud_report.cloud
    out: dict[str, Any] = {"slot": round_, "slot_s": 1.0, "missing": missing}
    if bs is not None:
        out.update(bs.model_dump(include={"requested_sync", "synced", "sum_rate", "rb",
                                          "cloud_rb", "cloud_delay", "solve_s",
                                          "modeled_start_s"}))
    if cloud is not None:
        out.update(err_sq=cloud.err_sq, source=cloud.source, aoi_slots=cloud.aoi_slots,
                   pipeline_wall_s=cloud.twin_wall - cloud.sampled_wall)
    if bs is not None and cloud is not None and cloud.err_sq is not None:
        out["reward"] = model.reward(p, bs.synced, bs.sum_rate, cloud.err_sq)
    return NetworkRound.model_validate(out)


def run_artifacts(p: NetworkTwinParams) -> Sequence[ArtifactSpec[NetworkTwinParams, Any]]:
    """Every run's twin predicts with the trained GRU, unless ``predictor=hold``."""
    return [GRU] if p.predictor == "gru" else []


SCENARIO: Scenario[NetworkTwinParams, SyncState, SyncAction, SlotReport, NetworkRound,
                   NetworkOutcome] = Scenario(
    name="network-twin",
    params=NetworkTwinParams,
    state=SyncState,
    action=SyncAction,
    report=SlotReport,
    metrics=NetworkRound,
    outcome=NetworkOutcome,
    policies=POLICIES,
    world=NetworkWorld.for_run,
    roles=ROLES,
    parties=parties,
    summarize=summarize,
    first_role="sensor",
    duration_key="slot_s",
    headline=("reward", "sum_rate", "err_sq", "synced"),
    run_artifacts=run_artifacts,
)
