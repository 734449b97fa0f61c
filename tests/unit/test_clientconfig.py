from typing import Any

import pytest

from callback_service import clientconfig
from callback_service.policy import Subject
from shared import config

BASE: dict[str, Any] = {
    "public_base_url": "https://login.example.test",
    "oidc": {"issuer": "https://idp.example.test", "client_id": "openvpn", "client_secret": "x"},
    "service": {"cookie_secret": "y"},
    "servers": {"vpn1": {"management": "unix:/m", "tunnel_network": "10.77.0.0/24",
                         "static_addresses": {"Alice": "10.77.0.50"}},
                "vpn2": {"management": "unix:/n"}},
    "client_config": [
        {"dns": ["10.0.0.53"], "domains": ["corp.example"]},
        {"match": {"groups": ["eng"]}, "routes": ["10.10.0.0/16", "2001:db8:10::/48"]},
        {"match": {"groups": ["ops"]}, "routes": ["10.20.0.0/24", "10.10.0.0/16"],
         "redirect_gateway": True, "servers": ["vpn1"]},
        {"match": {"realm_roles": ["secure"]}, "block_outside_dns": True, "dns": ["10.0.0.53"]},
    ],
}


def subject(groups: list[str], roles: list[str] | None = None) -> Subject:
    return Subject.from_claims({"groups": groups, "realm_access": {"roles": roles or []}},
                               groups_claim="groups", client_id="openvpn")


def render(server: str, user: str, groups: list[str], roles: list[str] | None = None,
           raw: dict[str, Any] = BASE) -> list[str]:
    cfg = config.parse(raw)
    assert clientconfig.validate(cfg) == []
    return clientconfig.render(cfg, cfg.server(server), subject(groups, roles), user)


def test_default_entry_applies_to_everyone() -> None:
    assert render("vpn2", "bob", []) == ['push "dhcp-option DNS 10.0.0.53"',
                                         'push "dhcp-option DOMAIN corp.example"']


def test_groups_get_their_routes_merged_in_order_without_duplicates() -> None:
    assert render("vpn1", "carol", ["eng", "ops"], ["secure"]) == [
        'push "route 10.10.0.0 255.255.0.0"',
        'push "route-ipv6 2001:db8:10::/48"',
        'push "route 10.20.0.0 255.255.255.0"',
        'push "dhcp-option DNS 10.0.0.53"',
        'push "dhcp-option DOMAIN corp.example"',
        'push "redirect-gateway def1"',
        'push "block-outside-dns"',
    ]
    # the ops entry is limited to vpn1
    assert 'push "redirect-gateway def1"' not in render("vpn2", "carol", ["ops"])


def test_static_address_by_username_case_insensitively() -> None:
    assert render("vpn1", "alice", [])[-1] == "ifconfig-push 10.77.0.50 255.255.255.0"
    assert not any(line.startswith("ifconfig-push") for line in render("vpn1", "bob", []))


@pytest.mark.parametrize(("change", "problem"), [
    ({"client_config": [{"routes": ["10.0.0.1/8"]}]}, "routes: '10.0.0.1/8' is not a network"),
    ({"client_config": [{"routes": ['10.0.0.0/8"\npush "x']}]}, "is not a network"),
    ({"client_config": [{"dns": ["dns.example"]}]}, "is not an IP address"),
    ({"client_config": [{"domains": ['a" b']}]}, "is not a domain name"),
    ({"servers": {"vpn1": {"management": "unix:/m", "static_addresses": {"a": "10.0.0.2"}}}},
     "needs an IPv4 tunnel_network"),
    ({"servers": {"vpn1": {"management": "unix:/m", "tunnel_network": "10.77.0.0/24",
                           "static_addresses": {"a": "10.78.0.2", "b": "10.77.0.1"}}}},
     "is not a client address of 10.77.0.0/24"),
    ({"servers": {"vpn1": {"management": "unix:/m", "tunnel_network": "10.77.0.0/24",
                           "static_addresses": {"a": "10.77.0.9", "b": "10.77.0.9"}}}},
     "given to a and b"),
])
def test_values_are_validated(change: dict[str, Any], problem: str) -> None:
    raw = {**BASE, "servers": {"vpn1": {"management": "unix:/m"}}, **change}
    problems = clientconfig.validate(config.parse(raw))
    assert any(problem in p for p in problems), problems


def test_override_username_for_openvpn_27_is_quoted() -> None:
    raw = {**BASE, "servers": {"vpn1": {"management": "unix:/m", "override_username": True}}}
    lines = render("vpn1", 'eve "x"\\', [], raw=raw)
    assert lines[-1] == 'override-username "eve \\"x\\"\\\\"'
    assert "override-username" not in " ".join(render("vpn2", "bob", []))
