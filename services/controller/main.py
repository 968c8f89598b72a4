"""controller: runs, decision makers, round metrics, run records."""

from fastapi import FastAPI

from twinbed_services.common import create_service
from twinbed_services.controller.driver import GENERIC_HANDLERS, supervise
from twinbed_services.controller.retention import retention
from twinbed_services.controller.runs_api import router


def create() -> FastAPI:
    return create_service("controller", routers=[router], generic_handlers=GENERIC_HANDLERS,
                          tasks=[supervise, retention])
