"""What every service shares: the app factory, health, metrics, auth, and the role's stream worker.

A service is ``create_service(role, routers=..., generic_handlers=..., tasks=...)``: a FastAPI
app whose lifespan connects to Redis, starts a :class:`twinbed.bus.Worker` over the role's
stream of every active run, and any background tasks (the controller's run driver). Messages
are dispatched to the run's scenario handlers for this role (``scenarios/<name>/roles.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from twinbed import acl, keys, redisconn, signing
from twinbed.bus import Bus, Effects, Envelope, Worker
from twinbed.config import Settings, get_settings
from twinbed.messages import Message
from twinbed.runs import RunStore
from twinbed.runtime import RoleHandler, RunContext
from twinbed.scenarios import get_scenario, scenario_names
from twinbed.twins import TwinStore
from twinbed_services.event_hub import EventHub
from twinbed_services.guard import BAD_TOKEN, NO_TOKEN, Guard, token_matches

__all__ = ["ErrorBody", "ServiceState", "create_service", "errors", "require_token", "state_of"]

log = logging.getLogger("twinbed.service")


@dataclass
class ServiceState:
    role: str
    settings: Settings
    redis: aioredis.Redis
    bus: Bus
    runs: RunStore
    worker: Worker | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    started_wall: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)
    replica: int = 0
    standby: bool = False  # a replica beyond TWINBED_REPLICAS, waiting for a free index
    replicas: int = 1
    events: EventHub | None = None  # the server-sent-event fan-out (services/event_hub.py)
    bus_side: BusThread | None = None  # the worker's thread (None: standby, or not started)


class ErrorBody(BaseModel):
    """Every error answer of every service: a sentence saying what is wrong and how to fix it."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """A 422: the summary sentence plus one entry per offending field."""

    detail: str
    errors: list[FieldError] = []  # empty when the problem is not one field's


_WHY = {400: "malformed request", 401: "missing or wrong bearer token",
        403: "no API token configured: changes are closed", 404: "no such resource",
        409: "conflicts with the resource's state", 413: "request body too large",
        429: "too many concurrent requests of this kind", 503: "Redis unavailable; retry"}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that may answer these error codes (OpenAPI document)."""
    json_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {code: {"model": ErrorBody, "description": _WHY[code], "content": json_body}
            for code in codes}


MUTATING = (400, 401, 403, 413)
"""What the Guard (and body parsing) may answer on any state-changing route."""


def state_of(request: Request) -> ServiceState:
    return request.app.state.svc


State = Annotated[ServiceState, Depends(state_of)]


def require_token(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Mutating endpoints: ``Authorization: Bearer <TWINBED_API_TOKEN>``. The :class:`Guard`
    middleware already checked it before the body was read; this dependency marks the route
    in the OpenAPI document and re-checks (defence in depth)."""
    token = state_of(request).settings.api_token
    if not token:
        raise HTTPException(status_code=403, detail=NO_TOKEN)
    if not token_matches(authorization, token):
        raise HTTPException(status_code=401, detail=BAD_TOKEN,
                            headers={"WWW-Authenticate": "Bearer"})


Authorized = Depends(require_token)


class RoleDispatcher:
    """Routes a message to this role's handler in the run's scenario.

    It keeps one :class:`RunContext` per active run (the scenario's process-local cache:
    loaded agents, datasets, tables) and drops a run's context as soon as the run is no
    longer active (:meth:`retain`), so a long-lived service holds nothing of finished runs.
    """

    def __init__(self, state: ServiceState, generic: Mapping[type[Message], RoleHandler]) -> None:
        self.state = state
        self.generic = dict(generic)
        self._contexts: dict[str, RunContext[Any]] = {}

    async def context(self, run_id: str) -> RunContext[Any]:
        ctx = self._contexts.get(run_id)
        if ctx is None:
            cfg = await self.state.runs.config(run_id)
            if cfg is None:
                raise LookupError(f"unknown run {run_id!r}")
            spec = get_scenario(cfg.scenario)
            ctx = RunContext(run=cfg, params=spec.params.model_validate(cfg.params),
                             bus=self.state.bus, settings=self.state.settings,
                             role=self.state.role, replica=self.state.replica,
                             replicas=self.state.replicas, shipped_dir=spec.shipped_dir)
            self._contexts[run_id] = ctx
        return ctx

    def retain(self, active: set[str]) -> None:
        """Forget the contexts of runs that are no longer active."""
        for run_id in [r for r in self._contexts if r not in active]:
            del self._contexts[run_id]

    def forget(self) -> None:
        """Drop every run context (the bus calls this when a batch failed to commit: the
        handlers may have changed caches whose writes never reached Redis); each is rebuilt
        from Redis on its run's next message, as after a restart."""
        self._contexts.clear()

    @property
    def contexts(self) -> int:
        return len(self._contexts)

    def _check_stream(self, env: Envelope) -> None:
        expected = keys.stream(env.msg.run_id, self.state.role)
        mine = keys.replica_stream(env.msg.run_id, self.state.role, self.state.replica)
        if env.stream != expected and env.stream != mine:
            raise ValueError(f"message for run {env.msg.run_id!r} arrived on {env.stream!r}")

    async def __call__(self, env: Envelope, fx: Effects) -> None:
        self._check_stream(env)
        ctx = await self.context(env.msg.run_id)
        handler = self.generic.get(type(env.msg))
        if handler is None:
            handler = get_scenario(ctx.run.scenario).handler(self.state.role, type(env.msg))
        if handler is None:
            raise LookupError(f"{self.state.role} has no handler for {env.msg.TYPE!r} in "
                              f"scenario {ctx.run.scenario!r}")
        await handler(ctx, env, fx)

    async def batch_key(self, env: Envelope) -> tuple[str, type[Message]] | None:
        """Messages with the same key go to the scenario's batch handler together (see
        :class:`twinbed.bus.Worker`): same stream and type, when the scenario has one."""
        if type(env.msg) in self.generic:
            return None
        ctx = await self.context(env.msg.run_id)
        if get_scenario(ctx.run.scenario).batch_handler(self.state.role, type(env.msg)) is None:
            return None
        return env.stream, type(env.msg)

    async def handle_batch(self, envs: Sequence[Envelope], fx: Effects
                           ) -> Sequence[BaseException | None]:
        """Several messages with one :meth:`batch_key` in one call of the batch handler."""
        first = envs[0]
        self._check_stream(first)  # one key: every message came on the same stream
        ctx = await self.context(first.msg.run_id)
        many = get_scenario(ctx.run.scenario).batch_handler(self.state.role, type(first.msg))
        if many is None or any(e.msg.run_id != first.msg.run_id for e in envs):
            raise LookupError("not one batch")  # the worker handles them one by one
        return await many(ctx, envs, fx)


class _WorkerCollector(Collector):
    def __init__(self, state: ServiceState) -> None:
        self.state = state

    def collect(self):  # noqa: ANN201 - prometheus collector protocol
        role = self.state.role
        stats = self.state.worker.stats if self.state.worker else None
        handled = CounterMetricFamily("twinbed_messages_handled", "bus messages handled",
                                      labels=["role", "type"])
        # the worker mutates these on the bus thread: copy them (one C call under the GIL)
        for t, n in (dict(stats.by_type).items() if stats else []):
            handled.add_metric([role, t], n)
        yield handled
        rejected = CounterMetricFamily(
            "twinbed_messages_rejected", "bus messages dead-lettered for their signature, "
            "signer or a type their role may not send", labels=["role", "reason"])
        for reason, n in (dict(stats.rejected).items() if stats else []):
            rejected.add_metric([role, reason], n)
        yield rejected
        for name, attr, text in (
            ("twinbed_messages_dead", "dead", "messages sent to the dead-letter stream"),
            ("twinbed_messages_duplicate", "duplicates", "replayed messages skipped"),
            ("twinbed_messages_reclaimed", "reclaimed", "entries reclaimed from dead consumers"),
            ("twinbed_bus_batches", "batches", "committed read batches"),
            ("twinbed_handler_seconds", "handle_s", "wall time spent in handlers"),
        ):
            c = CounterMetricFamily(name, text, labels=["role"])
            c.add_metric([role], getattr(stats, attr) if stats else 0)
            yield c
        ctxs = GaugeMetricFamily("twinbed_run_contexts",
                                 "run contexts held (one per active run; finished runs' dropped)",
                                 labels=["role"])
        dispatcher = self.state.extra.get("dispatcher")
        ctxs.add_metric([role], dispatcher.contexts if isinstance(dispatcher, RoleDispatcher)
                        else 0)
        yield ctxs
        hub = self.state.events
        streams = GaugeMetricFamily("twinbed_event_streams",
                                    "server-sent-event clients connected", labels=["role"])
        streams.add_metric([role], len(hub.feeds) if hub else 0)
        yield streams
        dropped = CounterMetricFamily("twinbed_event_clients_dropped",
                                      "event clients ended for falling behind", labels=["role"])
        dropped.add_metric([role], hub.dropped_clients if hub else 0)
        yield dropped
        up = GaugeMetricFamily("twinbed_uptime_seconds", "seconds since start", labels=["role"])
        up.add_metric([role], time.time() - self.state.started_wall)
        yield up


Task = Callable[[ServiceState], Coroutine[Any, Any, None]]
Jobs = Callable[[ServiceState], Sequence[Coroutine[Any, Any, None]]]


class BusThread:
    """A role's bus side on its own thread and event loop: the stream worker, whose handlers
    may compute for seconds (an edge's local training, a sensor's codec, a GRU forecast), and
    the role's background tasks (the controller's run drivers, which pick actions).

    The HTTP API keeps the process's main loop, so ``/health``, the REST endpoints and the
    server-sent events answer while a handler computes. On one loop they did not: during an
    fl-migration run an edge's ``/health`` stalled for up to 4.6 s and the controller's for
    6.7 s (``bench/bench_health.py``), long enough for a liveness probe to restart a
    working pod. Under the GIL the two loops interleave at least every
    ``sys.getswitchinterval()`` (5 ms); torch and numpy release it while they compute.

    A redis.asyncio client belongs to one loop, so this side has its own connections; its
    state is a copy of the service's with them (same role, settings, replica, and the same
    sender sequence: :meth:`twinbed.bus.Bus.over`). The sides share nothing else but the
    counters ``/metrics`` reads. If a job ends while the service runs (it should not), the
    thread ends with the reason and ``/health`` answers 503, so the orchestrator restarts
    the process instead of leaving a service that answers but consumes nothing.
    """

    def __init__(self, state: ServiceState, connect: Callable[[], aioredis.Redis],
                 jobs: Jobs) -> None:
        self._template, self._connect, self._jobs = state, connect, jobs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._main, name=f"{state.role}-bus",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=10.0)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # noqa: BLE001 - the thread's last word, for /health
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("%s: the bus thread stopped", self._template.role)
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        r = self._connect()
        base = self._template
        state = dataclasses.replace(base, redis=r, bus=base.bus.over(r), runs=RunStore(r),
                                    stop=self._stop, events=None, bus_side=None)
        jobs = [asyncio.create_task(c) for c in self._jobs(state)]
        stopping = asyncio.create_task(self._stop.wait())
        self._ready.set()
        try:
            done, _ = await asyncio.wait([stopping, *jobs],
                                         return_when=asyncio.FIRST_COMPLETED)
            if stopping not in done:
                job = next(iter(done))
                exc = None if job.cancelled() else job.exception()
                raise RuntimeError(f"a bus job ended while the service runs: {exc!r}")
        finally:
            for t in [stopping, *jobs]:
                t.cancel()
            await asyncio.gather(stopping, *jobs, return_exceptions=True)
            await r.aclose()

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the jobs to stop (they are cancelled) and wait for the thread, at most
        ``timeout_s`` (it is a daemon: a handler that does not yield ends with the process)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop.set)
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, timeout_s)

LEASE_MS = 15_000  # a replica index is held this long without renewal


async def claim_replica(r: aioredis.Redis, role: str, consumer: str, replicas: int,
                        timeout_s: float = LEASE_MS / 1000 + 5) -> int:
    """The lowest replica index of ``role`` that nobody holds (or that ``consumer`` held).

    Used when containers are scaled (``docker compose up --scale edge=2``) and cannot be told
    their index; a restarted container with the same name gets its old index back, a crashed
    one's index frees once its lease expires. ``timeout_s=0``: one pass, no waiting.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        for i in range(replicas):
            key = keys.replica_lease(role, i)
            if await r.set(key, consumer, nx=True, px=LEASE_MS):
                return i
            holder = await r.get(key)
            if holder is not None and holder.decode() == consumer:
                await r.pexpire(key, LEASE_MS)
                return i
        if time.monotonic() >= deadline:
            raise RuntimeError(f"all {replicas} replica indices of {role!r} are held; "
                               "raise TWINBED_REPLICAS or stop a replica")
        await asyncio.sleep(1.0)


async def _standby(state: ServiceState, start: Callable[[], None]) -> None:
    """A replica beyond TWINBED_REPLICAS (``--scale edge=3`` with 2 indices) waits here,
    healthy and consuming nothing, until an index frees (its holder crashed or was scaled
    away); then it takes the index and starts working."""
    while not state.stop.is_set():
        try:
            state.replica = await claim_replica(state.redis, state.role, state.bus.sender,
                                                state.replicas, timeout_s=0)
        except RuntimeError:
            await asyncio.sleep(LEASE_MS / 3000)
            continue
        state.standby = False
        log.info("%s: standby takes replica %d/%d", state.bus.sender, state.replica,
                 state.replicas)
        start()
        return


async def _renew_lease(state: ServiceState) -> None:
    key = keys.replica_lease(state.role, state.replica)
    me = state.bus.sender
    while not state.stop.is_set():
        try:
            holder = await state.redis.get(key)
            if holder is None or holder.decode() == me:
                await state.redis.set(key, me, px=LEASE_MS)
            else:
                log.error("%s: replica %d is now held by %s", me, state.replica, holder)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("replica lease renewal failed; retrying")
        await asyncio.sleep(LEASE_MS / 3000)


def create_service(
    role: str,
    *,
    routers: Sequence[APIRouter] = (),
    generic_handlers: Mapping[type[Message], RoleHandler] | None = None,
    tasks: Sequence[Task] = (),
    settings: Settings | None = None,
    metrics: Sequence[Callable[[ServiceState], Collector]] = (),
) -> FastAPI:
    """The FastAPI app of one role."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        s = settings or get_settings()
        scenario_names()  # import every scenario, so their message types are registered
        # What is loaded now lives as long as the process: keep it out of the cyclic GC's
        # scans, which otherwise run often on the bus's hot path (it allocates per message).
        gc.freeze()
        logging.basicConfig(level=s.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # A pooled connection idle for over a second is PINGed before use, and reconnects
        # once if that PING finds it closed (twinbed.redisconn): after a Redis restart a stale
        # one does not answer the first request with "Connection closed by server" (commands
        # themselves are not retried on a single Redis; the cluster client retries them, but
        # never a transaction once sent: twinbed.redisconn.CommitUnknownError).
        consumer = s.consumer_name(role)
        # this role's signing key and every role's public key (never logged); a missing or
        # wrong one stops the start with the reason (the CLI checks it before uvicorn too)
        bus_keys = signing.load(s.bus_key, s.bus_pubkeys, role)
        # named connections: `CLIENT LIST` (and an operator) sees which role holds which
        def connect() -> aioredis.Redis:
            return redisconn.connect(s.redis_url, socket_keepalive=True,
                                     wait_replicas=s.redis_wait_replicas,
                                     wait_ms=s.redis_wait_ms,
                                     health_check_interval=1,
                                     client_name=consumer.replace(" ", "_"))

        r = connect()  # the HTTP side's; the bus thread opens its own (BusThread)
        bus = Bus(r, sender=consumer, keys=bus_keys)
        state = ServiceState(role=role, settings=s, redis=r, bus=bus, runs=RunStore(r),
                             replicas=s.replicas)
        state.events = EventHub(TwinStore(r, s.history_len), s.max_event_streams)
        standby = False
        if s.replica is not None:
            state.replica = s.replica
        elif s.replicas > 1:
            try:
                state.replica = await claim_replica(r, role, consumer, s.replicas)
            except RuntimeError:
                standby = state.standby = True  # every index held: wait (below), healthy
        app.state.svc = state
        registry.register(_WorkerCollector(state))
        for make in metrics:
            registry.register(make(state))

        def jobs(side: ServiceState) -> list[Coroutine[Any, Any, None]]:
            """The bus side's work, built on the bus thread with its connections."""
            active_cache: dict[str, Any] = {"at": 0.0, "streams": []}
            dispatcher = RoleDispatcher(side, generic_handlers or {})
            state.extra["dispatcher"] = dispatcher  # /metrics counts its run contexts

            async def streams() -> list[str]:
                now = time.monotonic()
                if now - active_cache["at"] > 0.25:
                    runs = await side.redis.smembers(keys.ACTIVE_RUNS)
                    ids = [x.decode() for x in runs]
                    dispatcher.retain(set(ids))  # a finished run's context (and cache) goes
                    active_cache["streams"] = sorted(
                        [keys.stream(i, role) for i in ids]
                        + [keys.replica_stream(i, role, side.replica) for i in ids])
                    active_cache["at"] = now
                return active_cache["streams"]

            worker = state.worker = Worker(
                side.bus, group=role, consumer=consumer, streams=streams,
                handler=dispatcher, count=s.read_count, block_ms=s.read_block_ms,
                reclaim_idle_s=s.reclaim_idle_s,
            )
            return [worker.run(side.stop), *(t(side) for t in tasks)]

        running: list[asyncio.Task[None]] = []

        def start() -> None:
            state.bus_side = BusThread(state, connect, jobs)
            state.bus_side.start()
            # the replica lease is renewed here, on the HTTP loop: a handler computing for
            # longer than the lease on the bus thread does not lose the replica index
            if s.replicas > 1 and s.replica is None:
                running.append(asyncio.create_task(_renew_lease(state), name=f"{role}-lease"))

        if standby:
            running.append(asyncio.create_task(_standby(state, start), name=f"{role}-standby"))
            log.info("%s up as a standby (consumer %s: all %d replica indices held; waiting "
                     "for one, redis %s)", role, consumer, state.replicas,
                     acl.redacted(s.redis_url))
        else:
            start()
            log.info("%s up (consumer %s, replica %d/%d, redis %s)", role, consumer,
                     state.replica, state.replicas, acl.redacted(s.redis_url))
        if not s.api_token:
            log.warning("%s: TWINBED_API_TOKEN is not set, so endpoints that change state "
                        "answer 403 (closed by default); set it to open them", role)
        try:
            yield
        finally:
            state.stop.set()
            if state.bus_side is not None:
                await state.bus_side.stop()
            for t in running:
                t.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await state.events.stop()
            await r.aclose()

    registry = CollectorRegistry()
    app = FastAPI(title=f"twinbed {role}", version="0.1.0", lifespan=lifespan)
    app.add_middleware(Guard, settings=lambda: settings or get_settings())

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return JSONResponse(status_code=422, content={"detail": summary, "errors": errors})

    async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
        """Redis unreachable: a clear 503 (what the dashboard shows), not a 500 traceback."""
        return JSONResponse(status_code=503, headers={"Retry-After": "2"}, content={
            "detail": f"Redis is unreachable ({type(exc).__name__}: {exc}); "
                      f"the {role} service retries on the next request."})

    for exc_type in redisconn.UNAVAILABLE:  # down, restarting, a cluster failing over
        app.add_exception_handler(exc_type, _redis_down)

    @app.get("/health", tags=["ops"])
    async def health(state: State) -> JSONResponse:
        """200 when the process is alive and Redis answers; 503 otherwise."""
        try:
            ok = bool(await asyncio.wait_for(state.redis.ping(), timeout=2.0))
        except Exception as exc:  # any Redis failure means "not healthy", with the reason
            return JSONResponse(status_code=503, content={
                "status": "unhealthy", "role": role, "redis": False, "error": str(exc)})
        side = state.bus_side
        if side is not None and not side.alive:
            return JSONResponse(status_code=503, content={
                "status": "unhealthy", "role": role, "redis": ok,
                "error": f"the bus thread stopped ({side.error or 'no reason given'}); "
                         "restart the service"})
        return JSONResponse(content={"status": "ok" if ok else "unhealthy", "role": role,
                                     "redis": ok, "consumer": state.bus.sender,
                                     "replica": None if state.standby else state.replica,
                                     "replicas": state.replicas, "standby": state.standby})

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI makes one route per method, so Starlette's Allow names only the first
        # route's methods; the path's allowed methods are those of every route it matches.
        allowed = sorted({m for r in app.routes if isinstance(r, APIRoute)
                          and r.path_regex.match(request.url.path) for m in r.methods})
        return JSONResponse(status_code=405, content={"detail": "method not allowed"},
                            headers={"Allow": ", ".join(allowed)})

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, with the 422 body this service really sends."""
        if app.openapi_schema is None:
            schema = original_openapi()
            comps = schema.setdefault("components", {}).setdefault("schemas", {})
            body = ValidationErrorBody.model_json_schema(
                ref_template="#/components/schemas/{model}")
            comps.update(body.pop("$defs", {}))
            comps["HTTPValidationError"] = body
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Prometheus text format"}})
    async def metrics_endpoint() -> Response:
        """Prometheus text format."""
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    for router in routers:
        app.include_router(router)
    return app
