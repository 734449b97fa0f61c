import pytest

from callback_service.tokens import SealError, load_key, seal, unseal

KEY = load_key("00" * 32)


def test_round_trip_and_binding_to_its_context() -> None:
    sealed = seal(KEY, "refresh-token-value", "sub-alice")
    assert "refresh-token-value" not in sealed
    assert unseal(KEY, sealed, "sub-alice") == "refresh-token-value"
    with pytest.raises(SealError):
        unseal(KEY, sealed, "sub-mallory")  # moved to another user's session
    with pytest.raises(SealError):
        unseal(load_key("11" * 32), sealed, "sub-alice")
    assert seal(KEY, "x", "c") != seal(KEY, "x", "c")  # a fresh nonce each time


def test_keys() -> None:
    assert len(load_key("ab" * 32)) == 32
    assert len(load_key("A" * 43)) == 32  # base64 of 32 bytes
    for bad in ("short", "zz" * 32, "A" * 20):
        with pytest.raises(SealError):
            load_key(bad)
