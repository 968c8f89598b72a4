"""``twinbed train network-twin-gru``, ``twinbed train network-twin``,
``twinbed reproduce network-twin``, ``twinbed ship network-twin``.

Parameters use the one syntax, ``--param NAME=VALUE`` / ``--params FILE.json``
(:mod:`twinbed.contract.cliparams`); ``--help`` lists them with unit, default and range. torch,
stable-baselines3 and matplotlib load only when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from twinbed.commands import Command, CommandError, default_out_dir, ship_command
from twinbed.config import get_settings
from twinbed.contract.cliparams import add_param_options, params_from_args
from twinbed.scenarios.network_twin import figures
from twinbed.scenarios.network_twin.gru import HoldPredictor, train_gru
from twinbed.scenarios.network_twin.learned import AGENTS, GRU, LEARNED
from twinbed.scenarios.network_twin.params import NetworkTwinParams
from twinbed.scenarios.network_twin.training import train_agent

__all__ = ["COMMANDS"]


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def _common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--seed", type=int, default=0)
    add_param_options(ap, NetworkTwinParams)


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "data_dir", None) or get_settings().data_dir)


# -- train network-twin-gru ------------------------------------------------------------------
def _gru_args(ap: argparse.ArgumentParser) -> None:
    _common(ap)
    ap.add_argument("--trajectories", type=_positive, default=2000,
                    help="training trajectories (paper: 2000)")
    ap.add_argument("--length", type=_positive, default=30, help="slots each (paper: 30)")
    ap.add_argument("--epochs", type=_positive, default=8)
    ap.add_argument("--batch", type=_positive, default=64)
    ap.add_argument("--lr", type=float, default=0.05, help="SGD learning rate")


def _gru_run(args: argparse.Namespace) -> int:
    p = params_from_args(NetworkTwinParams, args)
    if args.length <= p.M:
        raise CommandError(f"--length must exceed M={p.M} slots, got {args.length}")
    if not args.lr > 0:
        raise CommandError(f"--lr must be > 0, got {args.lr}")
    path = GRU.user_path(_data_dir(args), p, 0)
    rec = train_gru(p, path, n_trajectories=args.trajectories, length=args.length,
                    epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    print(f"saved {path} ({rec['wall_s']:.1f}s); one-step test MSE per user (blocks^2):")
    for u, (m, h) in enumerate(zip(rec["test_mse_per_user"], rec["test_mse_hold_per_user"],
                                   strict=True)):
        print(f"  user {u + 1:>3}: GRU {m:.4f}   hold-last {h:.4f}")
    return 0


# -- train network-twin ----------------------------------------------------------------------
def _agent_args(ap: argparse.ArgumentParser) -> None:
    _common(ap)
    ap.add_argument("--algorithm", choices=LEARNED, required=True)
    ap.add_argument("--steps", type=_positive, default=20_000, help="training slots")


def _agent_run(args: argparse.Namespace) -> int:
    p = params_from_args(NetworkTwinParams, args)
    # the twin the runs will use: the data directory's GRU, else the shipped one
    pred = HoldPredictor() if p.predictor == "hold" else GRU.load_for(p, 0, _data_dir(args))
    path = AGENTS[args.algorithm].user_path(_data_dir(args), p, 0)
    res = train_agent(p, pred, args.algorithm, args.steps, args.seed, path)
    ev = res.evaluation
    print(f"saved {path} ({res.wall_s:.1f}s); evaluation: mean return "
          f"{ev['mean_return']:.2f} over {int(ev['episodes'])} episodes of {p.episode_slots} "
          f"slots ({ev['mean_return'] / p.episode_slots:.3f} per slot)")
    return 0


# -- reproduce network-twin ------------------------------------------------------------------
def _repro_args(ap: argparse.ArgumentParser) -> None:
    _common(ap)
    ap.add_argument("--figure", choices=("2", "3", "sync-map"), required=True,
                    help="the paper's Fig. 2 or 3, or (beyond the paper) the map of where "
                         "syncing pays over epsilon and N")
    ap.add_argument("--out", type=Path, default=None, help="output directory")
    ap.add_argument("--full", action="store_true",
                    help="the paper's budget (longer GRU and RL training)")
    ap.add_argument("--steps", type=_positive, default=None,
                    help="Fig. 3: training slots per agent (default 12000, --full 100000)")
    ap.add_argument("--episodes", type=_positive, default=None,
                    help="Fig. 3: evaluation episodes per agent (default 30, --full 100)")
    ap.add_argument("--seeds", type=_positive, default=figures.SEEDS_DEFAULT,
                    help="independent samples: Fig. 2 test sets, Fig. 3 training runs per "
                         f"agent (default {figures.SEEDS_DEFAULT})")


def _repro_run(args: argparse.Namespace) -> int:
    p = params_from_args(NetworkTwinParams, args)
    out = args.out or default_out_dir(_data_dir(args), "figures", "network-twin")
    out.mkdir(parents=True, exist_ok=True)
    try:
        figure = int(args.figure) if args.figure.isdigit() else args.figure
        result = figures.reproduce(figure, p, _data_dir(args), out, full=args.full,
                                   seed=args.seed, steps=args.steps, episodes=args.episodes,
                                   seeds=args.seeds)
    except ValueError as exc:  # a missing or mismatched artifact: the message says the fix
        raise CommandError(str(exc)) from None
    print(result.table())
    return 0


COMMANDS = [
    Command("train", "network-twin-gru", "train the cloud twin's GRU on random-walk "
            "trajectories (seed 003, Section III-A)", _gru_args, _gru_run),
    Command("train", "network-twin", "train a sync agent (sac or dqn) for the network twin",
            _agent_args, _agent_run),
    Command("reproduce", "network-twin", "Fig. 2 (GRU trajectories, MSE per user) or Fig. 3 "
            "(reward vs training for every sync agent) of seed 003", _repro_args, _repro_run),
    ship_command("network-twin", "twinbed.scenarios.network_twin.shipping",
                 "the GRU and the SAC/DQN agents"),
]
