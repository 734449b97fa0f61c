import pytest

from callback_service import binding


def mismatch(match: str, claim: object, cn: str = "alice", user: str = "alice",
             mode: str = "casefold", strip: bool = False) -> str | None:
    return binding.identity_mismatch(match=match, claim_value=claim, common_name=cn,
                                     username=user, mode=mode, strip_domain=strip)


def test_common_name_must_match_the_claim() -> None:
    assert mismatch("common_name", "alice") is None
    assert mismatch("common_name", "Alice") is None  # casefold
    assert mismatch("common_name", "Alice", mode="exact") is not None
    assert "certificate is not yours" in str(mismatch("common_name", "alice", cn="mallory"))
    # the username is the attacker's choice: it does not help them under common_name
    assert mismatch("common_name", "alice", cn="mallory", user="alice") is not None


def test_username_and_both() -> None:
    assert mismatch("username", "alice", cn="shared-cert") is None
    assert "username is not yours" in str(mismatch("username", "alice", user="bob"))
    assert mismatch("both", "alice") is None
    assert mismatch("both", "alice", user="bob") is not None
    assert mismatch("none", None, cn="anything") is None


def test_domain_stripping_and_missing_claim() -> None:
    assert mismatch("common_name", "alice@example.com", strip=True) is None
    assert mismatch("common_name", "alice@example.com") is not None
    for bad in (None, "", "  ", ["alice"]):
        assert "no name to match" in str(mismatch("common_name", bad))


@pytest.mark.parametrize(("remote", "xff", "trusted", "expect"), [
    ("198.51.100.7", None, [], "198.51.100.7"),
    ("198.51.100.7", "203.0.113.9", [], "198.51.100.7"),  # untrusted peer: header ignored
    ("10.0.0.2", "203.0.113.9", ["10.0.0.0/8"], "203.0.113.9"),
    ("10.0.0.2", "1.2.3.4, 203.0.113.9, 10.0.0.5", ["10.0.0.0/8"], "203.0.113.9"),
    ("10.0.0.2", "10.0.0.9", ["10.0.0.0/8"], "10.0.0.2"),
    ("10.0.0.2", "garbage", ["10.0.0.0/8"], "10.0.0.2"),
    ("::ffff:10.0.0.2", "2001:db8::5", ["10.0.0.0/8"], "2001:db8::5"),
])
def test_browser_address(remote: str, xff: str | None, trusted: list[str], expect: str) -> None:
    assert binding.browser_address(remote, xff, trusted) == expect


def test_same_client() -> None:
    assert binding.same_client("192.0.2.1", "192.0.2.1")
    assert binding.same_client("::ffff:192.0.2.1", "192.0.2.1")
    assert not binding.same_client("192.0.2.1", "192.0.2.2")
    assert binding.same_client("2001:db8:1:2::10", "2001:db8:1:2:aaaa::1")  # same /64
    assert not binding.same_client("2001:db8:1:3::10", "2001:db8:1:2::10")
    assert not binding.same_client("192.0.2.1", "2001:db8::1")
    assert not binding.same_client("nonsense", "192.0.2.1")
