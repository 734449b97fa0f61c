"""The server.conf lines that wire OpenVPN to the hook and the sender (pure).

One source for the shipped example, ``openvpn-sso server-conf``, the demo and the
end-to-end tests, so what we test is what we tell admins to run.
"""

from __future__ import annotations

import shlex


def server_conf_lines(*, server_id: str, hook: str, config_path: str, management: str,
                      tmp_dir: str, management_password_file: str | None = None,
                      token_lifetime: int = 28800) -> list[str]:
    """Directives for one OpenVPN server; ``management`` is ``unix:/path`` or ``tcp:H:P``."""
    hook_cmd = " ".join(shlex.quote(part) for part in
                        (hook, "--config", config_path, "--server", server_id))
    disconnect_cmd = " ".join(shlex.quote(part) for part in
                              (hook, "--disconnect", "--config", config_path, "--server",
                               server_id, "--cache-dir", tmp_dir))
    if management.startswith("unix:"):
        mgmt = f"management {management[5:]} unix"
    else:
        host, _, port = management[4:].rpartition(":")
        mgmt = f"management {host} {port}"
        if management_password_file:
            mgmt += f" {management_password_file}"
    return [
        "# --- openvpn-sso: web single sign-on ---",
        "# The hook runs per connect and must be able to exec (script-security 2).",
        "script-security 2",
        # Double quotes: OpenVPN's own parser takes the whole hook command line.
        f'auth-user-pass-verify "{hook_cmd}" via-file',
        "# Forget the session when the client leaves (openvpn-sso sessions list).",
        f'client-disconnect "{disconnect_cmd}"',
        "# The hook's deferred files live here; must be writable after privilege drop.",
        f"tmp-dir {tmp_dir}",
        "# Verdicts arrive as client-auth / client-kill from the callback service.",
        mgmt,
        "management-client-auth",
        "# Renegotiations and reconnects reuse the login for this long (seconds; 0: until",
        "# the server restarts) instead of opening a browser again.",
        f"auth-gen-token {int(token_lifetime)}",
    ]
