from callback_service import policy

CLAIMS = {"sub": "1", "preferred_username": "alice", "groups": ["/vpn-users", "staff"],
          "realm_access": {"roles": ["vpn"]}}


def test_allowed_when_in_a_group_either_spelling() -> None:
    for allowed in (["vpn-users"], ["/vpn-users"], ["other", "staff"]):
        d = policy.decide(CLAIMS, username_claim="preferred_username", groups_claim="groups",
                          allowed_groups=allowed, server_label="vpn1")
        assert d.allowed and d.username == "alice"


def test_denied_with_a_reason_naming_server_and_groups() -> None:
    d = policy.decide(CLAIMS, username_claim="preferred_username", groups_claim="groups",
                      allowed_groups=["admins"], server_label="vpn-eu")
    assert not d.allowed
    assert d.reason == ("Access denied: alice is not in any of the groups allowed on VPN server "
                        "vpn-eu (admins)")


def test_missing_or_odd_username_claim() -> None:
    for claims in ({"sub": "1"}, {"preferred_username": ["x"]}, {"preferred_username": " "}):
        d = policy.decide(claims, username_claim="preferred_username", groups_claim="groups",
                          allowed_groups=[], server_label="v")
        assert not d.allowed and "preferred_username" in d.reason


def test_nested_claims_and_hostile_values() -> None:
    assert policy.claim_groups(CLAIMS, "realm_access.roles") == ("vpn",)
    assert policy.claim_groups({"groups": [1, None, "ok"]}, "groups") == ("ok",)
    d = policy.decide({"u": "eve\nclient-auth 1 1"}, username_claim="u", groups_claim="g",
                      allowed_groups=[], server_label="v")
    assert d.allowed and "\n" not in d.username
