"""twinbed.stack.local_stack: the helper benchmarks and scripts use to run against a live stack."""

from __future__ import annotations

import warnings

import httpx
import pytest

from twinbed.stack import local_stack


@pytest.mark.integration
def test_local_stack_runs_a_run_to_the_end_and_stops(tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # no leaked log handles
        with local_stack(tmp_path) as live:
            view = live.run("compression", "fixed-bf", 2, params={"K": 2})
            assert view["status"]["status"] == "completed"
            assert [r["round"] for r in view["rounds"]] == [0, 1]
            url = live.info.url("controller")
            with pytest.raises(httpx.HTTPStatusError):
                live.run("compression", "nope", 1)  # refused: 422, raised, stack still stopped
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + "/health", timeout=1)
        assert not (tmp_path / "stack.json").exists()
