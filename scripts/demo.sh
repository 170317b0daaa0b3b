#!/usr/bin/env bash
# Set up .venv (first run only) and run the demo on the bundled synthetic sample.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$AP_ROOT"
exec axillary-predictor demo --out "${1:-demo-output}"
