"""twinbed bench federated: SOCF and Gale-Shapley times, and one live frame's wall time.

1. SOCF time to a stable partition (Algorithm 1 from its random initialization) at
   (sensors, ESs) = (20, 5), (200, 20), (2000, 50), beside a reference SOCF that evaluates each
   candidate switch by recomputing the ES utilities (what the vectorized toggles avoid), same
   instance, same switch order, same result, measured in the same run (skipped where it would
   take minutes).
2. Gale-Shapley (the ``matching`` package) on K = N - 1 partial-DTs beside a textbook
   pure-Python deferred acceptance on the same preference lists (same matching, checked).
3. Wall time of live frames at the paper's size (M = 30, N = 5, K = 4, federated-myopic) on the
   local stack (two edge processes), broken down by phase from the cloud's frame report.

    twinbed bench federated [--repeats R] [--frames N] [--skip-live]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from twinbed.scenarios.federated import model
from twinbed.scenarios.federated.games import gale_shapley, preference_lists, socf, socf_init
from twinbed.scenarios.federated.params import FederatedParams

SIZES = ((20, 5), (200, 20), (2000, 50))


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
          f"{'reference s':>13}{'ratio*':>8}")
    for M, N in SIZES:
        p, fc = _instance(M, N)
        times, res = [], None
        for r in range(repeats):
            g = np.random.default_rng(r)
            Y0 = socf_init(p, fc, g)
            t0 = time.perf_counter()
            res = socf(p, fc, Y0, g)
            times.append(time.perf_counter() - t0)
        t = statistics.median(times)
        ref = "skipped"
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
            same = np.array_equal(Yn, socf(p, fc, socf_init(p, fc, g), g).Y)
            ref = f"{tr:.3f}" + ("" if same else "*")
            ratio = f"{tr / times[0] if times[0] > 0 else float('nan'):.1f}x"
        assert res is not None
        print(f"{M:>6}{N:>5}{t:>10.3f}{res.passes:>8}{res.moves:>10}{int(res.Y.sum()):>9}"
              f"{ref:>13}{ratio:>8}")
    print("   ratio*: reference / SOCF on the same instance, initialization and switch order "
          "(the repeat-0 run); a '*' after the reference time: it reached a different partition")


def _textbook_gs(pk: list[list[int]], pn: list[list[int]]) -> list[int]:
    K, N = len(pk), len(pn)
    rank = [{k: i for i, k in enumerate(row)} for row in pn]
    nxt = [0] * K
    holder = [-1] * N
    free = list(range(K))
    while free:
        k = free.pop()
        n = pk[k][nxt[k]]
        nxt[k] += 1
        if holder[n] < 0:
            holder[n] = k
        elif rank[n][k] < rank[n][holder[n]]:
            free.append(holder[n])
            holder[n] = k
        else:
            free.append(k)
    out = [-1] * K
    for n, k in enumerate(holder):
        if k >= 0:
            out[k] = n
    return out


def bench_gs(repeats: int) -> None:
    print("\n== Gale-Shapley: matching package vs textbook deferred acceptance (median)")
    print(f"{'N':>6}{'K':>5}{'matching s':>12}{'textbook s':>12}{'ratio':>8}{'same':>6}")
    for _, N in SIZES:
        K = N - 1
        g = np.random.default_rng(1)
        sk, sn = g.random((K, N)), g.random((N, K))
        gale_shapley(sk, sn)  # warm-up (imports)
        ts, tt = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            a = gale_shapley(sk, sn)
            ts.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = _textbook_gs(preference_lists(sk), preference_lists(sn))
            tt.append(time.perf_counter() - t0)
        m, r = statistics.median(ts), statistics.median(tt)
        print(f"{N:>6}{K:>5}{m:>12.5f}{r:>12.5f}{m / r:>7.1f}x{str(a.tolist() == b):>6}")


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
    ap.add_argument("--skip-live", action="store_true")
    args = ap.parse_args()
    bench_socf(args.repeats)
    bench_gs(args.repeats)
    if not args.skip_live:
        live_frames(args.frames)


if __name__ == "__main__":
    main()
