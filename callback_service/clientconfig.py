"""What each user gets pushed: routes, DNS, gateway redirection, a static address.

``[[client_config]]`` entries apply in file order to users their ``match`` rule
(same syntax as policy rules) selects; an entry without ``match`` applies to
everyone (a default). Lists (routes, DNS servers, domains) accumulate without
duplicates; flags are set by any entry. A static address comes from the server's
``static_addresses`` for the IdP username.

Only an allow-list of directives is ever emitted, built from values parsed here
(``ipaddress`` objects, checked domain names): configuration text never carries
claim values, so a claim cannot inject config.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from callback_service.policy import Subject, rule_matches
from shared.config import Config, ServerConfig
from shared.escape import mgmt_param

_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def _domain_ok(name: str) -> bool:
    labels = name.lower().rstrip(".").split(".")
    return 0 < len(name) <= 253 and all(
        0 < len(lb) <= 63 and set(lb) <= _LABEL_CHARS and lb[0] != "-" and lb[-1] != "-"
        for lb in labels)


def _entry_problems(where: str, entry: dict[str, Any]) -> list[str]:
    problems = []
    for route in entry.get("routes", []):
        try:
            ipaddress.ip_network(route, strict=True)
        except ValueError as err:
            problems.append(f"{where}.routes: {route!r} is not a network ({err})")
    for dns in entry.get("dns", []):
        try:
            ipaddress.ip_address(dns)
        except ValueError:
            problems.append(f"{where}.dns: {dns!r} is not an IP address")
    for domain in entry.get("domains", []):
        if not _domain_ok(domain):
            problems.append(f"{where}.domains: {domain!r} is not a domain name")
    return problems


def validate(config: Config) -> list[str]:
    """Deep checks of client_config and static addresses (service side; the hook
    does not need them). Returns every problem."""
    problems: list[str] = []
    for i, entry in enumerate(config.client_config):
        problems += _entry_problems(f"client_config[{i}]", entry)
    for server in config.servers.values():
        where = f"servers.{server.id}"
        net: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
        if server.tunnel_network:
            try:
                net = ipaddress.ip_network(server.tunnel_network, strict=True)
            except ValueError as err:
                problems.append(f"{where}.tunnel_network: {err}")
        if server.static_addresses and not isinstance(net, ipaddress.IPv4Network):
            problems.append(f"{where}.static_addresses: needs an IPv4 tunnel_network")
            continue
        seen: dict[str, str] = {}
        for user, addr in server.static_addresses.items():
            try:
                ip = ipaddress.IPv4Address(addr)
            except ValueError:
                problems.append(f"{where}.static_addresses.{user}: {addr!r} is not IPv4")
                continue
            assert isinstance(net, ipaddress.IPv4Network)
            if ip not in net or ip in (net.network_address, net.broadcast_address,
                                       net.network_address + 1):
                problems.append(f"{where}.static_addresses.{user}: {addr} is not a client "
                                f"address of {net} (.1 is the server's)")
            if addr in seen:
                problems.append(f"{where}.static_addresses: {addr} given to {seen[addr]} "
                                f"and {user}")
            seen[addr] = user
    return problems


def render(config: Config, server: ServerConfig, subject: Subject, username: str) -> list[str]:
    """The client-connect lines for ``client-auth`` (all values already validated)."""
    routes: list[str] = []
    dns: list[str] = []
    domains: list[str] = []
    redirect = block_dns = False
    for entry in config.client_config:
        if entry.get("servers") and server.id not in entry["servers"]:
            continue
        if "match" in entry and not rule_matches(entry["match"], subject):
            continue
        routes += [r for r in entry.get("routes", []) if r not in routes]
        dns += [d for d in entry.get("dns", []) if d not in dns]
        domains += [d for d in entry.get("domains", []) if d not in domains]
        redirect = redirect or bool(entry.get("redirect_gateway"))
        block_dns = block_dns or bool(entry.get("block_outside_dns"))
    lines = []
    for route in routes:
        net = ipaddress.ip_network(route)
        if isinstance(net, ipaddress.IPv4Network):
            lines.append(f'push "route {net.network_address} {net.netmask}"')
        else:
            lines.append(f'push "route-ipv6 {net}"')
    lines += [f'push "dhcp-option DNS {ipaddress.ip_address(d)}"' for d in dns]
    lines += [f'push "dhcp-option DOMAIN {d.lower().rstrip(".")}"' for d in domains
              if _domain_ok(d)]
    if redirect:
        lines.append('push "redirect-gateway def1"')
    if block_dns:
        lines.append('push "block-outside-dns"')
    if server.override_username:
        # parsed like a management parameter: quoted, escaped, one line
        lines.append(f"override-username {mgmt_param(username, 128)}")
    static = _static_for(server, username)
    if static:
        net = ipaddress.IPv4Network(server.tunnel_network)
        lines.append(f"ifconfig-push {ipaddress.IPv4Address(static)} {net.netmask}")
    return lines


def _static_for(server: ServerConfig, username: str) -> str | None:
    wanted = username.casefold()
    for user, addr in server.static_addresses.items():
        if user.casefold() == wanted:
            return addr
    return None
