"""Model monitoring state: drift windows of recently scored firms and the served model's validation report.

`DriftMonitor` keeps one rolling window per served model (fed by the scorer's listener, so every
scoring path — single, batch, CSV — counts); `ReportCache` renders the served model's report once per
version. `service.api.routes.monitoring` exposes them as `GET /v1/monitoring/drift` and `GET /v1/model/report`.
"""
from __future__ import annotations

import threading
from typing import Any

from models.drift import ACT, WATCH, DriftReference, DriftWindow
from models.scoring import Scorer

DEFAULT_WINDOW = 10_000
MIN_ROWS = 100


class DriftMonitor:
    """Rolling windows of scored indicator rows, one per model version (a reload starts a fresh one)."""

    def __init__(self, window: int = DEFAULT_WINDOW, min_rows: int = MIN_ROWS):
        self.window = window
        self.min_rows = min_rows
        self._windows: dict[str, DriftWindow | None] = {}
        self._lock = threading.Lock()

    def attach(self, scorer: Scorer) -> None:
        """Start recording what `scorer` scores (idempotent; models without a drift reference are skipped).
        A reload of the same version keeps its window and feeds it from the new scorer object too."""
        with self._lock:
            if scorer.version not in self._windows:
                ref = scorer.bundle.extras.get("drift_reference")
                win = DriftWindow(DriftReference.from_dict(ref), self.window) if ref else None
                self._windows = {scorer.version: win}  # a new version starts afresh; the old model's window goes
            win = self._windows[scorer.version]
            if win is not None and win.add not in scorer.listeners:
                scorer.listeners.append(win.add)

    def report(self, scorer: Scorer) -> dict[str, Any]:
        """PSI per indicator and for the score of the current window, with the model version."""
        self.attach(scorer)
        win = self._windows.get(scorer.version)
        if win is None:
            return {"model_version": scorer.version, "status": "unavailable", "n": 0, "window": self.window,
                    "thresholds": {"watch": WATCH, "act": ACT}, "score": None, "features": [],
                    "detail": "this model bundle has no training reference bins; retrain it to monitor drift"}
        return {"model_version": scorer.version, **win.report(self.min_rows)}


class ReportCache:
    """The served model's holdout report, rendered once per model version (figures take a second)."""

    def __init__(self) -> None:
        self._html: dict[str, str] = {}

    def html(self, scorer: Scorer, manifest: dict[str, Any]) -> str:
        from training.report import report_html_for  # service may import training; loaded on first use

        if scorer.version not in self._html:
            self._html = {scorer.version: report_html_for(scorer.bundle, manifest)}
        return self._html[scorer.version]
