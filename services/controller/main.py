"""controller: runs, decision makers, round metrics, run records, and the web dashboard."""

from fastapi import FastAPI

from twinbed_services.common import create_service
from twinbed_services.controller import dashboard
from twinbed_services.controller.driver import GENERIC_HANDLERS, supervise
from twinbed_services.controller.retention import retention
from twinbed_services.controller.runs_api import router


def create() -> FastAPI:
    app = create_service("controller", routers=[router], generic_handlers=GENERIC_HANDLERS,
                         tasks=[supervise, retention])
    dashboard.install(app)
    return app
