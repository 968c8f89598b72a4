"""twinbed bench training: SB3 training steps per second of every scenario's learned methods.

Each learned method is trained the way ``twinbed train ...`` trains it (the scenario's own
training function, its hyper-parameters, one torch thread, checkpoints and the end-of-training
evaluation included, in a scratch data directory) for the same number of environment steps
(frames for federated's DMO), and timed. Beside it, as the reference measured in the same run,
the bare environment the learner sees, stepped with random actions: ``share`` = training rate /
bare env rate, i.e. how much of a training step is the environment (share ~1: the env bounds
training; share << 1: the gradient steps do).

    twinbed bench training [--steps N] [--env-steps N] [--only SCENARIO[,SCENARIO...]]

The first steps of an off-policy learner (SAC, DQN, DDPG) are ``learning_starts`` random steps
without gradient updates; the table prints it, since it flatters short runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SCENARIOS = ("semantic", "network-twin", "fl-migration", "federated")


def _env_rate(make: Callable[[], Any], steps: int) -> float:
    """Random-action steps per second of one env (reset on episode end)."""
    env = make()
    env.reset(seed=0)
    env.action_space.seed(0)
    acts = [env.action_space.sample() for _ in range(steps + 20)]
    for a in acts[:20]:  # warm-up: imports, numba's compiled kernels (federated)
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    acts = acts[20:]
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def _cases(steps: int, tmp: Path) -> list[tuple[str, str, Callable[[], Any], Callable[[], Any],
                                                  Any]]:
    """(scenario, method, env factory, training call, learning_starts) per learned method."""
    out: list[tuple[str, str, Callable[[], Any], Callable[[], Any], Any]] = []

    from twinbed.scenarios.semantic.params import SemanticParams
    from twinbed.scenarios.semantic.train import hyperparams as sem_h
    from twinbed.scenarios.semantic.train import make_training_env, train_agent

    sp = SemanticParams()
    for algo in ("sac", "ppo"):
        out.append(("semantic", algo, lambda: make_training_env(sp),
                    lambda a=algo: train_agent(sp, a, steps, 0, tmp / f"sem-{a}",
                                               progress=False, eval_episodes=1),
                    sem_h(algo, steps).get("learning_starts", "-")))

    from twinbed.scenarios.network_twin.gru import HoldPredictor
    from twinbed.scenarios.network_twin.params import NetworkTwinParams
    from twinbed.scenarios.network_twin.training import hyperparams as nt_h
    from twinbed.scenarios.network_twin.training import make_env_factory
    from twinbed.scenarios.network_twin.training import train_agent as nt_train

    ntp = NetworkTwinParams()
    for algo in ("sac", "dqn"):
        out.append(("network-twin", algo, make_env_factory(ntp, HoldPredictor(), algo),
                    lambda a=algo: nt_train(ntp, HoldPredictor(), a, steps, 0,
                                            tmp / f"nt-{a}.zip", progress=False,
                                            eval_episodes=1),
                    nt_h(ntp, algo).get("learning_starts", "-")))

    from twinbed.scenarios.fl_migration.env import FlMigrationEnv
    from twinbed.scenarios.fl_migration.params import FlMigrationParams
    from twinbed.scenarios.fl_migration.training import hyperparams as fl_h
    from twinbed.scenarios.fl_migration.training import train_scheme

    fp = FlMigrationParams()
    for scheme in ("ppo", "actor-critic", "ddpg"):
        out.append(("fl-migration", scheme,
                    lambda s=scheme: FlMigrationEnv(fp, instance_seed=0,
                                                    continuous=s == "ddpg"),
                    lambda s=scheme: train_scheme(fp, s, 0, steps, tmp / f"fl-{s}",
                                                  progress=False, eval_episodes=1),
                    fl_h(fp, scheme, 50).get("learning_starts", "-")))

    from twinbed.scenarios.federated.dmo import train_dmo
    from twinbed.scenarios.federated.dmo_shared import train_shared
    from twinbed.scenarios.federated.env import FederatedEnv
    from twinbed.scenarios.federated.params import FederatedParams

    fdp = FederatedParams()
    out.append(("federated", "dmo (N + 2 PPO agents)", FederatedEnv,
                lambda: train_dmo(fdp, steps, 0, tmp / "dmo.zip", progress=False,
                                  eval_seeds=()), "-"))
    out.append(("federated", "dmo-shared (one policy)", FederatedEnv,
                lambda: train_shared(fdp, steps, 0, tmp / "shared.zip", progress=False), "-"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="twinbed bench training", description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000, help="training steps per method")
    ap.add_argument("--env-steps", type=int, default=2000, help="random steps for the env rate")
    ap.add_argument("--only", default="", help="comma-separated scenarios (default: all)")
    args = ap.parse_args()
    only = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; known: "
                         f"{', '.join(SCENARIOS)}")
    import torch

    torch.set_num_threads(1)
    print(f"== SB3 training, {args.steps} steps per method, one torch thread "
          f"(load {os.getloadavg()[0]:.1f}); share = training rate / bare env rate")
    print(f"{'scenario':<14}{'method':<26}{'learning_starts':>16}{'train steps/s':>15}"
          f"{'env steps/s':>13}{'share':>8}")
    with tempfile.TemporaryDirectory() as d:
        for scenario, method, make_env, train, starts in _cases(args.steps, Path(d)):
            if scenario not in only:
                continue
            env_rate = _env_rate(make_env, args.env_steps)
            t0 = time.perf_counter()
            train()
            rate = args.steps / (time.perf_counter() - t0)
            print(f"{scenario:<14}{method:<26}{starts!s:>16}{rate:>15.0f}{env_rate:>13.0f}"
                  f"{rate / env_rate:>8.3f}", flush=True)
    print(f"(load {os.getloadavg()[0]:.1f} at the end)")
    _ = np  # numpy is imported first so torch's import does not pick the thread count


if __name__ == "__main__":
    main()
