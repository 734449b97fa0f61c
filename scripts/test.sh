#!/usr/bin/env bash
# Run the whole test suite (unit, integration and end-to-end with real OpenVPN,
# Redis, node-oidc-provider and headless Chromium). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec .venv/bin/python -m pytest "$@"
