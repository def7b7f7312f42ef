"""``edureg identity``: verify identities against the national population register.

    edureg identity verify --as TÊN_ĐĂNG_NHẬP (--school MÃ | --authority MÃ | --class SỐ)
    edureg identity run [--threads N]        work the running jobs here, until none is left
    edureg identity status [--job SỐ] [--json]

``verify`` acts as the named account (its job position decides what it may send) and
enqueues the job for the task worker; ``run`` works jobs in this process instead (for a
one-off batch, or when no worker runs). A job stopped half-way (a process killed) is taken up
again by ``run``, by the worker, or by ``edureg schedule``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from django.http import Http404

from edureg.identity.models import IdentityState, JobKind, VerificationJob
from edureg.identity.services import Target, jobs_run_pending, verification_request
from edureg.schools.models import Authority, School


class Command(BaseCommand):
    help = "Xác thực danh tính với CSDL quốc gia về dân cư."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="Gửi xác thực một lớp, một trường hoặc toàn Sở")
        verify.add_argument("--as", dest="username", required=True, metavar="TÊN_ĐĂNG_NHẬP",
                            help="Tài khoản thực hiện (quyền theo vị trí việc làm của tài khoản)")
        target = verify.add_mutually_exclusive_group(required=True)
        target.add_argument("--school", metavar="MÃ_TRƯỜNG")
        target.add_argument("--authority", metavar="MÃ_SỞ")
        target.add_argument("--class", dest="class_id", type=int, metavar="SỐ_LỚP")
        run = sub.add_parser("run", help="Chạy các lượt xác thực đang chờ ngay tại đây")
        run.add_argument("--threads", type=int, default=None,
                         help="Số lời gọi song song (mặc định EDUREG_REGISTER_MAX_CONCURRENCY)")
        status = sub.add_parser("status", help="Tình trạng các lượt xác thực")
        status.add_argument("--job", type=int, default=None, metavar="SỐ")
        status.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _verify(self, options: dict[str, Any]) -> None:
        user = get_user_model().objects.filter(username=options["username"],
                                               is_active=True).first()
        if user is None:
            raise CommandError(f"Không có tài khoản đang hoạt động tên "
                               f"«{options['username']}».")
        if options["school"]:
            school = School.objects.filter(code=options["school"]).first()
            target = Target(JobKind.SCHOOL, school_id=school.pk if school else 0)
        elif options["authority"]:
            authority = Authority.objects.filter(code=options["authority"]).first()
            target = Target(JobKind.AUTHORITY, authority_id=authority.pk if authority else 0)
        else:
            target = Target(JobKind.CLASS, class_id=options["class_id"])
        try:
            job = verification_request(actor=user, target=target)
        except PermissionDenied:
            raise CommandError("Tài khoản này không có quyền gửi xác thực danh tính.") from None
        except Http404:
            raise CommandError("Không tìm thấy (hoặc ngoài phạm vi của tài khoản) lớp, trường "
                               "hay Sở đã chọn; hãy kiểm tra lại mã.") from None
        self.stdout.write(f"Đã tạo lượt xác thực số {job.pk}: {job.persons:,} người được gửi. "
                          "Tiến trình nền sẽ xử lý; xem bằng `edureg identity status`.")

    def _run(self, options: dict[str, Any]) -> None:
        reports = jobs_run_pending(threads=options["threads"])
        for report in reports:
            self.stdout.write(json.dumps(dataclasses.asdict(report)))
        if not reports:
            self.stdout.write("Không có lượt xác thực nào đang chờ.")

    def _status(self, options: dict[str, Any]) -> None:
        jobs = VerificationJob.objects.order_by("-pk")
        if options["job"]:
            jobs = jobs.filter(pk=options["job"])
        rows = []
        for job in jobs[:20]:
            by_status = dict(IdentityState.objects.filter(job=job).values_list("status")
                             .annotate(n=Count("pk")).values_list("status", "n"))
            rows.append({"job": job.pk, "kind": job.kind, "status": job.status,
                         "persons": job.persons, "answered": job.answered,
                         "not_sendable": job.not_sendable, "calls": job.calls,
                         "failed_calls": job.failed_calls, "by_status": by_status})
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            self.stdout.write(
                f"#{row['job']} {row['kind']:<9} {row['status']:<8} "
                f"{row['answered']:,}/{row['persons']:,} đã có kết quả, "
                f"{row['not_sendable']:,} không gửi được, {row['calls']:,} lời gọi "
                f"({row['failed_calls']:,} lỗi)")
