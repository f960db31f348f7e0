"""The uvicorn server the Studio runs under: a signal first stops the jobs, then serves out.

uvicorn waits for open connections before it runs the app's shutdown, and a
Server-Sent-Events stream stays open until its job ends; so on Ctrl-C or
SIGTERM :class:`StudioServer` stops every job *first* (the streams get their
final ``stopped`` event and close), while uvicorn shuts down.
"""

from __future__ import annotations

import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI

GRACE_S = 1.2   # uvicorn's wait for open connections; the jobs end within 0.8 s of the signal


class StudioServer(uvicorn.Server):
    """``uvicorn.Server`` whose exit signal also begins the Studio app's shutdown."""

    def __init__(self, app: FastAPI, **config: object) -> None:
        config.setdefault("log_level", "warning")
        config.setdefault("timeout_graceful_shutdown", GRACE_S)
        super().__init__(uvicorn.Config(app, **config))
        self._studio = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            # not here: a signal handler may interrupt the loop thread while it holds a log's lock
            threading.Thread(target=self._studio.state.stop_jobs, name="studio-shutdown", daemon=True).start()
        super().handle_exit(sig, frame)
