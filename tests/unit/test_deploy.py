"""The shipped examples are the ones the code produces and accepts."""

from pathlib import Path

from shared import config
from shared.serverconf import server_conf_lines

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_server_conf_example_has_exactly_the_tested_lines() -> None:
    text = (DEPLOY / "openvpn" / "server.conf.example").read_text()
    lines = server_conf_lines(server_id="vpn1", hook="/opt/openvpn-sso/bin/openvpn-sso-hook",
                              config_path="/etc/openvpn-sso/config.toml",
                              management="unix:/run/openvpn-server/vpn1.mgmt.sock",
                              tmp_dir="/run/openvpn-sso/vpn1")
    assert "\n".join(lines) in text
    assert "management-client-auth" in lines


def test_config_example_is_valid() -> None:
    cfg = config.load(str(DEPLOY / "config" / "config.toml.example"), {})
    assert cfg.server("vpn1").display_name == "Office VPN"
    assert cfg.rules_for("vpn1") == ([{"groups": ["vpn-users"]}], [])


def test_tcp_management_line_carries_the_password_file() -> None:
    lines = server_conf_lines(server_id="eu", hook="/h", config_path="/c",
                              management="tcp:127.0.0.1:7505", tmp_dir="/t",
                              management_password_file="/etc/pw")
    assert "management 127.0.0.1 7505 /etc/pw" in lines


def test_keycloak_realm_export_has_what_the_service_needs() -> None:
    import json

    realm = json.loads((DEPLOY / "keycloak" / "realm-openvpn.json").read_text())
    (client,) = [c for c in realm["clients"] if c["clientId"] == "openvpn"]
    assert client["publicClient"] is False and client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert all(uri.endswith("/callback") for uri in client["redirectUris"])
    assert client["attributes"]["backchannel.logout.session.required"] == "true"
    mappers = {m["config"]["claim.name"]: m for m in client["protocolMappers"]}
    # the claims our default config reads must reach the ID token
    for claim in ("groups", "realm_access.roles", "resource_access.${client_id}.roles",
                  "preferred_username"):
        assert mappers[claim]["config"]["id.token.claim"] == "true", claim
    assert {g["name"] for g in realm["groups"]} >= {"vpn-users"}
