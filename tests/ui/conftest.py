"""A real headless Chromium (Debian's package, driven by Playwright) against the live stack.

The browser is the system's ``/usr/bin/chromium`` (installed by ``make install`` through
``.ci/install-chromium``), never a browser Playwright downloads; missing, the tests FAIL.
Every page gets a :class:`Watch` that records console errors, failed requests, HTTP errors and
any request that leaves the host, so each test can assert there were none (or only the ones it
provoked on purpose, e.g. a 422). Screenshots go to ``tests/ui/artifacts/`` (gitignored).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

# The live stack exactly as the integration tests start it (`twinbed up --detach`).
_spec = importlib.util.spec_from_file_location(
    "twinbed_live_fixture", Path(__file__).parents[1] / "integration" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_live_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_live_module)
live = _live_module.live
Live = _live_module.Live

CHROMIUM = os.environ.get("TWINBED_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API keeps an event loop running in the
    main thread while it is open, which async tests collected after it could not start."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make install` installs Debian's `chromium` "
                    "(.ci/install-chromium); the browser tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:  # launch() gives Chromium a fresh temporary profile
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@dataclass
class Watch:
    """What went wrong on a page, as the browser saw it."""

    console: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    http_errors: list[tuple[int, str, str]] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def problems(self, allow: frozenset[tuple[int, str, str]] = frozenset()) -> list[str]:
        """Everything unexpected; ``allow`` lists the (status, method, path) a test provoked.
        Chromium also logs each such response on the console ("Failed to load resource")."""
        errors = [f"{s} {m} {p}" for s, m, p in self.http_errors if (s, m, p) not in allow]
        allowed_status = {e[0] for e in self.http_errors if e in allow}
        console = [c for c in self.console
                   if not any(f"status of {s}" in c for s in allowed_status)]
        return ([f"console: {c}" for c in console] + [f"failed: {f}" for f in self.failed]
                + [f"http: {e}" for e in errors] + [f"left the host: {u}" for u in self.foreign])


@dataclass
class Dashboard:
    page: Any
    base: str
    token: str
    watch: Watch

    def open(self, hash_: str = "#/runs") -> None:
        self.page.goto(f"{self.base}/ui/{hash_}")

    def login(self) -> None:
        self.page.fill("#token", self.token)
        self.page.click("#token-form button")
        self.page.wait_for_selector("#forget-token")

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def _sse_closed_by_us(url: str, failure: str | None) -> bool:
    """Leaving a page closes its EventSource: Chromium reports that stream as aborted."""
    return "net::ERR_ABORTED" in (failure or "") and urlsplit(url).path.endswith("/events")


@pytest.fixture
def dash(browser: Any, live: Any) -> Iterator[Dashboard]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch()
    page.on("console", lambda m: watch.console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watch.console.append(f"uncaught: {e}"))

    def on_request(req: Any) -> None:
        host = urlsplit(req.url).hostname
        if urlsplit(req.url).scheme not in ("data", "blob") and host not in LOCAL_HOSTS:
            watch.foreign.append(req.url)

    def on_failed(req: Any) -> None:
        if not _sse_closed_by_us(req.url, req.failure):
            watch.failed.append(f"{req.method} {req.url}: {req.failure}")

    def on_response(resp: Any) -> None:
        if resp.status >= 400:
            watch.http_errors.append((resp.status, resp.request.method, urlsplit(resp.url).path))

    page.on("request", on_request)
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.set_default_timeout(30_000)
    yield Dashboard(page, live.info.url("controller"), live.info.token, watch)
    context.close()
