"""The HTTP API (Starlette on uvicorn): a thin shell over ``Engine.decide``."""

from .app import create_app

__all__ = ["create_app"]
