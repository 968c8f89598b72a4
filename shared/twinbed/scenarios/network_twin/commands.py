"""``twinbed train network-twin-gru``, ``twinbed train network-twin``,
``twinbed reproduce network-twin``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from twinbed.commands import Command, CommandError

__all__ = ["COMMANDS"]


def _params(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from twinbed.scenarios.network_twin.params import NetworkTwinParams

    values: dict[str, Any] = {}
    if getattr(args, "U", None) is not None:
        values["U"] = args.U
    for text in args.param:
        if "=" not in text:
            raise CommandError(f"--param expects NAME=VALUE, got {text!r}")
        name, value = text.split("=", 1)
        try:
            values[name] = json.loads(value)
        except json.JSONDecodeError:
            values[name] = value
    try:
        return NetworkTwinParams(**values)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise CommandError(f"parameter {'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}"
                           ) from None


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def _common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--U", type=_positive, default=None, help="number of users (default 10)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="override a scenario parameter (repeatable)")
    ap.add_argument("--seed", type=int, default=0)


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "data_dir", "data"))


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
    p = _params(args)
    if args.length <= p.M:
        raise CommandError(f"--length must exceed M={p.M} slots, got {args.length}")
    if not args.lr > 0:
        raise CommandError(f"--lr must be > 0, got {args.lr}")
    from twinbed.scenarios.network_twin.gru import gru_path, train_gru

    path = gru_path(_data_dir(args), p.U)
    rec = train_gru(p, path, n_trajectories=args.trajectories, length=args.length,
                    epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    print(f"saved {path} ({rec['wall_s']:.1f}s); one-step test MSE per user (blocks^2):")
    for u, (m, h) in enumerate(zip(rec["test_mse_per_user"], rec["test_mse_hold_per_user"])):
        print(f"  user {u + 1:>3}: GRU {m:.4f}   hold-last {h:.4f}")
    return 0


# -- train network-twin ----------------------------------------------------------------------
def _agent_args(ap: argparse.ArgumentParser) -> None:
    _common(ap)
    ap.add_argument("--algorithm", choices=("sac", "dqn"), required=True)
    ap.add_argument("--steps", type=_positive, default=20_000, help="training slots")


def _agent_run(args: argparse.Namespace) -> int:
    from twinbed.scenarios.network_twin.algorithms import agent_file
    from twinbed.scenarios.network_twin.learned import GRU
    from twinbed.scenarios.network_twin.gru import HoldPredictor
    from twinbed.scenarios.network_twin.training import train_agent

    p = _params(args)
    # the twin the runs will use: the data directory's GRU, else the shipped one
    pred = HoldPredictor() if p.predictor == "hold" else GRU.load_for(p, 0, _data_dir(args))
    path = agent_file(_data_dir(args), args.algorithm, p.U)
    res = train_agent(p, pred, args.algorithm, args.steps, args.seed, path)
    ev = res.evaluation
    print(f"saved {path} ({res.wall_s:.1f}s); evaluation: mean return "
          f"{ev['mean_return']:.2f} over {int(ev['episodes'])} episodes of {p.episode_slots} "
          f"slots ({ev['mean_return'] / p.episode_slots:.3f} per slot)")
    return 0


# -- reproduce network-twin ------------------------------------------------------------------
def _repro_args(ap: argparse.ArgumentParser) -> None:
    _common(ap)
    ap.add_argument("--figure", choices=("2", "3"), required=True)
    ap.add_argument("--out", type=Path, default=None, help="output directory")
    ap.add_argument("--full", action="store_true",
                    help="the paper's budget (longer GRU and RL training)")
    ap.add_argument("--steps", type=_positive, default=None,
                    help="Fig. 3: training slots per agent (default 12000, --full 100000)")
    ap.add_argument("--episodes", type=_positive, default=None,
                    help="Fig. 3: evaluation episodes per agent (default 30, --full 100)")


def _repro_run(args: argparse.Namespace) -> int:
    from twinbed.commands import default_out_dir
    from twinbed.scenarios.network_twin import figures

    p = _params(args)
    out = args.out or default_out_dir(_data_dir(args), "figures", "network-twin")
    out.mkdir(parents=True, exist_ok=True)
    from twinbed.agents import MissingArtifactError

    try:
        if args.figure == "2":
            figures.figure2(p, _data_dir(args), out, full=args.full, seed=args.seed)
        else:
            figures.figure3(p, _data_dir(args), out, full=args.full, seed=args.seed,
                            steps=args.steps, episodes=args.episodes)
    except (MissingArtifactError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    return 0


# -- ship network-twin (maintainers) ------------------------------------------------------------
def _ship_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--from", dest="src", type=Path, required=True,
                    help="the data directory the artifacts were trained in")
    ap.add_argument("--version", type=int, default=1, help="the shipped version (>= 1)")
    ap.add_argument("--git", default=None,
                    help="the commit they were trained at (default: their records')")


def _ship_run(args: argparse.Namespace) -> int:
    from twinbed.scenarios.network_twin.shipping import ship_all

    if args.version < 1:
        raise CommandError(f"--version must be >= 1, got {args.version}")
    for path in ship_all(args.src, args.version, args.git):
        ev = json.loads(path.with_suffix(".json").read_text())["artifact"]["evaluation"]
        print(f"shipped {path.name} ({path.stat().st_size / 1024:.0f} KiB): {ev['metric']} "
              f"{ev['score']:.6g}; baselines {ev['baselines']}; bound {ev['bound']}")
    return 0


COMMANDS = [
    Command("train", "network-twin-gru", "train the cloud twin's GRU on random-walk "
            "trajectories (seed 003, Section III-A)", _gru_args, _gru_run),
    Command("train", "network-twin", "train a sync agent (sac or dqn) for the network twin",
            _agent_args, _agent_run),
    Command("reproduce", "network-twin", "Fig. 2 (GRU trajectories, MSE per user) or Fig. 3 "
            "(reward vs training for every sync agent) of seed 003", _repro_args, _repro_run),
    Command("ship", "network-twin", "copy the GRU and the SAC/DQN agents trained in --from DIR into the package "
            "(artifacts/) with their records and held-out evaluations", _ship_args, _ship_run),
]
