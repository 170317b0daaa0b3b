"""Python requirements of the module inside Slicer, installed on first use.

Slicer ships numpy, scipy, SimpleITK, vtk and more; installing our requirements must never
replace them, so installation passes a constraint file pinning the versions Slicer has.
This module decides *what* to install and *how* (testable anywhere, see :func:`install_plan`);
the Slicer module calls ``slicer.packaging.pip_ensure`` where it exists (Slicer 5.12+), else
``slicer.util.pip_install`` (after asking the user when Slicer has a main window).
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

#: Packages Slicer itself provides that our requirements could pull in: pinned to the
#: installed version, never upgraded (Slicer 5.10: SuperBuild/External_python-*.cmake).
SLICER_OWNED = ("numpy", "scipy", "SimpleITK", "vtk", "packaging", "pillow", "requests")

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
    """Requirements not met: the package is absent, or installed at a version outside the
    requirement's range (e.g. scikit-learn 1.5 for ``scikit-learn>=1.6``)."""
    from packaging.requirements import Requirement

    missing = []
    for requirement in requirements:
        try:
            installed = metadata.version(requirement_name(requirement))
        except metadata.PackageNotFoundError:
            missing.append(requirement)
            continue
        if not Requirement(requirement).specifier.contains(installed, prereleases=True):
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


@dataclass(frozen=True)
class InstallPlan:
    """How to install ``requirements`` inside Slicer.

    command: ``"pip_ensure"`` (``slicer.packaging.pip_ensure(requirements, constraints=...)``,
    Slicer 5.12+) or ``"pip_install"`` (``slicer.util.pip_install(pipArguments)``, Slicer 5.10);
    constraints: path of the constraint file pinning the packages Slicer owns;
    question: what to ask the user before a ``pip_install``.
    """

    command: str
    requirements: list[str]
    constraints: str
    pipArguments: str  # noqa: N815 - read by the Slicer module (camelCase)
    question: str


def install_plan(requirements: list[str], folder: str | Path, *, pipEnsure: bool) -> InstallPlan:  # noqa: N803
    """Write the constraint and requirement files into ``folder`` and say how to install.
    ``pipEnsure``: ``slicer.packaging.pip_ensure`` exists in this Slicer."""
    folder = Path(folder)
    constraints = folder / "constraints.txt"
    constraints.write_text("\n".join(slicer_constraints()) + "\n", encoding="utf-8")
    requirements_file = folder / "requirements.txt"
    requirements_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    question = ("Axillary Predictor needs these Python packages, which will be downloaded and installed now:\n\n"
                + "\n".join(requirements))
    return InstallPlan(command="pip_ensure" if pipEnsure else "pip_install", requirements=list(requirements),
                       constraints=constraints.as_posix(),
                       pipArguments=f'-r "{requirements_file.as_posix()}" -c "{constraints.as_posix()}"',
                       question=question)
