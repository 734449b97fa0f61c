import pytest

from shared import records

CLIENT = {"cn": "alice", "username": "alice", "ip": "192.0.2.10", "port": "51000",
          "plat": "linux", "ver": "2.6.14"}


def test_state_is_random_and_well_formed() -> None:
    states = {records.new_state() for _ in range(200)}
    assert len(states) == 200
    assert all(records.is_state(s) and len(s) == 32 for s in states)
    assert not records.is_state("../../etc/passwd" + "a" * 16)
    with pytest.raises(records.RecordError):
        records.new_state(b"short")


def test_pending_fields_and_round_trip() -> None:
    fields = records.pending_fields(server="vpn1", client=CLIENT, now=1000.0, timeout=300)
    assert fields["phase"] == "pending" and fields["deadline"] == "1300.000"
    rec = records.LoginRecord.decode("s" * 32, {k.encode(): v.encode() for k, v in fields.items()})
    assert rec.real_address == "192.0.2.10:51000"
    assert rec.cn == "alice" and rec.nonce == ""
    assert not rec.expired(1300.0) and rec.expired(1300.5)


def test_hostile_client_values_are_bounded() -> None:
    with pytest.raises(records.RecordError, match="cn is longer"):
        records.pending_fields(server="v", client={**CLIENT, "cn": "x" * 300}, now=0, timeout=60)
    with pytest.raises(records.RecordError, match="untrusted_ip"):
        records.pending_fields(server="v", client={**CLIENT, "ip": ""}, now=0, timeout=60)
    with pytest.raises(records.RecordError, match="untrusted_port"):
        records.pending_fields(server="v", client={**CLIENT, "port": "1;2"}, now=0, timeout=60)


def test_decode_rejects_incomplete_records() -> None:
    with pytest.raises(records.RecordError):
        records.LoginRecord.decode("s" * 32, {"phase": "pending"})
