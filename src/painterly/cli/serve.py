"""``painterly serve``: the web studio on http://127.0.0.1:8000 (page, API, job queue)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from ..errors import PainterlyError
from .common import add_device_argument, positive_int, resolve_device

log = logging.getLogger(__name__)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_parser(subparsers) -> None:
    from ..web.config import ServeConfig, default_data_dir

    d = ServeConfig()
    p = subparsers.add_parser("serve", help="the web studio: drop photos in a browser, get paintings out",
                              description="Serve the web studio and its JSON API (OpenAPI docs at /docs). "
                                          "Needs the web extra: pip install 'painterly[web]'.")
    p.add_argument("--host", default=d.host, help="address to listen on (default %(default)s: this machine only)")
    p.add_argument("--port", type=positive_int, default=d.port, help="port (default %(default)s)")
    p.add_argument("--data-dir", default=None, metavar="DIR",
                   help=f"jobs database, uploads and results (default {default_data_dir()})")
    p.add_argument("--workers", type=positive_int, default=d.workers, help="jobs run at once (default %(default)s)")
    p.add_argument("--model-dir", default=None, help="offer the networks in this folder instead of the built-in ones")
    p.add_argument("--max-upload-mb", type=float, default=d.max_upload_bytes / 2**20,
                   help="largest accepted image file in MiB (default %(default)g)")
    p.add_argument("--style-vae", default=None, metavar="PATH",
                   help="style-vae model for the /space page (default: the built-in one)")
    p.add_argument("--space-iterations", type=positive_int, default=d.space_iterations,
                   help="optimisation steps per style-space render when no AdaIN decoder is installed "
                        "(default %(default)s)")
    p.add_argument("--space-points", type=positive_int, default=d.space_prefetch_points,
                   help="points the /space page renders for 'render the whole path' (default %(default)s)")
    p.add_argument("--space-cache-mb", type=float, default=d.space_cache_mb, metavar="MB",
                   help="disk kept for /space renders; the oldest are removed beyond it (default %(default)g)")
    p.add_argument("--max-pixels", type=positive_int, default=d.max_pixels,
                   help="largest accepted image in pixels (default %(default)s)")
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    missing = [m for m in ("fastapi", "uvicorn", "multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise PainterlyError(f"the web studio needs {', '.join(missing)}: pip install 'painterly[web]'")
    import uvicorn

    from ..web.app import create_app
    from ..web.config import ServeConfig, default_data_dir

    config = ServeConfig(host=args.host, port=args.port,
                         data_dir=Path(args.data_dir).expanduser() if args.data_dir else default_data_dir(),
                         workers=args.workers, device=resolve_device(args.device), model_dir=args.model_dir,
                         max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
                         style_vae=args.style_vae, space_iterations=args.space_iterations,
                         space_prefetch_points=args.space_points,
                         space_cache_mb=args.space_cache_mb).validate()
    if config.host not in LOCAL_HOSTS:
        log.warning("listening on %s: anyone who can reach this address can use the studio", config.host)
    check_port_free(config.host, config.port)
    app = create_app(config)
    print(f"painterly studio on http://{config.host}:{config.port}/  (data in {config.data_dir}; Ctrl-C stops)",
          flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    return 0


def check_port_free(host: str, port: int) -> None:
    """A clear error now rather than uvicorn's log line and exit when the port is taken."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PainterlyError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise PainterlyError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
