"""``twinbed train federated-dmo`` / ``federated-dmo-shared``, ``twinbed reproduce federated``."""

from __future__ import annotations

import argparse

from twinbed.commands import Command, CommandError, default_out_dir
from twinbed.contract.cliparams import ParamError, add_param_options, params_from_args
from twinbed.scenarios.federated.dmo import dmo_path, train_dmo
from twinbed.scenarios.federated.dmo_shared import shared_path, train_shared
from twinbed.scenarios.federated.figures import reproduce
from twinbed.scenarios.federated.params import FederatedParams

__all__ = ["COMMANDS"]

FIGURES = (4, 5, 6, 7, 8, 9)


def _params(args: argparse.Namespace) -> FederatedParams:
    try:
        return params_from_args(FederatedParams, args)
    except ParamError as e:
        raise CommandError(str(e)) from None


def _add_size(p: argparse.ArgumentParser) -> None:
    add_param_options(p, FederatedParams)


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=200_000,
                   help="frames of PPO training (Table III: 2e5; ~25 min for DMO on one core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=None, help="frames per episode (default T=100)")
    p.add_argument("--fresh", action="store_true",
                   help="start over instead of resuming an interrupted run of the same "
                        "configuration")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="frames between resumable checkpoints (default max(2000, steps/10))")
    _add_size(p)


def _dmo_args(p: argparse.ArgumentParser) -> None:
    _train_args(p)
    p.add_argument("--stage1-iters", type=int, default=1,
                   help="J: SOCF calls per frame in Stage 1 (ES agents <-> SOCF; default 1)")


def _check_steps(args: argparse.Namespace) -> None:
    if args.steps < 1:
        raise CommandError(f"expected --steps >= 1, got {args.steps}")
    if args.frames is not None and args.frames < 1:
        raise CommandError(f"expected --frames >= 1, got {args.frames}")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise CommandError(f"expected --checkpoint-every >= 1, got {args.checkpoint_every}")


def _checkpoint_every(args: argparse.Namespace) -> int:
    return args.checkpoint_every or max(2_000, args.steps // 10)


def _train(args: argparse.Namespace) -> int:

    _check_steps(args)
    if args.stage1_iters < 1:
        raise CommandError(f"expected --stage1-iters >= 1, got {args.stage1_iters}")
    p = _params(args)
    res = train_dmo(p, args.steps, args.seed, dmo_path(args.data_dir, p), frames=args.frames,
                    checkpoint_every=_checkpoint_every(args), resume=not args.fresh,
                    stage1_iters=args.stage1_iters)
    resumed = f", resumed from frame {res.resumed_from}" if res.resumed_from else ""
    print(f"saved {p.N + 2} PPO agents to {res.path} ({res.steps} frames, {res.wall_s:.0f} s"
          f"{resumed}); greedy cumulative utility on instance(s) 1000: "
          f"{res.evaluation['mean_utility']:.1f}; record {res.path.with_suffix('.json')}")
    return 0


def _train_shared(args: argparse.Namespace) -> int:

    _check_steps(args)
    p = _params(args)
    res = train_shared(p, args.steps, args.seed, shared_path(args.data_dir, p), frames=args.frames,
                       checkpoint_every=_checkpoint_every(args))
    print(f"saved {res.path} ({res.steps} steps, {res.wall_s:.0f} s); "
          f"evaluation mean return {res.evaluation['mean_return']:.2f}")
    return 0


def _reproduce_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--figure", type=int, required=True, choices=FIGURES)
    p.add_argument("--out", default=None, help="output directory (default data/figures/federated)")
    p.add_argument("--full", action="store_true", help="the paper's budget (more seeds, steps)")
    p.add_argument("--seeds", type=int, default=None, help="instances to average over")


def _reproduce(args: argparse.Namespace) -> int:

    if args.seeds is not None and args.seeds < 1:
        raise CommandError(f"expected --seeds >= 1, got {args.seeds}")
    data_dir = args.data_dir
    out = default_out_dir(data_dir, "figures", "federated") if args.out is None else args.out
    print(reproduce(args.figure, out, full=args.full, seeds=args.seeds, data_dir=data_dir).table())
    return 0


COMMANDS = [
    Command("train", "federated-dmo",
            "train DMO, the N + 2 PPO agents (federated scenario; resumable)", _dmo_args, _train),
    Command("train", "federated-dmo-shared",
            "train the comparison dmo-shared: DMO's actions as heads of one PPO policy",
            _train_args, _train_shared),
    Command("reproduce", "federated", "reproduce Figs. 4-9 of the federated DT paper",
            _reproduce_args, _reproduce),
]
