"""REST: the twin store (list, one twin, its history, a server-sent-event feed of updates)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from twinbed.twins import Twin, TwinStore
from twinbed_services.common import State, errors
from twinbed_services.event_hub import EventHub, Feed, TooManyStreams

router = APIRouter(prefix="/twins", tags=["twins"])

MAX_IDLE_S = 300.0  # an idle stream ends after at most this (its EventSource reconnects)
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # a Redis stream entry id


def store(state: State) -> TwinStore:
    return TwinStore(state.redis, state.settings.history_len)


Store = Annotated[TwinStore, Depends(store)]


async def existing(twin_id: str, twins: Store) -> Twin:
    twin = await twins.get(twin_id)
    if twin is None:
        raise HTTPException(status_code=404, detail=f"no twin {twin_id!r}")
    return twin


NEXT_CURSOR = "X-Next-Cursor"
_PAGE_HEADERS = {NEXT_CURSOR: {
    "description": "the cursor of the next page; absent on the last page",
    "required": False, "schema": {"type": "string", "pattern": "^[0-9]+$"}}}


@router.get("", response_model=list[Twin],
            responses={200: {"description": "one page of twins, oldest first",
                             "headers": _PAGE_HEADERS}})
async def list_twins(
    twins: Store,
    run_id: Annotated[str | None, Query(description="only the twins of this run")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="twins per page")] = 1000,
    cursor: Annotated[int, Query(ge=0, le=10**9, description=f"where the page starts: the "
                                 f"{NEXT_CURSOR} header of the previous page")] = 0,
) -> Response:
    """Twins in order of their first update, one page at a time (a run's come from its own
    index, read with one pipelined round trip, sent as stored). ``X-Next-Cursor`` names the
    next page."""
    ids = await twins.ids(run_id, limit, cursor)
    headers = {NEXT_CURSOR: str(cursor + limit)} if len(ids) == limit else None
    return Response(await twins.get_many_json(ids), media_type="application/json",
                    headers=headers)


async def hub(state: State) -> EventHub:
    if state.events is None:  # set by the service's lifespan
        raise HTTPException(status_code=503, detail="the service is starting")
    return state.events


Hub = Annotated[EventHub, Depends(hub)]


async def open_feed(events: Hub) -> Feed:
    """A slot for one more event stream, or 429. A dependency, so that the answer is a real
    429 (once an event-stream response has started, its status is 200)."""
    try:
        return events.open()
    except TooManyStreams as exc:
        raise HTTPException(status_code=429, detail=str(exc),
                            headers={"Retry-After": "5"}) from exc


async def valid_last_event_id(last_event_id: Annotated[str | None, Header()] = None) -> str | None:
    if last_event_id is not None and not _ENTRY_ID.fullmatch(last_event_id):
        raise HTTPException(status_code=400, detail=f"Last-Event-ID {last_event_id[:40]!r} is "
                            "not an event id this stream sent (expected '<ms>-<seq>')")
    return last_event_id


NewFeed = Annotated[Feed, Depends(open_feed)]
IdleTimeout = Annotated[float, Query(gt=0, le=MAX_IDLE_S, description=(
    "end the stream after this many seconds without an update"))]


async def _live(events: EventHub, feed: Feed, sent: int, max_events: int | None,
                idle_timeout_s: float) -> AsyncIterator[ServerSentEvent]:
    """The feed's versions as events until max_events, the idle timeout or an overflow."""
    while max_events is None or sent < max_events:
        try:
            item = await asyncio.wait_for(feed.queue.get(), idle_timeout_s)
        except TimeoutError:
            return
        if item is None:  # this client fell queue_len events behind: reconnect to resume
            return
        t, data = item
        yield ServerSentEvent(raw_data=data, event="twin", id=t.entry_id)
        sent += 1


@router.get("/events", response_class=EventSourceResponse, responses=errors(429))
async def run_events(
    events: Hub,
    feed: NewFeed,
    run_id: Annotated[str, Query(min_length=1, description="every twin of this run")],
    max_events: Annotated[int | None, Query(ge=1, description="end after this many")] = None,
    idle_timeout_s: IdleTimeout = MAX_IDLE_S,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for every twin of a run over one connection (what a dashboard's twin
    table needs: a browser holds only ~6 connections per host, so one stream per twin does not
    scale). The run's twins are followed from their next version, twins that appear later from
    their first. Every client of the service shares one Redis reader; past
    TWINBED_MAX_EVENT_STREAMS concurrent streams the answer is 429."""
    feed.started = True
    try:
        await events.watch_run(feed, run_id)
        async for ev in _live(events, feed, 0, max_events, idle_timeout_s):
            yield ev
    finally:
        events.close(feed)


@router.get("/{twin_id}", responses=errors(404))
async def get_twin(twin: Annotated[Twin, Depends(existing)]) -> Twin:
    return twin


@router.get("/{twin_id}/history", responses=errors(404))
async def twin_history(
    twin: Annotated[Twin, Depends(existing)],
    twins: Store,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> list[Twin]:
    """Every kept version, oldest first (capped at TWINBED_HISTORY_LEN per twin)."""
    return await twins.history(twin.id, count=limit)


@router.get("/{twin_id}/events", response_class=EventSourceResponse,
            responses=errors(400, 404, 429))
async def twin_events(
    twin: Annotated[Twin, Depends(existing)],
    twins: Store,
    events: Hub,
    last_event_id: Annotated[str | None, Depends(valid_last_event_id)],
    feed: NewFeed,
    replay: Annotated[bool, Query(description="send the kept history first")] = False,
    max_events: Annotated[int | None, Query(ge=1, description="end after this many")] = None,
    idle_timeout_s: IdleTimeout = MAX_IDLE_S,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: one ``twin`` event per update (id = history entry id). With
    ``Last-Event-ID`` (what a reconnecting ``EventSource`` sends) or ``replay`` the kept
    versions after that id (or all) come first, then the live ones, with no gap."""
    feed.started = True
    try:
        live_from = await events.watch_twin(feed, twin)
        sent = 0
        if last_event_id is not None or replay:
            async for page in twins.between(twin.id, last_event_id or "0-0", live_from):
                for t in page:
                    yield ServerSentEvent(data=t.model_dump(mode="json"), event="twin",
                                          id=t.entry_id)
                    sent += 1
                    if max_events is not None and sent >= max_events:
                        return
        async for ev in _live(events, feed, sent, max_events, idle_timeout_s):
            yield ev
    finally:
        events.close(feed)
