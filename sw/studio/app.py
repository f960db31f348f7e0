"""App factory: one FastAPI app with the routers, the static page and a job manager,
behind the access guard (Host, Origin, token) and the body-size limit."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import State

from .jobs import JobLimitReached, JobManager, JobNotFound, Runner
from .limits import BodyLimit, trim_errors
from .routers import hardware, runs, training
from .security import AccessGuard
from .settings import StudioSettings
from .store import Store

STATIC_DIR = Path(__file__).with_name("static")


class _AppState(State):
    """``app.state`` whose ``manager`` is built on first use.

    So the app works whether or not its startup ran: under a server or
    ``with TestClient(app)`` the lifespan builds it at startup, while a bare
    ``TestClient(create_app())`` or an app mounted in another app (whose
    sub-app lifespans do not run) builds it on the first request.
    """

    def __init__(self, factory: Callable[[], tuple[JobManager, Store]]) -> None:
        super().__init__()
        object.__setattr__(self, "_factory", factory)
        object.__setattr__(self, "_lock", threading.Lock())

    def __getattr__(self, key: str) -> Any:
        if key == "manager":
            with self._lock:
                if "manager" not in self._state:
                    self._state["manager"], self._state["store"] = self._factory()
        return super().__getattr__(key)

    def stop_jobs(self) -> None:
        """Stop every job now (the server is going down), ending any that lingers; blocks < 1 s."""
        with self._lock:
            manager = self._state.get("manager")
        if manager is not None:
            manager.stop_all()

    def close(self) -> None:
        """Shut the manager down and close its store, if they were built."""
        with self._lock:
            manager, store = self._state.pop("manager", None), self._state.pop("store", None)
        if manager is not None:
            manager.shutdown()
        if store is not None:
            store.close()


def create_app(settings: StudioSettings | None = None, runner: Runner | None = None) -> FastAPI:
    """Build the Studio app; the job manager is built at startup (or on first use
    when no startup runs) and shut down with the app.

    Args:
        settings: storage, dataset and concurrency settings (defaults from the environment).
        runner: the training function (default ``sw.studio.trainer.run_training``).
    """
    settings = settings or StudioSettings()
    preload = None
    if runner is None:
        from .trainer import preload
        from .trainer import run_training as runner

    def build() -> tuple[JobManager, Store]:
        import torch

        torch.set_num_threads(settings.torch_threads)
        if preload is not None:
            preload()  # so the first job does not spend seconds importing (and cannot hold up an exit)
        store = Store(settings.db_path)
        return JobManager(store, settings, runner), store

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.manager  # noqa: B018 (build it now, not on the first request)
        try:
            yield
        finally:
            hardware.stop_builds(app.state)   # kill bitstream builds still running
            app.state.close()

    # docs_url/redoc_url off: their pages load Swagger/ReDoc from a CDN, and nothing here may.
    app = FastAPI(title="SNN Studio", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Live training monitor for spiking neural networks (seed 001).")
    app.state = _AppState(build)
    app.include_router(training.router)
    app.include_router(runs.router)
    app.include_router(hardware.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessGuard, settings=settings)  # outermost: nothing runs for a refused request

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.exception_handler(JobNotFound)
    async def not_found(_: Request, exc: JobNotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no job {exc.args[0]!r}"}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(trim_errors(list(exc.errors())))}, status_code=422)

    @app.exception_handler(JobLimitReached)
    async def too_many(_: Request, exc: JobLimitReached) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429)

    return app
