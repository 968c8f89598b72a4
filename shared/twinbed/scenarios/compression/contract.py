"""The ``compression`` scenario's typed decision hop and records (see twinbed.contract.models).

| model | what |
| --- | --- |
| :class:`ChannelState` | the leader's view of a round: \\|H_k\\|^2 per sensor |
| :class:`AllocationAction` | b_k, f_k and (where the scheme fixes them) beta_k |
| :class:`SensorReport` | one sensor's round, reported by the cloud once its twin is updated |
| :class:`CompressionRound` | a live round's record: per-sensor lists and eq. (10) |
| :class:`CompressionOutcome` | an in-process round's record (``twinbed simulate``) |
"""

from __future__ import annotations

from pydantic import Field

from twinbed.contract import (
    Action,
    DecisionState,
    PartyReport,
    RoundMetrics,
    RoundOutcome,
)

__all__ = ["AllocationAction", "ChannelState", "CompressionOutcome", "CompressionRound",
           "SensorReport"]


class ChannelState(DecisionState):
    """What the BS knows when it allocates: the measured channel gains (CSI feedback)."""

    H_gain: list[float] = Field(description="|H_k|^2 per sensor, path loss and fading")


class AllocationAction(Action):
    """The leader's allocation for one round."""

    b_hz: list[float]
    f_hz: list[float]
    beta: list[float] | None = Field(None, description="ratios the scheme fixed or negotiated; "
                                     "None: every sensor plays its best response (eq. 9)")
    iterations: int = Field(0, ge=0, description="iterations of the scheme (Algorithm 1)")


class SensorReport(PartyReport):
    """Sensor k's round as the cloud saw it: its choices, the modeled times the BS stamped,
    the real codec's measurements and the twin's fidelity."""

    sensor: int = Field(ge=0)
    beta_model: float
    codec: str
    beta_achieved: float
    codec_s: float
    raw_bytes: int
    sampled_wall: float
    b_hz: float
    f_hz: float
    rate_bps: float
    T_comp_s: float
    T_tr_s: float
    T_DT_s: float
    T_total_s: float
    modeled_start_s: float
    forwarded_wall: float
    negotiation_iterations: int | None = None
    negotiation_messages: int | None = None
    negotiation_wall_s: float | None = None
    decode_s: float
    twin_wall: float
    fidelity_exact: bool | None


class CompressionRound(RoundMetrics):
    """A live round: per-sensor lists (None for a missing sensor) and eq. (10)'s T_max."""

    beta_model: list[float | None]
    beta_achieved: list[float | None]
    codec: list[str | None]
    codec_s: list[float | None]
    decode_s: list[float | None]
    b_hz: list[float | None]
    f_hz: list[float | None]
    rate_bps: list[float | None]
    T_comp_s: list[float | None]
    T_tr_s: list[float | None]
    T_DT_s: list[float | None]
    T_total_s: list[float | None]
    fidelity_exact: list[bool | None]
    T_max_s: float | None = None
    beta_mean: float | None = None
    beta_achieved_mean: float | None = None
    modeled_start_s: float | None = None
    pipeline_wall_s: float | None = None
    negotiation_iterations: int | None = None
    negotiation_messages: int | None = None
    negotiation_wall_s: float | None = None


class CompressionOutcome(RoundOutcome):
    """An in-process round: the allocation, the ratios and the modeled times (eqs. 2-10)."""

    H_gain: list[float]
    b_hz: list[float]
    f_hz: list[float]
    rate_bps: list[float]
    beta: list[float]
    T_comp_s: list[float]
    T_tr_s: list[float]
    T_DT_s: list[float]
    T_total_s: list[float]
    T_max_s: float
    iterations: int
