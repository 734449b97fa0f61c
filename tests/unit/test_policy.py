from typing import Any

from callback_service import policy

CLAIMS: dict[str, Any] = {
    "sub": "1", "preferred_username": "alice", "groups": ["/vpn-users", "staff"],
    "email": "Alice@Example.COM", "email_verified": True, "department": "eng",
    "realm_access": {"roles": ["vpn", "offline_access"]},
    "resource_access": {"openvpn": {"roles": ["connect"]}, "other": {"roles": ["admin"]}},
}


def decide(claims: dict[str, Any], allow: list[dict[str, Any]],
           deny: list[dict[str, Any]] | None = None, label: str = "vpn1") -> policy.Decision:
    subject = policy.Subject.from_claims(claims, groups_claim="groups", client_id="openvpn")
    return policy.decide(subject, username_claim="preferred_username", allow=allow,
                         deny=deny or [], server_label=label)


def test_no_rules_allows_any_authenticated_user() -> None:
    assert decide(CLAIMS, []).allowed


def test_groups_any_of_either_spelling() -> None:
    for groups in (["vpn-users"], ["/vpn-users"], ["other", "staff"]):
        assert decide(CLAIMS, [{"groups": groups}]).allowed


def test_group_denial_names_server_and_groups() -> None:
    d = decide(CLAIMS, [{"groups": ["admins"]}], label="vpn-eu")
    assert not d.allowed
    assert d.reason == ("Access denied: alice is not in any of the groups allowed on VPN server "
                        "vpn-eu (admins)")


def test_each_condition_kind() -> None:
    assert decide(CLAIMS, [{"realm_roles": ["vpn"]}]).allowed
    assert not decide(CLAIMS, [{"realm_roles": ["admin"]}]).allowed
    assert decide(CLAIMS, [{"client_roles": ["connect"]}]).allowed
    assert not decide(CLAIMS, [{"client_roles": ["admin"]}]).allowed  # other client's role
    assert decide(CLAIMS, [{"client_roles": ["admin"], "client": "other"}]).allowed
    assert decide(CLAIMS, [{"email_domains": ["example.com"]}]).allowed
    assert decide(CLAIMS, [{"email_domains": ["@EXAMPLE.com"]}]).allowed
    assert not decide(CLAIMS, [{"email_domains": ["example.org"]}]).allowed
    assert decide(CLAIMS, [{"claims": {"department": ["eng", "ops"]}}]).allowed
    assert decide(CLAIMS, [{"claims": {"email_verified": ["true"]}}]).allowed
    assert not decide(CLAIMS, [{"claims": {"department": ["sales"]}}]).allowed


def test_all_of_within_a_rule_any_of_across_rules() -> None:
    both = {"groups": ["staff"], "realm_roles": ["vpn"]}
    assert decide(CLAIMS, [both]).allowed
    assert not decide(CLAIMS, [{"groups": ["staff"], "realm_roles": ["nope"]}]).allowed
    d = decide(CLAIMS, [{"groups": ["x"]}, {"realm_roles": ["nope"], "email_domains": ["a.b"]}])
    assert not d.allowed
    assert "matches none of the rules" in d.reason and "realm roles nope" in d.reason
    assert decide(CLAIMS, [{"groups": ["x"]}, {"realm_roles": ["vpn"]}]).allowed


def test_deny_rules_win() -> None:
    d = decide(CLAIMS, [{"groups": ["staff"]}], deny=[{"claims": {"department": ["eng"]}}])
    assert not d.allowed and "is refused on VPN server vpn1 (department in eng)" in d.reason
    custom = decide(CLAIMS, [], deny=[{"groups": ["staff"], "reason": "Staff use the office VPN"}])
    assert custom.reason == "Staff use the office VPN"


def test_unverified_email_has_no_domain() -> None:
    claims = {**CLAIMS, "email_verified": False}
    assert not decide(claims, [{"email_domains": ["example.com"]}]).allowed


def test_missing_or_odd_username_claim() -> None:
    for claims in ({"sub": "1"}, {"preferred_username": ["x"]}, {"preferred_username": " "}):
        d = decide(claims, [])
        assert not d.allowed and "preferred_username" in d.reason


def test_nested_claims_and_hostile_values() -> None:
    assert policy.claim_groups(CLAIMS, "realm_access.roles") == ("vpn", "offline_access")
    assert policy.claim_groups({"groups": [1, None, "ok"]}, "groups") == ("ok",)
    d = decide({"preferred_username": "eve\nclient-auth 1 1"}, [])
    assert d.allowed and "\n" not in d.username
