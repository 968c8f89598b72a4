"""What each role does in a live round: typed handlers, registered per (role, message type).

    roles: Roles[CompressionParams, Allocation] = Roles(Allocation)
    roles.on("basestation", RoundStart, bs_round_start)   # (ctx, msg: RoundStart, env, fx)
    roles.on_action("basestation", bs_allocation)         # (ctx, round, action: Allocation, fx)

A handler gets the run's context typed with the scenario's parameters and the message typed
as registered, so it never narrows either with ``assert``. ``on_action`` receives the
controller's answer to :func:`ask` already validated into the scenario's action model.
:func:`ask` and :func:`report` are the two halves of the decision hop and of a party's report
seen from a role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel

from twinbed.bus import Effects, Envelope
from twinbed.contract.models import Action, DecisionState, PartyReport
from twinbed.messages import Decision, DecisionRequest, Message, RoundReport
from twinbed.runtime import BatchRoleHandler, RoleHandler, RunContext

__all__ = ["BatchHandler", "Handler", "Roles", "ask", "report"]

P = TypeVar("P", bound=BaseModel)
A = TypeVar("A", bound=Action)
M = TypeVar("M", bound=Message)

Handler = Callable[[RunContext[P], M, Envelope, Effects], Awaitable[None]]
ActionHandler = Callable[[RunContext[P], int, A, Effects], Awaitable[None]]
BatchHandler = Callable[[RunContext[P], Sequence[tuple[M, Envelope]], Effects],
                        Awaitable[Sequence[BaseException | None]]]


class Roles(Generic[P, A]):
    """The handlers of one scenario, by role and message type."""

    def __init__(self, action: type[A]) -> None:
        self.action = action
        self._by_role: dict[str, dict[type[Message], RoleHandler]] = {}
        self._batch: dict[str, dict[type[Message], BatchRoleHandler]] = {}

    def on(self, role: str, msg_type: type[M], fn: Handler[P, M]) -> None:
        """``fn(ctx, msg, env, fx)`` handles ``msg_type`` messages on ``role``'s stream."""

        async def handle(ctx: RunContext[Any], env: Envelope, fx: Effects) -> None:
            # the dispatcher looked this handler up by type(env.msg), so the cast is exact
            await fn(ctx, cast(M, env.msg), env, fx)

        handle.__name__ = getattr(fn, "__name__", "handler")
        self._add(role, msg_type, handle)

    def on_batch(self, role: str, msg_type: type[M], fn: BatchHandler[P, M]) -> None:
        """``fn(ctx, [(msg, env), ...], fx)`` handles consecutive ``msg_type`` messages of one
        run together (one oracle read, one store script per batch), recording every effect in
        ``fx``, and returns per message None or the exception that dead-letters it (for which
        it recorded nothing). A single message is a batch of one."""

        async def many(ctx: RunContext[Any], envs: Sequence[Envelope], fx: Effects
                       ) -> Sequence[BaseException | None]:
            return await fn(ctx, [(cast(M, e.msg), e) for e in envs], fx)

        async def one(ctx: RunContext[Any], env: Envelope, fx: Effects) -> None:
            err = (await many(ctx, [env], fx))[0]
            if err is not None:
                raise err

        one.__name__ = many.__name__ = getattr(fn, "__name__", "handler")
        self._add(role, msg_type, one)
        self._batch.setdefault(role, {})[msg_type] = many

    def on_action(self, role: str, fn: ActionHandler[P, A]) -> None:
        """``fn(ctx, round, action, fx)`` handles the controller's answer to :func:`ask`."""
        action = self.action

        async def handle(ctx: RunContext[Any], env: Envelope, fx: Effects) -> None:
            msg = cast(Decision, env.msg)
            await fn(ctx, msg.round, action.model_validate(msg.decision), fx)

        handle.__name__ = getattr(fn, "__name__", "on_action")
        self._add(role, Decision, handle)

    def _add(self, role: str, msg_type: type[Message], handler: RoleHandler) -> None:
        table = self._by_role.setdefault(role, {})
        if msg_type in table:
            raise ValueError(f"{role} already handles {msg_type.TYPE!r}")
        table[msg_type] = handler

    def handler(self, role: str, msg_type: type[Message]) -> RoleHandler | None:
        return self._by_role.get(role, {}).get(msg_type)

    def batch_handler(self, role: str, msg_type: type[Message]) -> BatchRoleHandler | None:
        return self._batch.get(role, {}).get(msg_type)

    def table(self) -> Mapping[str, Mapping[type[Message], RoleHandler]]:
        """Role -> message type -> handler (read-only view, for docs and tests)."""
        return {r: dict(t) for r, t in self._by_role.items()}


def ask(ctx: RunContext[Any], fx: Effects, round_: int, state: DecisionState) -> None:
    """Ask the controller's decision maker for this round's action; the answer comes back to
    this role's :meth:`Roles.on_action` handler."""
    fx.publish(ctx.stream("controller"), DecisionRequest(
        run_id=ctx.run.id, round=round_, state=state.model_dump(mode="json"),
        reply_to=ctx.role))


def report(ctx: RunContext[Any], fx: Effects, round_: int, party: str,
           metrics: PartyReport) -> None:
    """Send ``party``'s share of round ``round_`` to the controller (one of ``parties``)."""
    fx.publish(ctx.stream("controller"), RoundReport(
        run_id=ctx.run.id, round=round_, party=party, metrics=metrics.model_dump(mode="json")))
