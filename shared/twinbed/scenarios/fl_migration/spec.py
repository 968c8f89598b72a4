"""The ``fl-migration`` scenario's contract (:class:`twinbed.contract.Scenario`).

| part | where |
| --- | --- |
| parameters | params.py (:class:`FlMigrationParams`) |
| decision state, action, report, round, outcome | contract.py |
| policies (three rules; PPO, A2C, DDPG, agents) | policies.py, algorithms.py, artifacts.py |
| world (instance, users' moves and uploads, a slot's modeled metrics) | world.py |
| roles (cloud, edge, the users on the sensor service) | roles.py: cloud.py, edge.py, users.py |
| parties, summarize | here |
"""

from __future__ import annotations

from collections.abc import Mapping

from twinbed.contract import Scenario
from twinbed.scenarios.fl_migration.contract import (
    Association,
    CloudReport,
    FlMigrationOutcome,
    FlMigrationRound,
    SlotView,
)
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.policies import POLICIES
from twinbed.scenarios.fl_migration.roles import ROLES
from twinbed.scenarios.fl_migration.world import FlMigrationWorld

__all__ = ["SCENARIO", "parties", "summarize"]


def parties(p: FlMigrationParams) -> list[str]:
    """The cloud completes a slot (once every edge process reported step 6)."""
    return ["cloud"]


def summarize(p: FlMigrationParams, round_: int, reports: Mapping[str, CloudReport],
              missing: list[str]) -> FlMigrationRound:
    """The slot's record is the cloud's report (only the slot length without it)."""
    cloud = reports.get("cloud")
    if cloud is None:
        return FlMigrationRound(slot_s=p.slot_s, missing=missing)
    return FlMigrationRound(**dict(cloud), missing=missing)


SCENARIO: Scenario[FlMigrationParams, SlotView, Association, CloudReport, FlMigrationRound,
                   FlMigrationOutcome] = Scenario(
    name="fl-migration",
    params=FlMigrationParams,
    state=SlotView,
    action=Association,
    report=CloudReport,
    metrics=FlMigrationRound,
    outcome=FlMigrationOutcome,
    policies=POLICIES,
    world=FlMigrationWorld.for_run,
    roles=ROLES,
    parties=parties,
    summarize=summarize,
    first_role="cloud",
    duration_key="slot_s",
    headline=("objective", "reward", "utility", "migrations"),
)
