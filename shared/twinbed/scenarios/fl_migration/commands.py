"""``twinbed train|calibrate|reproduce|solve fl-migration`` (imports stay inside ``run``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from twinbed.commands import Command, CommandError, default_out_dir
from twinbed.config import get_settings
from twinbed.contract.cliparams import ParamError, add_param_options, params_from_args
from twinbed.report import write_csv
from twinbed.scenarios.fl_migration.calibration import fit_alphas, measure
from twinbed.scenarios.fl_migration.figures import reproduce
from twinbed.scenarios.fl_migration.params import FlMigrationParams
from twinbed.scenarios.fl_migration.training import train_scheme

__all__ = ["COMMANDS"]

LEARNED_SCHEMES = ("ppo", "actor-critic", "ddpg")


def _train_args(ap: argparse.ArgumentParser) -> None:

    ap.add_argument("--algorithm", required=True, choices=LEARNED_SCHEMES)
    ap.add_argument("--seed", type=int, default=0, help="instance seed (the run's seed)")
    ap.add_argument("--per-emd", action="store_true",
                    help="train for the parameters' EMD only (--param emd=E; the paper's "
                         "per-scenario agents), not over the paper's four EMDs")
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--slots", type=int, default=50, help="slots per training episode")
    ap.add_argument("--checkpoint-every", type=int, default=None,
                    help="steps between resumable checkpoints (default max(1000, steps/20))")
    add_param_options(ap, FlMigrationParams)


def _train(args: argparse.Namespace) -> int:

    if args.steps < 1 or args.slots < 1:
        raise CommandError("--steps and --slots must be >= 1")
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise CommandError("--checkpoint-every must be >= 1")
    try:
        p = params_from_args(FlMigrationParams, args)
    except ParamError as e:
        raise CommandError(str(e)) from None
    res = train_scheme(p, args.algorithm, args.seed, args.steps,
                       getattr(args, "data_dir", None) or get_settings().data_dir, args.slots,
                       p.emd if args.per_emd else None, checkpoint_every=args.checkpoint_every)
    print(f"saved {res.path} ({res.wall_s:.1f} s); evaluation: {json.dumps(res.evaluation)}")
    return 0


def _calibrate_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", default="200,500,1000,2000", help="samples per user")
    ap.add_argument("--emds", default="0,0.2,0.4,0.6")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--out", default=None, help="directory (default <data>/calibration)")


def _csv_numbers(text: str, kind: type, name: str) -> list[Any]:
    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CommandError(f"{name} expects comma-separated numbers, got {text!r}") from None


def _calibrate(args: argparse.Namespace) -> int:

    sizes = _csv_numbers(args.sizes, int, "--sizes")
    emds = _csv_numbers(args.emds, float, "--emds")
    seeds = _csv_numbers(args.seeds, int, "--seeds")
    if len(sizes) * len(emds) < 6 or min(sizes) < 10 or any(not 0 <= e < 1.6 for e in emds):
        raise CommandError("need >= 6 (size, EMD) points, sizes >= 10 and EMDs in [0, 1.6)")
    p = FlMigrationParams()
    rows = measure(sizes, emds, seeds, p)
    fit = fit_alphas(rows, p)
    out = default_out_dir(args.out or (getattr(args, 'data_dir', None)
                                       or get_settings().data_dir),
                          *(() if args.out else ("calibration",)))
    write_csv(out / "fl_migration_accuracy.csv", rows)
    (out / "fl_migration_alphas.json").write_text(json.dumps(fit, indent=1))
    for r in rows:
        print(f"n={r['n']:5d} EMD={r['emd']:.2f} (realized {r['emd_realized']:.3f}) "
              f"accuracy={r['accuracy']:.4f}")
    print(f"fitted alphas: {json.dumps(fit['alphas'])}")
    print(f"fit RMSE {fit['rmse']:.5f}, max |err| {fit['max_abs_err']:.5f}; the paper's alphas "
          f"on these points: RMSE {fit['paper_alphas_rmse']:.5f}")
    print(f"use them: --params '{json.dumps(fit['alphas'])}' (or as run params); "
          f"written to {out}")
    return 0


def _reproduce_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--figure", type=int, required=True, choices=(3, 4, 5, 6, 10))
    ap.add_argument("--out", default=None, help="directory (default <data>/figures/fl-migration)")
    ap.add_argument("--full", action="store_true", help="the paper's budget (750 slots; hours)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain", action="store_true", help="train agents even if saved")


def _reproduce(args: argparse.Namespace) -> int:


    data = Path(getattr(args, 'data_dir', None) or get_settings().data_dir)
    out = Path(args.out) if args.out else default_out_dir(data, "figures", "fl-migration")
    print(reproduce(args.figure, out, data, seed=args.seed, full=args.full,
                    retrain=args.retrain).table())
    return 0


COMMANDS = [
    Command("train", "fl-migration", "train a learned association scheme (ppo, actor-critic, "
            "ddpg) for one instance", _train_args, _train),
    Command("calibrate", "fl-migration", "Fig. 3 on real FL (digits): accuracy per data size and "
            "EMD, eqs. 11-12 alphas fitted", _calibrate_args, _calibrate),
    Command("reproduce", "fl-migration", "Figs. 3, 4, 5, 6(-9), 10 of the paper",
            _reproduce_args, _reproduce),
]
