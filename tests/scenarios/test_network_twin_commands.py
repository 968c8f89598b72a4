"""`twinbed train network-twin-gru`, `train network-twin`, `reproduce network-twin`, tiny."""

from __future__ import annotations

import pytest

from twinbed.cli import main
from twinbed.figcheck import check_claims, check_csv, check_png
from twinbed.scenarios.network_twin.figures import MSE_REL_TOL, REASONS


def test_train_gru_then_reproduce_figure_2(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "train", "network-twin-gru", "--trajectories", "60",
                 "--length", "8", "--epochs", "1"]) == 0
    assert "user  10: GRU" in capsys.readouterr().out
    assert (data / "models" / "network-twin-gru-U10.pt").exists()
    out = tmp_path / "fig"
    assert main(["--data-dir", str(data), "reproduce", "network-twin", "--figure", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "one-step MSE of user 9" in printed and "training the GRU" not in printed  # reused
    assert "95 % CI within 0.24 +- 0.12" in printed  # the rule beside the verdict
    f = check_claims(out / "fig2-claims.json", reasons=REASONS, min_claims=5)
    assert f.seeds == [0, 1, 2, 3, 4]  # five test sets by default
    assert [c.paper for c in f.claims[:3]] == ["0.007", "0.07", "0.24"]
    for c in f.claims[:3]:  # computed: holds exactly when the interval is within +- 50 %
        assert c.lo is not None and c.hi is not None and c.paper_value is not None
        tol = MSE_REL_TOL * c.paper_value
        assert (c.verdict == "holds") == (c.paper_value - tol <= c.lo and c.hi <= c.paper_value
                                          + tol)
    check_csv(out / "fig2_mse.csv", ["mse_gru", "mse_hold_last"], min_seeds=5)
    check_png(out / "fig2.png", errorbars=2, paper_points=3)
    import csv

    for row in csv.DictReader((out / "fig2.csv").open()):
        assert all(float(v) == float(v) for v in row.values())  # plain numbers


def test_train_agent_and_reproduce_figure_3_tiny(tmp_path, capsys) -> None:
    data, out = tmp_path / "data", tmp_path / "fig"
    assert main(["--data-dir", str(data), "train", "network-twin", "--algorithm", "dqn",
                 "--steps", "200", "--param", "predictor=hold", "--param", "U=3"]) == 0
    assert (data / "agents" / "network-twin-dqn-U3.zip").exists()
    assert main(["--data-dir", str(data), "reproduce", "network-twin", "--figure", "3",
                 "--out", str(out), "--steps", "240", "--episodes", "2", "--seeds", "2",
                 "--param", "U=3", "--param", "predictor=hold"]) == 0
    printed = capsys.readouterr().out
    assert "SAC above GRU + DQN" in printed and "10.31" in printed
    assert "95 % CI of the fitted slope (per training episode) above 0" in printed
    rows = check_csv(out / "fig3_eval.csv", ["reward_per_slot_iqm"], min_seeds=2)
    assert len(rows) == 6  # six agents
    check_csv(out / "fig3.csv", ["reward_per_slot_iqm"], min_seeds=2)
    assert "np." not in (out / "fig3.csv").read_text() + (out / "fig3_eval.csv").read_text()
    check_png(out / "fig3.png", paper_points=1)  # the paper's +10.31 % line on the gain panel
    f = check_claims(out / "fig3-claims.json", reasons=REASONS, min_claims=4)
    assert f.seeds == [0, 1] and "--seeds 2" in f.command
    assert {c.id for c in f.claims} >= {"fig3/gain", "fig3/sac-above-dqn", "fig3/sac-rises"}


@pytest.mark.parametrize("argv, words", [
    # no GRU ships for U = 7: training an agent for it names the command that makes one
    (["train", "network-twin", "--algorithm", "sac", "--param", "U=7"],
     "twinbed train network-twin-gru --param U=7"),
    (["train", "network-twin-gru", "--param", "U=abc"], "parameter U"),
    (["train", "network-twin-gru", "--length", "3"], "--length must exceed M=5"),
    (["train", "network-twin-gru", "--param", "nope"], "NAME=VALUE"),
    (["reproduce", "network-twin", "--figure", "3", "--param", "epsilon=2"], "epsilon"),
])
def test_user_errors_are_one_line_exit_2(tmp_path, capsys, argv, words) -> None:
    assert main(["--data-dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
