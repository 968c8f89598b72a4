"""What each service does in a live ``federated`` frame (filled in by the live part)."""

from __future__ import annotations

from typing import Any

from twinbed.runtime import RunContext
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["HANDLERS", "decide", "parties", "summarize"]


def decide(ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
    raise NotImplementedError("the federated scenario does not run live yet")


def parties(p: FederatedParams) -> list[str]:
    return ["cloud"]


def summarize(p: FederatedParams, round_: int, reports: dict[str, dict[str, Any]],
              missing: list[str]) -> dict[str, Any]:
    return {**reports.get("cloud", {}), "missing": missing}


HANDLERS: dict[str, Any] = {}
