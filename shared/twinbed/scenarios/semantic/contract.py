"""The ``semantic`` scenario's typed decision hop and records (see twinbed.contract.models).

| model | what |
| --- | --- |
| :class:`SlotView` | the BS's view of slot n: d, D and the fading it measures, per UD |
| :class:`Resources` | the slot's decisions per UD: phi, f, p, f_e |
| :class:`UDReport` | one UD's slot, reported by the cloud once its twin is updated |
| :class:`SemanticRound` | a live slot's record: per-UD lists, T[n], penalties, reward (22) |
| :class:`SemanticOutcome` | an in-process slot's record (``twinbed simulate``) |

Field names and order are those of the records before the contract, so the JSON is the same.
"""

from __future__ import annotations

from pydantic import Field

from twinbed.contract import Action, DecisionState, PartyReport, RoundMetrics, RoundOutcome
from twinbed.scenarios.semantic.messages import SlotTerms, UplinkFields

__all__ = ["PER_UD", "Resources", "SemanticOutcome", "SemanticRound", "SlotView", "UDReport"]

PER_UD = ("phi", "phi_achieved", "f_hz", "p_w", "f_e_hz", "D_bits", "d_m", "h2", "rate_bps",
          "t_s", "t_en", "t_up", "t_de", "t_dt", "t", "e", "encode_s", "decode_s",
          "fidelity_nrmse", "fidelity_exact")


class SlotView(DecisionState):
    """What the BS knows when it decides slot ``slot`` (agents and the fading-blind
    baselines use only S[n] = {d, D}; the per-slot optimum also the fading)."""

    slot: int = Field(ge=0)
    d_m: list[float]
    D_bits: list[float]
    h2: list[float] = Field(description="|g^NLoS|^2 per UD, measured this slot")


class Resources(Action):
    """The slot's decisions per UD."""

    phi: list[float]
    f_hz: list[float]
    p_w: list[float]
    f_e_hz: list[float]


class UDReport(PartyReport, SlotTerms, UplinkFields):
    """UD k's slot as the cloud saw it: the uplink, the modeled terms the BS stamped (the
    fields of :class:`~.messages.Sync` but its routing, oracle id and checksum), the real
    codec's measurements and the twin's fidelity (None without the oracle entry)."""

    decode_s: float
    twin_wall: float
    fidelity_nrmse: float | None
    fidelity_exact: bool | None


class SemanticRound(RoundMetrics):
    """A live slot: per-UD lists (None for a missing UD) and, when every UD reported, T[n],
    the penalties and the reward of eq. (22)."""

    phi: list[float | None]
    phi_achieved: list[float | None]
    f_hz: list[float | None]
    p_w: list[float | None]
    f_e_hz: list[float | None]
    D_bits: list[float | None]
    d_m: list[float | None]
    h2: list[float | None]
    rate_bps: list[float | None]
    t_s: list[float | None]
    t_en: list[float | None]
    t_up: list[float | None]
    t_de: list[float | None]
    t_dt: list[float | None]
    t: list[float | None]
    e: list[float | None]
    encode_s: list[float | None]
    decode_s: list[float | None]
    fidelity_nrmse: list[float | None]
    fidelity_exact: list[bool | None]
    slot_s: float
    T_s: float | None = None
    P_t: float | None = None
    P_e: float | None = None
    P_f: float | None = None
    reward: float | None = None
    violations: int | None = None
    fidelity_nrmse_max: float | None = None
    pipeline_wall_s: float | None = None


class SemanticOutcome(RoundOutcome):
    """An in-process slot: the decisions, the world and the modeled terms (eqs. 5-22)."""

    slot_s: float
    phi: list[float]
    f_hz: list[float]
    p_w: list[float]
    f_e_hz: list[float]
    d_m: list[float]
    D_bits: list[float]
    h2: list[float]
    t_s: list[float]
    t_en: list[float]
    t_up: list[float]
    t_de: list[float]
    t_dt: list[float]
    t: list[float]
    e: list[float]
    rate_bps: list[float]
    T_s: float
    P_t: float
    P_e: float
    P_f: float
    reward: float
    violations: int
