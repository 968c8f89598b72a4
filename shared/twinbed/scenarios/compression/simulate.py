"""In-process run of the scenario: the same rounds the live services play, without I/O.

The channel of round r comes from ``rng(seed, "channel", r)``, exactly as the basestation draws
it; rounds run back to back in modeled time (round r+1 starts when round r's slowest sensor
completes, eq. 10).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinbed.scenarios.compression import model
from twinbed.scenarios.compression.algorithms import ALGORITHMS
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.seeding import rng

__all__ = ["channel_for_round", "round_outcome", "simulate"]


def channel_for_round(p: CompressionParams, seed: int, round_: int) -> np.ndarray:
    return model.draw_channel_gain(p, rng(seed, "channel", round_))


def round_outcome(
    p: CompressionParams,
    H_gain: np.ndarray,
    b_hz: np.ndarray,
    f_hz: np.ndarray,
    beta: np.ndarray | None = None,
) -> dict[str, Any]:
    """Compression ratios and modeled times for one allocation, as plain lists (JSON-able).

    ``beta`` None: every sensor plays its best response (eq. 9) to its rate."""
    s = model.sensor_arrays(p)
    r = model.rate_bps(b_hz, H_gain, s.p_w, p.N0_w_per_hz)
    if beta is None:
        beta = model.best_response(r, s.f_s_hz, p.epsilon, p.beta_max)
    beta = np.asarray(beta, dtype=float)
    t = model.timings(p, beta, b_hz, f_hz, H_gain, s)
    return {
        "H_gain": H_gain.tolist(),
        "b_hz": np.asarray(b_hz, float).tolist(),
        "f_hz": np.asarray(f_hz, float).tolist(),
        "rate_bps": r.tolist(),
        "beta": beta.tolist(),
        "T_comp_s": t.T_comp.tolist(),
        "T_tr_s": t.T_tr.tolist(),
        "T_DT_s": t.T_DT.tolist(),
        "T_total_s": t.T_total.tolist(),
        "T_max_s": float(np.max(t.T_total)),
    }


def simulate(
    p: CompressionParams, algorithm: str = "fixed-bf", seed: int = 0, rounds: int = 1
) -> list[dict[str, Any]]:
    """Per-round modeled metrics of ``rounds`` rounds; see :func:`round_outcome`."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    out: list[dict[str, Any]] = []
    modeled = 0.0
    for r in range(rounds):
        H = channel_for_round(p, seed, r)
        alloc = ALGORITHMS[algorithm](p, H)
        rec = {"round": r, "modeled_start_s": modeled,
               **round_outcome(p, H, alloc.b_hz, alloc.f_hz, alloc.beta),
               "iterations": alloc.iterations}
        modeled += rec["T_max_s"]
        out.append(rec)
    return out
