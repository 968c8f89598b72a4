"""``twinbed train federated-dmo`` and ``twinbed reproduce federated``."""

from __future__ import annotations

import argparse

from twinbed.commands import Command, CommandError

__all__ = ["COMMANDS"]

FIGURES = (4, 5, 6, 7, 8)


def _params(args: argparse.Namespace):  # noqa: ANN202 - FederatedParams
    from pydantic import ValidationError

    from twinbed.scenarios.federated.params import FederatedParams

    updates = {k: v for k, v in (("N", args.N), ("K", args.K), ("M", args.M)) if v is not None}
    try:
        return FederatedParams(**updates)
    except ValidationError as e:
        raise CommandError(f"bad parameters: {e.errors()[0]['msg']}") from None


def _add_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--N", type=int, default=None, help="edge servers (default 5)")
    p.add_argument("--K", type=int, default=None, help="partial-DTs (default 4)")
    p.add_argument("--M", type=int, default=None, help="sensors (default 30)")


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=30_000, help="frames of PPO training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=None, help="frames per episode (default T=100)")
    _add_size(p)


def _train(args: argparse.Namespace) -> int:
    from twinbed.scenarios.federated.dmo import dmo_path, train_dmo

    if args.steps < 1:
        raise CommandError(f"expected --steps >= 1, got {args.steps}")
    p = _params(args)
    path = dmo_path(args.data_dir)
    res = train_dmo(p, args.steps, args.seed, path, frames=args.frames,
                    checkpoint_every=max(1000, args.steps // 10))
    print(f"saved {res.path} ({res.steps} steps, {res.wall_s:.0f} s); "
          f"evaluation mean return {res.evaluation['mean_return']:.2f}")
    return 0


def _agents_args(p: argparse.ArgumentParser) -> None:
    _train_args(p)
    p.add_argument("--eval-seeds", type=int, default=3, help="instances to evaluate on (1000..)")


def _agents(args: argparse.Namespace) -> int:
    import json

    from twinbed.scenarios.federated.multiagent import agents_dir, compare

    if args.steps < 1 or args.eval_seeds < 1:
        raise CommandError(f"expected --steps >= 1 and --eval-seeds >= 1, got {args.steps}, "
                           f"{args.eval_seeds}")
    p = _params(args)
    out = agents_dir(args.data_dir)
    res = compare(p, args.steps, args.seed, list(range(1000, 1000 + args.eval_seeds)),
                  frames=args.frames, out_dir=out)
    (out / "compare.json").write_text(json.dumps(res, indent=1))
    print(f"{args.steps} frames of training each, mean cumulative utility over "
          f"{args.eval_seeds} instances x {p.frames} frames: one multi-head PPO policy "
          f"{res['single_policy_utility']:.1f} ({res['single_train_s']:.0f} s), N + 2 PPO agents "
          f"{res['n_plus_2_agents_utility']:.1f} ({res['agents_train_s']:.0f} s); "
          f"agents and compare.json in {out}")
    return 0


def _reproduce_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--figure", type=int, required=True, choices=FIGURES)
    p.add_argument("--out", default=None, help="output directory (default data/figures/federated)")
    p.add_argument("--full", action="store_true", help="the paper's budget (more seeds, steps)")
    p.add_argument("--seeds", type=int, default=None, help="instances to average over")


def _reproduce(args: argparse.Namespace) -> int:
    from twinbed.commands import default_out_dir
    from twinbed.scenarios.federated.figures import reproduce

    if args.seeds is not None and args.seeds < 1:
        raise CommandError(f"expected --seeds >= 1, got {args.seeds}")
    data_dir = args.data_dir
    out = default_out_dir(data_dir, "figures", "federated") if args.out is None else args.out
    print(reproduce(args.figure, out, full=args.full, seeds=args.seeds, data_dir=data_dir))
    return 0


COMMANDS = [
    Command("train", "federated-dmo", "train the DMO PPO agents (federated scenario)",
            _train_args, _train),
    Command("train", "federated-dmo-agents",
            "train DMO as N + 2 separate PPO agents and compare with the one multi-head policy",
            _agents_args, _agents),
    Command("reproduce", "federated", "reproduce Figs. 4-8 of the federated DT paper",
            _reproduce_args, _reproduce),
]
