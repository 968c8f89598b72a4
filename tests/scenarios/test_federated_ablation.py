"""The DMO ablation (twinbed.scenarios.federated.ablation): its end points are the real
schemes (the variant ``dmo`` plays exactly the shipped agents, ``best-response`` exactly the
per-frame best response), and a swapped part is really swapped."""

from __future__ import annotations

import numpy as np
import pytest

from twinbed.scenarios.federated import ablation
from twinbed.scenarios.federated.artifacts import SHIPPED_DIR, load_team
from twinbed.scenarios.federated.dmo import DmoPolicy
from twinbed.scenarios.federated.params import FederatedParams
from twinbed.scenarios.federated.world import run_episode

P = FederatedParams(frames=8)


@pytest.fixture(scope="module")
def team() -> object:
    return load_team(SHIPPED_DIR / "federated-dmo.zip", P)


def test_the_end_points_are_dmo_and_the_best_response(team: object) -> None:
    dmo = run_episode(P, "dmo", 1000, P.frames, DmoPolicy(P, team))
    assert ablation.play(P, team, "dmo", 1000)["utility"] == sum(r["perf"] for r in dmo)
    br = run_episode(P, "federated-myopic", 1000, P.frames)
    assert ablation.play(P, team, "best-response", 1000)["utility"] == sum(r["perf"] for r in br)


def test_a_swapped_part_is_swapped_and_the_rest_kept(team: object) -> None:
    """dmo+zmax plays every ES at the top subcarrier level and DMO's rounds; gs-assign keeps
    DMO's z and rounds and changes only the assignment."""
    zmax = run_episode(P, "dmo", 1001, P.frames, ablation.Variant(P, team, "dmo+zmax"))
    assert all(r["z"] == [P.z_levels] * P.N for r in zmax)
    dmo = run_episode(P, "dmo", 1001, 1, DmoPolicy(P, team))[0]
    gs = run_episode(P, "dmo", 1001, 1, ablation.Variant(P, team, "gs-assign"))[0]
    assert gs["z"] == dmo["z"] and gs["ell"] == dmo["ell"]
    assert np.isfinite(gs["perf"])


def test_bad_input_is_a_clear_error(team: object) -> None:
    with pytest.raises(ValueError, match="unknown variant 'nosuch'"):
        ablation.Variant(P, team, "nosuch")
    with pytest.raises(SystemExit, match="--seeds"):
        ablation.main(["--seeds", "a-b"])
    with pytest.raises(SystemExit, match="unknown variant"):
        ablation.main(["--seeds", "1000", "--variants", "nosuch"])
