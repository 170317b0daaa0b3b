"""``axillary-predictor serve``: the web app (trame-slicer) on http://HOST:PORT/.

Needs the ``[web]`` extra (``pip install "axillary-predictor[web]"``). There is no
authentication: the server binds to the loopback interface unless ``--host`` says otherwise,
and then warns. The page loads nothing from outside the server (no CDN, no fonts, no telemetry).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

from AxillaryPredictorLib.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1: this machine only; the app has no login)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--work-dir", help="folder for uploads, exports and reports (default: a new temporary "
                                           "folder)")


def is_loopback(host: str) -> bool:
    """True when ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, not {args.port}.")
    try:
        from AxillaryPredictorLib.web.app import AxillaryPredictorWebApp
    except ImportError as error:
        raise InputError(f"The web app needs the [web] extra ({error}): pip install "
                         "'axillary-predictor[web]' (or run scripts/bootstrap.sh).") from error
    if not is_loopback(args.host):
        print(f"warning: serving on {args.host}: anyone who can reach this address can use the app and read "
              "the cases loaded in it; it has no authentication (see docs/web.md).", file=sys.stderr)
    for name in ("trame_server", "trame_client", "wslink"):  # they log every template token at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    app = AxillaryPredictorWebApp(work_dir=args.work_dir)
    print(f"AxillaryPredictor web app: http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    # trame also parses sys.argv; hand it only what this command decided
    sys.argv = sys.argv[:1]
    app.server.start(host=args.host, port=args.port, open_browser=False, timeout=0, show_connection_info=True)
    return 0
