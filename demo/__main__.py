"""Local demo: the whole single sign-on flow on this machine.

    bash scripts/demo.sh              # prints the login URL, waits for you to log in
    bash scripts/demo.sh --browser    # logs in as alice in headless Chromium

Starts Redis, node-oidc-provider (users alice/alice-password in group vpn-users,
bob/bob-password who is not), the callback service under gunicorn and an OpenVPN
server, then connects a real OpenVPN client and shows it reach CONNECTED.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from demo.parts import browser, login_in_browser
from demo.stack import DEFAULT_USERS, Stack
from shared.management.sender import ManagementConnection


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--browser", action="store_true",
                        help="complete the login in headless Chromium instead of waiting")
    parser.add_argument("--user", default="alice", help="IdP user for --browser")
    parser.add_argument("--keep", action="store_true",
                        help="keep everything running after the client connected (Ctrl-C)")
    parser.add_argument("--wait", type=int, default=300, help="seconds to wait for a login")
    args = parser.parse_args()
    users = {u.username: u for u in DEFAULT_USERS}
    if args.user not in users:
        parser.error(f"--user must be one of {', '.join(users)}")

    with tempfile.TemporaryDirectory(prefix="openvpn-sso-demo-") as tmp, \
            Stack(Path(tmp), progress=say) as stack:
        say(f"config shared by hook and service: {stack.config_path}")
        say("OpenVPN server.conf (the SSO part comes from shared/serverconf.py):")
        for line in stack.openvpn["vpn1"].config_text.splitlines():
            print(f"    {line}")
        say(f"connecting an OpenVPN client (certificate CN {args.user}, setenv IV_SSO webauth)")
        with stack.client(args.user) as client:
            url = client.wait_web_auth_url()
            say("the client received its login URL (>INFOMSG:WEB_AUTH::):")
            print(f"\n    {url}\n", flush=True)
            if args.browser:
                user = users[args.user]
                say(f"logging in as {user.username} in headless Chromium")
                with browser() as b:
                    result = login_in_browser(b, url, user.username, user.password)
                say(f"browser shows: {result.title} - {result.message}")
            else:
                say(f"open it in a browser on this machine and log in as {args.user} "
                    f"({args.user}-password), then approve the connection")
            try:
                line = client.wait_state("CONNECTED", args.wait)
            except Exception as err:  # denied, expired or timed out: show why
                failed = [x for x in client.lines() if "AUTH_FAILED" in x or "Failed" in x]
                say(f"the client did not connect: {failed[-1] if failed else err}")
                return 1
            fields = line.split(",")
            say(f"client CONNECTED with VPN address {fields[3] if len(fields) > 3 else '?'}")
            with ManagementConnection(f"unix:{stack.openvpn['vpn1'].management_socket}") as mc:
                for row in mc.clients():
                    say(f"server status: cn={row.common_name} real={row.real_address} "
                        f"vpn={row.virtual_address} cid={row.cid}")
            if args.keep:
                say("running; press Ctrl-C to stop everything")
                try:
                    while not client.exited():
                        time.sleep(1)
                except KeyboardInterrupt:
                    pass
        say("stopping all processes")
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
