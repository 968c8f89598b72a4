"""The live stack, started exactly as `make up` starts it (`twinbed up`, detached here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from twinbed.stack import Stack, StackInfo


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("stack")
    env = dict(os.environ, TWINBED_ROUND_DEADLINE_S="60", TWINBED_RECLAIM_IDLE_S="2")
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", str(data), "up",
                          "--detach"], env=env, capture_output=True, text=True, timeout=180)
    stack = Stack(data)
    if out.returncode != 0:
        logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}"
                         for p in sorted((data / "logs").glob("*.log")))
        stack.stop()
        pytest.fail(f"`twinbed up` failed:\n{out.stdout}\n{out.stderr}\n{logs}")
    assert "API token" in out.stdout and "make down" in out.stdout
    info = stack.load()
    assert info is not None
    yield Live(stack, info)
    stopped = stack.stop()
    assert "redis" in stopped


class Live:
    """Handles on the running stack: REST clients with the token, raw Redis, faults."""

    def __init__(self, stack: Stack, info: StackInfo) -> None:
        self.stack = stack
        self.info = info
        auth = {"Authorization": f"Bearer {info.token}"}
        self.controller = httpx.Client(base_url=info.url("controller"), headers=auth, timeout=30)
        self.cloud = httpx.Client(base_url=info.url("cloud"), timeout=30)

    def redis(self):  # noqa: ANN201
        import redis

        return redis.Redis.from_url(self.info.redis_url)

    def start_run(self, **body: Any) -> str:
        resp = self.controller.post("/runs", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()["config"]["id"]

    def wait_run(self, run_id: str, timeout_s: float = 120.0, rounds_done: int | None = None
                 ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            resp = self.controller.get(f"/runs/{run_id}")
            if resp.status_code == 503:  # Redis restarting (a fault test): as Retry-After says
                time.sleep(float(resp.headers.get("retry-after", "1")))
                continue
            view = resp.json()
            st = view["status"]
            if rounds_done is not None and st["rounds_done"] >= rounds_done:
                return view
            if rounds_done is None and st["status"] != "running":
                return view
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} not done in {timeout_s}s: {view['status']}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}"
                         for p in sorted(Path(self.info.data_dir, "logs").glob("*.log")))
