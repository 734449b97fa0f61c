"""The test IdP itself behaves like a real one (PKCE required, wrong passwords fail,
refresh refused for disabled users, back-channel logout delivered): tests/idp/smoke.py."""

import subprocess
import sys
from pathlib import Path

SMOKE = Path(__file__).resolve().parents[1] / "idp" / "smoke.py"


def test_idp_smoke() -> None:
    proc = subprocess.run([sys.executable, str(SMOKE)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " 0 failed" in proc.stdout.splitlines()[-1]
