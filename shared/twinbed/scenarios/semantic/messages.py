"""Messages of the ``semantic`` scenario (see the slot in roles.py)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from twinbed.config import Role
from twinbed.messages import Message

__all__ = ["Assign", "Recover", "SlotTerms", "Sync", "Uplink", "UplinkFields"]


class Assign(Message):
    """Basestation -> UD (sensor service): this slot's decisions for UD ``ud``."""

    TYPE: ClassVar[str] = "semantic.assign"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("basestation",)
    ud: int = Field(ge=0)
    phi: float = Field(gt=0, le=1)
    f_hz: float = Field(gt=0)
    p_w: float = Field(gt=0)
    f_e_hz: float = Field(gt=0)
    D_bits: float = Field(gt=0)


class UplinkFields(BaseModel):
    """What UD ``ud`` did in the slot: the body of its uplink, carried on to the edge and the
    cloud, and part of the cloud's report of the UD (contract.UDReport)."""

    ud: int = Field(ge=0)
    phi: float = Field(gt=0, le=1)
    phi_achieved: float = Field(gt=0, description="payload bytes / raw bytes, measured")
    encode_s: float = Field(ge=0, description="wall time of the real encoder")
    raw_bytes: int = Field(ge=0)
    n_samples: int = Field(ge=1)
    pos_m: tuple[float, float]
    sampled_wall: float


class SlotTerms(BaseModel):
    """The slot's decisions and modeled terms the basestation stamps on the uplink (eqs.
    3-17), carried on to the cloud and part of its report of the UD."""

    f_hz: float
    p_w: float
    f_e_hz: float
    D_bits: float
    d_m: float
    h2: float
    rate_bps: float
    t_s: float
    t_en: float
    t_up: float
    t_de: float
    t_dt: float
    t: float
    e: float
    modeled_start_s: float
    forwarded_wall: float


class Uplink(Message, UplinkFields):
    """UD -> basestation: the semantic representation (payload) and what the UD did."""

    TYPE: ClassVar[str] = "semantic.uplink"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor",)
    oracle_id: str


class Recover(Uplink, SlotTerms):
    """Basestation -> edge: the uplink with the slot's modeled terms stamped on it."""

    TYPE: ClassVar[str] = "semantic.recover"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("basestation",)


class Sync(Recover):
    """Edge -> cloud: the recovered samples (payload) for the UD's twin."""

    TYPE: ClassVar[str] = "semantic.sync"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("edge",)
    decode_s: float = Field(ge=0, description="wall time of the real decoder")
    recovered_sha256: str = Field(min_length=64, max_length=64)
