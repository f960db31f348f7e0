"""``python -m sw.studio [--host H] [--port P] [--db FILE] [--mnist-dir DIR] [--jobs N]``."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from .app import create_app
from .settings import StudioSettings


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve the Studio until interrupted."""
    defaults = StudioSettings()
    p = argparse.ArgumentParser(prog="python -m sw.studio", description="SNN Studio training monitor")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--db", type=Path, default=defaults.db_path, help="SQLite file for jobs and metrics")
    p.add_argument("--mnist-dir", type=Path, default=defaults.mnist_dir,
                   help="folder with the MNIST IDX files (else MNIST falls back to synthetic)")
    p.add_argument("--jobs", type=int, default=defaults.max_concurrent_jobs, help="jobs training at once")
    p.add_argument("--max-active", type=int, default=defaults.max_active_jobs,
                   help="running + waiting jobs accepted")
    p.add_argument("--torch-threads", type=int, default=defaults.torch_threads)
    args = p.parse_args(argv)
    try:
        settings = StudioSettings(db_path=args.db, mnist_dir=args.mnist_dir, max_concurrent_jobs=args.jobs,
                                  max_active_jobs=max(args.max_active, args.jobs),
                                  torch_threads=args.torch_threads)
    except ValueError as exc:
        p.error(str(exc))
    print(f"SNN Studio on http://{args.host}:{args.port}/  (runs stored in {settings.db_path})")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
