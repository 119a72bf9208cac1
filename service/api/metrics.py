"""Prometheus metrics: requests and latency by route and status, scores by grade, model version."""
from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

disable_created_metrics()  # the *_created series only double the scrape size
_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """One registry per app (tests build several apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("techscore_http_requests_total", "HTTP requests by route, method and status",
                                ("route", "method", "status"), registry=self.registry)
        self.latency = Histogram("techscore_http_request_seconds", "Request latency by route and method",
                                 ("route", "method"), buckets=_BUCKETS, registry=self.registry)
        self.scores = Counter("techscore_scores_total", "Firms scored, by grade and channel",
                              ("grade", "channel"), registry=self.registry)
        self._graded: dict[tuple[str, str], Any] = {}
        self.rejects = Counter("techscore_rejected_profiles_total", "Profiles refused for invalid fields",
                               ("channel",), registry=self.registry)
        self.model = Gauge("techscore_model_info", "Model version being served (value 1)", ("version",),
                           registry=self.registry)
        self.audit_failures = Counter("techscore_audit_write_failures_total",
                                      "Assessments refused because the audit record could not be written",
                                      registry=self.registry)

    def set_model(self, version: str) -> None:
        self.model.clear()
        self.model.labels(version).set(1)

    def count_grade(self, grade: str, channel: str, n: int = 1) -> None:
        """Count n firms scored with `grade` (label children kept: `labels()` takes a lock and checks the values)."""
        child = self._graded.get((grade, channel))
        if child is None:
            child = self._graded[(grade, channel)] = self.scores.labels(grade, channel)
        child.inc(n)

    def count_grades(self, grades: list[str], channel: str) -> None:
        for g in set(grades):
            self.count_grade(g, channel, grades.count(g))


class MetricsMiddleware:
    """Pure ASGI middleware (BaseHTTPMiddleware would cost a task per request)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")  # the template, not the raw path
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route, scope["method"]).observe(time.perf_counter() - started)
