"""``edureg schedule``: the periodic jobs of a deployment, in one process (``edureg up`` starts
it). Every few seconds: derive the audit log's record references, send the persons whose
identity fields changed to be verified again, enqueue again the verification jobs whose
worker was lost and put back in the queue the tasks of a worker that died
(``edureg.core.tasks``); take in the changes to synchronise upward and hand the relay to the
task worker when some are due; end the workbook intakes not committed within
``EDUREG_INTAKE_TTL_SECONDS`` of their upload and remove their files. Every hour
(``EDUREG_AUDIT_ANCHOR_SECONDS``): copy the audit chain's head to the anchor file outside the
database. Every 15 minutes
(``EDUREG_PRIVACY_ALERT_SECONDS``): text the principals about overdue data-subject requests and
breaches. Once a day (at start and
after midnight): the quality snapshot of every school (for trends), the deactivation of
accounts whose staff no longer work, and the duplicate run over every pupil (enqueued for the
background worker: at city scale it takes minutes). Each job runs in its own transaction; a
failed job is logged (without personal data) and retried at its next turn."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from edureg.audit.services import audit_anchor, refs_catch_up
from edureg.core.tasks import tasks_recover
from edureg.identity.services import changes_catch_up, jobs_resume
from edureg.intake.services import intake_expire
from edureg.privacy.alerts import privacy_alerts_send
from edureg.registry.accounts import staff_accounts_deactivate_inactive
from edureg.registry.attestation import snapshots_take
from edureg.registry.dedupe_run import dedupe_run_task
from edureg.sync.relay import sync_enqueue

logger = logging.getLogger("edureg.schedule")


class Command(BaseCommand):
    help = "Chạy các việc định kỳ (chỉ mục nhật ký, ảnh chụp chất lượng hằng ngày, khoá tài khoản)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=2.0,
                            help="Số giây giữa hai lượt lập chỉ mục nhật ký")
        parser.add_argument("--once", action="store_true",
                            help="Chạy mỗi việc một lần rồi dừng")

    def handle(self, *args: Any, **options: Any) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        last_daily: dt.date | None = None
        last_anchor = last_alerts = -float("inf")
        while not stopping:
            self._run("audit_refs", refs_catch_up)
            self._run("sync_enqueue", sync_enqueue)
            if time.monotonic() - last_anchor >= settings.EDUREG_AUDIT_ANCHOR_SECONDS:
                self._run("audit_anchor", audit_anchor)
                last_anchor = time.monotonic()
            if time.monotonic() - last_alerts >= settings.EDUREG_PRIVACY_ALERT_SECONDS:
                self._run("privacy_alerts", privacy_alerts_send)
                last_alerts = time.monotonic()
            self._run("intake_expire", intake_expire)
            self._run("identity_changes", changes_catch_up)
            self._run("identity_resume", jobs_resume)
            self._run("tasks_recover", tasks_recover)
            today = timezone.localdate()
            if last_daily != today:
                self._run("quality_snapshot", snapshots_take)
                self._run("deactivate_inactive", staff_accounts_deactivate_inactive)
                self._run("dedupe_enqueue", dedupe_run_task.enqueue)
                last_daily = today
            if options["once"]:
                return
            time.sleep(options["interval"])

    @staticmethod
    def _run(name: str, job: Any) -> None:
        try:
            job()
        except Exception as exc:  # a failed job must not stop the others; it runs next turn
            # The class only: database errors can quote the values of the row concerned.
            logger.error("scheduled job %s failed: %s", name, type(exc).__name__)
