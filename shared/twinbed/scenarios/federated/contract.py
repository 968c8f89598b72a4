"""The ``federated`` scenario's typed decision hop and records (see twinbed.contract.models).

| model | what |
| --- | --- |
| :class:`Carried` | what links frames: data so far, last assignment, associations, scheme state |
| :class:`FrameState` | the cloud's request for frame ``t``: the carried state |
| :class:`FrameFields` | one frame's modeled outcome (eqs. 2-25) and its decisions |
| :class:`FrameDecision` | the answer: decisions, coalitions, draws, outcome, next carried state |
| :class:`CloudReport` | the cloud's report once the partial-DTs are integrated |
| :class:`FederatedRound` | a live frame's record (the cloud's report; empty without it) |
| :class:`FederatedOutcome` | an in-process frame's record (``twinbed simulate``) |

The controller keeps nothing between frames: the learning schemes' state (Q-table, bandit
statistics, virtual queue) arrives in :class:`FrameState` and leaves in ``FrameDecision.next``.
Field names and order are those of the records before the contract, so the JSON is the same.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from twinbed.contract import Action, DecisionState, PartyReport, RoundMetrics, RoundOutcome

__all__ = ["Carried", "CloudReport", "FederatedOutcome", "FederatedRound", "FrameDecision",
           "FrameFields", "FrameState", "Framework", "Pair"]

Framework = Literal["federated", "nov", "cen"]
Pair = tuple[int, int]
"""(sensor m, ES n): one association y_{m,n} = 1."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Carried(_Frozen):
    """What frame t + 1 starts from (the cloud keeps it in Redis between frames)."""

    D_bits: list[float] = Field(description="cumulative data D_k per partial-DT [bit]")
    assign: list[int] = Field(description="ES of each partial-DT last frame (-1: none yet)")
    Y: list[Pair] = Field(description="last frame's associations")
    policy: dict[str, Any] | None = Field(
        default=None, description="the learning scheme's state (its get_state), if it has one")


class FrameState(Carried, DecisionState):
    """The cloud's decision request for frame ``t``."""

    t: int = Field(ge=0)


class FrameFields(_Frozen):
    """One frame's decisions and modeled outcome (eqs. 2-25): the in-process record's body."""

    frame: int = Field(ge=0)
    Q: float
    E_J: float
    T_s: float
    U: float
    gain: float
    cost: float
    perf: float
    penalty: float
    reward: float
    changes: int
    associations: int
    overlapping_sensors: int
    socf_passes: int
    sum_U_n: float
    assign: list[int]
    z: list[int]
    ell: list[int]
    Q_k: list[float]
    D_bits: list[float]
    E_sen_J: float
    E_mig_J: float
    E_cre_J: float
    E_up_J: float
    E_int_J: float
    T_sen_s: float
    T_mig_s: float
    T_cre_s: float
    T_up_s: float
    T_int_s: float


class FrameDecision(Action):
    """The controller's frame: the scheme's decisions, SOCF's coalitions, the frame's draws the
    roles need (importance, sensor data), the modeled record and the next carried state."""

    framework: Framework
    assign: list[int]
    z: list[int]
    ell: list[int]
    Y: list[Pair]
    omega: list[float]
    d_bits: list[list[float]] = Field(description="(M, K) data sensor m delivers for k [bit]")
    record: FrameFields
    next: Carried


class CloudReport(FrameFields, PartyReport):
    """The cloud's frame: the modeled record and what the live services measured."""

    val_r2: float | None = Field(description="the global twin's validation R^2 (None: a "
                                 "partial-DT did not train, as under cen)")
    solve_s: float | None
    frame_wall_s: float
    decide_wall_s: float
    edge_train_wall_s: float
    history_rows_moved: int
    replicas: list[int]


class FederatedRound(RoundMetrics):
    """A live frame: the cloud's report (fields left out when the cloud did not report)."""

    frame: int | None = None
    Q: float | None = None
    E_J: float | None = None
    T_s: float | None = None
    U: float | None = None
    gain: float | None = None
    cost: float | None = None
    perf: float | None = None
    penalty: float | None = None
    reward: float | None = None
    changes: int | None = None
    associations: int | None = None
    overlapping_sensors: int | None = None
    socf_passes: int | None = None
    sum_U_n: float | None = None
    assign: list[int] | None = None
    z: list[int] | None = None
    ell: list[int] | None = None
    Q_k: list[float] | None = None
    D_bits: list[float] | None = None
    E_sen_J: float | None = None
    E_mig_J: float | None = None
    E_cre_J: float | None = None
    E_up_J: float | None = None
    E_int_J: float | None = None
    T_sen_s: float | None = None
    T_mig_s: float | None = None
    T_cre_s: float | None = None
    T_up_s: float | None = None
    T_int_s: float | None = None
    val_r2: float | None = None
    solve_s: float | None = None
    frame_wall_s: float | None = None
    decide_wall_s: float | None = None
    edge_train_wall_s: float | None = None
    history_rows_moved: int | None = None
    replicas: list[int] | None = None


class FederatedOutcome(FrameFields, RoundOutcome):
    """An in-process frame: ``round``, ``modeled_start_s``, then the frame's record."""
