#!/usr/bin/env bash
# A complete local demo: Redis, the IdP, the callback service, an OpenVPN server and
# a client, all on loopback. Pass --browser to finish the login in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec .venv/bin/python -m demo "$@"
