"""Where DMO loses to the per-frame best response: an ablation of its decision's parts.

DMO's decision per frame has three parts: the assignment of partial-DTs to creating ESs
(Gale-Shapley on the two preference agents' choices), each ES's subcarrier level z and each
ES's rounds ell (the N ES agents); SOCF then forms the coalitions for them. The per-frame best
response (``federated-myopic``, :class:`algorithms.Myopic`) assigns by GS on the utility
estimate and searches z and ell around SOCF. Each variant here replaces one part of DMO's
decision by the best response's, on the same instances, so the gap splits by part:

- ``dmo``: the shipped agents as they play (their score is the shipped artifact's);
- ``gs-assign``: the best response's assignment, DMO's z and ell;
- ``dmo-assign+search``: DMO's assignment, z and ell by the best response's search;
- ``dmo+zmax`` / ``dmo+ellmax``: DMO with every ES at the most subcarriers / rounds;
- ``best-response``: the per-frame best response itself.

    python -m twinbed.scenarios.federated.ablation [--seeds 1000-1009] [--agents FILE.zip]

prints each variant's cumulative utility (mean over instances), its difference to DMO paired
by instance with a 95 % bootstrap interval (``twinbed.stats.diff_ci``), and what it played
(associations per frame, mean z and ell).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from twinbed.scenarios.federated.algorithms import (
    Decision,
    Myopic,
    View,
    _assign_gs,
    _coordinate,
)
from twinbed.scenarios.federated.artifacts import SHIPPED_DIR, load_team
from twinbed.scenarios.federated.dmo import DmoPolicy
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import run_episode
from twinbed.stats import diff_ci

__all__ = ["VARIANTS", "Variant", "main", "play"]


def _variants(p: FederatedParams) -> dict[str, Callable[[View, Decision], Decision]]:
    return {
        "dmo": lambda v, d: d,
        "gs-assign": lambda v, d: Decision(_assign_gs(v), d.z, d.ell, None),
        "dmo-assign+search": lambda v, d: _coordinate(v, d.assign)._replace(Y=None),
        "dmo+zmax": lambda v, d: d._replace(z=np.full(p.N, p.z_levels), Y=None),
        "dmo+ellmax": lambda v, d: d._replace(ell=np.full(p.N, p.ell_max), Y=None),
        "best-response": lambda v, d: Myopic().act(v),
    }


VARIANTS = tuple(_variants(FederatedParams()))


class Variant:
    """DMO's agents with one part of each frame's decision replaced (see the module doc)."""

    def __init__(self, p: FederatedParams, team: Any, name: str) -> None:
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        self.dmo, self.name, self._swap = DmoPolicy(p, team), name, _variants(p)[name]

    def act(self, v: View) -> Decision:
        if self.name == "best-response":  # DMO's agents do not act at all
            return self._swap(v, Decision(v.state.assign, np.ones(v.p.N), np.ones(v.p.N)))
        return self._swap(v, self.dmo.act(v))

    def learn(self, v: View, d: Decision, reward: float) -> None:
        pass


def play(p: FederatedParams, team: Any, name: str, seed: int) -> dict[str, float]:
    """One instance, ``p.frames`` frames: cumulative utility and what was played."""
    recs = run_episode(p, "dmo", seed, p.frames, Variant(p, team, name))
    return {"utility": float(sum(r["perf"] for r in recs)),
            "associations": float(np.mean([r["associations"] for r in recs])),
            "z": float(np.mean([np.mean(r["z"]) for r in recs])),
            "ell": float(np.mean([np.mean(r["ell"]) for r in recs]))}


def _seeds(text: str) -> list[int]:
    lo, sep, hi = text.partition("-")
    try:
        return list(range(int(lo), int(hi) + 1)) if sep else [int(s) for s in text.split(",")]
    except ValueError:
        raise SystemExit(f"--seeds: expected A-B or A,B,C, got {text!r}") from None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m twinbed.scenarios.federated.ablation",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="1000-1009", help="instance seeds: A-B or A,B,C")
    ap.add_argument("--agents", default=str(SHIPPED_DIR / "federated-dmo.zip"))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    seeds = _seeds(args.seeds)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    p = FederatedParams()
    team = load_team(Path(args.agents), p)
    rows = {n: [play(p, team, n, s) for s in seeds] for n in dict.fromkeys(["dmo", *names])}
    base = np.array([r["utility"] for r in rows["dmo"]])
    print(f"DMO ablation on {len(seeds)} instances (seeds {args.seeds}), {p.frames} frames each;"
          f" difference to dmo paired by instance, 95 % bootstrap interval")
    print(f"{'variant':<20}{'utility':>9}{'- dmo [95 % CI]':>26}{'assoc/frame':>13}"
          f"{'z':>6}{'ell':>7}")
    for n in rows:
        u = np.array([r["utility"] for r in rows[n]])
        d = diff_ci(u, base).text(".1f") if n != "dmo" else "-"
        print(f"{n:<20}{u.mean():>9.1f}{d:>26}"
              f"{np.mean([r['associations'] for r in rows[n]]):>13.1f}"
              f"{np.mean([r['z'] for r in rows[n]]):>6.2f}"
              f"{np.mean([r['ell'] for r in rows[n]]):>7.2f}", flush=True)


if __name__ == "__main__":
    main()
