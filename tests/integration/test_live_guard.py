"""The door of the live services (issue #14): token before body, bounded bodies, no poison replies.

Raw sockets where the point is what the server does *before* the client sends a body: the
request line and headers go out, the body never does, and the answer must still arrive.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

import pytest

from twinbed import keys
from twinbed.bus import encode
from twinbed.messages import DecisionRequest


def _raw(url: str, head: bytes, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """Send only ``head`` (request line + headers), return (status, first bytes of answer)."""
    u = urlparse(url)
    with socket.create_connection((u.hostname, u.port), timeout=timeout_s) as s:
        s.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.settimeout(1.0)
        try:
            data += s.recv(4096)
        except TimeoutError:
            pass
    status = int(data.split(b" ", 2)[1])
    return status, data


def _post_head(length: int, auth: bytes | None) -> bytes:
    lines = [b"POST /runs HTTP/1.1", b"Host: localhost", b"Content-Type: application/json",
             b"Content-Length: " + str(length).encode()]
    if auth is not None:
        lines.append(b"Authorization: " + auth)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_unauthenticated_100mb_body_is_refused_before_it_is_read(live) -> None:
    t0 = time.monotonic()
    status, data = _raw(live.info.url("controller"), _post_head(100 * 2**20, None))
    assert status == 401, data
    assert b"Bearer" in data
    assert time.monotonic() - t0 < 10  # answered without the body: it was never sent
    assert live.controller.get("/health").status_code == 200


def test_non_ascii_authorization_is_a_401_not_a_500(live) -> None:
    status, data = _raw(live.info.url("controller"),
                        _post_head(2, "Bearer j\u00e9ton".encode("latin-1")))
    assert status == 401, data


def test_authenticated_body_over_the_cap_is_413_before_it_is_read(live) -> None:
    status, data = _raw(live.info.url("controller"),
                        _post_head(8 * 2**20, f"Bearer {live.info.token}".encode()))
    assert status == 413, data
    assert b"TWINBED_MAX_BODY_BYTES" in data


def test_chunked_body_over_the_cap_is_413(live) -> None:
    def chunks():
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB, no Content-Length: sent chunked

    resp = live.controller.post("/runs", content=chunks(),
                                headers={"Content-Type": "application/json"})
    assert resp.status_code == 413, resp.text


def test_small_authenticated_request_still_works(live) -> None:
    rid = live.start_run(scenario="compression", algorithm="fixed-bf", seed=3, rounds=2,
                         params={"K": 2})
    assert live.wait_run(rid)["status"]["status"] == "completed"


def test_poison_reply_to_is_dead_lettered_and_jams_nothing(live) -> None:
    """`reply_to="cloud:seen:cloud"` once made the controller XADD onto the cloud's seen-set
    key, wedging every run; now it is not a valid message at all."""
    rid = live.start_run(scenario="compression", algorithm="fixed-bf", seed=4, rounds=6,
                         params={"K": 2})
    r = live.redis()
    # model_construct skips validation: what an attacker with bus access could write
    poison = DecisionRequest.model_construct(run_id=rid, round=0, state={},
                                             reply_to="cloud:seen:cloud")
    stream = keys.stream(rid, "controller")  # signed by a basestation's key holder
    r.xadd(stream, encode(poison, "basestation-attacker", 10**9, stream=stream,
                          keys=live.stack.bus_keys("basestation")))
    view = live.wait_run(rid, timeout_s=120)
    assert view["status"]["status"] == "completed", view["status"]

    def reasons() -> list[bytes]:
        return [v for _, e in r.xrange(keys.dead_letter(keys.stream(rid, "controller")))
                for k, v in e.items() if b"error" in k]

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(b"reply_to" in x for x in reasons()):
        time.sleep(0.2)
    assert any(b"reply_to" in x for x in reasons()), reasons()
    assert r.type("cloud:seen:cloud") == b"none"
    # a second run after it goes through
    rid2 = live.start_run(scenario="compression", algorithm="fixed-bf", seed=5, rounds=2,
                          params={"K": 2})
    assert live.wait_run(rid2)["status"]["status"] == "completed"


@pytest.mark.parametrize("params,word", [({"D_bits": 16 * 2**30}, "D_bits"),
                                         ({"K": 100_000, "D_bits": 8000}, "K * D_bits")])
def test_size_parameters_have_upper_bounds(live, params, word) -> None:
    resp = live.controller.post("/runs", json={"scenario": "compression",
                                               "algorithm": "fixed-bf", "rounds": 1,
                                               "params": params})
    assert resp.status_code == 422, resp.text
    assert word in resp.text
