"""The Litestar HTTP API over graphrag's Engine (see server.app.create_app)."""

from server.app import create_app

__all__ = ["create_app"]
