"""fl-migration reproduce pipeline on a tiny budget: agents trained, every scheme evaluated,
CSV + PNG + claims written, agents and evaluation reused on the next call."""

from __future__ import annotations

import json
from pathlib import Path

from twinbed.scenarios.fl_migration.algorithms import ALGORITHMS
from twinbed.scenarios.fl_migration.figures import Budget, reproduce
from twinbed.scenarios.fl_migration.params import FlMigrationParams


def test_tiny_reproduce_of_figs_5_6_and_4(tmp_path: Path) -> None:
    b = Budget(S_values=(3, 4), emds=(0.0, 0.6), steps=96, episode_slots=8, slots=2)
    p = FlMigrationParams(U=4)
    out, data = tmp_path / "out", tmp_path / "data"
    res = reproduce(5, out, data, budget=b, params=p, progress=False)
    claims, table = res.claims, res.table()
    assert res.scenario == "fl-migration" and res.files.csv == out / "fig5.csv"
    for f in ("fig5.csv", "fig5.png", "fig5-claims.json", "fig5-claims.txt", "evaluation.json"):
        assert (out / f).stat().st_size > 0, f
    rows = json.loads((out / "evaluation.json").read_text())["rows"]
    assert {(r["S"], r["emd"], r["scheme"]) for r in rows} == {
        (S, e, a) for S in (3, 4) for e in (0.0, 0.6) for a in ALGORITHMS}
    assert any("baseline 4" in c.what for c in claims) and "0.1022" in table
    agents = sorted(p.name for p in (data / "agents").glob("*.zip"))
    assert len(agents) == 6  # ppo, actor-critic, ddpg for S = 3, 4
    stamp = {a: (data / "agents" / a).stat().st_mtime_ns for a in agents}
    reproduce(6, out, data, budget=b, params=p, progress=False)  # reuses agents + evaluation
    assert stamp == {a: (data / "agents" / a).stat().st_mtime_ns for a in agents}
    assert (out / "fig6.png").stat().st_size > 0
    claims4 = reproduce(4, out, data, budget=b, params=p, progress=False).claims
    assert (out / "fig4.csv").stat().st_size > 0 and claims4
