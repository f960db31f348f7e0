"""``python -m sw.studio [--host H] [--port P] [--token T] [--allow-host NAME] [--db FILE] ...``.

Listening on anything but loopback needs an access token: ``--token``,
``$SNN_STUDIO_TOKEN``, or else one is generated and printed with the URL (as
Jupyter does).  The listening socket is opened before the banner is printed: a port that is out of
range or already in use stops with one ``error:`` line (exit 2) instead of a banner
followed by a traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import socket
import sys
from pathlib import Path

from hw.cli import USAGE, ArgumentParser, check_number, error

from .settings import StudioSettings, is_loopback_host


def _url(host: str, port: int, token: str | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def banner(host: str, port: int, token: str | None, generated: bool) -> list[str]:
    """The lines printed at start: where to open the page and, for a generated token, with it."""
    hosts = [host] if host not in ("0.0.0.0", "::", "") else ["127.0.0.1", socket.gethostname()]
    lines = [_url(h, port, token if generated else None) for h in hosts]
    if token and not generated:
        lines = [f"{u}?token=<your token>" for u in lines]
    return lines


def open_socket(host: str, port: int) -> socket.socket:
    """A bound, listening TCP socket on ``host:port``; ``ValueError`` (one line) when that is impossible."""
    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be 1..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ValueError(f"--host {host!r} cannot be resolved ({err.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn does
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ValueError(f"port {port} on {host} is already in use (another Studio or server?); "
                             f"stop it or pick another port with --port {port + 1}") from None
        if err.errno == errno.EACCES:
            raise ValueError(f"no permission to listen on port {port} (ports below 1024 need root); "
                             "pick one above 1023 with --port") from None
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve the Studio until interrupted; returns the exit status."""
    defaults = StudioSettings()
    p = ArgumentParser(prog="python -m sw.studio", description="SNN Studio training monitor")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--token", default=defaults.token,
                   help="access token (default $SNN_STUDIO_TOKEN; generated when --host is not loopback)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another Host name to answer to (a DNS name or proxy in front); '*' for any")
    p.add_argument("--max-body", type=int, default=defaults.max_body_bytes, help="largest request body, bytes")
    p.add_argument("--db", type=Path, default=defaults.db_path, help="SQLite file for jobs and metrics")
    p.add_argument("--mnist-dir", type=Path, default=defaults.mnist_dir,
                   help="folder with the MNIST IDX files (else MNIST falls back to synthetic)")
    p.add_argument("--jobs", type=int, default=defaults.max_concurrent_jobs, help="jobs training at once")
    p.add_argument("--max-active", type=int, default=defaults.max_active_jobs,
                   help="running + waiting jobs accepted")
    p.add_argument("--torch-threads", type=int, default=defaults.torch_threads)
    args = p.parse_args(argv)
    try:
        check_number("--jobs", args.jobs, minimum=1)
        check_number("--max-active", args.max_active, minimum=1)
        check_number("--torch-threads", args.torch_threads, minimum=1)
        check_number("--max-body", args.max_body, minimum=1)
        token, generated = args.token or None, False
        if token is None and not is_loopback_host(args.host):
            token, generated = secrets.token_urlsafe(24), True
        settings = StudioSettings(db_path=args.db, mnist_dir=args.mnist_dir, max_concurrent_jobs=args.jobs,
                                  max_active_jobs=max(args.max_active, args.jobs),
                                  torch_threads=args.torch_threads, host=args.host, token=token,
                                  allowed_hosts=tuple(args.allow_host), max_body_bytes=args.max_body)
        if settings.db_path.is_dir():
            raise ValueError(f"--db {settings.db_path} is a directory; give the SQLite file")
        if settings.mnist_dir is not None and not settings.mnist_dir.is_dir():
            raise ValueError(f"--mnist-dir {settings.mnist_dir} is not a directory")
        sock = open_socket(args.host, args.port)
    except ValueError as exc:
        return error(str(exc), USAGE)
    from .app import create_app  # late: the checks above answer in a fraction of a second
    from .server import StudioServer

    try:
        app = create_app(settings)
    except (OSError, ValueError) as exc:  # e.g. the SQLite file cannot be created
        sock.close()
        return error(f"cannot start the Studio: {exc}")
    urls = banner(args.host, args.port, token, generated)
    print(f"SNN Studio on {urls[0]}  (runs stored in {settings.db_path})", flush=True)
    for url in urls[1:]:
        print(f"            or {url}", flush=True)
    if token:
        print("  the access token is needed by every client (page: ?token=; API: Authorization: Bearer)", flush=True)
    try:
        StudioServer(app).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C is how the server is stopped (uvicorn.run swallows it too)
        pass
    finally:
        sock.close()
    return 0


def exit_now(status: int) -> None:
    """Leave without the interpreter's teardown: every job has ended and the store is closed,
    and tearing down torch & co. takes about a second (more under load), as would waiting for a
    runner that ignored its stop while still loading data."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
