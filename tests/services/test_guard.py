"""The Guard middleware (services/guard.py) in front of a real FastAPI app, in-process."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from twinbed.config import Settings
from twinbed_services.common import create_service
from twinbed_services.guard import Guard, token_matches


def _echo_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.add_middleware(Guard, settings=lambda: settings)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/echo")
    async def read() -> dict[str, bool]:
        return {"ok": True}

    return app


def test_no_token_closes_mutating_endpoints_of_a_real_service_with_how_to_open_them() -> None:
    app = create_service("controller", settings=Settings(api_token=""))
    from twinbed_services.controller.runs_api import router

    app.include_router(router)
    resp = TestClient(app).post("/runs", json={"scenario": "compression"})
    assert resp.status_code == 403
    assert "TWINBED_API_TOKEN" in resp.json()["detail"]


def test_reads_need_no_token_and_writes_need_the_right_one() -> None:
    c = TestClient(_echo_app(Settings(api_token="s3cret")))
    assert c.get("/echo").json() == {"ok": True}
    assert c.post("/echo", content=b"abc").status_code == 401
    assert c.post("/echo", content=b"abc", headers={"Authorization": "Bearer nope"}
                  ).status_code == 401
    ok = c.post("/echo", content=b"abc", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json() == {"bytes": 3}


def test_body_cap_by_length_and_by_chunks() -> None:
    c = TestClient(_echo_app(Settings(api_token="t", max_body_bytes=4096)))
    auth = {"Authorization": "Bearer t"}
    assert c.post("/echo", content=b"x" * 4096, headers=auth).json() == {"bytes": 4096}
    assert c.post("/echo", content=b"x" * 4097, headers=auth).status_code == 413

    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    assert c.post("/echo", content=chunks(), headers=auth).status_code == 413


def test_token_matches_is_exact_and_total() -> None:
    assert token_matches("Bearer abc", "abc")
    assert token_matches(b"Bearer abc", "abc")
    assert not token_matches("Bearer abcd", "abc")
    assert not token_matches("bearer abc", "abc")
    assert not token_matches("Bearer j\u00e9ton", "abc")  # non-ASCII: simply wrong
    assert not token_matches(None, "abc")
    assert not token_matches("Bearer ", "")  # no token configured never matches
