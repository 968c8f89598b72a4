"""twinbed bench network-twin: GRU inference, RB allocation, environment and live slot speed.

1. GRU inference per slot (one window of M twin states -> next state) at U = 10 and 1000,
   beside the slot's RB allocation (rates + Hungarian, with and without the cloud RB).
2. Hungarian RB allocation (scipy linear_sum_assignment) beside the same assignment solved as
   its LP relaxation by cvxpy (integral for assignment polytopes), same instances, as a ratio.
3. Environment steps per second (U = 10) with the hold-last twin (walk and gauss-markov
   mobility) and the GRU twin, beside the slot-by-slot reference env (``reference=True``, the
   same numbers bit for bit) as a ratio, interleaved in one run.
4. Wall time of one live slot at U = 10 and 1000 (periodic-k, GRU twin) on a local stack
   started the way `make up` starts it: first slot and the median of the later ones.

    twinbed bench network-twin [--us 10,1000] [--repeats 200] [--rounds 10] [--skip-live]
                               [--env-only]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _median_s(fn, repeats: int) -> float:  # noqa: ANN001
    fn()  # warm up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def _gru(p, data: Path):  # noqa: ANN001, ANN202
    from twinbed.scenarios.network_twin.gru import gru_path, load_gru, train_gru

    path = gru_path(data, p.U)
    if not path.exists():  # the timing does not depend on the weights: a token training
        train_gru(p, path, n_trajectories=4, length=p.M + 2, epochs=1, test_trajectories=2,
                  progress=False)
    return load_gru(path, p)


def inference(us: list[int], repeats: int, data: Path) -> None:
    from twinbed.scenarios.network_twin import model
    from twinbed.scenarios.network_twin.params import NetworkTwinParams

    print(f"\n== per slot (median of {repeats}), ms")
    print(f"{'U':>6}{'GRU predict':>14}{'rates+Hungarian x2':>22}{'ratio':>8}")
    for U in us:
        p = NetworkTwinParams(U=U)
        pred = _gru(p, data)
        g = np.random.default_rng(0)
        hist = np.stack([model.initial_positions(p, g)] * p.M)
        pos, ch = hist[-1], model.draw_channel(p, g)
        t_gru = _median_s(lambda: pred.predict(hist), repeats)
        t_rb = _median_s(lambda: model.slot_outcome(p, pos, ch), repeats)
        print(f"{U:>6}{t_gru * 1e3:>14.3f}{t_rb * 1e3:>22.3f}{t_gru / t_rb:>8.2f}")


def hungarian_vs_cvxpy(repeats: int) -> None:
    import cvxpy as cp

    from twinbed.scenarios.network_twin import model

    print(f"\n== RB assignment: Hungarian vs cvxpy LP (same instances, median of {repeats})")
    print(f"{'U x N':>10}{'Hungarian ms':>14}{'cvxpy ms':>12}{'speed-up':>10}{'same sum':>10}")
    for U, N in ((10, 6), (100, 50), (1000, 6)):
        g = np.random.default_rng(U + N)
        R = cp.Parameter((U, N))
        X = cp.Variable((U, N), nonneg=True)
        prob = cp.Problem(cp.Maximize(cp.sum(cp.multiply(R, X))),
                          [cp.sum(X, axis=1) <= 1, cp.sum(X, axis=0) <= 1, X <= 1])
        assert prob.is_dpp()
        inst = [g.exponential(1.0, (U, N)) for _ in range(repeats)]
        th, tc, same = [], [], True
        for rates in inst:
            t0 = time.perf_counter()
            _, total = model.assign_rbs(rates)
            th.append(time.perf_counter() - t0)
            R.value = rates
            t0 = time.perf_counter()
            prob.solve(solver=cp.CLARABEL)
            tc.append(time.perf_counter() - t0)
            same &= abs(prob.value - total) <= 1e-5 * max(1.0, total)
        h, c = statistics.median(th), statistics.median(tc)
        print(f"{f'{U}x{N}':>10}{h * 1e3:>14.3f}{c * 1e3:>12.3f}{c / h:>10.1f}{str(same):>10}")


def _steps_per_s(env, steps: int) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(i % 2)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def env_speed(steps: int, data: Path, repeats: int = 5) -> None:
    from twinbed.scenarios.network_twin.env import NetworkTwinEnv
    from twinbed.scenarios.network_twin.gru import HoldPredictor
    from twinbed.scenarios.network_twin.params import NetworkTwinParams

    print(f"\n== environment steps per second (U = 10, {steps} steps, action alternating "
          f"0/1, median of {repeats} interleaved runs; reference: the slot-by-slot path, the "
          "same numbers)")
    print(f"{'twin':<12}{'mobility':<14}{'fast steps/s':>14}{'reference steps/s':>19}{'ratio':>8}")
    cases = [("hold", "walk"), ("hold", "gauss-markov"), ("GRU", "walk")]
    gru = _gru(NetworkTwinParams(), data)
    rates: dict[tuple[str, str, bool], list[float]] = {}
    for _ in range(repeats):
        for twin, mobility in cases:
            p = NetworkTwinParams(mobility=mobility)  # type: ignore[arg-type]
            for reference in (False, True):
                pred = gru if twin == "GRU" else HoldPredictor()
                env = NetworkTwinEnv(p, pred, reference=reference)
                env.reset(seed=0)
                n = steps if twin == "hold" else steps // 5
                rates.setdefault((twin, mobility, reference), []).append(_steps_per_s(env, n))
    for twin, mobility in cases:
        f = statistics.median(rates[(twin, mobility, False)])
        r = statistics.median(rates[(twin, mobility, True)])
        print(f"{twin:<12}{mobility:<14}{f:>14.0f}{r:>19.0f}{f / r:>8.2f}")


def live_slots(us: list[int], rounds: int, data: Path) -> None:

    from twinbed.scenarios.network_twin.params import NetworkTwinParams
    from twinbed.stack import local_stack

    print(f"\n== live slot wall time (periodic-k, GRU twin, {rounds} slots per U), s")
    print(f"{'U':>6}{'first slot':>12}{'later median':>14}{'max':>8}")
    with local_stack(data) as live:
        for U in us:
            _gru(NetworkTwinParams(U=U), data)
            view = live.run("network-twin", "periodic-k", rounds, params={"U": U})
            walls = [rec["wall_s"] for rec in view["rounds"]]
            missing = sum(len(rec["missing"]) for rec in view["rounds"])
            later = statistics.median(walls[1:]) if len(walls) > 1 else float("nan")
            print(f"{U:>6}{walls[0]:>12.3f}{later:>14.3f}{max(walls):>8.3f}"
                  + (f"   ({missing} missing reports!)" if missing else ""))


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(prog="twinbed bench network-twin",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--us", default="10,1000")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--env-steps", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--env-only", action="store_true", help="only the environment speed (3.)")
    args = ap.parse_args()
    us = [int(x) for x in args.us.split(",")]
    with tempfile.TemporaryDirectory() as d:
        data = Path(d)
        if args.env_only:
            env_speed(args.env_steps, data)
            return
        inference(us, args.repeats, data)
        hungarian_vs_cvxpy(min(args.repeats, 50))
        env_speed(args.env_steps, data)
        if not args.skip_live:
            live_slots(us, args.rounds, data)


if __name__ == "__main__":
    main()
