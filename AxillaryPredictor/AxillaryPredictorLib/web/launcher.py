"""Several users: a configuration for wslink's launcher, which starts one ``serve`` process per browser.

``axillary-predictor serve --launcher-config DIR`` writes ``DIR/launcher.json``, the page's static
client in ``DIR/www`` and empty ``DIR/logs`` and ``DIR/sessions``; ``python -m wslink.launcher
DIR/launcher.json`` then serves the page on HOST:PORT. Each browser that opens it gets its own
``axillary-predictor serve`` process (its own MRML scene and work folder ``DIR/sessions/<id>``) on
a port of the session range, with a random key the browser needs to connect to it. A session's
process stops ``session_timeout`` seconds after its browser disconnects. Authentication is out of
scope, as for one process.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from AxillaryPredictorLib.errors import InputError

#: What the trame client asks the launcher for (``data-app-name`` of its index.html).
APPLICATION = "trame"
#: The launcher's endpoint (the trame client's default session manager URL: ``<page>/paraview/``).
ENDPOINT = "paraview"
#: What ``serve`` prints once it accepts connections (the launcher waits for it).
READY_LINE = "AxillaryPredictor web app ready"


def session_command(work_dir: Path, session_timeout: int) -> list[str]:
    """The command the launcher runs per session (``${host}``, ``${port}``, ``${secret}``, ``${id}``:
    the launcher's values): this Python running ``axillary-predictor serve``."""
    return [sys.executable, "-m", "AxillaryPredictorLib.cli.main", "serve", "--host", "${host}", "--port", "${port}",
            "--auth-key", "${secret}", "--timeout", str(session_timeout), "--work-dir", f"{work_dir}/${{id}}"]


def launcher_config(folder: Path, host: str, port: int, session_ports: tuple[int, int],
                    session_timeout: int) -> dict[str, Any]:
    """The launcher's configuration (wslink.launcher's format: configuration, resources, properties, apps).

    The browser connects to its session on the session's port, on the host name it opened the page
    with (trame's ``USE_HOSTNAME``), so the session ports must be reachable like the launcher's."""
    first, last = session_ports
    if not 0 < first <= last <= 65535 or first <= port <= last:
        raise InputError(f"--session-ports {first}-{last} must be a range of ports (1-65535) that does not "
                         f"contain the launcher's --port {port}.")
    return {
        "configuration": {
            "host": host, "port": port, "endpoint": ENDPOINT, "content": str(folder / "www"),
            "proxy_file": str(folder / "proxy-mapping.txt"), "sessionURL": "ws://USE_HOSTNAME:${port}/ws",
            "timeout": 120, "log_dir": str(folder / "logs"), "fields": [],
        },
        "resources": [{"host": host, "port_range": [first, last]}],
        "properties": {},
        "apps": {APPLICATION: {"cmd": session_command(folder / "sessions", session_timeout),
                               "ready_line": READY_LINE}},
    }


def static_content(server: Any) -> dict[str, Path]:
    """URL prefix -> folder of everything the page loads: trame's client and the modules the app enabled."""
    from trame_client.module import vue3

    return {"": Path(vue3.www), **{prefix: Path(folder if isinstance(folder, str) else folder[0])
                                   for prefix, folder in server.serve.items()}}


def write_launcher(folder: str | Path, host: str = "127.0.0.1", port: int = 8080,
                   session_ports: tuple[int, int] = (9001, 9010), session_timeout: int = 300) -> Path:
    """Write ``launcher.json``, ``www/``, ``logs/`` and ``sessions/`` into ``folder``; returns the config's path."""
    from AxillaryPredictorLib.web.app import AxillaryPredictorWebApp

    folder = Path(folder).resolve()
    config = launcher_config(folder, host, port, session_ports, session_timeout)
    www = folder / "www"
    shutil.rmtree(www, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:  # the page is built, never served, here
        app = AxillaryPredictorWebApp(work_dir=scratch)
        for prefix, source in static_content(app.server).items():
            shutil.copytree(source, www / prefix, dirs_exist_ok=True)
    for name in ("logs", "sessions"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    path = folder / "launcher.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path
