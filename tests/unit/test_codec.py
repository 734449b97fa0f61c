import pytest

from shared.management import codec

# Real `status 3` output of OpenVPN 2.6.14 (tabs), one pending and one connected client.
STATUS3 = "\n".join([
    "TITLE\tOpenVPN 2.6.14 x86_64-pc-linux-gnu",
    "TIME\t2026-12-04 17:00:00\t1796403600",
    "HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 Address\t"
    "Bytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\tUsername\t"
    "Client ID\tPeer ID\tData Channel Cipher",
    "CLIENT_LIST\talice\t127.0.0.1:40001\t\t\t1200\t900\t2026-12-04 17:00:00\t1796403600\t"
    "alice\t4\t0\tAES-256-GCM",
    "CLIENT_LIST\tbob\t127.0.0.1:40002\t10.8.0.2\t\t5000\t4000\t2026-12-04 16:00:00\t"
    "1796400000\tbob\t2\t1\tAES-256-GCM",
    "HEADER\tROUTING_TABLE\tVirtual Address\tCommon Name\tReal Address\tLast Ref\t"
    "Last Ref (time_t)",
    "ROUTING_TABLE\t10.8.0.2\tbob\t127.0.0.1:40002\t2026-12-04 17:00:00\t1796403600",
    "GLOBAL_STATS\tMax bcast/mcast queue length\t0",
])


def test_parse_status3_uses_header_columns() -> None:
    rows = codec.parse_status3(STATUS3)
    assert [(r.common_name, r.cid, r.authenticated) for r in rows] == [
        ("alice", 4, False), ("bob", 2, True)]


def test_find_client_matches_real_address_only() -> None:
    rows = codec.parse_status3(STATUS3)
    assert codec.find_client(rows, "127.0.0.1", "40001").cid == 4  # type: ignore[union-attr]
    assert codec.find_client(rows, "127.0.0.1", "40003") is None
    assert codec.find_client(rows, "127.0.0.2", "40001") is None


def test_find_client_refuses_ambiguity() -> None:
    rows = codec.parse_status3(STATUS3)
    with pytest.raises(codec.ProtocolError):
        codec.find_client(rows + rows[:1], "127.0.0.1", "40001")


@pytest.mark.parametrize(("printed", "ip", "port"), [
    ("127.0.0.1:1194", "127.0.0.1", 1194),
    ("[AF_INET6]2001:db8::1:51000", "2001:db8::1", 51000),
    ("[2001:db8::1]:51000", "2001:db8::1", 51000),
    ("[AF_INET6]::ffff:192.0.2.7:4000", "192.0.2.7", 4000),
])
def test_normalize_address(printed: str, ip: str, port: int) -> None:
    assert codec.normalize_address(printed) == (ip, port)


def test_client_auth_block_and_unsafe_lines() -> None:
    assert codec.client_auth(4, 1) == "client-auth 4 1\nEND\n"
    assert codec.client_auth(4, 1, ['push "route 10.0.0.0 255.0.0.0"']) == (
        'client-auth 4 1\npush "route 10.0.0.0 255.0.0.0"\nEND\n')
    for bad in ("END", "x\ny", "", "a\rb"):
        with pytest.raises(ValueError):
            codec.client_auth(4, 1, [bad])


def test_check_reply() -> None:
    codec.check_reply("SUCCESS: client-auth command succeeded", "client-auth")
    with pytest.raises(codec.ProtocolError):
        codec.check_reply("ERROR: client-auth command failed", "client-auth")


def test_parse_status3_without_header_fails() -> None:
    with pytest.raises(codec.ProtocolError):
        codec.parse_status3("TITLE\tx\nEND")
