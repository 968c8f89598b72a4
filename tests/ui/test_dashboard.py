"""The dashboard in a real browser against the live stack: start a run from the form, watch
its charts grow and its twins' versions rise live, stop it, compare it with a second run; form
errors next to their field; read-only without the token; figures with their claims; missing
things said clearly; narrow windows and the keyboard. Every test also asserts that the page
logged no console error, had no failed request and sent nothing off the host."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from twinbed import claims as cl
from twinbed import signing, stats
from twinbed.report import pyplot, save_png
from twinbed.stack import free_port

pytestmark = pytest.mark.integration

RUNNING_ROUNDS = 100_000  # stopped by the test long before


def chart_points(page: Any, title: str) -> int:
    """Points drawn in the chart captioned ``title`` (the chart keeps its count on its
    element), -1 when there is no such chart."""
    fig = page.locator(f"figure.chart[aria-label='{title}']")
    return int(fig.first.get_attribute("data-points") or 0) if fig.count() else -1


def wait_until(fn: Any, what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_start_watch_stop_and_compare(dash: Any, live: Any) -> None:
    page = dash.page
    page.goto(dash.base)  # the controller's root leads to the dashboard
    assert page.url == f"{dash.base}/ui/"
    dash.open()
    dash.login()
    page.wait_for_selector("#start-form")
    page.select_option("#scenario", "compression")
    page.select_option("#algorithm", "fixed-bf")
    page.fill("#seed", "3")
    page.fill("#rounds", str(RUNNING_ROUNDS))
    page.fill("#param-K", "3")
    dash.shot("runs")
    page.click("#start")
    page.wait_for_url("**/ui/#/run/*")
    run_id = page.url.rsplit("/", 1)[1]

    # the charts grow as rounds arrive
    page.wait_for_selector("figure.chart figcaption:text-is('T_max_s')")
    first = wait_until(lambda: chart_points(page, "T_max_s") >= 2, "a first rounds' points")
    assert first
    n1 = chart_points(page, "T_max_s")
    wait_until(lambda: chart_points(page, "T_max_s") > n1 + 2, "the chart to grow")

    # the bound (compression: the centralized optimum on the same seeded channels), dashed
    page.wait_for_selector("#bound-note:has-text('centralized')", timeout=90_000)
    t_max = page.locator("figure.chart[aria-label='T_max_s'] .u-legend .u-series")
    wait_until(lambda: t_max.count() == 2, "the bound's line on the T_max_s chart")
    assert "bound: centralized" in t_max.nth(1).inner_text()

    # the twins table follows the server-sent events: sensor-0's version rises
    row = f"tr[data-twin='{run_id}.sensor-0']"
    page.wait_for_selector(row)
    v1 = int(page.get_attribute(row, "data-version"))
    link = page.query_selector(f"{row} a")
    wait_until(lambda: int(page.get_attribute(row, "data-version")) > v1 + 2, "twin versions")
    # rows update in place: a row rebuilt per event detaches the link under a user's click
    assert link.evaluate("a => a.isConnected")
    assert page.locator("#twins tbody tr").count() == 3
    dash.shot("run")

    # the twin's page: its signal against the oracle's, its version rising live
    page.click(f"{row} a")
    page.wait_for_selector("figure.chart figcaption:has-text('signal: twin vs oracle')")
    t1 = int(page.text_content("#twin-version"))
    wait_until(lambda: int(page.text_content("#twin-version")) > t1, "the twin page to update")
    assert page.locator("#twin-state .empty").count() == 0  # the oracle's signal was found
    assert page.locator("#twin-timeline figure.chart").count() >= 3
    dash.shot("twin")

    # stop it from its page
    page.go_back()
    page.wait_for_selector("#stop")
    page.click("#stop")
    page.wait_for_selector("#run-head .badge-stopped", timeout=60_000)
    stopped = live.controller.get(f"/runs/{run_id}").json()
    assert stopped["status"]["status"] == "stopped"
    done = stopped["status"]["rounds_done"]
    assert 3 < done < RUNNING_ROUNDS

    # a second run (another algorithm), compared with the first on shared axes
    other = live.start_run(scenario="compression", algorithm="stackelberg", seed=3, rounds=4,
                           params={"K": 3})
    live.wait_run(other)
    dash.open(f"#/compare?scenario=compression&runs={run_id},{other}")
    page.wait_for_selector("#compare-charts figure.chart")
    legend = page.locator("#compare-charts figure.chart").first.locator(".u-legend .u-series")
    assert legend.count() == 2  # one line per run
    labels = page.locator("#compare-charts figure.chart").first.inner_text()
    assert "fixed-bf s3" in labels and "stackelberg s3" in labels
    assert chart_points(page, "T_max_s") == max(done, 4)
    dash.shot("compare")
    assert dash.watch.problems() == []


def test_form_errors_next_to_the_field(dash: Any) -> None:
    page = dash.page
    dash.open()
    dash.login()
    page.wait_for_selector("#start-form")
    page.select_option("#scenario", "compression")
    page.fill("#param-K", "0")  # out of range (K >= 1)
    page.fill("#extra-params", '{"no_such_param": 1}')
    page.click("#start")
    k_error = page.locator("[data-field='params.K'] .field-error")
    k_error.wait_for()
    assert "parameter 'K'" in k_error.inner_text()
    assert page.get_attribute("#param-K", "aria-invalid") == "true"
    unknown = page.locator("[data-field='params'] .field-error")
    assert "unknown parameter 'no_such_param'" in unknown.inner_text()
    assert "#/runs" in page.url or page.url.endswith("/ui/")  # nothing started
    dash.shot("form-errors")
    assert dash.watch.problems(allow=frozenset({(422, "POST", "/runs")})) == []


def test_read_only_without_token(dash: Any, live: Any) -> None:
    run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=5, rounds=2,
                            params={"K": 2})
    live.wait_run(run_id)
    page = dash.page
    dash.open()
    page.wait_for_selector(f"tr[data-run='{run_id}']")
    assert page.locator("#start-form").count() == 0
    assert "Read-only" in page.inner_text("#readonly-note")
    assert page.locator(f"tr[data-run='{run_id}'] [data-action='delete']").is_disabled()
    # the server refuses too: the page's own fetch without a token gets 401
    status = page.evaluate("(id) => fetch(`/runs/${id}`, {method: 'DELETE'}).then((r) => r.status)",
                           run_id)
    assert status == 401
    assert live.controller.get(f"/runs/{run_id}").status_code == 200
    assert dash.watch.problems(allow=frozenset({(401, "DELETE", f"/runs/{run_id}")})) == []


def test_figures_with_claims(dash: Any, live: Any) -> None:
    """A reproduced figure in the data directory, written with the project's own writers."""
    out = Path(live.info.data_dir) / "figures" / "compression"
    out.mkdir(parents=True, exist_ok=True)
    est = stats.mean_ci([8.0, 8.4, 8.2, 8.6, 8.1])
    claims = [cl.claim("fig9/red", "reduction vs baseline [%]", cl.near(est, 8.3, 1.0, unit="%"))]
    cl.write(out / "fig9-claims.json", claims, scenario="compression", figure=9, seeds=[0, 1],
             command="twinbed reproduce compression --figure 9")
    fig, ax = pyplot().subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    save_png(fig, out / "fig9.png")
    page = dash.page
    dash.open("#/figures")
    table = page.locator("table.claims")
    table.wait_for()
    assert "reduction vs baseline" in table.inner_text()
    assert "holds" in table.inner_text()
    width = page.locator("img[src='/figures/compression/fig9.png']").evaluate(
        """(img) => img.complete ? img.naturalWidth : new Promise((done) => {
             img.onload = () => done(img.naturalWidth);
             img.onerror = () => done(0);
           })""")
    assert width > 0  # the PNG was served and decoded
    dash.shot("figures")
    assert dash.watch.problems() == []


def test_a_degraded_run_says_why(dash: Any, live: Any) -> None:
    """A run whose rounds missed most party reports (the sensor paused, SIGSTOP) ends
    'degraded'; its page says so, with the count, as an alert."""
    pid = live.stack.load().pids["sensor"]
    os.kill(pid, signal.SIGSTOP)
    try:
        run_id = live.start_run(scenario="compression", algorithm="fixed-bf", seed=8, rounds=2,
                                params={"K": 2}, deadline_s=0.5)
        status = live.wait_run(run_id)["status"]
    finally:
        os.kill(pid, signal.SIGCONT)
    assert status["status"] == "degraded", status
    page = dash.page
    dash.open(f"#/run/{run_id}")
    page.wait_for_selector("[role=alert]")
    text = page.locator("[role=alert]").first.inner_text()
    assert text.startswith("Run degraded:") and "party reports missing" in text
    assert "degraded" in page.locator(".summary").inner_text()
    assert dash.watch.problems() == []


def test_missing_things_are_said(dash: Any) -> None:
    page = dash.page
    dash.open("#/twin/rnope.sensor-0")
    assert "twin missing" in page.locator("[role=alert]").inner_text()
    dash.open("#/run/rnope")
    page.wait_for_selector("[role=alert]")
    assert "no such run" in page.locator("[role=alert]").inner_text()
    assert dash.watch.problems(allow=frozenset({(404, "GET", "/twins/rnope.sensor-0"),
                                                (404, "GET", "/runs/rnope")})) == []


def test_narrow_window_and_keyboard(dash: Any) -> None:
    page = dash.page
    page.set_viewport_size({"width": 380, "height": 800})
    dash.open()
    dash.login()
    page.wait_for_selector("#start-form")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px at 380px"
    # every control is reachable with Tab: walk until the start button has the focus
    page.locator("body").focus()
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "start":
            break
    else:
        raise AssertionError("the start button is not reachable with Tab")
    dash.shot("runs-narrow")
    assert dash.watch.problems() == []


def test_twin_pages_by_kind(dash: Any, live: Any) -> None:
    """Positions on a map (network twin: every user; fl-migration: a user and its path),
    fl-migration's accuracy on the timeline, federated's coalitions."""
    runs = {
        "network": live.start_run(scenario="network-twin", algorithm="never", seed=1, rounds=4,
                                  params={"U": 3, "predictor": "hold"}),
        "user-0": live.start_run(scenario="fl-migration", algorithm="nearest", seed=2, rounds=2,
                                 params={"U": 4, "S": 2, "new_samples_low": 30,
                                         "new_samples_high": 60, "E_s": 1, "E_us": 1}),
        "global-dt": live.start_run(scenario="federated", algorithm="greedy", seed=5, rounds=1,
                                    params={"M": 16, "N": 5, "K": 4}),
    }
    for run_id in runs.values():
        view = live.wait_run(run_id, timeout_s=240)
        assert view["status"]["status"] == "completed", live.logs()
    page = dash.page
    dash.open(f"#/twin/{runs['network']}.network")
    page.wait_for_selector("figure.map svg")
    assert page.locator("figure.map svg circle").count() == 3  # every user where the twin has it
    dash.shot("twin-network")
    dash.open(f"#/twin/{runs['user-0']}.user-0")
    page.wait_for_selector("figure.map svg polyline")  # the user's path over the versions
    page.wait_for_selector("figure.chart[aria-label='state: accuracy']")
    assert chart_points(page, "state: accuracy") == 2
    dash.shot("twin-fl-user")
    dash.open(f"#/twin/{runs['global-dt']}.global-dt")
    page.wait_for_selector("figure.coalitions table")
    assert page.locator("figure.coalitions tbody tr").count() == 4  # one per partial-DT
    dash.shot("twin-federated")
    assert dash.watch.problems() == []


def test_redis_down_is_said(dash: Any, tmp_path: Path) -> None:
    """A controller whose Redis is gone (started as a container starts it, `twinbed serve`):
    the header and the runs page say Redis is down instead of failing silently."""
    port = free_port()
    keys = tmp_path / "keys"  # a service refuses to start without its bus key (issue 14)
    signing.write_keys(keys, signing.new_seeds())
    env = dict(os.environ, TWINBED_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
               TWINBED_PORT=str(port), TWINBED_DATA_DIR=str(tmp_path),
               TWINBED_BUS_KEY=str(signing.key_file(keys, "controller")),
               TWINBED_BUS_PUBKEYS=str(signing.pub_dir(keys)))
    proc = subprocess.Popen([sys.executable, "-m", "twinbed", "serve", "controller"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base), "the controller to answer", 60)
        dash.page.goto(f"{base}/ui/#/runs")
        dash.page.wait_for_selector("#health.bad")
        assert "Redis down" in dash.page.inner_text("#health")
        alert = dash.page.locator("#runs-table [role=alert]")
        alert.wait_for()
        assert "Redis is unreachable" in alert.inner_text()
        dash.shot("redis-down")
    finally:
        proc.terminate()
        proc.wait(30)
    allowed = {(503, "GET", "/health"), (503, "GET", "/runs")}
    assert dash.watch.problems(allow=frozenset(allowed)) == []


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False
