"""The typed models on a scenario's decision hop and in its round records.

A scenario subclasses each base once (in its ``contract.py``):

* :class:`DecisionState`: what the decision maker sees in a round; role -> controller
  (``DecisionRequest.state``);
* :class:`Action`: what it decides; controller -> role (``Decision.decision``);
* :class:`PartyReport`: one party's share of a round's metrics; party -> controller
  (``RoundReport.metrics``);
* :class:`RoundMetrics`: the round's record from the parties' reports (``GET /runs/{id}``);
* :class:`RoundOutcome`: the round's record in-process (``twinbed simulate``).

On the bus they are JSON objects; the core validates them into these models at each end, so
a scenario's code never indexes a ``dict[str, Any]``. All are frozen and reject unknown fields.
Numbers stay plain Python floats and lists (JSON as they are), so records are reproducible to
the byte.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Action", "DecisionState", "PartyReport", "RoundMetrics", "RoundOutcome"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DecisionState(_Model):
    """Base of a scenario's decision state (what its policies see)."""


class Action(_Model):
    """Base of a scenario's decision (what its policies return)."""


class PartyReport(_Model):
    """Base of one party's report of a round (sent by the role that completes its part)."""


class RoundMetrics(BaseModel):
    """Base of a live round's record, built by the scenario's ``summarize``.

    ``missing`` lists the parties that did not report before the round's deadline. Fields a
    round could not compute (a party missing) are ``None`` and left out of the stored record.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    missing: list[str] = Field(default_factory=list)


class RoundOutcome(BaseModel):
    """Base of one in-process round's record (what ``twinbed simulate`` prints per round).

    ``round`` and ``modeled_start_s`` come first; the runner fills them in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    round: int = Field(ge=0)
    modeled_start_s: float = Field(ge=0)
