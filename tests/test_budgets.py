"""`twinbed artifacts --budgets`: the shipped agents' budgets beside their papers'."""

from __future__ import annotations

import json

import pytest

from twinbed import cli
from twinbed.budgets import budget_rows, end_of_curve


def _curve(values: list[float], step: int = 100) -> list[dict[str, float]]:
    return [{"timesteps": step * (i + 1), "mean_reward": v} for i, v in enumerate(values)]


def test_end_of_curve_is_the_fitted_change_over_the_last_quarter() -> None:
    # flat for 30 points, then a line rising by 1 per point over the last 10 (the quarter)
    values = [10.0] * 30 + [10.0 + i for i in range(1, 11)]
    change, start, level = end_of_curve(_curve(values))  # type: ignore[misc]
    assert start == 3100  # last quarter of 100..4000: steps >= 3025 -> first point 3100
    assert level == pytest.approx(20.0)
    assert change == pytest.approx(100 * 9 / 20)  # 9 steps of +1 across it, over level 20


def test_a_flat_or_falling_curve_says_so_and_a_short_one_says_nothing() -> None:
    assert end_of_curve(_curve([5.0] * 12))[0] == pytest.approx(0.0)  # type: ignore[index]
    assert end_of_curve(_curve([float(20 - i) for i in range(20)]))[0] < 0  # type: ignore[index]
    assert end_of_curve(_curve([1.0, 2.0])) is None
    assert end_of_curve([{"m": 1, "nrmse": 0.5}] * 5) is None  # not a reward curve


def test_every_shipped_agent_has_a_row_with_its_papers_budget_or_why_not() -> None:
    rows = {r.file: r for r in budget_rows()}
    assert any(f.startswith("semantic-sac") for f in rows)
    for r in rows.values():
        assert r.paper is not None and r.paper.source, f"{r.file}: no paper budget declared"
        assert r.steps is not None and r.steps > 0
        assert r.tail_change_pct is not None, f"{r.file}: its record has no reward curve"
    sac = next(r for f, r in rows.items() if f.startswith("semantic-sac"))
    assert sac.paper is not None and sac.paper.steps == 100_000  # Table III: 20 x 5000
    assert sac.fraction == pytest.approx(sac.steps / 100_000)  # type: ignore[operator]
    assert "semantic-codec.npz" not in rows  # not an agent: no training budget


def test_cli_prints_the_table_and_the_papers_words(capsys) -> None:
    assert cli.main(["artifacts", "--budgets"]) == 0
    out = capsys.readouterr().out
    assert "Table III: n_epoch = 20 epochs of n_step = 5000 steps" in out
    assert "semantic-ppo.zip" in out and "100,000" in out
    assert cli.main(["artifacts", "--budgets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["file"] for r in rows} == {r.file for r in budget_rows()}
