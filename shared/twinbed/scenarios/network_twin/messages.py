"""Messages of the ``network-twin`` scenario (see the slot in roles.py)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from twinbed.config import Role
from twinbed.contract.naming import message_type
from twinbed.messages import Message

__all__ = ["Positions", "TwinUpdate"]


class Positions(Message):
    """Sensor service -> basestation: where the users are this slot (the physical state)."""

    TYPE: ClassVar[str] = message_type("network-twin", "positions")
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor",)
    positions: list[tuple[float, float]] = Field(description="(U, 2) user coordinates, blocks")
    oracle_id: str = Field(description="entry of this slot's truth on the oracle stream")
    sampled_wall: float
    modeled_start_s: float = Field(ge=0)


class TwinUpdate(Message):
    """Basestation -> cloud: the slot's sync decision; with a sync, the state itself."""

    TYPE: ClassVar[str] = message_type("network-twin", "twin-update")
    SENT_BY: ClassVar[tuple[Role, ...]] = ("basestation",)
    synced: bool
    positions: list[tuple[float, float]] | None = Field(
        None, description="the network state, only when synced")
    cloud_rb: int = Field(ge=-1, description="RB R that carried the state (-1: no sync)")
    cloud_delay_s: float = Field(ge=0, description="modeled delay D / c^C on R (0: no sync)")
    oracle_id: str
    sampled_wall: float
    modeled_start_s: float = Field(ge=0)
