"""twinbed bench containers: the compose stack on a real Docker engine beside the local stack.

1. Time to a healthy stack: ``docker compose up -d --wait --build`` on a fresh project with the
   image and its build cache present (warm: what a user's second `up` costs); with ``--cold``
   first ``docker compose build --no-cache`` (every layer: wheels, torch, the package).
2. Memory per container (``docker stats --no-stream``) after the runs below.
3. The wall time of the same run (scenario, algorithm, seed, rounds, params) in containers and
   on the local stack (``twinbed.stack.local_stack``: the same services as local processes),
   runs interleaved (containers, local, containers, ...), both timed the same way (POST /runs
   until the status is no longer ``running``, polling the REST view every 0.05 s), printed as
   the ratio containers / local of the medians.

    twinbed bench containers [--cold] [--repeats N] [--rounds N] [--sensors K]

The engine is whatever ``docker`` reaches (DOCKER_HOST, else the engine deploy/ci-engine.sh
started, /run/twinbed-engine/env); without one: ``deploy/ci-engine.sh start``. The stack uses
its own project name and host ports 18000-18002, and is removed (``down -v``) at the end.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from twinbed.engine import engine_env
from twinbed.stack import local_stack

REPO = Path(__file__).resolve().parents[1]



class Project:
    def __init__(self, env: dict[str, str], env_file: Path) -> None:
        self.env, self.env_file = env, env_file
        self.name = f"twinbed-bench-{uuid.uuid4().hex[:8]}"

    def docker(self, *args: str, timeout: float = 1800) -> str:
        out = subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True,
                             timeout=timeout, cwd=REPO)
        if out.returncode != 0:
            raise SystemExit(f"docker {' '.join(args[:4])} ... failed:\n{out.stderr[-3000:]}")
        return out.stdout

    def compose(self, *args: str, timeout: float = 1800) -> str:
        return self.docker("compose", "-f", str(REPO / "docker-compose.yml"), "-p", self.name,
                           "--env-file", str(self.env_file), *args, timeout=timeout)


def timed_run(api: httpx.Client, body: dict[str, Any]) -> float:
    """Wall seconds from POST /runs until the run is no longer running (REST polling)."""
    t0 = time.perf_counter()
    resp = api.post("/runs", json=body)
    resp.raise_for_status()
    run_id = resp.json()["config"]["id"]
    while True:
        view = api.get(f"/runs/{run_id}").json()
        if view["status"]["status"] != "running":
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    if view["status"]["status"] != "completed":
        raise SystemExit(f"run {run_id} ended {view['status']}")
    return wall


def mib(text: str) -> float:
    """``12.5MiB`` / ``1.2GiB`` / ``800KiB`` -> MiB."""
    m = re.match(r"([\d.]+)\s*([KMG]i?B|B)", text.strip())
    if not m:
        return float("nan")
    scale = {"B": 1 / 2**20, "KiB": 1 / 1024, "KB": 1 / 1024, "MiB": 1, "MB": 1,
             "GiB": 1024, "GB": 1024}[m.group(2)]
    return float(m.group(1)) * scale


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench containers",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--cold", action="store_true",
                    help="also time `docker compose build --no-cache` (minutes)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per stack (interleaved)")
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--sensors", type=int, default=4, help="compression K")
    args = ap.parse_args()

    env = engine_env()
    if subprocess.run(["docker", "version"], env=env, capture_output=True).returncode != 0:
        raise SystemExit('no Docker engine reachable: deploy/ci-engine.sh start; '
                         'eval "$(deploy/ci-engine.sh env)"')
    body = {"scenario": "compression", "algorithm": "fixed-bf", "seed": 1,
            "rounds": args.rounds, "params": {"K": args.sensors}}
    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "bench.env"
        subprocess.run([str(REPO / "deploy" / "compose-env.sh"), str(env_file)], env=env,
                       check=True, capture_output=True)
        token = next(line.split("=", 1)[1] for line in env_file.read_text().splitlines()
                     if line.startswith("TWINBED_API_TOKEN="))
        p = Project(env, env_file)
        print(f"== containers: project {p.name}, engine "
              f"{p.docker('version', '--format', '{{.Server.Version}}').strip()}, compose "
              f"{p.docker('compose', 'version', '--short').strip()}")
        if args.cold:
            t0 = time.perf_counter()
            p.compose("build", "--no-cache")
            print(f"cold build (docker compose build --no-cache): {time.perf_counter() - t0:.1f} s")
        try:
            t0 = time.perf_counter()
            p.compose("up", "-d", "--wait", "--build")
            print(f"time to a healthy stack, warm (up -d --wait --build, image cached): "
                  f"{time.perf_counter() - t0:.1f} s")
            cont = httpx.Client(base_url="http://127.0.0.1:18000", timeout=60,
                                headers={"Authorization": f"Bearer {token}"})
            with local_stack() as live:
                walls: dict[str, list[float]] = {"containers": [], "local": []}
                timed_run(cont, {**body, "rounds": 3})  # warm both (imports, first round)
                timed_run(live.api, {**body, "rounds": 3})
                for _ in range(args.repeats):
                    walls["containers"].append(timed_run(cont, body))
                    walls["local"].append(timed_run(live.api, body))
            cont.close()
            stats = p.docker("stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}",
                             *p.compose("ps", "-q").split())
        finally:
            p.compose("down", "-v", "--timeout", "10")
    print("\nmemory per container (docker stats --no-stream, after the runs):")
    total = 0.0
    for line in sorted(stats.splitlines()):
        name, usage = line.split("\t")
        used = mib(usage.split("/")[0])
        total += used
        print(f"  {name.removeprefix(p.name + '-'):<16} {used:8.1f} MiB")
    print(f"  {'total':<16} {total:8.1f} MiB")
    c, loc = statistics.median(walls["containers"]), statistics.median(walls["local"])
    print(f"\nrun: compression fixed-bf K={args.sensors}, {args.rounds} rounds, seed 1, "
          f"{args.repeats} each, interleaved")
    print(f"  containers  median {c:.3f} s  ({', '.join(f'{w:.3f}' for w in walls['containers'])})")
    print(f"  local       median {loc:.3f} s  ({', '.join(f'{w:.3f}' for w in walls['local'])})")
    print(f"  ratio containers / local: {c / loc:.2f}")


if __name__ == "__main__":
    sys.exit(main())
