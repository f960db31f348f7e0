"""App factory: one FastAPI app with the routers, the static page and a job manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .jobs import JobLimitReached, JobManager, JobNotFound, Runner
from .routers import runs, training
from .settings import StudioSettings
from .store import Store

STATIC_DIR = Path(__file__).with_name("static")


def create_app(settings: StudioSettings | None = None, runner: Runner | None = None) -> FastAPI:
    """Build the Studio app; the job manager lives from startup to shutdown.

    Args:
        settings: storage, dataset and concurrency settings (defaults from the environment).
        runner: the training function (default ``sw.studio.trainer.run_training``).
    """
    settings = settings or StudioSettings()
    if runner is None:
        from .trainer import run_training as runner

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import torch

        torch.set_num_threads(settings.torch_threads)
        store = Store(settings.db_path)
        app.state.manager = JobManager(store, settings, runner)
        try:
            yield
        finally:
            app.state.manager.shutdown()
            store.close()

    # docs_url/redoc_url off: their pages load Swagger/ReDoc from a CDN, and nothing here may.
    app = FastAPI(title="SNN Studio", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Live training monitor for spiking neural networks (seed 001).")
    app.include_router(training.router)
    app.include_router(runs.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.exception_handler(JobNotFound)
    async def not_found(_: Request, exc: JobNotFound) -> JSONResponse:
        return JSONResponse({"detail": f"no job {exc.args[0]!r}"}, status_code=404)

    @app.exception_handler(JobLimitReached)
    async def too_many(_: Request, exc: JobLimitReached) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=429)

    return app
