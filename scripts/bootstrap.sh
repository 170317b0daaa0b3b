#!/usr/bin/env bash
# Create (or reuse) .venv in the repository and install AxillaryPredictor with
# everything it needs. Sourced by scripts/demo.sh and scripts/test.sh.
# Re-running is cheap: installation is skipped while the inputs below are unchanged.
set -euo pipefail

AP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AP_VENV="$AP_ROOT/.venv"

_ap_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

_ap_apt() {
  # Install Debian packages when missing (root or sudo needed).
  command -v apt-get >/dev/null 2>&1 || return 0
  local runner=""
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then runner="sudo"; else
      echo "warning: cannot install $* without root; install them with apt-get" >&2; return 0
    fi
  fi
  $runner apt-get update -qq >/dev/null && $runner apt-get install -y -qq "$@" >/dev/null
}

PY="$(_ap_python)" || { echo "error: Python 3.11 is required (apt-get install python3 python3-venv)" >&2; exit 1; }
missing=()
"$PY" -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
command -v gcc >/dev/null 2>&1 || missing+=(build-essential python3-dev)
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
# Debian's chromium for the web app's end-to-end test (Playwright cannot download browsers here).
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then _ap_apt "${missing[@]}"; fi

[ -x "$AP_VENV/bin/python" ] || "$PY" -m venv "$AP_VENV"

stamp="$(cat "$AP_ROOT/pyproject.toml" "$AP_ROOT/scripts/bootstrap.sh" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$AP_VENV/.axillary-predictor-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "Installing AxillaryPredictor and its dependencies into $AP_VENV ..." >&2
  pip_() { "$AP_VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }
  pip_ --upgrade "pip>=23.2" setuptools wheel
  # pyradiomics is a source package whose isolated build fails: build it against
  # the venv's numpy with versioneer present. 3.0.1 is the newest release whose
  # PyPI source archive builds (3.1.0's lacks radiomics/src/cmatrices.h).
  # SciPy < 1.17 keeps scipy.special.sph_harm, which the LBP-3D filter needs.
  pip_ "numpy>=1.26,<2.4" "scipy>=1.11,<1.17" versioneer
  pip_ --no-build-isolation "pyradiomics==3.0.1"
  pip_ -e "$AP_ROOT[test,web]"
  echo "$stamp" > "$AP_VENV/.axillary-predictor-stamp"
fi
export PATH="$AP_VENV/bin:$PATH"
export MPLBACKEND="${MPLBACKEND:-Agg}"
export PYTHONUTF8=1  # report and package texts are UTF-8 whatever the locale
