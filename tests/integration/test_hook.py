"""The hook as OpenVPN runs it: a separate process, a bare environment, real Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from demo.parts import RedisServer, hook_setup
from shared.records import is_state


@pytest.fixture
def setup(tmp_path: Path, redis_server: RedisServer) -> dict[str, Any]:
    argv, env = hook_setup(tmp_path, redis_server.url, base_url="https://login.example.test",
                           pending_timeout=120)
    return {"dir": tmp_path, "config": tmp_path / "config.toml",
            "ovpn_conf": tmp_path / "server.conf", "argv": argv, "env": env}


def run_hook(setup: dict[str, Any],
             **env_changes: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(setup["env"])
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run(setup["argv"], env=env, capture_output=True, text=True, timeout=30)


def test_defers_with_a_short_web_auth_url_and_stores_the_record(setup, redis_server) -> None:  # type: ignore[no-untyped-def]
    proc = run_hook(setup)
    assert proc.returncode == 2, proc.stderr
    d = Path(setup["dir"])
    timeout, method, extra = (d / "pending").read_text().splitlines()
    assert (timeout, method) == ("150", "webauth")
    assert extra.startswith("WEB_AUTH::https://login.example.test/login?s=")
    assert len(extra) <= 245
    assert (d / "control").read_text() == "1"
    state = extra.rsplit("=", 1)[1]
    assert is_state(state)
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    rec = r.hgetall(f"ovpnsso:login:{state}")
    assert rec["phase"] == "pending" and rec["server"] == "vpn1"
    assert (rec["cn"], rec["username"], rec["ip"], rec["port"]) == (
        "alice", "alice", "192.0.2.7", "51234")
    assert (rec["plat"], rec["ver"]) == ("linux", "2.6.14")
    assert 120 < r.ttl(f"ovpnsso:login:{state}") <= 180
    assert proc.stderr == ""


def test_client_without_webauth_is_refused_at_once(setup) -> None:  # type: ignore[no-untyped-def]
    for iv_sso in (None, "", "openurl", "crtext,webauthx"):
        proc = run_hook(setup, IV_SSO=iv_sso)
        assert proc.returncode == 1
        reason = (Path(setup["dir"]) / "reason").read_text()
        assert "requires web login" in reason and "\n" not in reason
        assert (Path(setup["dir"]) / "pending").read_text() == ""


def test_redis_down_refuses_with_a_reason(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    proc = run_hook(setup, OPENVPN_SSO_REDIS__URL="redis://127.0.0.1:1/0")
    assert proc.returncode == 1
    assert "temporarily unavailable" in (tmp_path / "reason").read_text()
    assert "cannot connect to Redis" in proc.stderr


def test_bad_config_refuses_with_a_reason(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Path(setup["config"]).write_text("public_base_url = 'x'\nnonsense = 1\n")
    proc = run_hook(setup)
    assert proc.returncode == 1
    assert "configuration error" in (tmp_path / "reason").read_text()
    assert "nonsense: unknown setting" in proc.stderr


def test_refuses_when_openvpn_lacks_management_client_auth(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    Path(setup["ovpn_conf"]).write_text("dev tun\n# management-client-auth\n")
    proc = run_hook(setup)
    assert proc.returncode == 1
    assert "without management-client-auth" in proc.stderr
    assert (tmp_path / "control").read_text() == ""


def test_hostile_client_values_are_refused_or_stored_verbatim(setup, redis_server) -> None:  # type: ignore[no-untyped-def]
    proc = run_hook(setup, common_name="x" * 300)
    assert proc.returncode == 1
    assert "invalid connection details" in (Path(setup["dir"]) / "reason").read_text()
    evil = 'eve"\\\nclient-auth 0 0'
    proc = run_hook(setup, common_name=evil)
    assert proc.returncode == 2, proc.stderr
    state = (Path(setup["dir"]) / "pending").read_text().splitlines()[2].rsplit("=", 1)[1]
    r = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert r.hget(f"ovpnsso:login:{state}", "cn") == evil


def test_hook_imports_stay_light() -> None:
    """What importing the hook adds to a bare interpreter start (the benchmark has
    the cost; this keeps heavy modules from creeping in)."""
    code = ("import sys; before = set(sys.modules); import hooks.auth; "
            "sys.stdout.write(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = set(out.stdout.split())
    assert "hooks.auth" in added
    heavy = {"redis", "requests", "flask", "click", "authlib", "typing", "dataclasses", "re",
             "urllib", "urllib.parse", "ssl", "json", "tomllib", "email", "logging", "asyncio",
             "inspect", "enum"}
    assert not heavy & added, sorted(heavy & added)


def test_pending_logins_are_capped_per_client_address(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # a key prefix of its own: other tests' pending logins must not count here
    text = f'key_prefix = "cap{tmp_path.name[-6:].replace("_", "")}"\n' + \
        Path(setup["config"]).read_text()
    Path(setup["config"]).write_text(text.replace(
        "[servers.vpn1]", "[limits]\npending_per_ip = 2\npending_per_server = 3\n\n[servers.vpn1]"))
    ip = "198.51.100.77"
    assert [run_hook(setup, untrusted_ip=ip).returncode for _ in range(3)] == [2, 2, 1]
    assert "Too many VPN logins are waiting from your address" in (tmp_path / "reason").read_text()
    # another address still gets in, until the server's own cap
    assert run_hook(setup, untrusted_ip="198.51.100.78").returncode == 2
    assert run_hook(setup, untrusted_ip="198.51.100.79").returncode == 1
    assert "on this server" in (tmp_path / "reason").read_text()


def test_disconnect_forgets_the_session_and_uses_the_config_cache(setup, redis_server) -> None:  # type: ignore[no-untyped-def]
    """client-disconnect freezes OpenVPN too: with --cache-dir (as server-conf
    writes it) the second run reads the parsed config from the cache, not TOML."""
    from shared.redis_store import SessionStore

    store = SessionStore(redis.Redis.from_url(redis_server.url), "ovpnsso")
    kept = store.create({"server": "vpn1", "ip": "192.0.2.7", "port": "1", "user": "a"}, 60)
    gone = store.create({"server": "vpn1", "ip": "192.0.2.7", "port": "51234", "user": "a"}, 60)
    cache_dir = setup["dir"] / "cache"
    cache_dir.mkdir()
    argv = [sys.executable, "-X", "importtime", setup["argv"][0], *setup["argv"][1:-1],
            "--cache-dir", str(cache_dir), "--disconnect"]
    env = setup["env"] | {"script_type": "client-disconnect", "trusted_ip": "192.0.2.7",
                          "trusted_port": "51234"}
    runs = [subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0]
    assert list(cache_dir.iterdir()), "no config cache written"
    assert "tomllib" in runs[0].stderr and "tomllib" not in runs[1].stderr
    ids = {s.id for s in store.all()}
    assert gone not in ids and kept in ids
