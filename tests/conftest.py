"""Shared fixtures. Real parts start once per test session; a missing part fails
the run loudly (demo.parts raises PartError), it is never skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.parts import RedisClusterSet, RedisServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterSet]:
    with RedisClusterSet(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def installed_copy_is_current() -> None:
    """The hook and `openvpn-sso serve` run from the installed package (as in
    production); fail loudly if it differs from this source tree."""
    import subprocess
    import sys

    repo = ARTIFACTS.parent
    code = ("import hooks, shared, callback_service, os; "
            "print('\\n'.join(os.path.dirname(m.__file__) for m in "
            "(hooks, shared, callback_service)))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         cwd="/", check=True).stdout.split()
    stale = []
    for installed in map(Path, out):
        source = repo / installed.name
        for path in source.rglob("*"):
            if path.suffix in (".py", ".html", ".js") and "__pycache__" not in path.parts:
                twin = installed / path.relative_to(source)
                if not twin.exists() or twin.read_bytes() != path.read_bytes():
                    stale.append(str(path.relative_to(repo)))
    assert not stale, f"installed package is stale, run `.venv/bin/pip install .`: {stale}"
