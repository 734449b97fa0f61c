"""The background verification loop: one pass per interval, only with the lock."""

from __future__ import annotations

from typing import Any

import pytest

from callback_service import verifier


class Stop(BaseException):
    pass


# the loop is ended by raising from its sleep, which pytest reports as a thread error
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_loop_runs_a_pass_only_when_it_gets_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    passes: list[int] = []
    locks = iter([True, False, True])
    sleeps: list[float] = []

    class Store:
        def lock(self, name: str, ttl: int) -> bool:
            assert name == "verifier" and ttl == 299
            return next(locks)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) > 3:
            raise Stop

    def run_once(config: Any, store: Any, provider: Any) -> None:
        passes.append(len(sleeps))
        if len(passes) == 1:
            raise RuntimeError("one failed pass must not end the loop")

    class Config:
        class sessions:  # stands in for the config section
            verify_interval = 300

    monkeypatch.setattr(verifier, "run_once", run_once)
    thread = verifier.start_background(Config(), Store(), None, sleep=sleep)  # type: ignore[arg-type]
    thread.join(5)
    assert not thread.is_alive()
    assert sleeps == [300, 300, 300, 300]
    assert passes == [1, 3]  # the second interval had no lock
