"""Messages of the ``federated`` scenario (see the frame in roles.py)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from twinbed.config import Role
from twinbed.messages import Message

__all__ = ["FeatureData", "HistoryTransfer", "MigrateOrder", "PartialModel", "SenseOrder",
           "Split"]


class Split(Message):
    """Cloud -> the edge process hosting ES ``es``: create partial-DT ``k`` this frame."""

    TYPE: ClassVar[str] = "federated.split"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("cloud",)
    es: int = Field(ge=0)
    k: int = Field(ge=0)
    coalition: list[int] = Field(description="sensors associated with this ES (S_n)")
    ell: int = Field(ge=1, description="training rounds")
    z: int = Field(ge=1, description="subcarriers per sensor")
    prev_es: int = Field(ge=-1, description="ES that held partial-DT k last frame (-1: the cloud)")
    omega: float = Field(ge=0, description="importance weight of partial-DT k")


class MigrateOrder(Message):
    """Cloud -> the edge process of the previous ES: send partial-DT k's history to ES ``to_es``."""

    TYPE: ClassVar[str] = "federated.migrate"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("cloud",)
    k: int = Field(ge=0)
    from_es: int = Field(ge=0)
    to_es: int = Field(ge=0)


class HistoryTransfer(Message):
    """ES -> ES (or cloud -> first ES): partial-DT k's historical data (payload) and weights."""

    TYPE: ClassVar[str] = "federated.history"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("cloud", "edge")
    k: int = Field(ge=0)
    from_es: int = Field(ge=-1)
    to_es: int = Field(ge=0)
    rows: int = Field(ge=0)
    weights: list[float]
    sent_by_replica: int = Field(ge=-1, description="edge process that sent it (-1: cloud)")


class SenseOrder(Message):
    """Cloud -> sensor: deliver your feature data to every ES of your coalitions."""

    TYPE: ClassVar[str] = "federated.sense"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("cloud",)
    sensor: int = Field(ge=0)
    targets: list[tuple[int, int, int]] = Field(description="(es, partial-DT k, rows)")


class FeatureData(Message):
    """Sensor -> the edge process of ES ``es``: feature rows for partial-DT k (payload)."""

    TYPE: ClassVar[str] = "federated.features"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor",)
    sensor: int = Field(ge=0)
    es: int = Field(ge=0)
    k: int = Field(ge=0)
    rows: int = Field(ge=0)


class PartialModel(Message):
    """Edge -> cloud: the trained partial-DT (weights) and what it took."""

    TYPE: ClassVar[str] = "federated.partial"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("edge",)
    es: int = Field(ge=0)
    k: int = Field(ge=0)
    replica: int = Field(ge=0)
    weights: list[float]
    rows_new: int = Field(ge=0)
    rows_total: int = Field(ge=0)
    ell: int = Field(ge=1)
    sensors: list[int]
    migrated_from: int = Field(ge=-2, description="-2: no migration, -1: from the cloud")
    history_rows_received: int = Field(ge=0)
    train_wall_s: float = Field(ge=0)
    val_r2: float
