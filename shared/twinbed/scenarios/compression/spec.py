"""The ``compression`` scenario as the services see it (see twinbed.scenarios.ScenarioSpec)."""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbed.runtime import RunContext
from twinbed.scenarios import ScenarioSpec
from twinbed.scenarios.compression.algorithms import ALGORITHMS
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.scenarios.compression.roles import HANDLERS, sensor_name
from twinbed.scenarios.compression.simulate import simulate

__all__ = ["SPEC"]

PER_SENSOR = ("beta_model", "beta_achieved", "codec", "codec_s", "decode_s", "b_hz", "f_hz",
              "rate_bps", "T_comp_s", "T_tr_s", "T_DT_s", "T_total_s", "fidelity_exact")


def decide(ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
    p = ctx.params
    assert isinstance(p, CompressionParams)
    H = np.asarray(state["H_gain"], dtype=float)
    if H.shape != (p.K,):
        raise ValueError(f"expected {p.K} channel gains, got shape {H.shape}")
    alloc = ALGORITHMS[ctx.run.algorithm](p, H)
    out: dict[str, Any] = {"b_hz": alloc.b_hz.tolist(), "f_hz": alloc.f_hz.tolist()}
    if alloc.beta is not None:  # the scheme fixes or negotiated the ratios
        out["beta"] = np.asarray(alloc.beta, dtype=float).tolist()
    return out


def parties(p: CompressionParams) -> list[str]:
    return [sensor_name(k) for k in range(p.K)]


def summarize(
    p: CompressionParams, round_: int, reports: dict[str, dict[str, Any]], missing: list[str]
) -> dict[str, Any]:
    """Round metrics: per-sensor lists (None for a missing sensor) and eq. (10)."""
    rows = [reports.get(sensor_name(k)) for k in range(p.K)]
    out: dict[str, Any] = {name: [r[name] if r else None for r in rows] for name in PER_SENSOR}
    totals = [r["T_total_s"] for r in rows if r]
    out["T_max_s"] = max(totals) if totals else None
    present = [r for r in rows if r]
    if present:
        out["beta_mean"] = float(np.mean([r["beta_model"] for r in present]))
        out["beta_achieved_mean"] = float(np.mean([r["beta_achieved"] for r in present]))
        out["modeled_start_s"] = present[0]["modeled_start_s"]
        first = min(r["sampled_wall"] for r in present)
        out["pipeline_wall_s"] = max(r["twin_wall"] for r in present) - first
        for name in ("negotiation_iterations", "negotiation_messages", "negotiation_wall_s"):
            if present[0].get(name) is not None:
                out[name] = present[0][name]
    out["missing"] = missing
    return out


SPEC = ScenarioSpec(
    name="compression",
    params_model=CompressionParams,
    algorithms=tuple(ALGORITHMS),
    decide=decide,
    handlers=HANDLERS,
    parties=parties,
    summarize=summarize,
    simulate=simulate,
)
