"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request

from .jobs import JobManager


def get_manager(request: Request) -> JobManager:
    """The app's job manager (set by ``create_app``)."""
    return request.app.state.manager
