#!/usr/bin/env bash
# Set up .venv (first run only), lint with ruff, and run the whole pytest suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$AP_ROOT"
ruff check .
exec python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
