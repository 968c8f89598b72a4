"""Out of the box: a stack started from scratch (`twinbed up` on an empty data directory) runs
every algorithm of semantic and network-twin with default parameters, on the artifacts the
package ships; the run record says which artifact, its version and origin; a corrupted
artifact in the data directory is a 422 naming the file, and the services keep running.

Select with ``pytest -m outofbox``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from twinbed.config import ROLES
from twinbed.scenarios import get_scenario
from twinbed.stack import Stack, StackInfo

pytestmark = [pytest.mark.integration, pytest.mark.outofbox]

SCENARIOS = ("semantic", "network-twin", "fl-migration", "federated")
# the run's seed: fl-migration's agents are trained for one instance, the defaults' seed 0
SEED = {"fl-migration": 0}
# parameters that keep a round short without changing which artifact a run uses: fl-migration's
# agents depend on U, S and the seed only (here 1 FL epoch per slot instead of 50 + 10, 20-40
# new samples per user instead of 200-1000: a slot in seconds, not a minute, on a busy
# machine); exhaustive search refuses the default federated instance and gets a small one
PARAMS = {("fl-migration", None): {"E_s": 1, "E_us": 1, "new_samples_low": 20,
                                   "new_samples_high": 40},
          ("federated", "exhaustive"): {"M": 4, "N": 2, "K": 2}}


class Fresh:
    """The fresh stack's controller with the API token."""

    def __init__(self, stack: Stack, info: StackInfo) -> None:
        self.stack, self.info = stack, info
        self.controller = httpx.Client(base_url=info.url("controller"), timeout=30,
                                       headers={"Authorization": f"Bearer {info.token}"})

    def start_run(self, **body: Any) -> str:
        resp = self.controller.post("/runs", json=body)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["config"]["id"])

    def wait_run(self, run_id: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            view: dict[str, Any] = self.controller.get(f"/runs/{run_id}").json()
            if view["status"]["status"] != "running":
                return view
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} not done in {timeout_s} s")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}"
                         for p in sorted(Path(self.info.data_dir, "logs").glob("*.log")))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fresh]:
    """Its own stack on an empty data directory (the session's stack gets trained files)."""
    data = tmp_path_factory.mktemp("fresh")
    env = dict(os.environ, TWINBED_ROUND_DEADLINE_S="60")
    out = subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", str(data), "up",
                          "--detach"], env=env, capture_output=True, text=True, timeout=180)
    stack = Stack(data)
    if out.returncode != 0:
        stack.stop()
        pytest.fail(f"`twinbed up` failed:\n{out.stdout}\n{out.stderr}")
    info = stack.load()
    assert info is not None
    yield Fresh(stack, info)
    stack.stop()


@pytest.mark.parametrize("scenario, algorithm",
                         [(s, a) for s in SCENARIOS for a in get_scenario(s).algorithms])
def test_every_algorithm_runs_on_shipped_artifacts(fresh: Fresh, scenario: str,
                                                   algorithm: str) -> None:
    assert not any(Path(fresh.info.data_dir, d).exists() for d in ("agents", "models", "codecs"))
    params = PARAMS.get((scenario, algorithm), PARAMS.get((scenario, None), {}))
    run_id = fresh.start_run(scenario=scenario, algorithm=algorithm, seed=SEED.get(scenario, 3),
                             rounds=2, params=params)
    view = fresh.wait_run(run_id, timeout_s=180)
    assert view["status"]["status"] == "completed", fresh.logs()
    assert len(view["rounds"]) == 2 and not any(r["missing"] for r in view["rounds"])
    used = view["config"]["artifacts"]
    want = get_scenario(scenario).artifacts_for(get_scenario(scenario).params(), algorithm)
    assert sorted(a["name"] for a in used) == sorted(s.name for s in want)
    assert all(a["origin"] == "shipped" and a["version"] >= 1 for a in used), used


def test_corrupted_artifact_is_422_naming_it_and_the_stack_runs_on(fresh: Fresh) -> None:
    from twinbed.scenarios.network_twin.learned import GRU
    from twinbed.scenarios.network_twin.params import NetworkTwinParams

    p = NetworkTwinParams()
    shipped = GRU.shipped_path(p, 0)
    assert shipped is not None
    user = GRU.user_path(fresh.info.data_dir, p, 0)
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_bytes(shipped.read_bytes()[:5000])  # truncated, with the shipped record
    shutil.copyfile(shipped.with_suffix(".json"), user.with_suffix(".json"))
    try:
        body = {"scenario": "network-twin", "algorithm": "never", "rounds": 1}
        resp = fresh.controller.post("/runs", json=body)
        assert resp.status_code == 422, resp.text
        detail = resp.json()["detail"]
        assert str(user) in detail and "truncated" in detail
        assert "twinbed train network-twin-gru --param U=10" in detail
        user.write_bytes(shipped.read_bytes())  # the user's intact copy wins
        run_id = fresh.start_run(**body)
        view = fresh.wait_run(run_id, timeout_s=120)
        assert view["status"]["status"] == "completed", fresh.logs()
        (a,) = fresh.controller.get(f"/runs/{run_id}").json()["config"]["artifacts"]
        assert (a["origin"], a["path"], a["version"]) == ("user", str(user), 1)
    finally:
        user.unlink(missing_ok=True)
        user.with_suffix(".json").unlink(missing_ok=True)
    for role in ROLES:  # no service died on the bad file
        assert httpx.get(f"{fresh.info.url(role)}/health", timeout=10).status_code == 200
