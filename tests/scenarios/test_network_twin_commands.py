"""`twinbed train network-twin-gru`, `train network-twin`, `reproduce network-twin`, tiny."""

from __future__ import annotations

import json

import pytest

from twinbed.cli import main


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
    assert "Fig. 2 MSE user 9" in printed and "training the GRU" not in printed  # reused
    claims = json.loads((out / "fig2-claims.json").read_text())
    assert [c["paper"] for c in claims[:3]] == ["0.007", "0.07", "0.24"]
    for name in ("fig2.csv", "fig2_mse.csv", "fig2.png"):
        assert (out / name).stat().st_size > 0
    import csv

    for name in ("fig2.csv", "fig2_mse.csv"):
        for row in csv.DictReader((out / name).open()):
            assert all(float(v) == float(v) for v in row.values())  # plain numbers


def test_train_agent_and_reproduce_figure_3_tiny(tmp_path, capsys) -> None:
    data, out = tmp_path / "data", tmp_path / "fig"
    assert main(["--data-dir", str(data), "train", "network-twin", "--algorithm", "dqn",
                 "--steps", "200", "--param", "predictor=hold", "--param", "U=3"]) == 0
    assert (data / "agents" / "network-twin-dqn-U3.zip").exists()
    assert main(["--data-dir", str(data), "reproduce", "network-twin", "--figure", "3",
                 "--out", str(out), "--steps", "240", "--episodes", "2", "--param", "U=3",
                 "--param", "predictor=hold"]) == 0
    printed = capsys.readouterr().out
    assert "SAC vs GRU+DQN" in printed and "10.31" in printed
    rows = (out / "fig3_eval.csv").read_text().splitlines()
    assert len(rows) == 7  # header + six agents
    assert "np." not in (out / "fig3.csv").read_text() + "".join(rows)
    assert (out / "fig3.png").stat().st_size > 0


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
