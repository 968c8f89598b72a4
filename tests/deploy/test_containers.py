"""docker-compose.yml and deploy/Dockerfile on a real Docker engine, real containers.

One stack for the module (project ``twinbed-test-<hex>``): the image is built once
(``up -d --wait --build``), every test uses it through the published ports, and the module ends
with ``down -v`` and a check that no container, volume or network of the project is left.

The engine is whatever ``docker`` reaches: ``DOCKER_HOST``/``DOCKER_CONFIG`` if set, else the
environment file of the engine ``deploy/ci-engine.sh start`` started on this machine
(``/run/twinbed-engine/env``), else docker's default. Without an engine (or without Compose
v2) every test fails, never skips, saying how to get one.

Two engine facts the fault tests rely on: ``docker kill`` does not trigger the restart policy
(the engine marks the container as deliberately stopped), so a crash is a SIGKILL of the
container's main process from the host (``docker inspect -f '{{.State.Pid}}'``; through a
``--pid host`` helper container when the engine is not local); and ``docker exec ... kill -9 1``
does nothing (init of a PID namespace ignores SIGKILL from inside it).

Select with ``pytest -m containers``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from twinbed.engine import engine_env

pytestmark = pytest.mark.containers

REPO = Path(__file__).resolve().parents[2]
HOW = ('start one with `deploy/ci-engine.sh start` and `eval "$(deploy/ci-engine.sh env)"` '
       "(or install Docker with Compose v2)")
PORTS = {"controller": 18000, "cloud": 18001, "basestation": 18002}
INNER_PORTS = {"controller": 8000, "cloud": 8001, "basestation": 8002, "edge": 8003,
               "sensor": 8004}
ROLES = ("controller", "cloud", "basestation", "edge", "sensor")
UP_TIMEOUT_S = 1800  # a cold build (torch and every wheel) on a slow machine


# --- the engine ------------------------------------------------------------------------------


def require_engine(env: dict[str, str]) -> None:
    """Fail (not skip) unless a Docker engine answers and compose is v2."""
    try:
        out = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], env=env,
                             capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.fail(f"no `docker` command on PATH: {HOW}")
    except subprocess.TimeoutExpired:
        pytest.fail(f"the Docker engine at {env.get('DOCKER_HOST', 'the default socket')} "
                    f"does not answer: {HOW}")
    if out.returncode != 0:
        pytest.fail(f"no Docker engine reachable ({env.get('DOCKER_HOST', 'default socket')}: "
                    f"{out.stderr.strip()[-300:]}): {HOW}")
    comp = subprocess.run(["docker", "compose", "version", "--short"], env=env,
                          capture_output=True, text=True, timeout=30)
    if comp.returncode != 0 or not comp.stdout.strip().lstrip("v").startswith("2"):
        pytest.fail(f"`docker compose` is not Compose v2 ({(comp.stdout + comp.stderr).strip()})"
                    f": {HOW}")


def read_env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


# --- the stack -------------------------------------------------------------------------------

class Compose:
    """One compose project on the engine, with REST clients on its published ports."""

    def __init__(self, project: str, env_file: Path, env: dict[str, str]) -> None:
        self.project, self.env_file, self.env = project, env_file, env
        self.secrets = read_env_file(env_file)
        self.token = self.secrets["TWINBED_API_TOKEN"]
        self.controller = httpx.Client(base_url=f"http://127.0.0.1:{PORTS['controller']}",
                                       headers={"Authorization": f"Bearer {self.token}"},
                                       timeout=30)
        self.cloud = httpx.Client(base_url=f"http://127.0.0.1:{PORTS['cloud']}", timeout=30)
        self.down_done = False

    # commands
    def docker(self, *args: str, timeout: float = 120, check: bool = True
               ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout, cwd=REPO)
        if check and out.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({out.returncode}):\n"
                                 f"{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        return out

    def compose(self, *args: str, timeout: float = 300, check: bool = True
                ) -> subprocess.CompletedProcess[str]:
        return self.docker("compose", "-f", str(REPO / "docker-compose.yml"), "-p", self.project,
                           "--env-file", str(self.env_file), *args, timeout=timeout, check=check)

    def logs(self, tail: int = 60) -> str:
        return self.compose("logs", "--no-color", "--tail", str(tail), check=False).stdout

    # what the project has on the engine
    def _label(self) -> str:
        return f"label=com.docker.compose.project={self.project}"

    def containers(self) -> dict[str, dict[str, Any]]:
        """Every container of the project (running or not): name -> docker inspect."""
        ids = self.docker("ps", "-aq", "--filter", self._label()).stdout.split()
        if not ids:
            return {}
        info = json.loads(self.docker("inspect", *ids).stdout)
        return {c["Name"].lstrip("/"): c for c in info}

    def service(self, name: str) -> list[dict[str, Any]]:
        """The containers of one service, by container number."""
        found = [c for c in self.containers().values()
                 if c["Config"]["Labels"].get("com.docker.compose.service") == name]
        return sorted(found, key=lambda c: int(c["Config"]["Labels"]
                                              ["com.docker.compose.container-number"]))

    def leftovers(self) -> dict[str, list[str]]:
        lab = self._label()
        return {
            "containers": self.docker("ps", "-aq", "--filter", lab).stdout.split(),
            "volumes": self.docker("volume", "ls", "-q", "--filter", lab).stdout.split(),
            "networks": self.docker("network", "ls", "-q", "--filter", lab).stdout.split(),
        }

    def down(self) -> dict[str, list[str]]:
        """``down -v``, then what is left of the project (should be nothing)."""
        if not self.down_done:
            self.compose("down", "-v", "--remove-orphans", "--timeout", "10", timeout=300)
            self.down_done = True
            self.controller.close()
            self.cloud.close()
        return self.leftovers()

    # health
    def wait_healthy(self, timeout_s: float = 180) -> dict[str, dict[str, Any]]:
        """Every long-running container running and healthy (the one-shots exited 0)."""
        deadline = time.monotonic() + timeout_s
        while True:
            cs = self.containers()
            bad = {n: _state(c) for n, c in cs.items() if _state(c) not in ("healthy", "done")}
            if not bad:
                return cs
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy in {timeout_s} s: {bad}\n{self.logs()}")
            time.sleep(1)

    def wait_ready(self, timeout_s: float = 120) -> None:
        """Every role container's /health answers 200 (Redis reachable from it): docker's
        health status is up to one check interval (10 s) old, this is now."""
        deadline = time.monotonic() + timeout_s
        while True:
            bad = {}
            for c in self.containers().values():
                role = c["Config"]["Labels"]["com.docker.compose.service"]
                if role in INNER_PORTS:
                    name = c["Name"].lstrip("/")
                    try:
                        health = self.exec_health(name, role)
                    except AssertionError as exc:
                        health = {"status": str(exc).splitlines()[-1]}
                    if health.get("status") != "ok":
                        bad[name] = health
            if not bad:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready in {timeout_s} s: {bad}\n{self.logs()}")
            time.sleep(0.5)

    def exec_health(self, container: str, role: str) -> dict[str, Any]:
        """GET /health inside a container (edge and sensor publish no port)."""
        code = ("import urllib.request; print(urllib.request.urlopen("
                f"'http://127.0.0.1:{INNER_PORTS[role]}/health', timeout=5).read().decode())")
        return dict(json.loads(self.docker("exec", container, "python", "-c", code).stdout))

    # faults
    def crash(self, container: str) -> None:
        """SIGKILL the container's main process from the host: a crash, which the restart
        policy answers (``docker kill`` would count as a deliberate stop)."""
        pid = int(self.docker("inspect", "-f", "{{.State.Pid}}", container).stdout)
        assert pid > 0, f"{container} is not running"
        try:
            os.kill(pid, signal.SIGKILL)
            return
        except (PermissionError, ProcessLookupError):
            pass  # the engine is elsewhere (a VM, another user): kill from its PID namespace
        image = self.docker("inspect", "-f", "{{.Config.Image}}", container).stdout.strip()
        self.docker("run", "--rm", "--pid", "host", "--user", "0", "--entrypoint", "kill",
                    image, "-KILL", str(pid))

    def wait_restarted(self, container: str, restarts_before: int, timeout_s: float = 180
                       ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            c = json.loads(self.docker("inspect", container).stdout)[0]
            if c["RestartCount"] > restarts_before and _state(c) == "healthy":
                return dict(c)
            if time.monotonic() > deadline:
                raise AssertionError(f"{container} not restarted and healthy in {timeout_s} s: "
                                     f"{_state(c)}, restarts {c['RestartCount']}\n{self.logs()}")
            time.sleep(0.5)

    # runs through the published controller
    def start_run(self, scenario: str, algorithm: str, seed: int, rounds: int,
                  params: dict[str, Any] | None = None) -> str:
        resp = self.controller.post("/runs", json={"scenario": scenario, "algorithm": algorithm,
                                                   "seed": seed, "rounds": rounds,
                                                   "params": params or {}})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["config"]["id"])

    def view(self, run_id: str) -> dict[str, Any] | None:
        """The run's view, or None while the controller or Redis is down or restarting."""
        try:
            resp = self.controller.get(f"/runs/{run_id}")
        except httpx.TransportError:
            return None
        if resp.status_code == 503:
            return None
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def wait_run(self, run_id: str, timeout_s: float = 240, rounds_done: int | None = None
                 ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        view = None
        while time.monotonic() < deadline:
            view = self.view(run_id) or view
            if view is not None:
                st = view["status"]
                if rounds_done is not None and st["rounds_done"] >= rounds_done:
                    return view
                if rounds_done is None and st["status"] != "running":
                    return view
            time.sleep(0.05)
        status = view["status"] if view else "no answer"
        raise AssertionError(f"run {run_id} not done in {timeout_s} s: {status}\n{self.logs()}")

    def history(self, run_id: str, twin: str) -> list[dict[str, Any]]:
        resp = self.cloud.get(f"/twins/{run_id}.{twin}/history")
        assert resp.status_code == 200, resp.text
        return list(resp.json())


ONE_SHOTS = ("redis-users", "bus-keys")  # write Redis's users file / the bus keys, exit 0


def _state(c: dict[str, Any]) -> str:
    st = c["State"]
    if not st["Running"]:
        return "done" if st["ExitCode"] == 0 and c["Config"]["Labels"].get(
            "com.docker.compose.service") in ONE_SHOTS else f"exited {st['ExitCode']}"
    health = st.get("Health")
    return str(health["Status"]) if health else "running"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    env = engine_env()
    require_engine(env)
    env_file = tmp_path_factory.mktemp("compose") / "stack.env"
    out = subprocess.run([str(REPO / "deploy" / "compose-env.sh"), str(env_file)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert env_file.stat().st_mode & 0o777 == 0o600
    c = Compose(f"twinbed-test-{uuid.uuid4().hex[:8]}", env_file, env)
    images_before = set(c.docker("images", "-aq", "--no-trunc").stdout.split())
    try:
        up = c.compose("up", "-d", "--wait", "--build", timeout=UP_TIMEOUT_S, check=False)
        if up.returncode != 0:
            pytest.fail(f"`docker compose up -d --wait --build` failed (host ports "
                        f"{', '.join(map(str, PORTS.values()))} must be free: another compose "
                        f"stack? `docker compose ls`):\n{up.stderr[-4000:]}\n{c.logs()}")
        c.images_before = images_before  # type: ignore[attr-defined]
        yield c
    finally:
        left = c.down()
        assert left == {"containers": [], "volumes": [], "networks": []}, left


# --- health and endpoints --------------------------------------------------------------------

def test_one_build_and_every_service_healthy(stack: Compose) -> None:
    cs = stack.wait_healthy()
    services = sorted(c["Config"]["Labels"]["com.docker.compose.service"] for c in cs.values())
    assert services == ["basestation", "bus-keys", "cloud", "controller", "edge", "edge",
                        "redis", "redis-users", "sensor"]
    # one image for every role, and the build added no other image (no dangling copies)
    images = {c["Image"] for c in cs.values() if c["Config"]["Labels"][
        "com.docker.compose.service"] not in ("redis",)}
    latest = stack.docker("image", "inspect", "-f", "{{.Id}}", "twinbed:latest").stdout.strip()
    assert images == {latest}
    new = set(stack.docker("images", "-aq", "--no-trunc").stdout.split()) - \
        stack.images_before  # type: ignore[attr-defined]
    assert new <= {latest}, f"the build left other images: {new - {latest}}"
    # two edges with replica indices 0 and 1
    edges = [stack.exec_health(c["Name"].lstrip("/"), "edge") for c in stack.service("edge")]
    assert sorted(h["replica"] for h in edges) == [0, 1]
    assert not any(h["standby"] for h in edges)
    assert stack.exec_health(stack.service("sensor")[0]["Name"].lstrip("/"), "sensor")[
        "status"] == "ok"


@pytest.mark.parametrize("role", list(PORTS))
def test_health_metrics_docs_on_published_ports(stack: Compose, role: str) -> None:
    base = f"http://127.0.0.1:{PORTS[role]}"
    health = httpx.get(f"{base}/health", timeout=10)
    assert health.status_code == 200, health.text
    assert health.json()["role"] == role and health.json()["redis"] is True
    metrics = httpx.get(f"{base}/metrics", timeout=10)
    assert metrics.status_code == 200 and "# TYPE" in metrics.text
    docs = httpx.get(f"{base}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    if role == "controller":
        ui = httpx.get(f"{base}/ui/", timeout=10)
        assert ui.status_code == 200 and "<html" in ui.text.lower()
    # published on loopback only (TWINBED_BIND unset)
    (c,) = stack.service(role)
    bindings = c["NetworkSettings"]["Ports"][f"{INNER_PORTS[role]}/tcp"]
    assert {(b["HostIp"], b["HostPort"]) for b in bindings} == {("127.0.0.1", str(PORTS[role]))}


def test_mutating_endpoints_need_the_token(stack: Compose) -> None:
    body = {"scenario": "compression", "algorithm": "fixed-bf", "rounds": 1}
    anon = httpx.post(f"http://127.0.0.1:{PORTS['controller']}/runs", json=body, timeout=10)
    assert anon.status_code == 401, anon.text


def test_artifacts_in_the_image_verify(stack: Compose) -> None:
    out = stack.compose("exec", "-T", "controller", "twinbed", "artifacts", check=False)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("missing", ["TWINBED_API_TOKEN", "TWINBED_REDIS_PASSWORD_SENSOR",
                                     "TWINBED_BUS_SEED_EDGE"])
def test_compose_refuses_to_start_without_a_secret(stack: Compose, tmp_path: Path,
                                                   missing: str) -> None:
    """Every secret but one set: compose refuses and says how to set it (which variable it
    names first when several are missing is up to compose, so one is left out at a time)."""
    partial = tmp_path / "partial.env"
    partial.write_text("".join(f"{k}={v}\n" for k, v in stack.secrets.items() if k != missing))
    out = stack.docker("compose", "-f", str(REPO / "docker-compose.yml"), "-p",
                       f"{stack.project}-nosecret", "--env-file", str(partial), "up",
                       "--no-start", check=False)
    assert out.returncode != 0
    how = "openssl rand" if missing == "TWINBED_API_TOKEN" else "deploy/compose-env.sh"
    assert missing in out.stderr and how in out.stderr, out.stderr
    assert not stack.docker("ps", "-aq", "--filter",
                            f"label=com.docker.compose.project={stack.project}-nosecret"
                            ).stdout.split()


# --- every scenario live, equal to the in-process simulation ---------------------------------

COMPRESSION_MODELED = ("b_hz", "f_hz", "rate_bps", "T_comp_s", "T_tr_s", "T_DT_s", "T_total_s")
SEMANTIC_MODELED = ("phi", "f_hz", "p_w", "f_e_hz", "D_bits", "d_m", "h2", "rate_bps", "t_s",
                    "t_en", "t_up", "t_de", "t_dt", "t", "e")
FL_PARAMS = {"U": 6, "S": 3, "new_samples_low": 30, "new_samples_high": 60, "E_s": 3,
             "E_us": 1, "mobility_sigma_m": 35.0, "emd": 0.4}
FL_MODELED = ("objective", "reward", "utility", "cost_total", "cost_mig", "cost_syn", "cost_cmp",
              "gamma_mean", "migrations")
FED_PARAMS = {"M": 16, "N": 5, "K": 4}
LIVE = {  # scenario: (algorithm, seed, rounds, params), as the integration tests run them
    "compression": ("fixed-bf", 11, 3, {"K": 4}),
    "semantic": ("per-slot-optimum", 21, 3, {}),
    "network-twin": ("periodic-k", 7, 6, {"sync_period_slots": 3}),
    "fl-migration": ("nearest", 5, 3, FL_PARAMS),
    "federated": ("greedy", 5, 3, FED_PARAMS),
}


def _completed(stack: Compose, run_id: str, rounds: int) -> list[dict[str, Any]]:
    view = stack.wait_run(run_id)
    assert view["status"]["status"] == "completed", f"{view['status']}\n{stack.logs()}"
    recs: list[dict[str, Any]] = view["rounds"]
    assert [r["round"] for r in recs] == list(range(rounds))
    assert all(r["missing"] == [] for r in recs), [r["missing"] for r in recs]
    return recs


@pytest.mark.parametrize("scenario", list(LIVE))
def test_every_scenario_live_equals_simulate(stack: Compose, scenario: str,
                                             tmp_path: Path) -> None:
    """A short run through the published controller, its twins through the published cloud,
    and the same equality with the in-process simulation (same seed, the shipped artifacts:
    an empty data directory) the process-level integration tests hold."""
    from twinbed.scenarios import get_scenario

    algorithm, seed, rounds, params = LIVE[scenario]
    run_id = stack.start_run(scenario, algorithm, seed, rounds, params)
    recs = _completed(stack, run_id, rounds)
    spec = get_scenario(scenario)
    p = spec.params(**params)
    sim = spec.simulate(p, algorithm, seed, rounds, data_dir=tmp_path)
    assert len(sim) == rounds
    if scenario == "compression":
        from twinbed.physical import BandLimitedSignal, to_bytes

        for got, want in zip(recs, sim):
            assert got["T_max_s"] == pytest.approx(want["T_max_s"], rel=1e-12)
            np.testing.assert_allclose(got["beta_model"], want["beta"], rtol=1e-12)
            for name in COMPRESSION_MODELED:
                np.testing.assert_allclose(got[name], want[name], rtol=1e-12, err_msg=name)
        signal_ = BandLimitedSignal(seed, p.K)
        for k in range(p.K):
            hist = stack.history(run_id, f"sensor-{k}")
            assert [h["round"] for h in hist] == list(range(rounds))
            for h in hist:
                truth = to_bytes(signal_.samples(k, h["round"], p.n_samples))
                assert base64.b64decode(h["state"]["samples_int16_b64"]) == truth
                assert h["state"]["sha256"] == hashlib.sha256(truth).hexdigest()
    elif scenario == "semantic":
        for got, want in zip(recs, sim):
            for name in SEMANTIC_MODELED:
                np.testing.assert_allclose(got[name], want[name], rtol=1e-12, err_msg=name)
            for name in ("T_s", "P_t", "P_e", "P_f", "reward"):
                assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-12), name
            assert got["fidelity_nrmse_max"] <= 0.01
        for k in range(p.K):
            hist = stack.history(run_id, f"ud-{k}")
            assert [h["round"] for h in hist] == list(range(rounds))
    elif scenario == "network-twin":
        for got, want in zip(recs, sim):
            assert got["synced"] == want["synced"] and got["rb"] == want["rb"]
            assert got["cloud_rb"] == want["cloud_rb"]
            assert got["sum_rate"] == pytest.approx(want["sum_rate"], rel=1e-12)
            assert got["err_sq"] == pytest.approx(want["err_sq"], rel=1e-9, abs=1e-12)
            assert got["reward"] == pytest.approx(want["reward"], rel=1e-9)
        hist = stack.history(run_id, "network")
        assert [h["round"] for h in hist] == list(range(rounds))
        for h, want in zip(hist, sim):
            xy = [[u["x"], u["y"]] for u in h["state"]["users"]]
            np.testing.assert_allclose(xy, want["twin"], rtol=1e-12)
    elif scenario == "fl-migration":
        for got, want in zip(recs, sim):
            assert got["assoc"] == want["assoc"]
            np.testing.assert_allclose(got["gamma"], want["gamma"], rtol=0, atol=1e-12)
            for name in FL_MODELED:
                assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-12), name
        assert [r["model_version"] for r in recs] == list(range(1, rounds + 1))
    elif scenario == "federated":
        for got, want in zip(recs, sim):
            assert got["assign"] == want["assign"]
            assert got["associations"] == want["associations"]
            assert got["perf"] == pytest.approx(want["perf"], rel=1e-12)
            assert got["Q"] == pytest.approx(want["Q"], rel=1e-12)
        g = stack.cloud.get(f"/twins/{run_id}.global-dt")
        assert g.status_code == 200, g.text
        assert g.json()["state"]["quality"] == pytest.approx(recs[-1]["Q"])
        assert g.json()["version"] == rounds
    # the run's twins are listed by the published cloud
    twins = stack.cloud.get("/twins", params={"run_id": run_id})
    assert twins.status_code == 200, twins.text
    assert twins.json() and all(t["id"].startswith(f"{run_id}.") for t in twins.json())


# --- scaling, crashes, Redis restart, network cut --------------------------------------------

def _compression_histories_whole(stack: Compose, run_id: str, K: int, rounds: int) -> None:
    """Every sensor twin's history holds every round exactly once."""
    for k in range(K):
        got = [h["round"] for h in stack.history(run_id, f"sensor-{k}")]
        assert got == list(range(rounds)), f"sensor {k}: history rounds {got}"


def test_scale_sensor_and_edge_mid_run_recreates_nothing(stack: Compose) -> None:
    before = {n: (c["Id"], c["State"]["StartedAt"]) for n, c in stack.containers().items()}
    K, rounds = 4, 600
    run_id = stack.start_run("compression", "fixed-bf", 3, rounds, {"K": K})
    stack.wait_run(run_id, rounds_done=3)
    stack.compose("up", "-d", "--scale", "sensor=3", "--scale", "edge=3")
    view = stack.view(run_id)
    assert view is not None and view["status"]["rounds_done"] < rounds, \
        "the run ended before the scaling did: make it longer"
    recs = _completed(stack, run_id, rounds)
    assert len(recs) == rounds
    _compression_histories_whole(stack, run_id, K, rounds)
    after = stack.wait_healthy()
    # every earlier container is still there, the same one; none of the long-running ones
    # was restarted (`up` runs the one-shots again: same containers, same files)
    for name, (cid, started) in before.items():
        assert name in after, f"{name} is gone"
        assert after[name]["Id"] == cid, f"{name} was recreated"
        if not any(one in name for one in ONE_SHOTS):
            assert after[name]["State"]["StartedAt"] == started, f"{name} was restarted"
    assert len(stack.service("sensor")) == 3 and len(stack.service("edge")) == 3
    # the edge beyond TWINBED_REPLICAS=2 waits as a healthy standby
    edges = [stack.exec_health(c["Name"].lstrip("/"), "edge") for c in stack.service("edge")]
    assert sorted(h["replica"] for h in edges if not h["standby"]) == [0, 1], edges
    assert [h["standby"] for h in edges].count(True) == 1, edges
    assert all(h["status"] == "ok" for h in edges)
    # and a short run on the scaled stack
    run2 = stack.start_run("compression", "fixed-bf", 4, 5, {"K": K})
    _completed(stack, run2, 5)


@pytest.mark.parametrize("service", ["cloud", "edge", "controller"])
def test_sigkill_mid_run_is_restarted_and_loses_nothing(stack: Compose, service: str) -> None:
    K, rounds = 4, 60
    run_id = stack.start_run("compression", "fixed-bf", 30 + len(service), rounds, {"K": K})
    stack.wait_run(run_id, rounds_done=3)
    target = stack.service(service)[0]
    name = target["Name"].lstrip("/")
    stack.crash(name)
    c = stack.wait_restarted(name, target["RestartCount"])
    assert c["Id"] == target["Id"]  # restarted by the policy, not recreated
    view = stack.wait_run(run_id)
    assert view["status"]["status"] == "completed", f"{view['status']}\n{stack.logs()}"
    recs = view["rounds"]
    assert [r["round"] for r in recs] == list(range(rounds))
    assert all(r["missing"] == [] for r in recs), [r["missing"] for r in recs]
    _compression_histories_whole(stack, run_id, K, rounds)


def test_redis_restart_between_runs_keeps_runs_and_twins(stack: Compose) -> None:
    runs = stack.controller.get("/runs")
    assert runs.status_code == 200, runs.text
    listed = runs.json()
    assert listed, "no earlier runs"
    ids = [r["config"]["id"] for r in listed]
    before = {i: stack.view(i) for i in ids}
    run_id = next(i for i, v in before.items()
                  if v and v["config"]["scenario"] == "compression")
    K = before[run_id]["config"]["params"]["K"]  # type: ignore[index]
    twins_before = {k: stack.history(run_id, f"sensor-{k}") for k in range(K)}
    stack.compose("restart", "redis", timeout=120)
    stack.wait_healthy()
    stack.wait_ready()  # every service reconnected
    for i, v in before.items():
        # a pooled connection that went stale with the restart may still answer one request
        # 503 + Retry-After (the documented outage answer) after /health said ok: a client
        # retries as told; what must not happen is a run that stays missing
        deadline = time.monotonic() + 30
        while (after := stack.view(i)) is None and time.monotonic() < deadline:
            time.sleep(1)
        assert after is not None, f"run {i} unreadable 30 s after the Redis restart"
        assert after["status"] == v["status"] and after["rounds"] == v["rounds"], i
    for k, hist in twins_before.items():
        assert stack.history(run_id, f"sensor-{k}") == hist
    # and the stack runs on
    new = stack.start_run("compression", "fixed-bf", 8, 5, {"K": 2})
    _completed(stack, new, 5)


def test_network_cut_of_an_edge_mid_run(stack: Compose) -> None:
    """fl-migration (each edge process hosts its own edge servers, so a cut edge holds up the
    slot): one edge container is disconnected from the compose network mid-slot for a few
    seconds and reconnected. The run completes, every slot is recorded with no party missing
    (the cut is far shorter than the round deadline) and equals the simulation, and every
    twin's history holds every slot exactly once."""
    from twinbed.scenarios.fl_migration import FlMigrationParams
    from twinbed.scenarios.fl_migration.world import simulate

    seed, rounds = 6, 4
    run_id = stack.start_run("fl-migration", "nearest", seed, rounds, FL_PARAMS)
    stack.wait_run(run_id, rounds_done=1)
    edge = next(c for c in stack.service("edge") if stack.exec_health(
        c["Name"].lstrip("/"), "edge")["standby"] is False)
    name = edge["Name"].lstrip("/")
    (network,) = edge["NetworkSettings"]["Networks"]
    aliases = edge["NetworkSettings"]["Networks"][network].get("Aliases") or []
    stack.docker("network", "disconnect", network, name)
    try:
        time.sleep(4)  # the cut lasts a while (a fault's length, not a timed assertion)
        view = stack.view(run_id)
        assert view is not None and view["status"]["status"] == "running", \
            "the run ended during the cut: make it longer"
    finally:
        alias_args = [a for al in aliases if al != edge["Id"][:12] for a in ("--alias", al)]
        stack.docker("network", "connect", *alias_args, network, name)
    recs = _completed(stack, run_id, rounds)
    sim = simulate(FlMigrationParams(**FL_PARAMS), "nearest", seed, rounds)
    for got, want in zip(recs, sim):
        assert got["assoc"] == want["assoc"]
        for key in FL_MODELED:
            assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-12), key
    assert [r["model_version"] for r in recs] == list(range(1, rounds + 1))
    twins = stack.cloud.get("/twins", params={"run_id": run_id}).json()
    assert len(twins) == FL_PARAMS["U"] + FL_PARAMS["S"]
    for t in twins:
        got = [h["round"] for h in stack.history(run_id, t["id"].split(".", 1)[1])]
        assert got == list(range(rounds)), f"{t['id']}: history rounds {got}"
    stack.wait_ready()  # the cut edge is back on the bus


# --- Redis ACL users --------------------------------------------------------------------------

ACL_PROBE = """
import json, os, sys, redis
r = redis.Redis.from_url(os.environ["TWINBED_REDIS_URL"])
run = sys.argv[1]
out = {"user": r.connection_pool.connection_kwargs.get("username"), "ping": r.ping()}
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except redis.exceptions.NoPermissionError as exc:
        out[name] = "NOPERM" if "NOPERM" in str(exc) or "permission" in str(exc) else str(exc)
    except redis.exceptions.RedisError as exc:
        out[name] = type(exc).__name__ + ": " + str(exc)
attempt("xadd_cloud", lambda: r.xadd("tb:{" + run + "}:cloud", {"m": "probe"}))
attempt("set_twin", lambda: r.set("tb:twin:{" + run + "}.sensor-0", "probe"))
attempt("hset_twin", lambda: r.hset("tb:twin:{" + run + "}.sensor-0:history", "x", "probe"))
attempt("xadd_twins_index", lambda: r.sadd("tb:twins", "probe"))
attempt("xadd_own_out", lambda: r.xadd("tb:{aclprobe}:basestation", {"m": "probe"}))
attempt("flushall", lambda: r.flushall())
r.delete("tb:{aclprobe}:basestation")
print(json.dumps(out))
"""


def test_each_role_is_its_own_redis_acl_user(stack: Compose) -> None:
    for role in ROLES:
        (c, *_) = stack.service(role)
        code = ("import os, redis; r = redis.Redis.from_url(os.environ['TWINBED_REDIS_URL']); "
                "print(r.connection_pool.connection_kwargs['username'], r.ping())")
        out = stack.docker("exec", c["Name"].lstrip("/"), "python", "-c", code).stdout.split()
        assert out == [role, "True"], (role, out)
    runs = stack.controller.get("/runs").json()
    run_id = runs[0]["config"]["id"]
    sensor = stack.service("sensor")[0]["Name"].lstrip("/")
    got = json.loads(stack.docker("exec", sensor, "python", "-c", ACL_PROBE, run_id).stdout)
    assert got["user"] == "sensor" and got["ping"] is True
    assert got["xadd_cloud"] == "NOPERM", got
    assert got["set_twin"] == "NOPERM" and got["hset_twin"] == "NOPERM", got
    assert got["xadd_twins_index"] == "NOPERM", got
    assert got["flushall"] == "NOPERM", got
    assert got["xadd_own_out"] == "ok", got  # what a sensor publishes to, it may


KEYS_PROBE = """
import json, os, stat
from pathlib import Path
from twinbed.config import get_settings
from twinbed import signing
s = get_settings()
key = s.bus_key
out = {"mode": oct(stat.S_IMODE(key.stat().st_mode)),
       "held": sorted(p.name for p in Path("/keys").iterdir()
                      if p.name != "pub" and any(p.iterdir())),
       "pubs": sorted(p.name for p in s.bus_pubkeys.iterdir()),
       "role": signing.load(key, s.bus_pubkeys, key.parent.name).signer.role}
print(json.dumps(out))
"""


def test_each_role_holds_its_own_bus_key_only(stack: Compose) -> None:
    """The bus-keys one-shot wrote every role's key: a container finds its own private key
    (0600, matching its public key) and every public key, and no other role's private key
    (the other /keys/<role> folders of the image stay empty)."""
    for role in ROLES:
        (c, *_) = stack.service(role)
        got = json.loads(stack.docker("exec", c["Name"].lstrip("/"), "python", "-c",
                                      KEYS_PROBE).stdout)
        assert got == {"mode": "0o600", "held": [role], "role": role,
                       "pubs": sorted(f"{r}.pub" for r in ROLES)}, (role, got)


# --- the end: nothing left -------------------------------------------------------------------

def test_down_v_leaves_nothing_of_the_project(stack: Compose) -> None:
    assert stack.containers(), "the stack is not up"
    left = stack.down()
    assert left == {"containers": [], "volumes": [], "networks": []}, left
