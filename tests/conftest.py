"""Shared fixtures. Real parts start once per test session; a missing part fails
the run loudly (demo.parts raises PartError), it is never skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.parts import RedisServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server
