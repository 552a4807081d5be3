"""The engine's HTTP face for machines: health, readiness and metrics (the agent API builds on it)."""

from certctl_engine.http.app import build_app

__all__ = ["build_app"]
