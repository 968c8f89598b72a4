"""``twinbed solve|reproduce|calibrate compression``: the scenario's commands.

Parameters use the one syntax, ``--param NAME=VALUE`` / ``--params FILE.json``
(:mod:`twinbed.contract.cliparams`); ``--help`` lists them with unit, default and range. Heavy
libraries (matplotlib, tqdm) load only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np

from twinbed.commands import Command, CommandError, default_out_dir
from twinbed.config import get_settings
from twinbed.contract.cliparams import add_param_options, params_from_args
from twinbed.scenarios.compression.calibration import fit_complexity, frontier, measure
from twinbed.scenarios.compression.figures import reproduce
from twinbed.scenarios.compression.instance import (
    InstanceError,
    load_instance,
    solve_instance,
)
from twinbed.scenarios.compression.params import CompressionParams
from twinbed.scenarios.compression.policies import POLICIES

__all__ = ["COMMANDS"]

ALGORITHM_NAMES = tuple(POLICIES)


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "data_dir", None) or get_settings().data_dir)


# -- solve --------------------------------------------------------------------------------------
def _solve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instance", required=True, metavar="FILE.json",
                   help="instance keys (SI units, lists per sensor): D_bits, p_w, f_s_hz, "
                        "c_cycles_per_bit, H_gain, B_hz, C_dt_hz, beta_max, epsilon, "
                        "N0_w_per_hz; optional xi, L_max")
    p.add_argument("--algorithm", default="stackelberg", metavar="NAME",
                   help=f"one of {', '.join(ALGORITHM_NAMES)} (default: stackelberg)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _solve(args: argparse.Namespace) -> int:
    if args.algorithm not in POLICIES:
        raise CommandError(f"unknown algorithm {args.algorithm!r}; known: {', '.join(POLICIES)}")
    try:
        inst = load_instance(args.instance)
    except InstanceError as exc:
        raise CommandError(str(exc)) from None
    out = solve_instance(inst, args.algorithm)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.algorithm}: T_max = {out['T_max_s']:.9g} s after {out['iterations']} "
          f"iteration(s), {1e3 * out['solve_s']:.2f} ms")
    print(f"{'k':>4}  {'beta':>10}  {'b_hz':>12}  {'f_hz':>12}  {'T_total_s':>12}")
    for k, row in enumerate(zip(out["beta"], out["b_hz"], out["f_hz"], out["T_total_s"],
                                strict=True)):
        print(f"{k:>4}  {row[0]:>10.6f}  {row[1]:>12.6g}  {row[2]:>12.6g}  {row[3]:>12.9g}")
    return 0


# -- reproduce ----------------------------------------------------------------------------------
def _reproduce_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--figure", type=int, required=True, choices=(3, 4, 5, 6),
                   help="3: beta_max sweep, 4: p_k sweep, 5: B sweep, 6: non-uniform scenarios")
    p.add_argument("--draws", type=int, default=20,
                   help="Rician channel draws averaged per point (default 20)")
    p.add_argument("--seed", type=int, default=0, help="root seed of the channel draws")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output directory (default: <data-dir>/figures/compression)")
    add_param_options(p, CompressionParams)  # the sweeps' base parameters


def _reproduce(args: argparse.Namespace) -> int:

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    base = params_from_args(CompressionParams, args)
    if args.draws < 1:
        raise CommandError(f"--draws: expected >= 1, got {args.draws}")
    out = Path(args.out) if args.out else default_out_dir(_data_dir(args), "figures",
                                                          "compression")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"--out {out}: {exc.strerror or exc}") from None
    try:
        result = reproduce(args.figure, args.draws, args.seed, out, base)
    except ValueError as exc:  # e.g. Fig. 6 is defined for K = 4 sensors
        raise CommandError(str(exc)) from None
    print(result.table())
    return 0


# -- calibrate ----------------------------------------------------------------------------------
def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the physical process")
    p.add_argument("--blocks", type=int, default=10, help="blocks per sensor")
    p.add_argument("--repeats", type=int, default=3, help="encodes per block (best is kept)")
    p.add_argument("--json", action="store_true", help="print the fit as JSON")
    add_param_options(p, CompressionParams)  # K sensors measured, D_bits per block


def _calibrate(args: argparse.Namespace) -> int:
    for name in ("blocks", "repeats"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name}: expected >= 1, got {getattr(args, name)}")
    p = params_from_args(CompressionParams, args)
    pts = measure(args.seed, p.K, args.blocks, p.n_samples, args.repeats)
    try:
        fit = fit_complexity(pts, p.D_bits)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    fr = {p.name for p in frontier(pts)}
    out = {"epsilon": fit.epsilon, "f_s_hz": fit.f_s_hz, "rms_log_error": fit.rms_log_error,
           "D_bits": fit.D_bits,
           "settings": [{"name": pt.name, "ratio": pt.ratio, "encode_s": pt.encode_s,
                         "frontier": pt.name in fr} for pt in pts]}
    path = default_out_dir(_data_dir(args), "calibration") / "compression.json"
    path.write_text(json.dumps(out, indent=1))
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"real codecs on the physical process: {p.K} sensors x {args.blocks} blocks "
          f"of {p.D_bits} bits")
    print(f"{'setting':<18}{'ratio':>8}{'encode_s':>12}{'model_s':>12}  frontier")
    for pt in pts:
        model_s = (p.D_bits * (math.exp(fit.epsilon * pt.ratio) - math.exp(fit.epsilon))
                   / fit.f_s_hz) if pt.ratio > 1 else float("nan")
        print(f"{pt.name:<18}{pt.ratio:>8.3f}{pt.encode_s:>12.3g}{model_s:>12.3g}  "
              f"{'*' if pt.name in fr else ''}")
    print(f"\nfit of eqs. (1)-(2) to the frontier: epsilon = {fit.epsilon:.4g}, "
          f"f_S = {fit.f_s_hz:.4g} Hz; RMS log error {fit.rms_log_error:.3f} "
          f"(model within a factor {np.exp(fit.rms_log_error):.2f} of the measured time)")
    print(f"use as run parameters: --param epsilon={fit.epsilon:.6g} "
          f"--param f_s_hz={fit.f_s_hz:.6g}   (written to {path})")
    return 0


COMMANDS = [
    Command("solve", "compression", "solve one instance of the compression game (JSON file)",
            _solve_args, _solve),
    Command("reproduce", "compression", "reproduce Fig. 3-6 of the compression paper",
            _reproduce_args, _reproduce),
    Command("calibrate", "compression", "fit eqs. (1)-(2) (epsilon, f_S) to the real lossless "
            "codecs on the physical process's data", _calibrate_args, _calibrate),
]
