"""twinbed bench compression: Algorithm 1 with the fast leader beside the cvxpy leader.

1. Wall time of one full equilibrium (Algorithm 1, the paper's instance with a Rician draw) at
   K = 4, 100, 1000, 10000 with the fast solver (best of ``--repeats``, as every time here).
2. The same Algorithm 1 with the cvxpy leader (the DPP exponential-cone problem compiled once
   per K and re-solved; the first solve, which compiles, is reported apart) at K = 4, 100,
   1000: the ratio cvxpy / fast, per equilibrium and per leader solve, and the relative
   difference of the optima (the fast leader's T_max is never above cvxpy's).

3. The live negotiation (Algorithm 1 over the bus on the local stack): iterations, messages
   and wall time per iteration at K = 4 and 100.

    twinbed bench compression [--ks 4,100,1000,10000] [--cvxpy-ks 4,100,1000] [--repeats 5]
                              [--live-ks 4,100] [--rounds 5] [--skip-live]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from twinbed.scenarios.compression import model  # noqa: E402
from twinbed.scenarios.compression.algorithms import iterate, stackelberg  # noqa: E402
from twinbed.scenarios.compression.leader import (  # noqa: E402
    _cvx_problem,
    solve_leader_cvxpy,
    solve_leader_fast,
)
from twinbed.scenarios.compression.params import CompressionParams  # noqa: E402
from twinbed.seeding import rng  # noqa: E402


def _instance(K: int) -> tuple[CompressionParams, np.ndarray, model.SensorArrays]:
    p = CompressionParams(K=K)
    return p, model.draw_channel_gain(p, rng(0, "bench", K)), model.sensor_arrays(p)


def _median_time(fn, repeats: int) -> tuple[float, object]:
    """Best of ``repeats`` wall times (timeit's rule: the minimum is the least disturbed by
    the other processes sharing this machine; both sides of every ratio use it)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench compression")
    ap.add_argument("--ks", default="4,100,1000,10000")
    ap.add_argument("--cvxpy-ks", default="4,100,1000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--live-ks", default="4,100")
    ap.add_argument("--rounds", type=int, default=5, help="live rounds per K")
    ap.add_argument("--skip-live", action="store_true")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",") if k]
    cks = [int(k) for k in args.cvxpy_ks.split(",") if k]
    import cvxpy as cp

    print(f"cvxpy {cp.__version__}, solver CLARABEL; OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS')}; repeats {args.repeats}")
    print("\n== Algorithm 1 (stackelberg), fast leader")
    print(f"{'K':>6}  {'iterations':>10}  {'equilibrium_s':>13}  {'leader_solve_s':>14}  {'T_max_s':>12}")
    fast: dict[int, tuple[float, float, float, int]] = {}
    for K in ks:
        p, H, s = _instance(K)
        stackelberg(p, H, s)  # warm caches
        eq_s, alloc = _median_time(lambda: stackelberg(p, H, s), args.repeats)
        beta = alloc.beta
        lead_s, _ = _median_time(lambda: solve_leader_fast(p, beta, H, s), args.repeats)
        T = float(np.max(model.timings(p, beta, alloc.b_hz, alloc.f_hz, H, s).T_total))
        fast[K] = (eq_s, lead_s, T, alloc.iterations)
        print(f"{K:>6}  {alloc.iterations:>10}  {eq_s:>13.4g}  {lead_s:>14.4g}  {T:>12.9g}")

    print("\n== Algorithm 1 with the cvxpy leader (DPP, compiled once per K, then re-solved)")
    print(f"{'K':>6}  {'compile+1st_s':>13}  {'equilibrium_s':>13}  {'leader_solve_s':>14}  "
          f"{'ratio_eq':>9}  {'ratio_per_it':>12}  {'ratio_leader':>12}  {'rel_value':>10}  "
          f"{'rel_alloc':>10}")
    for K in cks:
        p, H, s = _instance(K)
        beta0 = np.full(K, 1.3)
        _cvx_problem.cache_clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            solve_leader_cvxpy(p, beta0, H, s)  # builds and compiles the DPP problem
            first = time.perf_counter() - t0
            reps = max(1, args.repeats if K < 1000 else min(args.repeats, 3))
            eq_s, alloc = _median_time(lambda: iterate(p, H, s, solve_leader_cvxpy), reps)
            beta = fast_beta = stackelberg(p, H, s).beta
            lead_s, sol = _median_time(lambda: solve_leader_cvxpy(p, fast_beta, H, s), reps)
        T_cvx_eq = float(np.max(model.timings(p, alloc.beta, alloc.b_hz, alloc.f_hz, H,
                                              s).T_total))
        f_eq, f_lead, f_T, f_it = fast[K] if K in fast else (np.nan, np.nan, np.nan, 1)
        T_fast_lead = solve_leader_fast(p, beta, H, s).T_max_s
        rel_value = (sol.objective_s - T_fast_lead) / T_fast_lead
        rel_alloc = (sol.T_max_s - T_fast_lead) / T_fast_lead
        per_it = (eq_s / alloc.iterations) / (f_eq / f_it)
        print(f"{K:>6}  {first:>13.4g}  {eq_s:>13.4g}  {lead_s:>14.4g}  {eq_s / f_eq:>9.1f}  "
              f"{per_it:>12.1f}  {lead_s / f_lead:>12.1f}  {rel_value:>10.2e}  {rel_alloc:>10.2e}")
        print(f"{'':>6}  (equilibrium T_max: cvxpy leader {T_cvx_eq:.9g} s, fast {f_T:.9g} s, "
              f"rel {(T_cvx_eq - f_T) / f_T:.2e}; cvxpy iterations {alloc.iterations})")
    print("\nratios are cvxpy / fast in the same run (ratio_per_it: per Algorithm 1 iteration, "
          "since with the cvxpy leader the solver noise can keep |dU| above xi until L_max); "
          "for the same beta, rel_value = (cvxpy's optimal value - T_fast) / T_fast (the "
          "'equal optimum' check) and rel_alloc = (T_max of cvxpy's allocation - T_fast) / T_fast "
          "(>= 0: the fast leader is never worse); cvxpy runs with leader.REFERENCE_OPTS")
    if not args.skip_live:
        live_negotiation([int(k) for k in args.live_ks.split(",") if k], args.rounds)


def live_negotiation(ks: list[int], rounds: int) -> None:
    """Algorithm 1 played live on the local stack (started the way `make up` starts it)."""


    from twinbed.stack import local_stack

    print(f"\n== live negotiation (stackelberg over the bus, {rounds} rounds per K; the first "
          "round includes the sensors' one-time codec calibration)")
    print(f"{'K':>6}  {'iterations':>10}  {'messages':>8}  {'negotiation_s':>13}  "
          f"{'per_iteration_s':>15}  {'round_wall_s':>12}")
    with local_stack() as live:
        for k in ks:
            view = live.run("compression", "stackelberg", rounds, params={"K": k})
            recs = [r for r in view["rounds"] if r.get("negotiation_iterations")]
            if not recs:
                print(f"{k:>6}  no negotiated round recorded ({view['status']})")
                continue
            its = statistics.median(r["negotiation_iterations"] for r in recs)
            msgs = statistics.median(r["negotiation_messages"] for r in recs)
            neg = statistics.median(r["negotiation_wall_s"] for r in recs)
            per = statistics.median(r["negotiation_wall_s"] / (r["negotiation_iterations"] + 1)
                                    for r in recs)
            wall = statistics.median(r["wall_s"] for r in recs)
            print(f"{k:>6}  {its:>10g}  {msgs:>8g}  {neg:>13.4g}  {per:>15.4g}  {wall:>12.4g}")
    print("per_iteration_s = negotiation wall time / (iterations + 1): each iteration is one "
          "offer to and one answer from every sensor (iteration 0 initializes lambda)")


if __name__ == "__main__":
    main()
