"""A 9 a.m. login storm: many real OpenVPN clients at once, and the service driven
to thousands of logins.

    .venv/bin/python bench/storm.py [--clients 200] [--logins 2000] [--threads 8]
                                    [--redis-cluster]

1. ``--clients`` real OpenVPN clients (own certificates, CN = their IdP user)
   connect to one real server at once; the hook runs for each.
2. Every login is completed over HTTP by a small scripted browser (requests, with
   its own cookie jar): /login -> the IdP's form -> /callback -> /confirm. The real
   clients must all reach CONNECTED.
3. The rest up to ``--logins``: the real hook is run with an OpenVPN-like
   environment for clients that are not there, and those logins are completed the
   same way; each must end with a clear page ("no longer waiting") and its record
   marked done.
Prints throughput, /callback (includes the IdP token call) and /confirm (no IdP:
Redis + management interface) latency percentiles, and lost verdicts (goal 0).
With ``--redis-cluster`` the shared state is a real Redis Cluster (three masters,
a replica each) instead of one Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from demo.openvpn_parts import OpenVPNClient  # noqa: E402
from demo.parts import RedisClusterSet, User, hook_setup  # noqa: E402
from demo.stack import ServerSpec, Stack  # noqa: E402

FORM = re.compile(r'action="(/interaction/[^"]+/login)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')


@dataclass
class Result:
    ok: bool
    outcome: str  # approved page, gone page, or the failure
    callback_s: float = 0.0
    confirm_s: float = 0.0


def browse(url: str, issuer: str, user: str) -> Result:
    """One login the way a browser does it, without the rendering."""
    s = requests.Session()
    try:
        form_page = s.get(url, timeout=30)
        action = FORM.search(form_page.text)
        if not action:
            return Result(False, f"no IdP form ({form_page.status_code})")
        page = s.post(issuer + action.group(1), data={"username": user,
                                                      "password": f"{user}-password"},
                      timeout=30)
        callback_s = page.elapsed.total_seconds()
        token = TOKEN.search(page.text)
        if not token:
            return Result(False, f"no confirmation page ({page.status_code})", callback_s)
        state = url.rsplit("=", 1)[1]
        done = s.post(url.split("/login")[0] + "/confirm", timeout=30, data={
            "state": state, "token": token.group(1), "decision": "approve"})
        outcome = ("approved" if "You are connected" in done.text else
                   "gone" if "no longer waiting" in done.text else f"other {done.status_code}")
        return Result(outcome in ("approved", "gone"), outcome, callback_s,
                      done.elapsed.total_seconds())
    except requests.RequestException as err:
        return Result(False, f"http error {err}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--redis-cluster", action="store_true")
    args = parser.parse_args()
    users = [User(f"user{i:04d}", f"user{i:04d}-password", ["vpn-users"])
             for i in range(args.clients)]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack_exit:
        redis_options: dict[str, Any] = {}
        if args.redis_cluster:
            cluster = stack_exit.enter_context(RedisClusterSet(Path(tmp) / "cluster"))
            redis_options = {"redis_url": "redis://127.0.0.1:1/0",
                             "redis_settings": {"cluster_nodes": cluster.nodes}}
            print(f"[storm] Redis Cluster: {', '.join(cluster.nodes)}", flush=True)
        stack = stack_exit.enter_context(Stack(
            Path(tmp) / "stack", users=users, **redis_options,
            servers=[ServerSpec("vpn1", "10.90.0.0 255.255.252.0")],
            sections={"limits": {"requests_per_minute": 10**7, "pending_per_ip": 10**6,
                                 "pending_per_server": 10**6}},
            progress=lambda m: print(f"[storm] {m}", flush=True)))
        assert stack.idp is not None and stack.service is not None and stack.pki is not None
        for u in users:  # certificates first: openssl is not what we measure
            stack.pki.client(u.username)
        print(f"[storm] starting {args.clients} real OpenVPN clients", flush=True)
        started = time.perf_counter()
        clients: list[OpenVPNClient] = []
        for u in users:
            clients.append(stack_exit.enter_context(stack.client(u.username)))
        urls = [c.wait_web_auth_url(120) for c in clients]
        connect_s = time.perf_counter() - started
        print(f"[storm] all {len(urls)} clients got their login URL in {connect_s:.1f} s; "
              "logging them in", flush=True)
        issuer = stack.idp.issuer
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            real = list(pool.map(lambda pair: browse(pair[0], issuer, pair[1].username),
                                 zip(urls, users, strict=True)))
        connected = 0
        for c in clients:
            try:
                c.wait_state("CONNECTED", 60)
                connected += 1
            except Exception as err:  # counted as lost below
                print(f"[storm] {c.name} did not connect: {err}", flush=True)
        real_s = time.perf_counter() - t0
        # service side beyond the machine's clients: the real hook for absent clients
        extra = max(0, args.logins - args.clients)
        print(f"[storm] {extra} more logins through the real hook for absent clients",
              flush=True)
        hook_dir = Path(tmp) / "hook"
        hook_dir.mkdir()
        argv, env = hook_setup(hook_dir, stack.redis_url or "", base_url="http://unused")
        argv[2] = str(stack.config_path)  # the stack's own config: same Redis, same URL
        extra_urls = []
        for i in range(extra):
            user = users[i % len(users)].username
            run_env = env | {"common_name": user, "untrusted_ip": f"198.18.{i // 250}.{i % 250}",
                             "untrusted_port": str(20000 + i)}
            proc = subprocess.run(argv, env=run_env, capture_output=True, text=True)
            if proc.returncode != 2:
                sys.exit(f"hook refused: {(hook_dir / 'reason').read_text()} {proc.stderr}")
            extra_urls.append((
                (hook_dir / "pending").read_text().splitlines()[2].split("WEB_AUTH::", 1)[1],
                user))
        t1 = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            synthetic = list(pool.map(lambda pair: browse(pair[0], issuer, pair[1]),
                                      extra_urls))
        synthetic_s = time.perf_counter() - t1
        r: Any = (redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0],
                                     decode_responses=True) if args.redis_cluster
                  else redis.Redis.from_url(stack.redis_url or "", decode_responses=True))
        not_done = sum(1 for url, _ in extra_urls
                       if r.hget(f"ovpnsso:login:{url.rsplit('=', 1)[1]}", "phase") != "done")
    results = real + synthetic
    failed = [x for x in results if not x.ok]
    lost = (args.clients - connected) + len(failed) + not_done
    cb = [x.callback_s for x in results if x.callback_s]
    cf = [x.confirm_s for x in results if x.confirm_s]
    print(f"real clients: {connected}/{args.clients} CONNECTED; their logins took "
          f"{real_s:.1f} s ({args.clients / real_s:.1f} logins/s with {args.threads} browsers)")
    print(f"service-side logins for absent clients: {len(synthetic)} in {synthetic_s:.1f} s "
          f"({len(synthetic) / max(synthetic_s, 1e-9):.1f}/s); outcomes: "
          + ", ".join(f"{o} {sum(1 for x in synthetic if x.outcome == o)}"
                      for o in sorted({x.outcome for x in synthetic})))
    print(f"/callback (includes the IdP token call): p50 {pct(cb, .5):.0f} ms, "
          f"p99 {pct(cb, .99):.0f} ms, max {max(cb) * 1000:.0f} ms")
    print(f"/confirm (Redis + management interface, no IdP): p50 {pct(cf, .5):.0f} ms, "
          f"p99 {pct(cf, .99):.0f} ms, max {max(cf) * 1000:.0f} ms; "
          f"mean {statistics.mean(cf) * 1000:.0f} ms")
    print(f"lost verdicts: {lost} (goal 0); failures: "
          + (", ".join(sorted({x.outcome for x in failed})) or "none"))


if __name__ == "__main__":
    main()
