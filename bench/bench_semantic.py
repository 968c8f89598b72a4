"""twinbed bench semantic: environment, solver and training speed; wall time of live slots.

1. Environment steps per second: one SemanticSyncEnv (K = 6) with random actions, both reward
   modes, beside the slot-by-slot reference env (``reference=True``: the same numbers, bit for
   bit) as a ratio, interleaved in one run; a gymnasium SyncVectorEnv of 8 copies
   (env-steps/s) as a ratio to the single env; the native batched SemanticVectorEnv (8 and 64
   copies as one numpy batch, the same numbers as SyncVectorEnv); the vectorized model (eqs.
   5-22 for a batch of slots) in slot-evaluations per second.
2. The per-slot optimum (optimum.solve_slot) beside scipy's differential evolution on the same
   slot (the generic global solver as the reference), time ratio and reward difference.
3. SAC training steps per second (twinbed.agents.train, Table III hyper-parameters, 1 thread).
4. Wall time of one live slot at K = 6 and 60 UDs (per-slot-optimum) on the local stack started
   as `make up` starts it: first slot and the median of the later ones.

    twinbed bench semantic [--env-steps N] [--sac-steps N] [--ks 6,60] [--rounds N] [--skip-live]
                           [--env-only]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def _steps_per_s(env, acts: np.ndarray) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return len(acts) / (time.perf_counter() - t0)


def env_speed(steps: int, repeats: int = 5) -> None:
    import gymnasium as gym

    from twinbed.scenarios.semantic import model
    from twinbed.scenarios.semantic.env import SemanticSyncEnv
    from twinbed.scenarios.semantic.params import SemanticParams
    from twinbed.scenarios.semantic.vector import SemanticVectorEnv

    p = SemanticParams()
    acts = np.random.default_rng(0).uniform(-1, 1, (steps, 4 * p.K)).astype(np.float32)
    # the fast env and the slot-by-slot reference (the same numbers, tests/scenarios/
    # test_semantic_fastpath.py), interleaved so that other load on the machine hits both
    rates: dict[tuple[bool, str], list[float]] = {}
    for _ in range(repeats):
        for reference in (False, True):
            for reward in ("sampled", "expected"):
                env = SemanticSyncEnv(p, reward, reference=reference)
                env.reset(seed=0)
                rates.setdefault((reference, reward), []).append(_steps_per_s(env, acts))
    med = {k: statistics.median(v) for k, v in rates.items()}
    single = med[(False, "sampled")]
    n = 8
    venv = gym.vector.SyncVectorEnv([lambda: SemanticSyncEnv(p) for _ in range(n)])
    venv.reset(seed=0)
    t0 = time.perf_counter()
    for i in range(steps // n):
        venv.step(np.broadcast_to(acts[i], (n, 4 * p.K)))
    vec = (steps // n) * n / (time.perf_counter() - t0)
    venv.close()
    batched = {}
    for m in (8, 64):
        reps_b = max(4 * (p.N + 1), steps // m)  # at least 4 cycles (and their resets)
        a_b = np.random.default_rng(2).uniform(-1, 1, (reps_b, m, 4 * p.K)).astype(np.float32)
        runs = []
        for _ in range(3):
            benv = SemanticVectorEnv(m, p)
            benv.reset(seed=0)
            t0 = time.perf_counter()
            for i in range(reps_b):
                benv.step(a_b[i])
            runs.append(reps_b * m / (time.perf_counter() - t0))
        batched[m] = statistics.median(runs)
    B = 4096
    g = np.random.default_rng(1)
    arr = [g.uniform(0.6e6, 0.8e6, (B, p.K)), g.uniform(40, 60, (B, p.K)), g.exponential(1, (B, p.K)),
           g.uniform(0.2, 1, (B, p.K)), g.uniform(1e8, 1e9, (B, p.K)), g.uniform(0.01, 0.1, (B, p.K)),
           np.full((B, p.K), p.f_e_max_hz / p.K)]
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        model.slot(p, *arr)
    batch = reps * B / (time.perf_counter() - t0)
    print(f"\n== environment (K = {p.K}, {steps} random-action steps, median of {repeats} "
          "interleaved runs)")
    print(f"{'reward':<10}{'fast steps/s':>14}{'reference steps/s':>19}{'ratio':>8}")
    for reward in ("sampled", "expected"):
        f, r = med[(False, reward)], med[(True, reward)]
        print(f"{reward:<10}{f:>14.0f}{r:>19.0f}{f / r:>8.2f}")
    print(f"SyncVectorEnv x{n} (fast)   {vec:>10.0f} env-steps/s   ratio to single {vec / single:.2f}")
    for m, r in batched.items():
        print(f"SemanticVectorEnv x{m:<3}      {r:>10.0f} env-steps/s   ratio to single {r / single:.2f}"
              f", to the reference single {r / med[(True, 'sampled')]:.1f}")
    print(f"model.slot batch of {B}     {batch:>10.0f} slots/s       ratio to single env {batch / single:.1f}")


def solver_speed(repeats: int) -> None:
    from scipy.optimize import differential_evolution

    from twinbed.scenarios.semantic import model
    from twinbed.scenarios.semantic.optimum import solve_slot
    from twinbed.scenarios.semantic.params import SemanticParams

    print(f"\n== per-slot optimum vs scipy differential evolution ({repeats} slots per K)")
    print(f"{'K':>4}{'solve_slot s':>14}{'DE s':>10}{'DE/ours':>10}{'reward ours - DE':>18}")
    for K in (2, 6):
        p = SemanticParams(K=K)
        ours_t, de_t, diff = [], [], []
        for r in range(repeats):
            g = np.random.default_rng(r)
            D, d, h2 = g.uniform(0.6e6, 0.8e6, K), g.uniform(40, 60, K), g.exponential(1, K)
            t0 = time.perf_counter()
            act = solve_slot(p, D, d, h2)
            ours_t.append(time.perf_counter() - t0)
            mine = float(model.slot(p, D, d, h2, *act).reward)

            def neg(z: np.ndarray) -> float:
                z = z.reshape(4, K)
                fe = p.f_e_max_hz * z[3] / z[3].sum()
                return -float(model.slot(p, D, d, h2, z[0], z[1] * 1e9, z[2], fe).reward)

            b = [(p.phi_min, 1)] * K + [(1e-3, 1)] * K + [(p.p_min_w, p.p_max_w)] * K + [(1e-3, 1)] * K
            t0 = time.perf_counter()
            de = differential_evolution(neg, b, seed=0, maxiter=1000, tol=1e-9, polish=True)
            de_t.append(time.perf_counter() - t0)
            diff.append(mine + de.fun)
        o, e = statistics.median(ours_t), statistics.median(de_t)
        print(f"{K:>4}{o:>14.4f}{e:>10.3f}{e / o:>10.0f}{statistics.median(diff):>18.2e}")


def sac_speed(steps: int) -> None:
    from twinbed.scenarios.semantic.params import SemanticParams
    from twinbed.scenarios.semantic.train import train_agent

    with tempfile.TemporaryDirectory() as d:
        res = train_agent(SemanticParams(), "sac", steps, 0, d, progress=False, eval_episodes=1)
    print(f"\n== SAC training (Table III, 1 thread): {steps} steps in {res.wall_s:.1f} s = "
          f"{steps / res.wall_s:.0f} steps/s (learning starts after {min(1000, steps // 10)})")


def live_slots(ks: list[int], rounds: int) -> None:

    from twinbed.stack import local_stack

    print(f"\n== live semantic slot wall time (per-slot-optimum, {rounds} slots per K)")
    print(f"{'K':>6}{'first slot s':>14}{'later slots median s':>22}{'max s':>9}{'decide s':>10}")
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, "-m", "twinbed", "--data-dir", d, "train",
                        "semantic-codec"], check=True, capture_output=True)
        with local_stack(d) as live:
            for k in ks:
                view = live.run("semantic", "per-slot-optimum", rounds, params={"K": k})
                walls = [rec["wall_s"] for rec in view["rounds"]]
                missing = sum(len(rec["missing"]) for rec in view["rounds"])
                later = statistics.median(walls[1:]) if len(walls) > 1 else float("nan")
                from twinbed.scenarios.semantic.optimum import solve_slot
                from twinbed.scenarios.semantic.params import SemanticParams

                g = np.random.default_rng(0)
                t0 = time.perf_counter()
                solve_slot(SemanticParams(K=k), g.uniform(0.6e6, 0.8e6, k), g.uniform(40, 60, k),
                           np.ones(k))
                dec = time.perf_counter() - t0
                print(f"{k:>6}{walls[0]:>14.3f}{later:>22.3f}{max(walls):>9.3f}{dec:>10.3f}"
                      + (f"   ({missing} missing reports!)" if missing else ""))


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench semantic", description=__doc__.split("\n")[0])
    ap.add_argument("--env-steps", type=int, default=5000)
    ap.add_argument("--solver-slots", type=int, default=3)
    ap.add_argument("--sac-steps", type=int, default=1000)
    ap.add_argument("--ks", default="6,60")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--env-only", action="store_true", help="only the environment speed (1.)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    env_speed(args.env_steps)
    if args.env_only:
        return
    solver_speed(args.solver_slots)
    sac_speed(args.sac_steps)
    if not args.skip_live:
        live_slots([int(x) for x in args.ks.split(",")], args.rounds)


if __name__ == "__main__":
    main()
