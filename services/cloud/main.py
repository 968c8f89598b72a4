"""cloud: the twin store and its REST API; decodes syncs and updates twins (scenario roles)."""

from fastapi import FastAPI

from twinbed_services.cloud.twins_api import router
from twinbed_services.common import create_service


def create() -> FastAPI:
    return create_service("cloud", routers=[router])
