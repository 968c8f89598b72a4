"""Messages of the ``compression`` scenario (see the round in roles.py)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from twinbed.config import Role
from twinbed.messages import Message

__all__ = ["Answer", "Negotiate", "Offer", "Sync", "Uplink"]


class Offer(Message):
    """Basestation -> sensor: the leader's allocation for this sensor, with its channel state."""

    TYPE: ClassVar[str] = "compression.offer"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("basestation",)
    sensor: int = Field(ge=0)
    b_hz: float = Field(ge=0)
    f_hz: float = Field(ge=0)
    H_gain: float = Field(gt=0, description="|H_k|^2 measured by the BS (CSI feedback)")
    beta: float | None = Field(None, ge=1, description="ratio the scheme fixed or negotiated; "
                               "None: the sensor plays its best response (eq. 9)")


class Negotiate(Message):
    """Basestation -> sensor, Algorithm 1: the leader's bandwidth for this sensor at iteration
    ``iteration`` (0: the equal split that initializes the sensor's dual variables)."""

    TYPE: ClassVar[str] = "compression.negotiate"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("basestation",)
    sensor: int = Field(ge=0)
    iteration: int = Field(ge=0)
    b_hz: float = Field(gt=0)
    H_gain: float = Field(gt=0, description="|H_k|^2 measured by the BS (CSI feedback)")


class Answer(Message):
    """Sensor -> basestation, Algorithm 1: the sensor's dual variables after its step (24) and
    its compression ratio by (19)."""

    TYPE: ClassVar[str] = "compression.answer"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor",)
    sensor: int = Field(ge=0)
    iteration: int = Field(ge=0)
    beta: float = Field(ge=1)
    lam: list[float] = Field(min_length=2, max_length=2)


class Uplink(Message):
    """Sensor -> basestation: compressed samples (payload) and the sensor's choices."""

    TYPE: ClassVar[str] = "compression.uplink"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor",)
    sensor: int = Field(ge=0)
    beta_model: float = Field(ge=1, description="best-response compression ratio (eq. 9)")
    codec: str = Field(description="lossless codec setting closest to beta_model")
    beta_achieved: float = Field(gt=0, description="raw bytes / compressed bytes, measured")
    codec_s: float = Field(ge=0, description="wall time the real codec took")
    raw_bytes: int = Field(ge=0)
    raw_sha256: str = Field(min_length=64, max_length=64)
    oracle_id: str = Field(description="entry of this block on the oracle stream")
    sampled_wall: float


class Sync(Uplink):
    """Basestation -> cloud: the uplink forwarded with the modeled timings stamped on it."""

    TYPE: ClassVar[str] = "compression.sync"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("basestation",)
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
