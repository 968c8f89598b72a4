"""The ``compression`` scenario's contract (:class:`twinbed.contract.Scenario`): the worked
example docs/ARCHITECTURE.md walks through.

| part | where |
| --- | --- |
| parameters | params.py (:class:`CompressionParams`) |
| decision state, action, report, round, outcome | contract.py |
| policies (the algorithm registry) | policies.py over algorithms.py |
| world (the seeded channels, eqs. 2-10 of a round) | world.py |
| roles (basestation, sensor, cloud) | roles.py |
| parties, summarize | here |
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from twinbed.contract import Scenario
from twinbed.scenarios.compression.contract import (
    AllocationAction,
    ChannelState,
    CompressionOutcome,
    CompressionRound,
    SensorReport,
)
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.scenarios.compression.policies import POLICIES
from twinbed.scenarios.compression.roles import ROLES, sensor_name
from twinbed.scenarios.compression.world import CompressionWorld

__all__ = ["PER_SENSOR", "SCENARIO", "parties", "summarize"]

PER_SENSOR = ("beta_model", "beta_achieved", "codec", "codec_s", "decode_s", "b_hz", "f_hz",
              "rate_bps", "T_comp_s", "T_tr_s", "T_DT_s", "T_total_s", "fidelity_exact")


def parties(p: CompressionParams) -> list[str]:
    """Every sensor completes a round (its twin updated, reported by the cloud)."""
    return [sensor_name(k) for k in range(p.K)]


def summarize(p: CompressionParams, round_: int, reports: Mapping[str, SensorReport],
              missing: list[str]) -> CompressionRound:
    """Round metrics: per-sensor lists (None for a missing sensor) and eq. (10)."""
    rows = [reports.get(sensor_name(k)) for k in range(p.K)]
    present = [r for r in rows if r is not None]
    lists = {name: [getattr(r, name) if r is not None else None for r in rows]
             for name in PER_SENSOR}
    extra: dict[str, object] = {}
    if present:
        first = present[0]
        extra = {
            "T_max_s": max(r.T_total_s for r in present),
            "beta_mean": float(np.mean([r.beta_model for r in present])),
            "beta_achieved_mean": float(np.mean([r.beta_achieved for r in present])),
            "modeled_start_s": first.modeled_start_s,
            "pipeline_wall_s": (max(r.twin_wall for r in present)
                                - min(r.sampled_wall for r in present)),
            "negotiation_iterations": first.negotiation_iterations,
            "negotiation_messages": first.negotiation_messages,
            "negotiation_wall_s": first.negotiation_wall_s,
        }
    return CompressionRound.model_validate({**lists, **extra, "missing": missing})


SCENARIO: Scenario[CompressionParams, ChannelState, AllocationAction, SensorReport,
                   CompressionRound, CompressionOutcome] = Scenario(
    name="compression",
    params=CompressionParams,
    state=ChannelState,
    action=AllocationAction,
    report=SensorReport,
    metrics=CompressionRound,
    outcome=CompressionOutcome,
    policies=POLICIES,
    world=CompressionWorld.for_run,
    roles=ROLES,
    parties=parties,
    summarize=summarize,
    first_role="basestation",
    duration_key="T_max_s",
    headline=(),
)
