"""The state one app's endpoints share (`Api`: settings, keys, served model, audit store, pools), started and
stopped by the app's lifespan; routers reach it through `service.api.deps`."""
from __future__ import annotations

import logging
import time
from typing import Callable

from models.bundle import BundleError
from models.policy import PolicyError
from models.trust import read_trusted
from service.api import release_gate
from service.api.auth import KeyRing
from service.api.engine import ScoringEngine, load_model
from service.api.errors import ApiProblem
from service.api.metrics import ApiMetrics
from service.api.monitoring import DriftMonitor
from service.api.offload import CpuPool, UploadSlots, WorkerProcesses
from service.api.settings import Settings
from service.store.archive import RetentionJob
from service.store.audit import AuditStore, Record, StoreError

log = logging.getLogger(__name__)
BATCH_WORKER = ["service.api.batch_worker", "service.api.offload"]  # what the batch workers' fork server imports before forking them
NO_DECISION = "the audit record could not be written, so no decision is returned; retry later"


class Api:
    """State shared by the endpoints of one app (one per create_app call)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self.keys = KeyRing(settings.keys_file, clock)
        self.metrics = ApiMetrics()
        self.engine: ScoringEngine | None = None
        self.store: AuditStore | None = None
        self.retention: RetentionJob | None = None
        self.model_error: Exception | None = None  # why no model is served (logged; not shown)
        self.monitor = DriftMonitor()
        self.cpu = CpuPool(settings.cpu_threads)  # upload scoring, off the event loop
        self.batches = WorkerProcesses(settings.batch_processes, BATCH_WORKER)  # JSON batches, off the GIL too
        self.uploads = UploadSlots(settings.max_concurrent_uploads)

    def start(self) -> None:
        s = self.settings
        self.cpu = CpuPool(s.cpu_threads)  # fresh pools each start: stop() shuts the previous ones down
        self.batches = WorkerProcesses(s.batch_processes, BATCH_WORKER)
        self.store = AuditStore(s.database_url, s.sqlite_synchronous, s.audit_commit_timeout)
        if s.audit_retention_days:
            self.retention = RetentionJob(self.store, s.audit_retention_days, s.audit_archive_dir).start()
        try:
            model = load_model(self.settings.model_dir, self.trusted())
            release_gate.admit(model.manifest, self.settings.model_dir, self.settings.allow_not_ready,
                               "TECHSCORE_ALLOW_NOT_READY at start-up", self.settings.release_overrides_file)
        except (BundleError, PolicyError) as exc:  # the process stays up; /readyz says why it is not ready
            self.model_error = exc
            log.error("no model served: %s", exc)
            return
        self.engine = ScoringEngine(model)
        self.monitor.attach(model.scorer)
        self.metrics.set_model(model.version)

    def trusted(self) -> set[str]:
        """The registered bundle identities, read afresh (registering takes effect at the next load)."""
        return set(read_trusted(self.settings.trusted_bundles_file))

    def stop(self) -> None:
        if self.retention is not None:
            self.retention.stop()
        self.cpu.shutdown()
        self.batches.shutdown()
        if self.store is not None:
            self.store.close()

    def scoring(self) -> ScoringEngine:
        if self.engine is None:
            raise ApiProblem(503, "no model is loaded; an admin loads one (the server log says why none is)",
                             headers={"Retry-After": "30"})
        return self.engine

    def audit(self) -> AuditStore:
        assert self.store is not None, "store is opened at start-up"
        return self.store

    async def record(self, records: list[Record]) -> None:
        """Commit the audit records or answer 503 (an unrecorded decision is worse than none)."""
        try:
            await self.audit().write(records)
        except StoreError as exc:
            self.metrics.audit_failures.inc(len(records))
            log.error("audit write failed: %s", exc)
            raise ApiProblem(503, NO_DECISION, headers={"Retry-After": "5"}) from exc
