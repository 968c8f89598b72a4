"""Out of the box: on a stack started from scratch (empty data directory), one short run of every
algorithm of fl-migration and federated completes with no training step; the learned ones use
the agents shipped with the package, and the run record says so (file, version, origin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinbed.scenarios import get_scenario

pytestmark = [pytest.mark.integration, pytest.mark.out_of_the_box]

# fl-migration: the shipped agents' instance (U = 20, S = 9, seed 0) with 1 training epoch per
# slot instead of 50 + 10 (the agents depend on U, S and the seed only: a fast live slot)
FL = {"E_s": 1, "E_us": 1}
# exhaustive search refuses the default instance (its preflight): its own small one
SMALL = {"exhaustive": {"M": 4, "N": 2, "K": 2}}
LEARNED = {"fl-migration": {"ppo", "actor-critic", "ddpg"}, "federated": {"dmo", "dmo-shared"}}


@pytest.mark.parametrize("scenario", ["fl-migration", "federated"])
def test_every_algorithm_runs_on_a_fresh_stack_with_the_shipped_agents(fresh_live, scenario: str
                                                                        ) -> None:
    fresh = fresh_live
    assert not (Path(fresh.info.data_dir) / "agents").exists()  # nothing trained: what ships
    names = fresh.controller.get("/runs/scenarios").json()[scenario]["algorithms"]
    assert set(names) == set(get_scenario(scenario).algorithms) and LEARNED[scenario] <= set(names)
    runs = {}
    for alg in names:  # all at once: the services play the runs side by side
        params = FL if scenario == "fl-migration" else SMALL.get(alg, {})
        runs[alg] = fresh.start_run(scenario=scenario, algorithm=alg, seed=0, rounds=1,
                                    params=params)
    for alg, run_id in runs.items():
        view = fresh.wait_run(run_id, timeout_s=300)
        assert view["status"]["status"] == "completed", (alg, fresh.logs())
        assert len(view["rounds"]) == 1
        used = view["config"]["artifacts"]
        if alg in LEARNED[scenario]:
            (a,) = used
            assert a["origin"] == "shipped" and a["version"] >= 1 and a["sha256"], (alg, a)
            assert f"/scenarios/{scenario.replace('-', '_')}/artifacts/" in a["path"]
        else:
            assert used == [], (alg, used)
