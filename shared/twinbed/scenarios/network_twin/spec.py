"""The ``network-twin`` scenario as the services see it (see twinbed.scenarios.ScenarioSpec)."""

from __future__ import annotations

from typing import Any

from twinbed.scenarios import ScenarioSpec
from twinbed.scenarios.network_twin import model
from twinbed.scenarios.network_twin.algorithms import ALGORITHMS, decide
from twinbed.scenarios.network_twin.learned import needed
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.roles import HANDLERS
from twinbed.scenarios.network_twin.simulate import simulate

__all__ = ["SPEC"]

BS = ("requested_sync", "synced", "sum_rate", "rb", "cloud_rb", "cloud_delay", "solve_s")


def parties(p: NetworkTwinParams) -> list[str]:
    return ["basestation", "cloud"]


def summarize(p: NetworkTwinParams, round_: int, reports: dict[str, dict[str, Any]],
              missing: list[str]) -> dict[str, Any]:
    """The slot's metrics; its reward (eq. 15 or 17) needs both reports."""
    bs, cloud = reports.get("basestation"), reports.get("cloud")
    out: dict[str, Any] = {"slot": round_, "slot_s": 1.0, "missing": missing}
    if bs:
        out.update({k: bs[k] for k in BS}, modeled_start_s=bs["modeled_start_s"])
    if cloud:
        out.update(err_sq=cloud["err_sq"], source=cloud["source"], aoi_slots=cloud["aoi_slots"],
                   pipeline_wall_s=cloud["twin_wall"] - cloud["sampled_wall"])
    if bs and cloud:
        out["reward"] = model.reward(p, bool(bs["synced"]), float(bs["sum_rate"]),
                                     float(cloud["err_sq"]))
    return out


SPEC = ScenarioSpec(
    name="network-twin",
    params_model=NetworkTwinParams,
    algorithms=ALGORITHMS,
    decide=decide,
    handlers=HANDLERS,
    parties=parties,
    summarize=summarize,
    first_role="sensor",
    duration_key="slot_s",
    simulate=simulate,
    artifacts=needed,
    headline=("reward", "sum_rate", "err_sq", "synced"),
)
