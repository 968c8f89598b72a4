"""The seeded per-round mechanics of a ``compression`` run, used by the basestation role, the
in-process runner and the figures alike.

The channel of round r comes from ``rng(seed, "channel", r)`` (:func:`channel_for_round`);
the outcome of an allocation is eqs. (2)-(10) (:func:`round_outcome`). Rounds run back to
back in modeled time (round r + 1 starts when round r's slowest sensor completes, eq. 10).
"""

from __future__ import annotations

import numpy as np

from twinbed.runtime import RunContext
from twinbed.scenarios.compression import model
from twinbed.scenarios.compression.contract import (
    AllocationAction,
    ChannelState,
    CompressionOutcome,
)
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.seeding import rng

__all__ = ["CompressionWorld", "channel_for_round", "round_outcome"]


def channel_for_round(p: CompressionParams, seed: int, round_: int) -> np.ndarray:
    """|H_k|^2 of round ``round_`` (eq. 4), the draw the basestation makes live."""
    return model.draw_channel_gain(p, rng(seed, "channel", round_))


def round_outcome(p: CompressionParams, round_: int, modeled_start_s: float,
                  H_gain: np.ndarray, b_hz: np.ndarray, f_hz: np.ndarray,
                  beta: np.ndarray | None = None, iterations: int = 0) -> CompressionOutcome:
    """Compression ratios and modeled times for one allocation.

    ``beta`` None: every sensor plays its best response (eq. 9) to its rate."""
    s = model.sensor_arrays(p)
    r = model.rate_bps(b_hz, H_gain, s.p_w, p.N0_w_per_hz)
    if beta is None:
        beta = model.best_response(r, s.f_s_hz, p.epsilon, p.beta_max)
    beta = np.asarray(beta, dtype=float)
    t = model.timings(p, beta, b_hz, f_hz, H_gain, s)
    return CompressionOutcome(
        round=round_, modeled_start_s=modeled_start_s,
        H_gain=H_gain.tolist(), b_hz=np.asarray(b_hz, float).tolist(),
        f_hz=np.asarray(f_hz, float).tolist(), rate_bps=r.tolist(), beta=beta.tolist(),
        T_comp_s=t.T_comp.tolist(), T_tr_s=t.T_tr.tolist(), T_DT_s=t.T_DT.tolist(),
        T_total_s=t.T_total.tolist(), T_max_s=float(np.max(t.T_total)), iterations=iterations)


class CompressionWorld:
    """One run's channels (a :class:`twinbed.contract.World`); rounds are independent."""

    def __init__(self, p: CompressionParams, seed: int) -> None:
        self.p, self.seed = p, seed

    @classmethod
    def for_run(cls, ctx: RunContext[CompressionParams]) -> CompressionWorld:
        """The world of a run (its parameters and seed)."""
        return cls(ctx.params, ctx.run.seed)

    def channel(self, round_: int) -> np.ndarray:
        return channel_for_round(self.p, self.seed, round_)

    def decision_state(self, round_: int) -> ChannelState:
        return ChannelState(H_gain=self.channel(round_).tolist())

    def outcome(self, round_: int, modeled_start_s: float, state: ChannelState,
                action: AllocationAction) -> CompressionOutcome:
        beta = None if action.beta is None else np.asarray(action.beta, dtype=float)
        return round_outcome(self.p, round_, modeled_start_s, np.asarray(state.H_gain, float),
                             np.asarray(action.b_hz, float), np.asarray(action.f_hz, float),
                             beta, action.iterations)
