"""Python requirements of the module inside Slicer, installed on first use.

Slicer ships numpy, SimpleITK and vtk; installing our requirements must never replace
them, so installation passes a constraint file pinning the versions Slicer has.
This module decides *what* to install (testable anywhere); the Slicer module calls
``slicer.packaging.pip_ensure`` when it exists, else ``slicer.util.pip_install`` after
asking the user.
"""

from __future__ import annotations

import platform
import re
from importlib import metadata
from pathlib import Path

#: Packages Slicer itself provides: pinned to the installed version, never upgraded.
SLICER_OWNED = ("numpy", "SimpleITK", "vtk")

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def read_requirements(path: str | Path, system: str | None = None) -> list[str]:
    """Requirement lines of ``requirements.txt`` that apply on this platform.

    ``xgboost-cpu`` is used on Linux and Windows, ``xgboost`` on macOS (no CPU-only
    wheel there); environment markers are evaluated for ``sys_platform`` only.
    """
    system = system or platform.system()
    platform_tag = {"Darwin": "darwin", "Windows": "win32"}.get(system, "linux")
    lines = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, _, marker = line.partition(";")
        marker = marker.strip()
        if marker and not _marker_applies(marker, platform_tag):
            continue
        lines.append(requirement.strip())
    return lines


def _marker_applies(marker: str, platform_tag: str) -> bool:
    match = re.fullmatch(r"sys_platform\s*(==|!=)\s*['\"](\w+)['\"]", marker)
    if not match:
        raise ValueError(f"Unsupported environment marker '{marker}' in requirements.txt")
    operator, value = match.groups()
    return (platform_tag == value) == (operator == "==")


def requirement_name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if not match:
        raise ValueError(f"Cannot read a package name from requirement '{requirement}'")
    return match.group(1)


def missing_requirements(requirements: list[str]) -> list[str]:
    """Requirements whose package is not installed at all (version ranges are left to pip)."""
    missing = []
    for requirement in requirements:
        try:
            metadata.version(requirement_name(requirement))
        except metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


def slicer_constraints() -> list[str]:
    """``name==version`` pins for the packages Slicer owns that are installed here."""
    pins = []
    for name in SLICER_OWNED:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins
