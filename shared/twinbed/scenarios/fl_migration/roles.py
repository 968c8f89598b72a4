"""What each service does in a live ``fl-migration`` slot (filled in below)."""

from __future__ import annotations

from typing import Any

from twinbed.scenarios.fl_migration.params import FlMigrationParams

__all__ = ["HANDLERS", "parties", "summarize"]


def parties(p: FlMigrationParams) -> list[str]:
    return ["cloud"]


def summarize(p: FlMigrationParams, round_: int, reports: dict[str, dict[str, Any]],
              missing: list[str]) -> dict[str, Any]:
    out = dict(reports.get("cloud", {}))
    out["missing"] = missing
    return out


HANDLERS: dict = {}
