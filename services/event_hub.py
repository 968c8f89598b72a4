"""One reader for every server-sent-event client of a process: a bounded fan-out (issue #14).

Before, each ``/twins/events`` client ran its own blocking ``XREAD`` loop and so held one of
the process's pooled Redis connections for as long as it was connected: about a hundred idle
clients exhausted the pool, and health, the twin API and the stream worker failed with it.

Now a process has one :class:`EventHub`. Clients *subscribe* (a twin, or every twin of a run)
and get a small queue; one task reads every watched twin's history stream in one blocking
``XREAD`` on one connection and puts each new version, serialized once, on the queues of the
clients that watch it. Bounds:

- at most ``max_streams`` clients (``TWINBED_MAX_EVENT_STREAMS``); the next one gets 429;
- a client's queue holds at most ``queue_len`` events; a client that falls that far behind is
  ended (its ``EventSource`` reconnects and, for a twin's feed, resumes from ``Last-Event-ID``);
- a client that receives nothing for its idle timeout is ended (the route caps the timeout);
- the hub forgets a twin or run as soon as its last client leaves, and its task ends when no
  client is left.

Ordering and completeness: a version is delivered to a client iff it was read after the client
subscribed. :meth:`EventHub.watch_twin` returns the hub's cursor at that moment, so a client
that wants older versions (``replay``, ``Last-Event-ID``) reads them from the history up to
that cursor, and the live feed continues exactly after it: no gap, no duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from twinbed.twins import Twin, TwinStore

__all__ = ["EventHub", "Feed", "TooManyStreams"]

log = logging.getLogger("twinbed.events")


def _after(a: str, b: str) -> bool:
    """Stream entry id ``a`` is later than ``b``."""
    am, _, aseq = a.partition("-")
    bm, _, bseq = b.partition("-")
    return (int(am), int(aseq or 0)) > (int(bm), int(bseq or 0))


START_S = 30.0  # a feed whose response has not started after this long is closed


class TooManyStreams(Exception):
    """The process already serves its maximum of concurrent event streams."""


@dataclass(eq=False)
class Feed:
    """One client's view of the hub: the versions to send, oldest first."""

    queue: asyncio.Queue[tuple[Twin, str] | None]
    twins: set[str] = field(default_factory=set)
    runs: set[str] = field(default_factory=set)
    overflowed: bool = False
    opened: float = field(default_factory=time.monotonic)
    started: bool = False  # the client's response began streaming


class EventHub:
    def __init__(self, store: TwinStore, max_streams: int, queue_len: int = 256,
                 block_ms: int = 500, discover_s: float = 1.0) -> None:
        self.store = store
        self.max_streams = max_streams
        self.queue_len = queue_len
        self.block_ms = block_ms
        self.discover_s = discover_s
        self.feeds: set[Feed] = set()
        self._cursor: dict[str, str] = {}  # twin -> last history entry id read
        self._head: dict[str, Twin] = {}  # twin -> its latest head (kind, run, ...)
        self._twin_feeds: dict[str, set[Feed]] = {}
        self._run_feeds: dict[str, set[Feed]] = {}
        self._run_twins: dict[str, set[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._discovered = 0.0
        self._last_error_log = 0.0
        self.delivered = 0
        self.dropped_clients = 0

    # ---------------------------------------------------------------- clients
    def open(self) -> Feed:
        """A new client, or :class:`TooManyStreams`."""
        if len(self.feeds) >= self.max_streams:
            raise TooManyStreams(f"this service already serves {len(self.feeds)} event streams "
                                 f"(TWINBED_MAX_EVENT_STREAMS={self.max_streams}); retry later")
        feed = Feed(queue=asyncio.Queue(maxsize=self.queue_len))
        self.feeds.add(feed)
        self._start()  # also reaps feeds whose response never started (see _reap)
        return feed

    def close(self, feed: Feed) -> None:
        self.feeds.discard(feed)
        for tid in feed.twins:
            self._unwatch_twin(tid, feed)
        for run in feed.runs:
            subs = self._run_feeds.get(run)
            if subs is not None:
                subs.discard(feed)
                if not subs:
                    del self._run_feeds[run]
                    for tid in self._run_twins.pop(run, set()):
                        self._unwatch_twin(tid, None)
        feed.twins.clear()
        feed.runs.clear()

    async def watch_twin(self, feed: Feed, head: Twin) -> str:
        """Follow one twin; returns the cursor after which the live feed starts."""
        await self._track(head, "$")
        feed.twins.add(head.id)
        self._twin_feeds.setdefault(head.id, set()).add(feed)
        self._start()
        return self._cursor[head.id]

    async def watch_run(self, feed: Feed, run_id: str) -> None:
        """Follow every twin of a run: its twins now from their next version, twins that
        appear later from their first."""
        if run_id not in self._run_feeds:
            self._run_feeds[run_id] = set()
            self._run_twins[run_id] = set()
            await self._discover(run_id, start="$")
        self._run_feeds[run_id].add(feed)
        feed.runs.add(run_id)
        self._start()

    # ---------------------------------------------------------------- the reader
    def _watched(self, tid: str) -> bool:
        return bool(self._twin_feeds.get(tid)) or any(
            tid in twins for twins in self._run_twins.values())

    def _unwatch_twin(self, tid: str, feed: Feed | None) -> None:
        subs = self._twin_feeds.get(tid)
        if subs is not None and feed is not None:
            subs.discard(feed)
            if not subs:
                del self._twin_feeds[tid]
        if not self._watched(tid):
            self._cursor.pop(tid, None)
            self._head.pop(tid, None)

    async def _track(self, head: Twin, start: str) -> None:
        """Start reading a twin's history after its newest entry ("$") or from its first."""
        if head.id in self._cursor:
            return
        cursor = await self.store.last_entry_id(head.id) if start == "$" else start
        if head.id not in self._cursor:  # another client may have tracked it meanwhile
            self._cursor[head.id] = cursor
            self._head[head.id] = head
            self._changed.set()

    async def _discover(self, run_id: str, start: str) -> None:
        for tid in await self.store.ids(run_id, limit=100_000):
            if run_id not in self._run_twins or tid in self._run_twins[run_id]:
                continue
            head = await self.store.get(tid)
            if head is None:
                continue
            await self._track(head, start)
            if run_id in self._run_twins:
                self._run_twins[run_id].add(tid)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-hub")

    def _reap(self) -> None:
        """A feed is opened before its response starts (so that 429 can still be answered);
        if the client went away before the response began, nobody closes it: do it here."""
        now = time.monotonic()
        for feed in [f for f in self.feeds if not f.started and now - f.opened > START_S]:
            self.close(feed)

    async def _run(self) -> None:
        backoff = 0.1
        while self.feeds:
            self._reap()
            try:
                if self._run_feeds and time.monotonic() - self._discovered >= self.discover_s:
                    self._discovered = time.monotonic()
                    for run_id in list(self._run_feeds):
                        await self._discover(run_id, start="0-0")
                if not self._cursor:
                    self._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), self.discover_s)
                    continue
                cursors = dict(self._cursor)
                batch = await self.store.follow_many(dict(self._head), cursors,
                                                     block_ms=self.block_ms)
                self._deliver(batch, cursors)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep the clients, retry with backoff
                now = time.monotonic()
                if now - self._last_error_log > 30:
                    self._last_error_log = now
                    log.warning("event hub: %s: %s (retrying; logged at most every 30 s)",
                                type(exc).__name__, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _deliver(self, batch: list[Twin], cursors: dict[str, str]) -> None:
        """Hand a read to the clients (synchronous: nothing joins between cursor and send).
        Cursors only move forward, and a version at or before a twin's cursor is not sent
        again (a twin dropped and tracked anew while the read was in flight)."""
        before = dict(self._cursor)
        for tid, cursor in cursors.items():
            if tid in self._cursor and _after(cursor, self._cursor[tid]):
                self._cursor[tid] = cursor
        for t in batch:
            if t.id not in before or not _after(t.entry_id or "0-0", before[t.id]):
                continue  # nobody watches it any more, or a client already has it
            data = t.model_dump_json()
            subs = set(self._twin_feeds.get(t.id, ()))
            for run_id, twins in self._run_twins.items():
                if t.id in twins:
                    subs |= self._run_feeds.get(run_id, set())
            for feed in subs:
                if feed.overflowed:
                    continue
                try:
                    feed.queue.put_nowait((t, data))
                    self.delivered += 1
                except asyncio.QueueFull:  # too slow: end it (the client may reconnect)
                    feed.overflowed = True
                    self.dropped_clients += 1
                    with contextlib.suppress(asyncio.QueueEmpty):
                        feed.queue.get_nowait()
                    feed.queue.put_nowait(None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
