#!/usr/bin/env bash
# Install everything the demo and the tests need on a fresh Debian 12 machine (as root):
# Debian packages, the test IdP's node modules (npm ci) and the Python package in .venv.
# Idempotent: what is already there is not installed again.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd: its analyzers check the shipped unit files (tests/unit/test_deploy_artifacts.py)
APT_PACKAGES=(openvpn redis-server chromium nginx-light openssl iproute2 time ca-certificates
              python3-venv systemd)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "==> apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# node-oidc-provider needs Node >= 20.12 (the machine image's Node; Debian's is too old).
if ! command -v node >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=12)?0:1)'; then
    echo "error: Node.js >= 20.12 with npm is required for the test IdP (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
fi
lock=tests/idp/package-lock.json
stamp=tests/idp/node_modules/.installed-lock
if [[ ! -f $stamp ]] || ! cmp -s "$lock" "$stamp"; then
    echo "==> npm ci (tests/idp)"
    (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error)
    cp "$lock" "$stamp"
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "==> python venv (.venv)"
    "$PY" -m venv .venv
fi
echo "==> pip install .[test]"
# A regular (not editable) install: it is what admins run, and the hook's start-up
# cost is measured on it.
.venv/bin/pip install -q --disable-pip-version-check '.[test]'
