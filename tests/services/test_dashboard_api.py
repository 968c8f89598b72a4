"""The controller's dashboard routes without a browser: the static files, figure files, and
the clear 503 a page shows when Redis is down (the browser tests cover the rest live)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from twinbed.config import get_settings
from twinbed.stack import free_port
from twinbed_services.controller.main import create


@pytest.fixture
def controller(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest,
               bus_keys_env: Callable[[str], None]) -> Iterator[TestClient]:
    """The controller app on the Redis the test names (``redis_url``), data in tmp_path."""
    bus_keys_env("controller")
    monkeypatch.setenv("TWINBED_REDIS_URL", request.param)
    monkeypatch.setenv("TWINBED_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with TestClient(create()) as client:
            yield client
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("controller", [f"redis://127.0.0.1:{free_port()}/0"], indirect=True)
def test_redis_down_is_a_clear_503_not_a_500(controller: TestClient) -> None:
    resp = controller.get("/runs")
    assert resp.status_code == 503
    assert "Redis is unreachable" in resp.json()["detail"]
    assert controller.get("/twins", params={"run_id": "r1"}).status_code == 503
    assert controller.get("/health").status_code == 503


@pytest.fixture
def live_redis_controller(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str,
                          bus_keys_env: Callable[[str], None]
                          ) -> Iterator[tuple[TestClient, Path]]:
    bus_keys_env("controller")
    monkeypatch.setenv("TWINBED_REDIS_URL", redis_url)
    monkeypatch.setenv("TWINBED_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with TestClient(create()) as client:
            yield client, tmp_path
    finally:
        get_settings.cache_clear()


def test_dashboard_files_and_figures(live_redis_controller: tuple[TestClient, Path]) -> None:
    client, data = live_redis_controller
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200 and 'src="js/app.js"' in page.text
    assert "uPlot" in client.get("/ui/vendor/uPlot.iife.min.js").text
    assert client.get("/figures/compression/fig1.png").status_code == 404
    assert client.get("/figures/compression/..%2Fsecret.png").status_code in (404, 422)
    out = data / "figures" / "compression"
    out.mkdir(parents=True)
    (out / "fig2.png").write_bytes(b"\x89PNG not really")
    figs = {f["scenario"]: f for f in client.get("/figures").json()}
    assert figs["compression"]["figures"][0]["pngs"] == ["fig2.png"]
    assert client.get("/figures/compression/fig2.png").content == b"\x89PNG not really"
    assert client.get("/twins/rnone.x/oracle").status_code == 404
