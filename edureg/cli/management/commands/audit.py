"""``edureg audit verify [--anchors FILE]``: check the hash chain of the audit log, and the
chain against the anchors kept outside the database.
``edureg audit anchor``: copy the chain head to the anchor file now.
``edureg audit index [--follow]``: derive the record references of new events."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from edureg.audit.anchors import AnchorFileError
from edureg.audit.services import anchor_file, audit_anchor, audit_verify, refs_catch_up


class Command(BaseCommand):
    help = "Kiểm tra tính toàn vẹn của nhật ký (chuỗi băm)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="Kiểm tra toàn bộ chuỗi")
        verify.add_argument("--workers", type=int, default=None,
                            help="Số tiến trình kiểm tra song song (mặc định: tự chọn)")
        verify.add_argument("--anchors", type=Path, default=None,
                            help="Tệp mốc nhật ký (mặc định: EDUREG_AUDIT_ANCHOR_FILE)")
        sub.add_parser("anchor", help="Ghi mốc đầu chuỗi ra tệp ngoài cơ sở dữ liệu")
        index = sub.add_parser("index", help="Lập chỉ mục hồ sơ cho các sự kiện mới")
        index.add_argument("--follow", action="store_true",
                           help="Chạy liên tục (tiến trình nền của edureg up)")
        index.add_argument("--interval", type=float, default=2.0,
                           help="Số giây chờ giữa hai lượt khi chạy liên tục")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "index":
            self._index(follow=options["follow"], interval=options["interval"])
            return
        if options["action"] == "anchor":
            self._anchor()
            return
        self._verify(options)

    def _index(self, *, follow: bool, interval: float) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        if follow:
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
        while True:
            done = refs_catch_up()
            if not follow:
                self.stdout.write(f"Đã lập chỉ mục {done} sự kiện.")
                return
            if stopping:
                return
            time.sleep(interval)

    def _anchor(self) -> None:
        path = anchor_file()
        if path is None:
            raise CommandError("Chưa cấu hình tệp mốc nhật ký (EDUREG_AUDIT_ANCHOR_FILE).")
        try:
            anchor = audit_anchor(path)
        except AnchorFileError as exc:
            raise CommandError(str(exc)) from exc
        if anchor is None:
            self.stdout.write("Đầu chuỗi chưa đổi từ mốc trước; không ghi mốc mới.")
        else:
            self.stdout.write(f"Đã ghi mốc: sự kiện số {anchor.seq}, băm {anchor.hash}.")

    def _verify(self, options: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            result = audit_verify(workers=options.get("workers"), anchors=options.get("anchors"))
        except AnchorFileError as exc:
            raise CommandError(str(exc)) from exc
        if result.broken is not None:
            raise CommandError(
                f"Nhật ký bị sửa hoặc xoá tại sự kiện số {result.broken.seq} "
                f"({result.broken.reason}); hãy báo ngay cho hiệu trưởng và quản trị hệ thống."
            )
        seconds = time.perf_counter() - started
        self.stdout.write(f"Nhật ký toàn vẹn: {result.events} sự kiện ({seconds:.1f} giây).")
