"""twinbed bench health: does each service's HTTP API answer while its bus side computes?

A local stack (started like `make up`) is probed on every process's ``/health``, every 50 ms
from one thread per process: first idle (the reference), then during a live run whose
handlers compute (default: fl-migration, where each edge trains its servers' models and
the controller picks the association with a PPO policy). Printed per process: probes
answered, p50, p99 and the longest wait, and the ratio of the run's p99 to the idle p99.

Before the bus side moved to its own thread (services/common.py, BusThread) the handlers
shared the HTTP API's event loop: an fl-migration edge's /health waited up to 4.6 s, the
controller's 6.7 s.

    twinbed bench health [--scenario fl-migration] [--algorithm ppo] [--rounds 3] [--seed 0]
                         [--idle-s 10]
"""

from __future__ import annotations

import argparse
import threading
import time

import httpx

from twinbed.stack import local_stack

PERIOD_S = 0.05


class Probe:
    """Polls one URL's /health until stopped; keeps every wait (seconds)."""

    def __init__(self, url: str) -> None:
        self.url, self.waits, self.failed = url, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(timeout=120) as c:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    ok = c.get(f"{self.url}/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.waits.append(time.perf_counter() - t0)
                self.failed += not ok
                self._stop.wait(PERIOD_S)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _q(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench health", description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="fl-migration")
    ap.add_argument("--algorithm", default="ppo")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="the shipped fl-migration agents are "
                    "for seed 0")
    ap.add_argument("--idle-s", type=float, default=10.0)
    args = ap.parse_args()
    with local_stack() as live:
        names = live.info.names
        idle = {n: Probe(live.info.url(n)) for n in names}
        for p in idle.values():
            p.__enter__()
        time.sleep(args.idle_s)
        for p in idle.values():
            p.__exit__()
        busy = {n: Probe(live.info.url(n)) for n in names}
        for p in busy.values():
            p.__enter__()
        t0 = time.perf_counter()
        try:
            view = live.run(args.scenario, args.algorithm, args.rounds, seed=args.seed)
        except httpx.HTTPStatusError as exc:
            raise SystemExit(f"the run was refused: {exc.response.text}") from None
        wall = time.perf_counter() - t0
        for p in busy.values():
            p.__exit__()
    status = view["status"]["status"]  # type: ignore[index]
    print(f"== /health during a live {args.scenario} run ({args.algorithm}, {args.rounds} rounds,"
          f" {wall:.1f} s, {status}); idle reference {args.idle_s:g} s; probe every "
          f"{PERIOD_S * 1e3:.0f} ms")
    print(f"{'process':<13}{'probes':>7}{'failed':>7}{'idle p99 ms':>12}{'p50 ms':>8}"
          f"{'p99 ms':>8}{'max ms':>9}{'p99/idle':>10}")
    for n in names:
        a, b = idle[n].waits, busy[n].waits
        print(f"{n:<13}{len(b):>7}{busy[n].failed:>7}{_q(a, .99) * 1e3:>12.1f}"
              f"{_q(b, .5) * 1e3:>8.1f}{_q(b, .99) * 1e3:>8.1f}{max(b) * 1e3:>9.1f}"
              f"{_q(b, .99) / _q(a, .99):>10.1f}")


if __name__ == "__main__":
    main()
