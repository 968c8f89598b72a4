"""Every published service's OpenAPI document, fuzzed by schemathesis against the live stack.

All of schemathesis's checks run (no 5xx, responses and status codes as documented, content
types, Allow headers, auth), on the examples, coverage, fuzzing and stateful phases, with a
fixed seed and a bounded number of examples so CI stays short. Two exclusions, on purpose:

- ``positive_data_acceptance``: ``POST /runs`` takes ``params``, which the chosen scenario's own
  model validates (e.g. ``K`` for compression); a schema-valid body with parameters the
  scenario does not know is rightly a 422, and the document cannot express per-scenario
  parameters short of a union over every scenario's model.
- ``/twins/{id}/events``: a server-sent-event stream stays open until its idle timeout, which a
  request/response fuzzer cannot wait for; its parameters are bounded by the schema and its
  behaviour is covered by the live SSE tests.

Runs that the stateful phase starts are stopped afterwards, so the shared stack stays idle.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SERVICES = ("controller", "cloud", "basestation", "edge", "sensor")


def _st() -> str:
    exe = Path(sys.executable).with_name("st")
    assert exe.exists(), "schemathesis is not installed (it is in the [test] extra)"
    return str(exe)


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_document_holds_under_schemathesis(live, service: str) -> None:
    before = {v["config"]["id"] for v in live.controller.get("/runs?limit=1000").json()}
    cmd = [_st(), "run", f"{live.info.url(service)}/openapi.json", "--checks", "all",
           "--exclude-checks", "positive_data_acceptance",
           "--exclude-path-regex", "/events$", "--max-examples", "10", "--seed", "1",
           "--request-timeout", "20", "--no-color",
           "-H", f"Authorization: Bearer {live.info.token}"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                             env=dict(os.environ, SCHEMATHESIS_HOOKS=""))
    finally:
        for v in live.controller.get("/runs?limit=1000").json():
            rid = v["config"]["id"]
            if rid not in before and v["status"]["status"] == "running":
                live.controller.post(f"/runs/{rid}/stop")
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
