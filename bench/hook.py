"""Hook stall per connect vs a bare interpreter start, measured in the same run.

    .venv/bin/python bench/hook.py [--runs 40]

Starts a real redis-server on loopback, then alternates runs of
``python -c pass`` (baseline) and the installed ``openvpn-sso-hook`` with an
environment like OpenVPN's (the hook connects to Redis, writes the record and the
pending/control files). Prints medians, the ratio (goal <= 1.6x) and peak RSS
(goal <= 20 MB). Alternating keeps both exposed to the same machine noise. Then
the same against a real Redis Cluster (three masters with a replica each, the
hook following MOVED redirects) and with Redis down.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.parts import RedisClusterSet, RedisServer, hook_setup  # noqa: E402

NO_CAPS = {"limits": {"pending_per_ip": 10**6, "pending_per_server": 10**6}}
BASE = [sys.executable, "-c", "pass"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and exit status of one child process."""
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env)
    _, status = os.waitpid(pid, 0)
    return time.perf_counter() - start, os.waitstatus_to_exitcode(status)


def peak_rss_mb(argv: list[str], env: dict[str, str], out: Path) -> float:
    """Peak RSS through GNU time: a child's ru_maxrss taken from this (large)
    Python process would count our own pages from before the exec."""
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(out), *argv], env=env, check=False)
    return int(out.read_text().split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with RedisServer(tmp / "redis") as redis_server:
            # every run comes from one address: lift the pending caps
            hook, env = hook_setup(tmp, redis_server.url, sections=NO_CAPS)
            base_t, hook_t = alternate(hook, env, args.runs, tmp)
            base_rss = [peak_rss_mb(BASE, {}, tmp / "rss") for _ in range(5)]
            hook_rss = [peak_rss_mb(hook, env, tmp / "rss") for _ in range(5)]
            # client-disconnect: the same script forgets the client's session
            gone = [*hook[:-1], "--cache-dir", str(tmp), "--disconnect"]
            gone_env = env | {"script_type": "client-disconnect", "trusted_ip": "192.0.2.7",
                              "trusted_port": "51234"}
            gone_base, gone_t = alternate(gone, gone_env, args.runs, tmp, expect=0)
    b, h = statistics.median(base_t), statistics.median(hook_t)
    print(f"runs: {args.runs} each, alternating, after 3 warm-up runs")
    print(f"baseline `python -c pass`: median {b * 1000:.1f} ms, "
          f"p90 {statistics.quantiles(base_t, n=10)[-1] * 1000:.1f} ms, "
          f"peak RSS {max(base_rss):.1f} MB")
    print(f"hook (Redis write + pending file): median {h * 1000:.1f} ms, "
          f"p90 {statistics.quantiles(hook_t, n=10)[-1] * 1000:.1f} ms, "
          f"peak RSS {max(hook_rss):.1f} MB  (goal <= 20 MB)")
    print(f"ratio hook/baseline (median): {h / b:.2f}x  (goal <= 1.6x)")
    gb, gh = statistics.median(gone_base), statistics.median(gone_t)
    print(f"client-disconnect hook (Redis script): baseline median {gb * 1000:.1f} ms, hook "
          f"median {gh * 1000:.1f} ms, ratio {gh / gb:.2f}x")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with RedisClusterSet(tmp / "cluster") as cluster:
            hook, env = hook_setup(tmp, "redis://127.0.0.1:6379/0", sections=NO_CAPS,
                                   redis_settings={"cluster_nodes": cluster.nodes})
            base_t, hook_t = alternate(hook, env, args.runs, tmp)
            b, h = statistics.median(base_t), statistics.median(hook_t)
            print(f"Redis Cluster (3 masters): baseline median {b * 1000:.1f} ms, hook median "
                  f"{h * 1000:.1f} ms, ratio {h / b:.2f}x")
            with never_answering_port() as dead:
                (tmp / "dead").mkdir()
                hook, env = hook_setup(tmp / "dead", "redis://127.0.0.1:6379/0",
                                       sections=NO_CAPS, redis_settings={
                                           "cluster_nodes": [f"127.0.0.1:{dead}", *cluster.nodes],
                                           "connect_timeout": 1})
                first, _ = timed(hook, env)
                _, later = alternate(hook, env, max(5, args.runs // 4), tmp / "dead")
            print(f"Redis Cluster, first seed never answering (connect_timeout = 1 s): first run "
                  f"{first * 1000:.1f} ms, later runs median {statistics.median(later) * 1000:.1f}"
                  " ms (the seed that answered is asked first)")
    down = redis_down_times(args.runs)
    for what, seconds in down.items():
        print(f"hook with Redis {what}: median {statistics.median(seconds) * 1000:.1f} ms "
              f"(refused with a reason, exit 1)")


def alternate(hook: list[str], env: dict[str, str], runs: int,
              tmp: Path, expect: int = 2) -> tuple[list[float], list[float]]:
    """Baseline and hook times, alternating, after 3 warm-up runs."""
    base_t, hook_t = [], []
    for i in range(runs + 3):
        bt, _ = timed(BASE, {})
        ht, hrc = timed(hook, env)
        if hrc != expect:
            sys.exit(f"hook exited {hrc}: {(tmp / 'reason').read_text()}")
        if i >= 3:  # warm-up runs fill the page cache
            base_t.append(bt)
            hook_t.append(ht)
    return base_t, hook_t


def redis_down_times(runs: int) -> dict[str, list[float]]:
    """The hook when Redis refuses connections, and when it never answers (a full
    accept queue, like a dead host): it must refuse, within its connect timeout."""
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()  # nothing listens there now
        hook, env = hook_setup(tmp, f"redis://127.0.0.1:{port}/0")
        refused = []
        for _ in range(max(5, runs // 4)):
            t, rc = timed(hook, env)
            assert rc == 1, rc
            refused.append(t)
        out["refusing connections"] = refused
        with never_answering_port() as port:
            hook, env = hook_setup(tmp, f"redis://127.0.0.1:{port}/0",
                                   redis_settings={"connect_timeout": 1})
            t, rc = timed(hook, env)
            assert rc == 1, rc
            out["never answering (connect_timeout = 1 s)"] = [t]
    return out


@contextlib.contextmanager
def never_answering_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: connects hang, like a dead host."""
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(0)
    fillers = []
    try:
        for _ in range(8):
            try:
                fillers.append(socket.create_connection(stuck.getsockname(), timeout=0.3))
            except TimeoutError:
                break
        yield stuck.getsockname()[1]
    finally:
        for f in fillers:
            f.close()
        stuck.close()


if __name__ == "__main__":
    main()
