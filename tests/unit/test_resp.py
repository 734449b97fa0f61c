import pytest

from shared.resp import (
    Redirect,
    RedisAddress,
    RedisError,
    encode_command,
    order_nodes,
    read_hint,
    split_hostport,
    write_hint,
)


def test_encode_command() -> None:
    assert encode_command("SET", "k", 5, b"\r\n") == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$2\r\n\r\n\r\n")


@pytest.mark.parametrize(("url", "expect"), [
    ("redis://127.0.0.1:6380/2", ("127.0.0.1", 6380, 2, "", False)),
    ("redis://redis", ("redis", 6379, 0, "", False)),
    ("rediss://[::1]:7000/1", ("::1", 7000, 1, "", True)),
    ("unix:///run/redis.sock?db=3", ("", 6379, 3, "/run/redis.sock", False)),
])
def test_address(url: str, expect: tuple[str, int, int, str, bool]) -> None:
    a = RedisAddress(url)
    assert (a.host, a.port, a.db, a.path, a.tls) == expect


def test_bad_address() -> None:
    for url in ("http://x", "redis://h:port", "redis://h/db"):
        with pytest.raises(RedisError):
            RedisAddress(url)


@pytest.mark.parametrize(("text", "expect"), [
    ("MOVED 3999 127.0.0.1:6381", (False, "127.0.0.1", 6381)),
    ("ASK 3999 10.0.0.5:7000", (True, "10.0.0.5", 7000)),
    ("MOVED 1 ::1:7000", (False, "::1", 7000)),
    ("MOVED 3999 :6380", (False, "", 6380)),  # endpoint unknown: same host
])
def test_redirect_parsing(text: str, expect: tuple[bool, str, int]) -> None:
    redirect = Redirect(text)
    assert (redirect.ask, redirect.host, redirect.port) == expect
    assert isinstance(redirect, RedisError)


def test_malformed_redirect_is_an_error() -> None:
    with pytest.raises(RedisError, match="malformed redirect"):
        Redirect("MOVED 3999 nowhere")


def test_a_hint_only_reorders_the_configured_nodes() -> None:
    nodes = ["a:1", "b:2", "c:3"]
    assert order_nodes(nodes, "c:3") == ["c:3", "a:1", "b:2"]
    assert order_nodes(nodes, "evil:6379") == nodes  # never adds a node
    assert order_nodes(nodes, None) == nodes
    assert nodes == ["a:1", "b:2", "c:3"]


def test_hint_file_is_trusted_only_when_ours_and_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    hint = tmp_path / "hint"
    assert read_hint(str(hint)) is None
    write_hint(str(hint), "b:2")
    assert read_hint(str(hint)) == "b:2" and oct(hint.stat().st_mode & 0o777) == "0o600"
    hint.chmod(0o666)  # writable by others: ignored
    assert read_hint(str(hint)) is None
    link = tmp_path / "link"
    hint.chmod(0o600)
    link.symlink_to(hint)
    assert read_hint(str(link)) is None  # a symlink: ignored
    assert read_hint(None) is None


def test_split_hostport() -> None:
    assert split_hostport("10.0.0.1:6379") == ("10.0.0.1", 6379)
    assert split_hostport("[fd00::1]:26379") == ("fd00::1", 26379)
    for bad in ("10.0.0.1", ":6379", "host:port"):
        with pytest.raises(RedisError):
            split_hostport(bad)
