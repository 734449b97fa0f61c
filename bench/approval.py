"""Approval -> CONNECTED with real OpenVPN clients, with and without the wake-up,
alternating in the same run (the "without" runs are the baseline).

    .venv/bin/python bench/approval.py [--rounds 8] [--wait 0.5,1,2,5]

Each round connects a real client (the real hook stores its pending login), waits
``--wait`` seconds as a user would (each delay of the list in turn), then approves
it exactly as the service does (`shared.management.sender.deliver`); the clock runs
from just before the approval to the client's own CONNECTED line (its management
interface, read live). Each round is a new user (certificate CN); with
``--reconnect`` it is the same user again, whose previous (killed) client OpenVPN
still lists, so the approval also ends that stale session (OpenVPN runs the
client-disconnect hook for it first).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.stack import Stack  # noqa: E402
from shared import config as configmod  # noqa: E402
from shared.management import sender  # noqa: E402
from shared.records import login_key  # noqa: E402


def summary(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return (f"{name}: median {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * .9) - 1]:.1f}"
            f" ms, max {ms[-1]:.1f} ms over {len(ms)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=8, help="rounds per delay and mode")
    parser.add_argument("--wait", default="5", help="approval delays in seconds, e.g. 0.5,1,2,5")
    parser.add_argument("--reconnect", action="store_true",
                        help="the same user every round (replaces a stale session)")
    args = parser.parse_args()
    waits = [float(w) for w in args.wait.split(",")]
    results: dict[tuple[float, bool], list[float]] = {(w, m): [] for w in waits
                                                      for m in (True, False)}
    # approvals here bypass the service, so its pending-login caps are never released
    limits: dict[str, dict[str, object]] = {
        "limits": {"pending_per_ip": 10**6, "pending_per_server": 10**6}}
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp), sections=limits) as stack:
        cfg = configmod.load(str(stack.config_path), {})
        server = cfg.server("vpn1")
        r = redis.Redis.from_url(stack.redis_url or "", decode_responses=True)
        for n, (wait, i) in enumerate((w, i) for w in waits for i in range(args.rounds * 2)):
            wake = i % 2 == 0
            name = "alice" if args.reconnect else f"user{n}"
            with stack.client(name) as client:
                url = client.wait_web_auth_url()
                record = r.hgetall(login_key("ovpnsso", url.rsplit("=", 1)[1]))
                time.sleep(wait)
                seen = len(client.lines())
                started = time.perf_counter()
                delivery = sender.deliver(server, str(record["ip"]), str(record["port"]), name,
                                          sender.Verdict(True), wake=wake)
                client.wait_state("CONNECTED", 30, since=seen)
                results[wait, wake].append(time.perf_counter() - started)
                print(f"[bench] approved after {wait} s, {'wake' if wake else 'none'}: "
                      f"{results[wait, wake][-1] * 1000:.1f} ms", flush=True)
                assert delivery.outcome == "approved", delivery
    print("goal: median <= 50 ms, max <= 250 ms with the wake-up")
    for wait in waits:
        print(f"approved {wait} s after the login URL reached the client:")
        print(summary("  with the wake-up   ", results[wait, True]))
        print(summary("  without (baseline)", results[wait, False]))
        ratio = statistics.median(results[wait, True]) / statistics.median(results[wait, False])
        print(f"  median ratio with/without: {ratio:.3f}")


if __name__ == "__main__":
    main()
