"""The versioned pydantic models of every message on the bus.

A message is a pydantic model with a class-level ``TYPE`` and ``VERSION``; subclasses register
themselves, so a reader can turn ``(type, version, body)`` back into the right model and reject
anything else. Binary payloads never go into the JSON body: they travel beside it as raw bytes
with a SHA-256 checksum (see :mod:`twinbed.bus`).

Generic messages (run control, decisions, round reports) live here; a scenario defines its own
in ``scenarios/<name>/messages.py`` the same way.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from twinbed.config import Role

__all__ = [
    "Message",
    "UnknownMessageError",
    "lookup",
    "RoundStart",
    "DecisionRequest",
    "Decision",
    "RoundReport",
    "OracleSample",
]


class UnknownMessageError(ValueError):
    """A stream entry names a message type or version that nobody registered."""


_REGISTRY: dict[tuple[str, int], type[Message]] = {}


class Message(BaseModel):
    """Base of every bus message. ``run_id`` and ``round`` route it; subclasses add the body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    # The roles that may send this type: a consumer dead-letters one signed by another role
    # (twinbed.signing). Declared by every class itself, never inherited: a subclass that is
    # forwarded (compression's Sync extends the sensor's Uplink) has another sender.
    SENT_BY: ClassVar[tuple[Role, ...]] = ()

    run_id: str = Field(min_length=1, max_length=64)
    round: int = Field(ge=0)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("TYPE"):
            raise TypeError(f"{cls.__name__} must set TYPE")
        if not cls.__dict__.get("SENT_BY"):
            raise TypeError(f"{cls.__name__} must set SENT_BY (the roles that send it)")
        key = (cls.TYPE, cls.VERSION)
        if key in _REGISTRY and _REGISTRY[key].__qualname__ != cls.__qualname__:
            raise TypeError(f"message {key} registered twice: {_REGISTRY[key]} and {cls}")
        _REGISTRY[key] = cls


def lookup(type_name: str, version: int) -> type[Message]:
    try:
        return _REGISTRY[(type_name, version)]
    except KeyError:
        known = sorted(f"{t}/v{v}" for t, v in _REGISTRY)
        raise UnknownMessageError(
            f"unknown message type {type_name!r} version {version}; known: {', '.join(known)}"
        ) from None


class RoundStart(Message):
    """Controller -> the scenario's first actor: round ``round`` of a run begins."""

    TYPE: ClassVar[str] = "round.start"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("controller",)
    modeled_start_s: float = Field(0.0, ge=0, description="modeled time at which the round starts")


class DecisionRequest(Message):
    """An actor asks the controller's decision maker for this round's decision."""

    TYPE: ClassVar[str] = "decision.request"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("basestation", "cloud", "edge", "sensor")
    state: dict[str, Any]
    # A role name, never a free string: the controller publishes the Decision to this role's
    # stream of the same run, so an arbitrary value could write onto any key (issue #14).
    reply_to: Role = Field(description="role whose stream receives the Decision")


class Decision(Message):
    """The controller's answer to a DecisionRequest (allocation, action, matching...)."""

    TYPE: ClassVar[str] = "decision"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("controller",)
    algorithm: str
    decision: dict[str, Any]
    solve_s: float = Field(ge=0)


class RoundReport(Message):
    """One party's contribution to a round's metrics, sent to the controller."""

    TYPE: ClassVar[str] = "round.report"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("basestation", "cloud", "edge", "sensor")
    party: str = Field(min_length=1)
    metrics: dict[str, Any]


class OracleSample(Message):
    """Ground truth of one observed entity for one round, on the oracle stream only.

    Twins never read it; the cloud's fidelity check compares a twin's state against it.
    The samples travel as the payload bytes.
    """

    TYPE: ClassVar[str] = "oracle.sample"
    SENT_BY: ClassVar[tuple[Role, ...]] = ("sensor",)
    entity: str
    sampled_at_wall: float
