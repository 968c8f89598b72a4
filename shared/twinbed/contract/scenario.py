"""The scenario contract: everything the generic services, the CLI and the in-process runner
need to know about one paper, in one typed object.

A scenario folder defines ``SCENARIO`` in its ``spec.py``, a :class:`Scenario` generic in

* ``P`` its parameter model (the paper's table, a frozen pydantic model),
* ``S`` / ``A`` its decision state and action (:mod:`twinbed.contract.models`),
* ``R`` / ``M`` a party's report and the round's metrics (live),
* ``O`` the in-process round outcome (``twinbed simulate``),

and holds its policies (the algorithm registry, :mod:`twinbed.contract.policy`), its world
(the seeded per-round mechanics, :class:`World`), its roles (:mod:`twinbed.contract.roles`),
``parties`` and ``summarize``. The methods below are the only way the core uses a scenario:
``decide``, ``summarize_json``, ``preflight``, ``simulate``, ``handler``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from twinbed.artifacts import ArtifactSpec, Resolved
from twinbed.contract.models import Action, DecisionState, PartyReport, RoundMetrics, RoundOutcome
from twinbed.contract.policy import Policy, lookup
from twinbed.contract.roles import Roles
from twinbed.messages import Message
from twinbed.runtime import BatchRoleHandler, RoleHandler, RunContext, offline_context

__all__ = ["Scenario", "World"]

P = TypeVar("P", bound=BaseModel)
S = TypeVar("S", bound=DecisionState)
A = TypeVar("A", bound=Action)
R = TypeVar("R", bound=PartyReport)
M = TypeVar("M", bound=RoundMetrics)
O = TypeVar("O", bound=RoundOutcome)  # noqa: E741 - the contract's sixth type
S_co = TypeVar("S_co", bound=DecisionState, covariant=True)
A_contra = TypeVar("A_contra", bound=Action, contravariant=True)
O_co = TypeVar("O_co", bound=RoundOutcome, covariant=True)


class World(Protocol[S, A_contra, O_co]):
    """The seeded per-round mechanics of one run (channels, moves, data), without I/O.

    Rounds are played in order: ``decision_state(r)`` then ``outcome(r, ...)`` for r = 0, 1,
    ... . The live roles draw the same randomness through the same world (or the same named
    seed streams), so an in-process run equals a live one round for round.
    """

    def decision_state(self, round_: int) -> S: ...

    def outcome(self, round_: int, modeled_start_s: float, state: S,
                action: A_contra) -> O_co: ...


@dataclass(frozen=True)
class Scenario(Generic[P, S, A, R, M, O]):
    """One paper as the testbed runs it (see the module docstring)."""

    name: str
    params: type[P]
    state: type[S]
    action: type[A]
    report: type[R]
    metrics: type[M]
    outcome: type[O]
    policies: Mapping[str, Policy[P, S, A]]
    # the run's world from its context: ctx.params, ctx.run.seed and the run artifacts it
    # needs (a predictor: ctx.artifact(spec)), read from the context's data directory
    world: Callable[[RunContext[P]], World[S, A, O]]
    roles: Roles[P, A]
    parties: Callable[[P], list[str]]
    summarize: Callable[[P, int, Mapping[str, R], list[str]], M]
    first_role: str
    # the field of M and O that says how long the round took in modeled time [s]; the next
    # round starts then
    duration_key: str
    # the per-round scalar fields `twinbed run` and `twinbed simulate` print
    headline: tuple[str, ...] = ()
    # artifacts every run needs whatever its algorithm (a codec, a predictor), by parameters
    run_artifacts: Callable[[P], Sequence[ArtifactSpec[P, Any]]] = field(
        default=lambda p: ())
    # the package folder of shipped artifacts; set by the registry on discovery
    shipped_dir: Path | None = None

    # -- algorithms ----------------------------------------------------------------------
    @property
    def algorithms(self) -> tuple[str, ...]:
        """Every selectable algorithm; the first is the default."""
        return tuple(self.policies)

    def policy(self, name: str) -> Policy[P, S, A]:
        return lookup(dict(self.policies), name, self.name)

    def decide(self, ctx: RunContext[P], state: S) -> A:
        """The run's policy on one round's state (the policy is built once per run)."""
        pol = self.policy(ctx.run.algorithm)
        return ctx.cached("policy", lambda: pol.make(ctx))(state)

    def decide_json(self, ctx: RunContext[Any], state: Mapping[str, Any]) -> dict[str, Any]:
        """The controller's side of the decision hop: JSON state in, JSON action out."""
        return self.decide(ctx, self.state.model_validate(state)).model_dump(mode="json")

    # -- artifacts -----------------------------------------------------------------------
    def artifacts_for(self, params: P, algorithm: str) -> list[ArtifactSpec[P, Any]]:
        """The artifacts a run of ``algorithm`` with ``params`` needs, shipped dir set."""
        specs = [*self.run_artifacts(params), *self.policy(algorithm).artifacts]
        if self.shipped_dir is None:
            return specs
        return [s if s.shipped_dir is not None else s.with_shipped_dir(self.shipped_dir)
                for s in specs]

    def preflight(self, params: P, algorithm: str, seed: int, data_dir: str | Path
                  ) -> dict[str, Resolved]:
        """Check a run can start: every artifact it needs resolves and matches its recorded
        checksum, and the policy's own check of the parameters passes; returns which file each
        artifact is (user's or shipped). Raises :class:`~twinbed.artifacts.ArtifactError` (a
        ValueError) naming the train command, or the check's ValueError."""
        pol = self.policy(algorithm)
        if pol.check is not None:
            pol.check(params)
        return {s.name: s.check(data_dir, params, seed)
                for s in self.artifacts_for(params, algorithm)}

    # -- live rounds ---------------------------------------------------------------------
    def handler(self, role: str, msg_type: type[Message]) -> RoleHandler | None:
        return self.roles.handler(role, msg_type)

    def batch_handler(self, role: str, msg_type: type[Message]) -> BatchRoleHandler | None:
        """The handler taking several messages at once, if the scenario has one."""
        return self.roles.batch_handler(role, msg_type)

    def summarize_json(self, params: P, round_: int, reports: Mapping[str, Mapping[str, Any]],
                       missing: list[str]) -> dict[str, Any]:
        """The round's record from the parties' JSON reports (None fields left out)."""
        typed = {party: self.report.model_validate(r) for party, r in reports.items()}
        return self.summarize(params, round_, typed, missing).model_dump(exclude_none=True)

    # -- in-process rounds ---------------------------------------------------------------
    def run(self, params: P, algorithm: str, seed: int, rounds: int,
            data_dir: str | Path | None = None) -> list[O]:
        """The generic in-process runner: ``rounds`` rounds of the run's world and policy.

        Per round r: the world's decision state, the policy's action, the world's outcome;
        rounds run back to back in modeled time (round r + 1 starts when round r ends, after
        its ``duration_key``). Trained artifacts are read from ``data_dir`` (the user's; None:
        the settings' data directory) or the package (shipped).
        """
        ctx = self.offline(params, algorithm, seed, rounds=max(1, rounds), data_dir=data_dir)
        world = self.world(ctx)
        out: list[O] = []
        modeled = 0.0
        for r in range(rounds):
            state = world.decision_state(r)
            outcome = world.outcome(r, modeled, state, self.decide(ctx, state))
            out.append(outcome)
            modeled += float(getattr(outcome, self.duration_key))
        return out

    def simulate(self, params: P, algorithm: str, seed: int, rounds: int,
                 data_dir: str | Path | None = None) -> list[dict[str, Any]]:
        """:meth:`run` as JSON-able records (what ``twinbed simulate --json`` prints)."""
        return [o.model_dump() for o in self.run(params, algorithm, seed, rounds, data_dir)]

    def offline(self, params: P, algorithm: str, seed: int = 0, *, rounds: int = 1,
                data_dir: str | Path | None = None) -> RunContext[P]:
        """An in-process run context of this scenario (artifacts from ``data_dir``, else the
        settings' data directory, else shipped)."""
        return offline_context(self.name, params, algorithm, seed, rounds=rounds,
                               data_dir=data_dir, shipped_dir=self.shipped_dir)

    def with_shipped_dir(self, folder: Path) -> Scenario[P, S, A, R, M, O]:
        return replace(self, shipped_dir=folder)
