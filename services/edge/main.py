"""edge: plays the scenario handlers of its role (scenarios/<name>/roles.py)."""

from fastapi import FastAPI

from twinbed_services.common import create_service


def create() -> FastAPI:
    return create_service("edge")
