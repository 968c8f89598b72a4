"""twinbed bench federated: env steps/s, SOCF and Gale-Shapley times, one live frame.

0. The DMO environment (``FederatedEnv``, one frame per step, random actions, M = 30, N = 5,
   K = 4) in steps/s (wall and CPU), beside the frame-by-frame environment it replaced
   (``FederatedEnv(reference=True)``) measured interleaved in the same run, and beside that
   one with SOCF and Gale-Shapley as first written (``socf_reference``, the ``matching``
   package), same seeds, same rewards (checked), as ratios; then SB3 training steps/s of DMO's N + 2 PPO agents and of ``dmo-shared``, each as
   a share of the bare environment's rate (what the learners cost on top).
1. SOCF time to a stable partition (Algorithm 1 from its random initialization) at
   (sensors, ESs) = (20, 5), (200, 20), (2000, 50), beside its numpy form ``socf_reference``
   (same partition and potentials, checked) and a naive SOCF that scores each candidate switch
   by recomputing the ES utilities (skipped where it would take minutes), same instance, same
   switch order, measured in the same run.
2. Gale-Shapley (our deferred acceptance) on K = N - 1 partial-DTs beside the ``matching``
   package's resident-optimal solution on the same lists (same matching, checked).
3. Wall time of live frames at the paper's size (M = 30, N = 5, K = 4, federated-myopic) on the
   local stack (two edge processes), broken down by phase from the cloud's frame report.

    twinbed bench federated [--repeats R] [--frames N] [--env-steps S] [--train-steps S]
                            [--skip-live] [--skip-train] [--env-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np

from twinbed.scenarios.federated import env as env_module
from twinbed.scenarios.federated import model
from twinbed.scenarios.federated import world as world_module
from twinbed.scenarios.federated.games import (
    gale_shapley,
    gale_shapley_reference,
    socf,
    socf_init,
    socf_reference,
)
from twinbed.scenarios.federated.params import FederatedParams

SIZES = ((20, 5), (200, 20), (2000, 50))


@contextlib.contextmanager
def _reference_paths() -> Iterator[None]:
    """The frame-by-frame environment with SOCF and Gale-Shapley as first written."""
    with mock.patch.object(world_module, "socf", socf_reference), \
            mock.patch.object(env_module, "gale_shapley", gale_shapley_reference):
        yield


def _env_run(steps: int, reference: bool = False) -> tuple[float, float, list[float]]:
    """(wall s, CPU s, rewards) of ``steps`` random-action steps from a fixed seed."""
    env = env_module.FederatedEnv(reference=reference)
    env.reset(seed=0, options={"instance_seed": 1000})
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    rewards = []
    t0, c0 = time.perf_counter(), time.process_time()
    for a in actions:
        _, r, te, tr, _ = env.step(a)
        rewards.append(r)
        if te or tr:
            env.reset(seed=len(rewards))
    return time.perf_counter() - t0, time.process_time() - c0, rewards


def _load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_env(steps: int, repeats: int) -> float:
    """Environment steps/s: the fast env (an episode drawn at reset) beside the frame-by-frame
    env (``reference=True``), interleaved, and the frame-by-frame env with SOCF and
    Gale-Shapley as first written; returns the fast env's median steps/s (wall)."""
    print(f"== DMO environment, single env, random actions ({steps} steps, median of "
          f"{repeats} interleaved runs; CPU: steps per second of this process's CPU time; "
          f"{_load()})")
    _env_run(20)  # compile the kernels (numba's cache) and warm imports
    _env_run(20, reference=True)
    rows: dict[str, list[tuple[float, float]]] = {"fast": [], "frame": [], "first": []}
    same = True
    for _ in range(repeats):
        w, c, r1 = _env_run(steps)
        rows["fast"].append((steps / w, steps / c))
        w, c, r2 = _env_run(steps, reference=True)
        rows["frame"].append((steps / w, steps / c))
        with _reference_paths():
            w, c, r3 = _env_run(max(steps // 10, 20), reference=True)
        rows["first"].append((len(r3) / w, len(r3) / c))
        same &= r1 == r2 and r1[:len(r3)] == r3
    med = {k: tuple(statistics.median(x[i] for x in v) for i in (0, 1)) for k, v in rows.items()}
    print(f"{'':<44}{'steps/s':>10}{'CPU steps/s':>13}")
    names = {"fast": "FederatedEnv (episode drawn at reset)",
             "frame": "FederatedEnv(reference=True) frame by frame",
             "first": "  and SOCF, GS as first written"}
    for k, name in names.items():
        print(f"{name:<44}{med[k][0]:>10.0f}{med[k][1]:>13.0f}")
    for k in ("frame", "first"):
        print(f"{'ratio fast / ' + k:<44}{med['fast'][0] / med[k][0]:>9.2f}x"
              f"{med['fast'][1] / med[k][1]:>12.2f}x")
    print(f"same rewards: {same}   ({_load()})")
    return med["fast"][0]


def bench_train(steps: int, env_rate: float) -> None:
    """SB3 training steps/s: DMO's N + 2 agents and the one-policy dmo-shared."""
    from twinbed.scenarios.federated.dmo import train_dmo
    from twinbed.scenarios.federated.dmo_shared import train_shared

    print(f"\n== SB3 training ({steps} frames each, one torch thread; share = training rate / "
          f"bare env rate {env_rate:.0f}/s)")
    p = FederatedParams()
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in (
                ("dmo (N + 2 = 7 PPO agents)",
                 lambda: train_dmo(p, steps, 0, Path(tmp) / "dmo", progress=False,
                                   eval_seeds=())),
                ("dmo-shared (one PPO policy)",
                 lambda: train_shared(p, steps, 0, Path(tmp) / "shared", progress=False))):
            t0 = time.perf_counter()
            run()
            rate = steps / (time.perf_counter() - t0)
            print(f"{name:<34}{rate:>10.0f} steps/s   share {rate / env_rate:.2f}")


def _instance(M: int, N: int, seed: int = 0):
    # the area grows with N (same ES density) and the gain weight with K (same per-ES stake),
    # so that coalitions are non-trivial at every size
    p = FederatedParams(M=M, N=N, K=N - 1, area_m=1000.0 * np.sqrt(N / 5),
                        lambda1=50.0 * (N - 1) / 4)
    inst = model.draw_instance(p, seed)
    fr = model.draw_frame(p, inst, seed, 0)
    st = model.initial_state(p)
    g = np.random.default_rng(seed)
    fc = model.frame_ctx(p, inst, fr, st, g.permutation(N)[:N - 1], np.ones(N, int),
                         np.full(N, p.ell_max))
    return p, fc


def _naive_socf(p, fc, Y0, g) -> tuple[np.ndarray, int]:
    """The reference: the same switch rules, each candidate scored by recomputing U_n."""
    Y = Y0.copy()
    M, N = Y.shape
    moves = 0
    for _ in range(p.socf_max_passes):
        moved = False
        for m in g.permutation(M):
            U = model.es_utilities(p, fc, Y)
            delta = np.empty(N)
            for n in range(N):
                Y2 = Y.copy()
                Y2[m, n] = ~Y2[m, n]
                delta[n] = model.es_utilities(p, fc, Y2)[n] - U[n]
            member = Y[m]
            room = fc.eligible[m] & ~member & (Y.sum(axis=0) < fc.cap)
            cands = []
            for n in np.flatnonzero(member):
                if delta[n] > 1e-9:
                    cands.append((delta[n], n, -1))
                for n2 in np.flatnonzero(room):
                    if delta[n] + delta[n2] > 1e-9:
                        cands.append((delta[n] + delta[n2], n, n2))
            if member.sum() < p.Y_max:
                cands += [(delta[n2], -1, n2) for n2 in np.flatnonzero(room & (delta > 1e-9))]
            if cands:
                _, a, b = max(cands, key=lambda c: c[0])
                if a >= 0:
                    Y[m, a] = False
                if b >= 0:
                    Y[m, b] = True
                moves += 1
                moved = True
        if not moved:
            break
    return Y, moves


def bench_socf(repeats: int) -> None:
    print("== SOCF: time to a stable overlapping coalition partition (median of repeats)")
    print(f"{'M':>6}{'N':>5}{'SOCF s':>10}{'passes':>8}{'switches':>10}{'members':>9}"
          f"{'numpy form s':>14}{'ratio':>7}{'naive s':>10}{'ratio*':>8}")
    for M, N in SIZES:
        p, fc = _instance(M, N)
        times, ref_times, res, same = [], [], None, True
        for r in range(repeats):
            g = np.random.default_rng(r)
            Y0 = socf_init(p, fc, g)
            state = g.bit_generator.state
            t0 = time.perf_counter()
            res = socf(p, fc, Y0, g)
            times.append(time.perf_counter() - t0)
            g.bit_generator.state = state
            t0 = time.perf_counter()
            ref = socf_reference(p, fc, Y0, g)
            ref_times.append(time.perf_counter() - t0)
            same &= np.array_equal(ref.Y, res.Y) and ref.potential == res.potential
        t, t_ref = statistics.median(times), statistics.median(ref_times)
        naive = "skipped"
        ratio = ""
        if M * N <= 4000:
            g = np.random.default_rng(0)
            Y0 = socf_init(p, fc, g)
            g_ref = np.random.default_rng(0)
            socf_init(p, fc, g_ref)
            t0 = time.perf_counter()
            Yn, _ = _naive_socf(p, fc, Y0, g_ref)
            tr = time.perf_counter() - t0
            g = np.random.default_rng(0)
            same_naive = np.array_equal(Yn, socf(p, fc, socf_init(p, fc, g), g).Y)
            naive = f"{tr:.3f}" + ("" if same_naive else "*")
            ratio = f"{tr / times[0] if times[0] > 0 else float('nan'):.0f}x"
        assert res is not None
        print(f"{M:>6}{N:>5}{t:>10.4f}{res.passes:>8}{res.moves:>10}{int(res.Y.sum()):>9}"
              f"{t_ref:>14.4f}{t_ref / t:>6.0f}x{naive:>10}{ratio:>8}"
              + ("" if same else "   DIFFERENT from the numpy form"))
    print("   numpy form: socf_reference (same partition and potentials, checked); naive: each "
          "candidate switch scored by recomputing U (ratio*: naive / SOCF, repeat 0; a '*': "
          "it reached a different partition)")


def bench_gs(repeats: int) -> None:
    print("\n== Gale-Shapley: ours (deferred acceptance) vs the matching package (median)")
    print(f"{'N':>6}{'K':>5}{'ours s':>10}{'matching s':>12}{'ratio':>7}{'same':>6}")
    for _, N in SIZES:
        K = N - 1
        g = np.random.default_rng(1)
        sk, sn = g.random((K, N)), g.random((N, K))
        gale_shapley_reference(sk, sn)  # warm-up (imports)
        ts, tr = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a = gale_shapley(sk, sn)
            ts.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = gale_shapley_reference(sk, sn)
            tr.append(time.perf_counter() - t0)
        m, r = statistics.median(ts), statistics.median(tr)
        print(f"{N:>6}{K:>5}{m:>10.5f}{r:>12.5f}{r / m:>6.0f}x{str(a.tolist() == b.tolist()):>6}")


def live_frames(frames: int) -> None:

    from twinbed.stack import local_stack

    print(f"\n== live frames at M=30, N=5, K=4 (federated-myopic, {frames} frames, 2 edge processes)")
    with local_stack() as live:
        view = live.run("federated", "federated-myopic", frames)
        recs = view["rounds"]
        phases = {
            "round wall (controller)": [r["wall_s"] for r in recs],
            "frame wall (cloud: start -> integrated)": [r["frame_wall_s"] for r in recs],
            "decide (request -> decision at cloud)": [r["decide_wall_s"] for r in recs],
            "  of which scheme + SOCF (controller)": [r["solve_s"] for r in recs],
            "split, sense, migrate, train, upload": [r["frame_wall_s"] - r["decide_wall_s"]
                                                     for r in recs],
            "  of which slowest ES training": [r["edge_train_wall_s"] for r in recs],
        }
        print(f"{'phase':<42}{'first s':>10}{'median s':>10}{'max s':>10}")
        for name, v in phases.items():
            print(f"{name:<42}{v[0]:>10.4f}{statistics.median(v[1:] or v):>10.4f}{max(v):>10.4f}")
        missing = sum(len(r["missing"]) for r in recs)
        if missing or view["status"]["status"] != "completed":
            print(f"   run {view['status']['status']}, {missing} missing reports")


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench federated", description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--env-steps", type=int, default=2000)
    ap.add_argument("--train-steps", type=int, default=2048)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--env-only", action="store_true",
                    help="only the environment's speed (0.), no training, SOCF, GS or live")
    args = ap.parse_args()
    rate = bench_env(args.env_steps, args.repeats)
    if args.env_only:
        return
    if not args.skip_train:
        bench_train(args.train_steps, rate)
    print()
    bench_socf(args.repeats)
    bench_gs(args.repeats)
    if not args.skip_live:
        live_frames(args.frames)


if __name__ == "__main__":
    main()
