"""The ``network-twin`` scenario's typed decision hop and records (see twinbed.contract.models).

| model | what |
| --- | --- |
| :class:`SyncState` | what the BS knows when it asks whether to sync this slot |
| :class:`SyncAction` | the answer: ``sync`` or not |
| :class:`SlotReport` | one party's share of a slot: the basestation's or the cloud's |
| :class:`NetworkRound` | a live slot's record: both shares and the reward (eq. 15 or 17) |
| :class:`NetworkOutcome` | an in-process slot's record (``twinbed simulate``) |

Field names and order are those of the records before the contract, so the JSON is the same.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from twinbed.contract import Action, DecisionState, PartyReport, RoundMetrics, RoundOutcome

__all__ = ["BasestationShare", "CloudShare", "NetworkRound", "NetworkOutcome", "SlotReport",
           "SyncAction", "SyncState"]

Positions = list[list[float]]  # (U, 2) user coordinates, blocks


class SyncState(DecisionState):
    """The BS's view of slot ``slot`` (the live ``DecisionRequest.state``).

    ``err_if_skip`` is ||s_t - s_hat_t||^2, the twin's error without a sync: only a BS that
    runs the cloud's predictor knows it (the ``error-aware`` rule); learned agents do not see
    it (:func:`env.observation`).
    """

    slot: int = Field(ge=0)
    positions: Positions
    last_sync: Positions = Field(description="the state last sent to the cloud")
    unsynced: int = Field(ge=0, description="slots since that sync")
    feasible: bool = Field(description="an RB meets the delay bound gamma (5e)")
    cloud_rb: int = Field(ge=-1, description="RB R that would carry a sync (-1: none)")
    rate_nosync: float = Field(description="users' sum rate, all N RBs")
    rate_sync: float = Field(description="users' sum rate with R reserved for the sync")
    err_if_skip: float = Field(ge=0)


class SyncAction(Action):
    """Send the network state to the cloud twin this slot (on RB R) or not."""

    sync: bool


class BasestationShare(PartyReport):
    """The basestation's share of a slot: the decision, the RBs and the users' sum rate."""

    requested_sync: bool
    synced: bool
    sum_rate: float
    rb: list[int]
    cloud_rb: int = Field(ge=-1)
    cloud_delay: float = Field(ge=0)
    bs_err_if_skip: float = Field(ge=0)
    modeled_start_s: float = Field(ge=0)
    solve_s: float = Field(ge=0)


class CloudShare(PartyReport):
    """The cloud's share of a slot: the twin's error against the oracle (None without it)."""

    err_sq: float | None
    source: Literal["measured", "predicted"]
    aoi_slots: float
    twin_wall: float
    sampled_wall: float


class SlotReport(PartyReport):
    """One party's report of a slot; exactly one share is set (party ``basestation`` or
    ``cloud``)."""

    basestation: BasestationShare | None = None
    cloud: CloudShare | None = None


class NetworkRound(RoundMetrics):
    """A live slot: the basestation's and the cloud's shares; the reward needs both."""

    slot: int
    slot_s: float
    requested_sync: bool | None = None
    synced: bool | None = None
    sum_rate: float | None = None
    rb: list[int] | None = None
    cloud_rb: int | None = None
    cloud_delay: float | None = None
    solve_s: float | None = None
    modeled_start_s: float | None = None
    err_sq: float | None = None
    source: str | None = None
    aoi_slots: float | None = None
    pipeline_wall_s: float | None = None
    reward: float | None = None


class NetworkOutcome(RoundOutcome):
    """An in-process slot: the decision, the rates, the twin and its error (eqs. 4, 15, 17)."""

    slot: int
    synced: bool
    requested_sync: bool
    sum_rate: float
    err_sq: float
    reward: float
    cloud_rb: int
    cloud_delay: float
    rb: list[int]
    positions: Positions
    twin: Positions
    slot_s: float
