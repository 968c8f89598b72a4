"""A service's bus side runs on its own thread (services/common.py, BusThread): a handler or
task that computes for long does not stall the HTTP API, and a bus side that dies makes
/health say so. A real service app against a real Redis, in-process."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from twinbed.config import Settings
from twinbed_services.common import ServiceState, create_service

GATE_S = 60.0  # a deadlock guard, not a speed bound: the tests end long before it


@pytest.fixture
def settings(redis_url: str, bus_keys_env: Callable[[str], None],
             monkeypatch: pytest.MonkeyPatch) -> Settings:
    bus_keys_env("cloud")
    monkeypatch.setenv("TWINBED_REDIS_URL", redis_url)
    return Settings(api_token="t")


def test_health_answers_while_a_bus_job_holds_its_loop(settings: Settings) -> None:
    entered, gate, left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    async def busy(state: ServiceState) -> None:
        seen["thread"] = threading.current_thread().name
        entered.set()
        gate.wait(GATE_S)  # blocks this loop, as a long training step or codec call does
        left.set()
        await state.stop.wait()

    with TestClient(create_service("cloud", settings=settings, tasks=[busy])) as client:
        assert entered.wait(GATE_S)
        resp = client.get("/health")
        # on one shared loop the request could only be answered after the job let go
        still_busy = not left.is_set()
        gate.set()
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "ok"
        assert still_busy, "/health answered only after the bus job released its loop"
        assert seen["thread"] == "cloud-bus"
        assert left.wait(GATE_S)


def test_a_bus_side_that_dies_makes_health_unhealthy_with_the_reason(
        settings: Settings) -> None:
    ended = threading.Event()

    async def crashes(state: ServiceState) -> None:
        ended.set()
        raise ValueError("boom in a background task")

    with TestClient(create_service("cloud", settings=settings, tasks=[crashes])) as client:
        assert ended.wait(GATE_S)
        svc = client.app.state.svc  # type: ignore[attr-defined]
        assert svc.bus_side is not None
        svc.bus_side._thread.join(GATE_S)  # the thread ends once it has seen the job end
        resp = client.get("/health")
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "unhealthy"
        assert "bus thread stopped" in body["error"] and "boom" in body["error"]


def test_both_sides_send_with_one_sequence(settings: Settings) -> None:
    """The HTTP side's Bus and the bus thread's share the sender and one sequence, so the
    same (sender, seq) is never sent twice (it would be dropped as a duplicate)."""
    sides: dict[str, ServiceState] = {}
    ready = threading.Event()

    async def keep(state: ServiceState) -> None:
        sides["bus"] = state
        ready.set()
        await state.stop.wait()

    with TestClient(create_service("cloud", settings=settings, tasks=[keep])) as client:
        assert ready.wait(GATE_S)
        http_bus = client.app.state.svc.bus  # type: ignore[attr-defined]
        side_bus = sides["bus"].bus
        assert side_bus is not http_bus and side_bus.redis is not http_bus.redis
        assert side_bus.sender == http_bus.sender
        drawn = [b.next_seq() for _ in range(100) for b in (http_bus, side_bus)]
    assert drawn == sorted(set(drawn)), "the two sides draw from separate sequences"
