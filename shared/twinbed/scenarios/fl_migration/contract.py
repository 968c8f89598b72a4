"""The ``fl-migration`` scenario's typed decision hop and records (see twinbed.contract.models).

| model | what |
| --- | --- |
| :class:`SlotView` | what the cloud's edge-server twins know as slot t starts (the MDP state) |
| :class:`Association` | the decision: kappa^t (server per user), gamma^t (kept history ratio) |
| :class:`SlotFields` | one slot's modeled metrics (eqs. 13-25) and its decision |
| :class:`CloudReport` | the cloud's slot: the modeled metrics and what the services measured |
| :class:`FlMigrationRound` | a live slot's record (the cloud's report; else ``slot_s`` only) |
| :class:`FlMigrationOutcome` | an in-process slot's record (``twinbed simulate``) |
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from twinbed.contract import Action, DecisionState, PartyReport, RoundMetrics, RoundOutcome

__all__ = ["Association", "CloudReport", "FlMigrationOutcome", "FlMigrationRound", "SlotFields",
           "SlotView"]


class SlotView(DecisionState):
    """Slot t as the cloud's twins hold it (the users' velocities stay with the world)."""

    t: int = Field(ge=0)
    user_xy: list[list[float]] = Field(description="(U, 2) user positions [m]")
    n_new: list[int] = Field(description="samples each user uploads this slot, D_{u,t}")
    n_prev: list[int] = Field(description="samples of the previous slot, D_{u,t-1}")
    prev_assoc: list[int] = Field(description="kappa^{t-1}: each user's server last slot")


class Association(Action):
    """kappa^t and gamma^t."""

    assoc: list[int] = Field(description="the server of each user's twin")
    gamma: list[float] = Field(description="the share of last slot's data each twin keeps")


class SlotFields(BaseModel):
    """One slot's modeled metrics: objective (22), reward (25), costs, feasibility, decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: float
    reward: float
    utility: float
    cost_total: float
    cost_norm: float
    cost_mig: float
    cost_syn: float
    cost_cmp: float
    feasible: bool
    migrations: int
    gamma_mean: float
    S: int
    slot_s: float
    assoc: list[int]
    gamma: list[float]
    rho: list[float]
    C_s: list[float]


class CloudReport(SlotFields, PartyReport):
    """The cloud's slot: the modeled metrics and what was measured live (accuracy, bytes moved,
    the migration energy charged for the bits that really moved, phase wall times)."""

    accuracy_mean: float | None
    accuracy: list[float | None]
    model_version: int
    moved_bytes: int
    migrations_across_processes: int
    moved_bits_modeled: float
    mig_energy_charged: float
    rejected_updates: int
    solve_s: float | None
    migrate_s: float
    train_s: float
    aggregate_s: float
    finetune_s: float
    update_bytes: int
    uploaded_bytes: int
    modeled_start_s: float
    slot_wall_s: float


class FlMigrationRound(RoundMetrics):
    """A live slot: the cloud's report (only ``slot_s`` when the cloud did not report)."""

    slot_s: float
    objective: float | None = None
    reward: float | None = None
    utility: float | None = None
    cost_total: float | None = None
    cost_norm: float | None = None
    cost_mig: float | None = None
    cost_syn: float | None = None
    cost_cmp: float | None = None
    feasible: bool | None = None
    migrations: int | None = None
    gamma_mean: float | None = None
    S: int | None = None
    assoc: list[int] | None = None
    gamma: list[float] | None = None
    rho: list[float] | None = None
    C_s: list[float] | None = None
    accuracy_mean: float | None = None
    accuracy: list[float | None] | None = None
    model_version: int | None = None
    moved_bytes: int | None = None
    migrations_across_processes: int | None = None
    moved_bits_modeled: float | None = None
    mig_energy_charged: float | None = None
    rejected_updates: int | None = None
    solve_s: float | None = None
    migrate_s: float | None = None
    train_s: float | None = None
    aggregate_s: float | None = None
    finetune_s: float | None = None
    update_bytes: int | None = None
    uploaded_bytes: int | None = None
    modeled_start_s: float | None = None
    slot_wall_s: float | None = None


class FlMigrationOutcome(SlotFields, RoundOutcome):
    """An in-process slot: ``round``, ``modeled_start_s``, then the slot's modeled metrics."""
