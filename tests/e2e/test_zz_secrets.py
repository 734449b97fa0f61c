"""Runs last (file order): no secret may appear in any log of the whole run."""

from __future__ import annotations

import re
from pathlib import Path

from demo.stack import Stack


def test_no_secret_in_any_log(stack: Stack, seen_codes: list[str]) -> None:
    w = stack.workdir
    secrets = {
        "client secret": (w / "client-secret").read_text().strip(),
        "cookie secret": (w / "cookie-secret").read_text().strip(),
        "management password": (w / "vpn-short.mgmt-password").read_text().strip(),
        **{f"authorization code {i}": code for i, code in enumerate(seen_codes)},
        **{f"user password {u.username}": u.password for u in stack.users},
    }
    assert seen_codes, "the attack tests should have captured authorization codes"
    logs = stack.logs()
    assert any("service" in name for name in logs) and any("server.log" in n for n in logs)
    for name, text in logs.items():
        for what, value in secrets.items():
            assert value not in text, f"{what} appears in {name}"
        # no JWT (ID token, logout token) either
        assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", text), f"a JWT appears in {name}"
    assert Path(w / "config.toml").read_text().count("file:") >= 2
