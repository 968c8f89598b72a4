"""``twinbed train semantic-codec``, ``twinbed train semantic``, ``twinbed reproduce semantic``."""

from __future__ import annotations

import argparse

from twinbed.agents import read_record
from twinbed.commands import Command, CommandError, default_out_dir, ship_command
from twinbed.contract.cliparams import add_param_options, params_from_args
from twinbed.scenarios.semantic.codec import codec_path, train_codec
from twinbed.scenarios.semantic.figures import SEEDS_DEFAULT, evaluate_schemes, reproduce
from twinbed.scenarios.semantic.params import SemanticParams
from twinbed.scenarios.semantic.train import train_agent

__all__ = ["COMMANDS"]


def _params(args: argparse.Namespace) -> SemanticParams:
    return params_from_args(SemanticParams, args)  # a bad one: one-line ParamError


# -- train semantic-codec -----------------------------------------------------------------
def _codec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=1000, help="process seed of the training frames")
    p.add_argument("--target-nrmse", type=float, default=0.01,
                   help="recovery accuracy target that defines phi_min (default 0.01)")
    p.add_argument("--frame", type=int, default=64, help="samples per codec frame")


def _codec_run(args: argparse.Namespace) -> int:
    if not 0 < args.target_nrmse < 1:
        raise CommandError(f"--target-nrmse must be in (0, 1), got {args.target_nrmse}")
    if not 2 <= args.frame <= 1024:
        raise CommandError(f"--frame must be in [2, 1024], got {args.frame}")
    data = args.data_dir
    try:
        _, rec = train_codec(data, seed=args.seed, frame=args.frame, target=args.target_nrmse)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    path = codec_path(data)
    print(f"semantic codec (PCA, frame {args.frame}) saved to {path}")
    print(f"{'phi':>8} {'NRMSE':>9} {'SNR dB':>7}")
    for c in rec["curve"]:
        if c["m"] <= 16 or c["m"] % 8 == 0:
            print(f"{c['phi']:8.4f} {c['nrmse']:9.5f} {c['snr_db']:7.2f}")
    print(f"phi_min = {rec['phi_min']:.5g} (smallest phi with held-out NRMSE <= "
          f"{args.target_nrmse:g}); curve: {path.with_name('semantic-error.png')}")
    return 0


# -- train semantic ----------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algorithm", choices=("sac", "ppo"), required=True)
    p.add_argument("--steps", type=int, default=20_000,
                   help="environment steps (the paper: 20 epochs x 5000 = 100000)")
    p.add_argument("--seed", type=int, default=0)
    add_param_options(p, SemanticParams)  # the parameters the agent is trained for
    p.add_argument("--episodes", type=int, default=10, help="evaluation cycles after training")
    p.add_argument("--reward", choices=("expected", "sampled"), default="expected",
                   help="train on reward (22) averaged over the unobserved fading (default) or "
                        "at the realized fading (README.md)")


def _train_run(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise CommandError(f"--steps must be >= 1, got {args.steps}")
    if args.episodes < 1:
        raise CommandError(f"--episodes must be >= 1, got {args.episodes}")
    p = _params(args)
    res = train_agent(p, args.algorithm, args.steps, args.seed, args.data_dir,
                      reward=args.reward)
    sel = read_record(res.path)["selected"]
    print(f"saved {res.path} ({res.steps} steps in {res.wall_s:.1f} s; the policy of step "
          f"{sel['timesteps']}, best on the validation cycles: {sel['validation_reward']:.4f}"
          f"/slot fading-averaged reward)")
    ev = evaluate_schemes(p, {args.algorithm: res.path, "per-slot-optimum": None},
                          episodes=args.episodes, seed=10_000)
    mine, best = ev[args.algorithm], ev["per-slot-optimum"]
    print(f"evaluation over {args.episodes} cycles: T = {mine['T_s']:.4f} s/slot, reward "
          f"{mine['reward']:.4f}/slot; per-slot-optimum T = {best['T_s']:.4f} s, reward "
          f"{best['reward']:.4f}; gap in T {100 * (mine['T_s'] / best['T_s'] - 1):+.2f} %")
    return 0


# -- reproduce semantic ------------------------------------------------------------------
def _repro_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--figure", type=int, choices=(3, 4, 5, 6, 7), required=True)
    p.add_argument("--out", default=None, help="output directory (default <data>/figures/semantic)")
    p.add_argument("--full", action="store_true",
                   help="the paper's budget: 20 x 5000 training steps per agent")
    p.add_argument("--steps", type=int, default=None, help="training steps per agent (override)")
    p.add_argument("--episodes", type=int, default=None, help="evaluation cycles per point")
    p.add_argument("--seed", type=int, default=0, help="first training seed")
    p.add_argument("--seeds", type=int, default=SEEDS_DEFAULT,
                   help=f"independent training runs per point (default {SEEDS_DEFAULT})")
    p.add_argument("--trained", action="store_true",
                   help="use the agents `twinbed train semantic --param ...` saved in the data "
                        "dir (else shipped) for each point instead of training them here")


def _repro_run(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 1:
        raise CommandError(f"--steps must be >= 1, got {args.steps}")
    if args.episodes is not None and args.episodes < 1:
        raise CommandError(f"--episodes must be >= 1, got {args.episodes}")
    if args.seeds < 1:
        raise CommandError(f"--seeds must be >= 1, got {args.seeds}")
    out = default_out_dir(args.out) if args.out else default_out_dir(
        args.data_dir, "figures", "semantic")
    try:
        result = reproduce(args.figure, out, full=args.full, steps=args.steps,
                          episodes=args.episodes, seed=args.seed, seeds=args.seeds,
                          agents_from=args.data_dir if args.trained else None)
    except ValueError as exc:  # a missing or outdated checkpoint: the message names the command
        if not args.trained:
            raise
        raise CommandError(str(exc)) from None
    print(result.table())
    return 0


COMMANDS = [
    Command("train", "semantic-codec",
            "fit the semantic codec on the physical process, measure recovery error vs phi, "
            "derive phi_min", _codec_args, _codec_run),
    Command("train", "semantic", "train the semantic scenario's SAC or PPO agent",
            _train_args, _train_run),
    Command("reproduce", "semantic",
            "Figs. 3-7 of the semantic paper: CSV + PNG + claims table", _repro_args, _repro_run),
    ship_command("semantic", "twinbed.scenarios.semantic.shipping",
                 "the semantic codec and SAC/PPO agents"),
]
