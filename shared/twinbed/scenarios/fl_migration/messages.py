"""Messages of the ``fl-migration`` scenario (the slot in roles.py)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from twinbed.config import Role
from twinbed.messages import Message

__all__ = ["EdgeSlotDone", "GlobalModel", "LocalTrain", "ModelUpdate", "SlotPlan", "TwinMigration",
           "UploadRequest", "UserData"]


class SlotPlan(Message):
    """Cloud -> every edge process: the slot's association and allocation; payload: the
    global model omega^{t-1} (torch state dict bytes) it trains from."""

    TYPE: ClassVar[str] = "fl-migration.plan"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("cloud",)
    assoc: list[int]
    prev_assoc: list[int]
    gamma: list[float]
    n_new: list[int]
    n_prev: list[int]
    emd: list[float]
    replicas: int = Field(ge=1)
    global_version: int = Field(ge=0)
    global_sha256: str = Field(min_length=64, max_length=64)


class UploadRequest(Message):
    """Cloud -> sensor (the users): upload this slot's data to the twins' edge processes."""

    TYPE: ClassVar[str] = "fl-migration.upload-request"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("cloud",)
    assoc: list[int]
    n_new: list[int]
    emd: list[float]
    replicas: int = Field(ge=1)


class UserData(Message):
    """Sensor (the users) -> one edge process: D_{u,t} of the users whose twins it hosts
    (step 2, eq. 14). Payload: npz with x_<u>, y_<u> per user."""

    TYPE: ClassVar[str] = "fl-migration.user-data"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor",)
    replica: int = Field(ge=0)
    users: list[int]
    samples: int = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)


class TwinMigration(Message):
    """Edge process -> edge process: a user twin moving (step 1). Payload: the twin's base
    data, the kept historical samples (x, y) and its personalized weights (npz bytes)."""

    TYPE: ClassVar[str] = "fl-migration.migration"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("edge",)
    user: int = Field(ge=0)
    from_server: int = Field(ge=0)
    to_server: int = Field(ge=0)
    kept_samples: int = Field(ge=0)
    twin_bits: float = Field(ge=0)
    sha256: str = Field(min_length=64, max_length=64)


class LocalTrain(Message):
    """Edge process -> itself: its outgoing twins are committed (sent); train when the incoming
    ones are in. (Training inside the plan's handler would hold the migrations back until the
    batch commits, serializing the two processes.)"""

    TYPE: ClassVar[str] = "fl-migration.local-train"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("edge",)
    replica: int = Field(ge=0)


class ModelUpdate(Message):
    """Edge -> cloud: omega_s^t after local training (step 3). Payload: state dict bytes."""

    TYPE: ClassVar[str] = "fl-migration.update"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("edge",)
    server: int = Field(ge=0)
    base_version: int = Field(ge=0, description="global version it was trained from")
    samples: int = Field(ge=0, description="|D_{s,t}| in samples, the weight of eq. 4")
    sha256: str = Field(min_length=64, max_length=64)
    train_s: float = Field(ge=0)


class GlobalModel(Message):
    """Cloud -> edge processes: the aggregated omega^t (step 5). Payload: state dict bytes."""

    TYPE: ClassVar[str] = "fl-migration.global"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("cloud",)
    version: int = Field(ge=1)
    sha256: str = Field(min_length=64, max_length=64)


class EdgeSlotDone(Message):
    """Edge process -> cloud: fine-tuning done (step 6), with what it measured."""

    TYPE: ClassVar[str] = "fl-migration.done"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("edge",)
    replica: int = Field(ge=0)
    users: list[dict[str, Any]]
    moved_out_bytes: int = Field(ge=0)
    moved_out_bits_modeled: float = Field(ge=0)
    migrations_out: int = Field(ge=0)
    uploaded_bytes: int = Field(ge=0, description="size of the users' uploads it received")
    migrate_s: float = Field(ge=0)
    finetune_s: float = Field(ge=0)
