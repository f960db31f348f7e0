"""Studio: the live SNN training monitor (``python -m sw.studio``), seed 001.

``create_app`` builds the FastAPI app: ``/api/training`` (start, stop, status,
jobs, SSE stream), ``/api/runs`` (stored metrics, CSV) and the page at ``/``.
"""

from .app import create_app
from .settings import StudioSettings

__all__ = ["create_app", "StudioSettings"]
