import pytest

from shared import config

BASE = {
    "public_base_url": "https://vpn-login.example.com",
    "oidc": {"issuer": "https://idp.example.com/realms/corp", "client_id": "openvpn",
             "client_secret": "file:/etc/openvpn-sso/client-secret"},
    "service": {"cookie_secret": "s3cret-value"},
    "servers": {"vpn1": {"management": "unix:/run/openvpn/vpn1.sock"}},
}


def test_defaults_and_values() -> None:
    cfg = config.parse(BASE)
    assert cfg.pending_timeout == 300
    assert cfg.redis.url == "redis://127.0.0.1:6379/0"
    assert cfg.oidc.scopes == ["openid", "profile", "email"]
    assert cfg.server("vpn1").management == "unix:/run/openvpn/vpn1.sock"
    assert cfg.pending_timeout_for("vpn1") == 300
    assert cfg.rules_for("vpn1") == ([], [])


def test_every_problem_is_reported_at_once() -> None:
    raw = {"public_base_url": "ftp://x", "pending_timeout": 5, "bogus": 1,
           "oidc": {"issuer": "idp", "scopes": ["email"], "extra": True},
           "servers": {"bad id!": {"management": "tcp:host"}, "v2": {"management": "tcp:h:1"}}}
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw)
    text = "\n".join(info.value.problems)
    for expected in ("public_base_url: must be an http(s) URL", "pending_timeout: must be",
                     "bogus: unknown setting", "oidc.extra: unknown setting",
                     "oidc.client_id: required", "oidc.client_secret: required",
                     "service.cookie_secret: required", "oidc.scopes: must include 'openid'",
                     "oidc.issuer: must be an http(s) URL", "servers.bad id!: server ids",
                     "servers.bad id!.management: expected tcp:HOST:PORT",
                     "servers.v2.management_password: required for a TCP"):
        assert expected in text, expected


def test_environment_overrides_and_unknown_variables() -> None:
    env = {"OPENVPN_SSO_PENDING_TIMEOUT": "120", "OPENVPN_SSO_OIDC__SCOPES": "openid, groups",
           "OPENVPN_SSO_REDIS__URL": "redis://10.0.0.5:6380/2", "PATH": "/bin"}
    cfg = config.parse(BASE, env)
    assert cfg.pending_timeout == 120
    assert cfg.oidc.scopes == ["openid", "groups"]
    assert cfg.redis.url == "redis://10.0.0.5:6380/2"
    with pytest.raises(config.ConfigError, match=r"OPENVPN_SSO_OIDC__NOPE: unknown"):
        config.parse(BASE, {"OPENVPN_SSO_OIDC__NOPE": "x"})


def test_secrets_never_print_and_read_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret_file = tmp_path / "s"
    secret_file.write_text("from-file\n")
    cfg = config.parse({**BASE, "oidc": {**BASE["oidc"], "client_secret": f"file:{secret_file}"}})
    assert cfg.oidc.client_secret.reveal() == "from-file"
    assert "from-file" not in repr(cfg.oidc.client_secret)
    assert "s3cret" not in repr(cfg.service.cookie_secret) + str(cfg.service.cookie_secret)
    missing = config.Secret("file:/nonexistent/secret")
    with pytest.raises(config.ConfigError, match="cannot read secret file"):
        missing.reveal()


def test_login_url_length_is_checked() -> None:
    with pytest.raises(config.ConfigError, match="too long"):
        config.parse({**BASE, "public_base_url": "https://x.example/" + "a" * 200})


def test_credentials_in_redis_url_are_refused() -> None:
    with pytest.raises(config.ConfigError, match=r"redis\.url: put credentials"):
        config.parse({**BASE, "redis": {"url": "redis://:pw@host:6379/0"}})


def test_load_reads_toml_and_reports_syntax_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text("public_base_url = \n")
    with pytest.raises(config.ConfigError):
        config.load(str(path), {})
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(str(tmp_path / "missing.toml"), {})


def test_policy_rules_and_per_server_override() -> None:
    raw = {**BASE, "policy": {"allowed_groups": ["vpn"], "deny": [{"groups": ["banned"]}],
                              "allow": [{"realm_roles": ["vpn"], "email_domains": ["x.org"]}]},
           "servers": {"vpn1": {"management": "unix:/a"},
                       "eu": {"management": "unix:/b", "allow": [{"claims": {"dept": "eu"}}]}}}
    cfg = config.parse(raw)
    assert cfg.rules_for("vpn1") == (
        [{"realm_roles": ["vpn"], "email_domains": ["x.org"]}, {"groups": ["vpn"]}],
        [{"groups": ["banned"]}])
    assert cfg.rules_for("eu") == ([{"claims": {"dept": ["eu"]}}], [])


def test_bad_rules_and_entries_are_reported() -> None:
    raw = {**BASE, "policy": {"allow": [{}, {"groups": 5}, {"bogus": ["y"]}]},
           "client_config": [{"routes": {"a": 1}}, {"servers": ["nope"], "extra": 1}]}
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw)
    text = "\n".join(info.value.problems)
    for expected in ("policy.allow[0]: a rule needs at least one of",
                     "policy.allow[1].groups: expected list",
                     "policy.allow[2].bogus: unknown setting",
                     "client_config[0].routes: expected list",
                     "client_config[1].extra: unknown setting",
                     "client_config[1].servers: unknown server id 'nope'"):
        assert expected in text, expected


def test_redis_cluster_settings_are_checked() -> None:
    ok = config.parse({**BASE, "redis": {"cluster_nodes": ["10.0.0.1:6379", "[fd00::1]:6379"]}})
    assert ok.redis.cluster_nodes == ["10.0.0.1:6379", "[fd00::1]:6379"]
    for redis, problem in [
        ({"cluster_nodes": ["10.0.0.1"]}, r"redis\.cluster_nodes: '10\.0\.0\.1' is not host:port"),
        ({"cluster_nodes": ["a:1"], "sentinels": ["b:2"]}, "sentinels or cluster_nodes, not both"),
        ({"cluster_nodes": ["a:1"], "url": "redis://a:1/2"}, "only database 0"),
        ({"cluster_nodes": ["a:1"], "url": "unix:///run/redis.sock"}, "needs a redis://"),
    ]:
        with pytest.raises(config.ConfigError, match=problem):
            config.parse({**BASE, "redis": redis})
