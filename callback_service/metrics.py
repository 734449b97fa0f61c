"""Prometheus metrics (prometheus-client), safe under gunicorn's worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``openvpn-sso serve`` sets it up), every
worker writes its samples to that directory and ``/metrics`` aggregates them.
Labels take values from small fixed sets only (server ids from the config,
outcome and reason codes below), never from claims or client input.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# refusal code -> outcome (the codes are the `reason` label of finished logins)
OUTCOME_OF = {
    "expired": "expired", "idp_unreachable": "error", "other_browser": "denied",
    "internal": "error", "unknown_server": "error", "idp_error": "denied", "no_code": "error",
    "code_rejected": "error", "token_invalid": "error", "policy": "denied",
    "binding": "denied", "browser_ip": "denied", "not_approved": "denied",
}

LOGINS_STARTED = Counter("openvpn_sso_logins_started_total",
                         "Logins whose browser reached /login", ["server"])
LOGINS_FINISHED = Counter("openvpn_sso_logins_finished_total",
                          "Logins that ended, by outcome and reason code",
                          ["server", "outcome", "reason"])
LOGIN_SECONDS = Histogram("openvpn_sso_login_duration_seconds",
                          "From the VPN client's connect (hook) to the verdict",
                          ["server", "outcome"],
                          buckets=(2, 5, 10, 20, 30, 60, 120, 300, 600))
REQUEST_SECONDS = Histogram("openvpn_sso_request_duration_seconds",
                            "Time to answer /login, /callback and /confirm (IdP calls included)",
                            ["endpoint"],
                            buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
DELIVER_SECONDS = Histogram("openvpn_sso_deliver_duration_seconds",
                            "Management interface round trip for one verdict", ["server"],
                            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 10))
SENDER_ERRORS = Counter("openvpn_sso_sender_errors_total",
                        "Verdicts that could not be delivered to OpenVPN", ["server"])
REDIS_ERRORS = Counter("openvpn_sso_redis_errors_total", "Requests failed by Redis errors")


class PendingCollector(Collector):
    """Pending logins per server, read from Redis when scraped (not per process)."""

    def __init__(self, count: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self._count = count

    def collect(self) -> Iterable[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("openvpn_sso_pending_logins",
                                  "Logins waiting for the browser, per server", labels=["server"])
        for server, n in self._count():
            gauge.add_metric([server], n)
        yield gauge


def exposition(pending: Callable[[], Iterable[tuple[str, int]]]) -> tuple[bytes, str]:
    """The /metrics body: all workers' samples (multiprocess) plus the pending gauge."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    out = generate_latest(registry)
    pending_registry = CollectorRegistry()
    pending_registry.register(PendingCollector(pending))
    return out + generate_latest(pending_registry), CONTENT_TYPE_LATEST


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start
