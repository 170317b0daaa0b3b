"""``axillary-predictor serve``: the web app (trame-slicer) on http://HOST:PORT/.

Needs the ``[web]`` extra (``pip install "axillary-predictor[web]"``). There is no
authentication: the server binds to the loopback interface unless ``--host`` says otherwise,
and then warns. The page loads nothing from outside the server (no CDN, no fonts, no telemetry).

One process serves one case (one MRML scene). For several users, ``--launcher-config DIR``
writes a configuration for wslink's launcher, which starts one process per browser session
(see docs/web.md).
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
    parser.add_argument("--timeout", type=int, default=0,
                        help="stop this many seconds after the last browser disconnects (default 0: never)")
    parser.add_argument("--auth-key", help="key a browser must present to connect (the launcher sets a random one "
                                           "per session; this is not a login)")
    launcher = parser.add_argument_group("several users (wslink launcher, one process per browser session)")
    launcher.add_argument("--launcher-config", metavar="DIR",
                          help="write DIR/launcher.json and the page's static files instead of serving; then run "
                               "'python -m wslink.launcher DIR/launcher.json' (it listens on --host/--port)")
    launcher.add_argument("--session-ports", default="9001-9010", metavar="FIRST-LAST",
                          help="ports of the per-user processes (default 9001-9010: at most 10 users at once)")
    launcher.add_argument("--session-timeout", type=int, default=300,
                          help="seconds a user's process lives after its browser disconnects (default 300)")


def is_loopback(host: str) -> bool:
    """True when ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port_range(text: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in text.split("-"))
    except ValueError:
        raise InputError(f"--session-ports must look like 9001-9010, not '{text}'.") from None
    return first, last


def _warn_if_exposed(host: str) -> None:
    if not is_loopback(host):
        print(f"warning: serving on {host}: anyone who can reach this address can use the app and read "
              "the cases loaded in it; it has no authentication (see docs/web.md).", file=sys.stderr)


def _write_launcher(args: argparse.Namespace) -> int:
    from AxillaryPredictorLib.web.launcher import write_launcher

    if args.session_timeout < 1:
        raise InputError("--session-timeout must be at least 1 second (a process per user must end).")
    path = write_launcher(args.launcher_config, args.host, args.port, _port_range(args.session_ports),
                          args.session_timeout)
    _warn_if_exposed(args.host)
    print(f"launcher configuration: {path}")
    print(f"start it with: {sys.executable} -m wslink.launcher {path}")
    print(f"then open http://{args.host}:{args.port}/ (one axillary-predictor serve process per browser session)")
    return 0


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, not {args.port}.")
    if args.timeout < 0:
        raise InputError(f"--timeout must be 0 (never stop) or a number of seconds, not {args.timeout}.")
    try:
        from AxillaryPredictorLib.web.app import AxillaryPredictorWebApp
        from AxillaryPredictorLib.web.launcher import READY_LINE
    except ImportError as error:
        raise InputError(f"The web app needs the [web] extra ({error}): pip install "
                         "'axillary-predictor[web]' (or run scripts/bootstrap.sh).") from error
    for name in ("trame_server", "trame_client", "wslink"):  # they log every template token at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.launcher_config:
        return _write_launcher(args)
    _warn_if_exposed(args.host)
    app = AxillaryPredictorWebApp(work_dir=args.work_dir)
    print(f"AxillaryPredictor web app: http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    app.server.controller.on_server_ready.add(lambda **_: print(f"{READY_LINE} (port {app.server.port})", flush=True))
    # trame also parses sys.argv; hand it only what this command decided
    sys.argv = sys.argv[:1] + (["--authKey", args.auth_key] if args.auth_key else [])
    app.server.start(host=args.host, port=args.port, open_browser=False, timeout=args.timeout,
                     show_connection_info=True)
    return 0
