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

router = APIRouter(prefix="/twins", tags=["twins"])

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


@router.get("/events", response_class=EventSourceResponse)
async def run_events(
    twins: Store,
    run_id: Annotated[str, Query(min_length=1, description="every twin of this run")],
    max_events: Annotated[int | None, Query(ge=1, description="end after this many")] = None,
    idle_timeout_s: Annotated[float, Query(gt=0, le=3600)] = 300.0,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events for every twin of a run over one connection (what a dashboard's twin
    table needs: a browser holds only ~6 connections per host, so one stream per twin does not
    scale). Twins that appear later are followed from their first version."""
    heads: dict[str, Twin] = {}
    cursors: dict[str, str] = {}
    seen: list[str] = []
    sent = 0
    idle_ms = 0.0
    first = True
    while max_events is None or sent < max_events:
        # new twins since the last look: the run's index from where it was last read
        new = await twins.ids(run_id, limit=100_000, cursor=len(seen))
        seen += new
        for head in await twins.get_many([t for t in new if t not in heads]):
            heads[head.id] = head
            cursors[head.id] = await twins.last_entry_id(head.id) if first else "0-0"
        first = False
        if not cursors:
            await asyncio.sleep(1.0)
            batch = []
        else:
            batch = await twins.follow_many(heads, cursors, block_ms=1000)
        if not batch:
            idle_ms += 1000
            if idle_ms >= idle_timeout_s * 1000:
                return
            continue
        idle_ms = 0.0
        for t in batch:
            yield ServerSentEvent(data=t.model_dump(mode="json"), event="twin", id=t.entry_id)
            sent += 1
            if max_events is not None and sent >= max_events:
                return


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
            responses=errors(400, 404))
async def twin_events(
    twin: Annotated[Twin, Depends(existing)],
    twins: Store,
    replay: Annotated[bool, Query(description="send the kept history first")] = False,
    max_events: Annotated[int | None, Query(ge=1, description="end after this many")] = None,
    idle_timeout_s: Annotated[float, Query(gt=0, le=3600)] = 300.0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: one ``twin`` event per update (id = history entry id)."""
    if last_event_id is not None and not _ENTRY_ID.fullmatch(last_event_id):
        raise HTTPException(status_code=400, detail=f"Last-Event-ID {last_event_id[:40]!r} is "
                            "not an event id this stream sent (expected '<ms>-<seq>')")
    cursor = last_event_id or ("0-0" if replay else await twins.last_entry_id(twin.id))
    sent = 0
    idle_ms = 0.0
    while max_events is None or sent < max_events:
        batch = await twins.follow(twin.id, cursor, block_ms=1000)
        if not batch:
            idle_ms += 1000
            if idle_ms >= idle_timeout_s * 1000:
                return
            continue
        idle_ms = 0.0
        for t in batch:
            cursor = t.entry_id or cursor
            yield ServerSentEvent(data=t.model_dump(mode="json"), event="twin", id=t.entry_id)
            sent += 1
            if max_events is not None and sent >= max_events:
                return
