"""Does this login belong to this VPN connection? (pure)

The forwarding attack: an attacker starts a VPN connection and sends its login URL
to a victim; the victim's login would admit the attacker. The defence is to bind
the IdP identity to something the attacker cannot choose. The certificate common
name is issued by the admin's CA; the username is typed by whoever runs the client,
so binding on it alone does not stop forwarding (it keeps identities consistent).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from callback_service.i18n import Text, text
from callback_service.policy import claim_path


def normalize(value: str, *, mode: str, strip_domain: bool) -> str:
    """The comparable form: optional ``@domain`` removed, then casefolded (``mode``)."""
    text = value.strip()
    if strip_domain and "@" in text:
        text = text.rsplit("@", 1)[0]
    return text.casefold() if mode == "casefold" else text


def identity_mismatch(*, match: str, claim_value: Any, common_name: str, username: str,
                      mode: str, strip_domain: bool) -> Text | None:
    """None if the connection belongs to the IdP identity, else a reason to deny."""
    if match == "none":
        return None
    if not isinstance(claim_value, str) or not claim_value.strip():
        return text("Your identity provider account has no name to match this VPN connection")
    want = normalize(claim_value, mode=mode, strip_domain=strip_domain)
    checks = {"common_name": [("certificate", common_name)], "username": [("username", username)],
              "both": [("certificate", common_name), ("username", username)]}[match]
    for what, value in checks:
        if normalize(value, mode=mode, strip_domain=strip_domain) != want:
            return text("This login belongs to a VPN connection whose {what} is not yours: "
                        "use your own VPN profile (never a login link someone sent you)",
                        what=what)
    return None


def claim_for_binding(claims: dict[str, Any], claim: str) -> Any:
    return claim_path(claims, claim)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def browser_address(remote_addr: str, forwarded_for: str | None,
                    trusted_proxies: list[str]) -> str:
    """The browser's address: X-Forwarded-For is believed only from trusted proxies,
    read right to left, skipping proxies, up to the first address not trusted."""
    nets = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return ip is not None and any(ip in n for n in nets)

    peer = _address(remote_addr)
    if not trusted(peer) or not forwarded_for:
        return str(peer) if peer is not None else remote_addr
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        ip = _address(hop)
        if ip is None:
            break
        if not trusted(ip):
            return str(ip)
    return str(peer)


def same_client(browser_ip: str, vpn_ip: str) -> bool:
    """IPv4 exactly; IPv6 by /64, since one host's temporary addresses change within
    its prefix. Different families never match (a dual-stack user must configure
    the VPN and the browser to use the same one, or leave this check off)."""
    a, b = _address(browser_ip), _address(vpn_ip)
    if a is None or b is None or a.version != b.version:
        return False
    if a.version == 6:
        return ipaddress.ip_network(f"{a}/64", strict=False) == \
            ipaddress.ip_network(f"{b}/64", strict=False)
    return a == b
