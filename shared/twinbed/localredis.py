"""A throw-away redis-server on a free loopback port, from the stack's own binary, with no
persistence: for the tests (``tests/conftest.py``) and benchmarks. Clusters:
:mod:`twinbed.localcluster`.

    with local_redis(Path("/tmp/r")) as url:           # redis://127.0.0.1:<port>/0
        ...
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from twinbed.stack import find_redis_server, free_port

__all__ = ["local_redis", "wait_ping"]


def wait_ping(client: redis.Redis, proc: subprocess.Popen[bytes], tries: int = 400) -> None:
    """Until the server of ``proc`` answers ``client``'s PING (a RuntimeError if it exits or
    never does)."""
    for _ in range(tries):
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            if client.ping():
                return
        except redis.exceptions.ConnectionError:
            time.sleep(0.025)
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
