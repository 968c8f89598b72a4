"""The ``semantic`` scenario as the services see it (see twinbed.scenarios.ScenarioSpec)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from twinbed.runtime import RunContext
from twinbed.scenarios import ScenarioSpec
from twinbed.scenarios.semantic.algorithms import ALGORITHMS
from twinbed.scenarios.semantic.learned import needed
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.process import SlotState
from twinbed.scenarios.semantic.roles import HANDLERS, ud_name
from twinbed.scenarios.semantic.simulate import policy, simulate

__all__ = ["PER_UD", "SPEC"]

PER_UD = ("phi", "phi_achieved", "f_hz", "p_w", "f_e_hz", "D_bits", "d_m", "h2", "rate_bps",
          "t_s", "t_en", "t_up", "t_de", "t_dt", "t", "e", "encode_s", "decode_s",
          "fidelity_nrmse", "fidelity_exact")


def decide(ctx: RunContext, state: dict[str, Any]) -> dict[str, Any]:
    """The run's decision maker on the BS's view of slot n (d, D, |g|^2); agents and the
    fading-blind baselines use only S[n] = {d, D} (algorithms.py)."""
    p = ctx.params
    assert isinstance(p, SemanticParams)
    arrays = {k: np.asarray(state[k], dtype=float) for k in ("d_m", "D_bits", "h2")}
    for k, a in arrays.items():
        if a.shape != (p.K,):
            raise ValueError(f"expected {p.K} values of {k}, got shape {a.shape}")
    if "policy" not in ctx.cache:
        ctx.cache["policy"] = policy(p, ctx.run.algorithm, ctx.run.seed, ctx.settings.data_dir)
    s = SlotState(int(state["slot"]), np.zeros((p.K, 2)), arrays["d_m"], arrays["D_bits"],
                  arrays["h2"])
    act = ctx.cache["policy"](s)
    return {k: np.asarray(v, dtype=float).tolist() for k, v in act._asdict().items()}


def parties(p: SemanticParams) -> list[str]:
    return [ud_name(k) for k in range(p.K)]


def summarize(p: SemanticParams, round_: int, reports: dict[str, dict[str, Any]],
              missing: list[str]) -> dict[str, Any]:
    """Slot metrics: per-UD lists (None for a missing UD), T[n], the penalties and reward (22)."""
    rows = [reports.get(ud_name(k)) for k in range(p.K)]
    out: dict[str, Any] = {n: [r.get(n) if r else None for r in rows] for n in PER_UD}
    out["slot_s"] = p.tau_s
    present = [r for r in rows if r]
    if present and not missing:
        t_dt, e = np.array(out["t_dt"]), np.array(out["e"])
        out["T_s"] = float(np.sum(out["t"]))
        out["P_t"] = float(p.W * np.sum(np.maximum(0.0, t_dt - p.deadline_s)))
        out["P_e"] = float(p.W * np.sum(np.maximum(0.0, e - p.E_max_j)))
        out["P_f"] = float(p.W * max(0.0, float(np.sum(out["f_e_hz"])) - p.f_e_max_hz) / 1e9)
        out["reward"] = -(out["T_s"] + out["P_t"] + out["P_e"] + out["P_f"])
        out["violations"] = int(np.sum((t_dt > p.deadline_s) | (e > p.E_max_j)))
    if present:
        out["fidelity_nrmse_max"] = max((r["fidelity_nrmse"] or 0.0) for r in present)
        first = min(r["sampled_wall"] for r in present)
        out["pipeline_wall_s"] = max(r["twin_wall"] for r in present) - first
    out["missing"] = missing
    return out


def _simulate(p: SemanticParams, algorithm: str, seed: int, rounds: int) -> list[dict[str, Any]]:
    return simulate(p, algorithm, seed, rounds)


SPEC = ScenarioSpec(
    name="semantic",
    params_model=SemanticParams,
    algorithms=ALGORITHMS,
    decide=decide,
    handlers=HANDLERS,
    parties=parties,
    summarize=summarize,
    first_role="basestation",
    duration_key="slot_s",
    simulate=_simulate,
    artifacts=needed,
    headline=("T_s", "reward", "violations"),
)
