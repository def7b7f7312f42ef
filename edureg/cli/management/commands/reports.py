"""``edureg reports``: statistical reports from live data (counts only, suppressed).

    edureg reports run MÃ_BÁO_CÁO --as-of YYYY-MM-DD (--school MÃ … | --authority [MÃ_SỞ])
                       [--json] [--xlsx TỆP] [--pdf TỆP] [--as TÊN_ĐĂNG_NHẬP]
    edureg reports run all …                 every active definition (the standard set)
    edureg reports load TỆP.toml …           add a definition, or a new version of one
    edureg reports list [--json]

Without ``--as`` the command runs as the system (every school); with it, as that account (its
job position and scope decide what it may report on).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from edureg.access import policy
from edureg.access.policy import Actor
from edureg.reports.exports import table_pdf, table_xlsx
from edureg.reports.services import (
    ReportRefused,
    definition_load,
    definitions_active,
    report_generate,
)
from edureg.reports.spec import DefinitionError
from edureg.reports.tables import ReportTable
from edureg.schools.models import Authority, School


class Command(BaseCommand):
    help = "Báo cáo thống kê từ dữ liệu hiện có (chỉ số đếm, đã ẩn ô nhỏ)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Lập một báo cáo (hoặc «all»: bộ báo cáo chuẩn)")
        run.add_argument("definition", metavar="MÃ_BÁO_CÁO")
        run.add_argument(
            "--as-of",
            required=True,
            metavar="YYYY-MM-DD",
            help="Ngày báo cáo (số liệu tại cuối ngày này)",
        )
        target = run.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--school", action="append", metavar="MÃ_TRƯỜNG", help="Trường (có thể lặp lại)"
        )
        target.add_argument(
            "--authority",
            nargs="?",
            const="",
            metavar="MÃ_SỞ",
            help="Toàn Sở (mặc định: Sở duy nhất, hoặc Sở của tài khoản)",
        )
        run.add_argument("--json", action="store_true", help="In bảng dạng JSON")
        run.add_argument("--xlsx", type=Path, metavar="TỆP", help="Ghi bảng ra tệp .xlsx")
        run.add_argument("--pdf", type=Path, metavar="TỆP", help="Ghi bảng ra tệp .pdf")
        run.add_argument(
            "--as",
            dest="username",
            default=None,
            metavar="TÊN_ĐĂNG_NHẬP",
            help="Tài khoản thực hiện (mặc định: hệ thống)",
        )
        load = sub.add_parser("load", help="Nạp định nghĩa báo cáo từ tệp TOML")
        load.add_argument("files", nargs="+", type=Path, metavar="TỆP")
        load.add_argument("--as", dest="username", default=None, metavar="TÊN_ĐĂNG_NHẬP")
        listing = sub.add_parser("list", help="Các báo cáo đang dùng")
        listing.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except (ReportRefused, DefinitionError) as error:
            raise CommandError(error.message) from None
        except PermissionDenied:
            raise CommandError("Tài khoản này không có quyền với báo cáo thống kê.") from None
        except Http404:
            raise CommandError(
                "Không tìm thấy (hoặc ngoài phạm vi của tài khoản) trường hay Sở "
                "đã chọn; hãy kiểm tra lại mã."
            ) from None

    @staticmethod
    def _actor(username: str | None) -> Actor | None:
        if username is None:
            return None
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"Không có tài khoản đang hoạt động tên «{username}».")
        return user

    def _run(self, options: dict[str, Any]) -> None:
        actor = self._actor(options["username"])
        try:
            as_of = dt.date.fromisoformat(options["as_of"])
        except ValueError:
            raise CommandError(
                f"Ngày báo cáo «{options['as_of']}» không đúng dạng YYYY-MM-DD (ví dụ 2026-09-05)."
            ) from None
        schools: list[School] | None = None
        authority: Authority | None = None
        if options["school"]:
            found = {
                school.code: school for school in School.objects.filter(code__in=options["school"])
            }
            missing = sorted(set(options["school"]) - set(found))
            if missing:
                raise Http404(", ".join(missing))
            schools = list(found.values())
        else:
            authority = self._authority(options["authority"], actor)
        codes = (
            [definition.code for definition in definitions_active()]
            if options["definition"] == "all"
            else [options["definition"]]
        )
        tables = [
            report_generate(
                actor=actor, definition=code, as_of=as_of, schools=schools, authority=authority
            )
            for code in codes
        ]
        for suffix, render in (("xlsx", table_xlsx), ("pdf", table_pdf)):
            path: Path | None = options[suffix]
            if path is None:
                continue
            for table in tables:
                target = (
                    path
                    if len(tables) == 1
                    else path.with_name(f"{path.stem}_{table.code}.{suffix}")
                )
                target.write_bytes(render(table))
                self.stderr.write(f"Đã ghi {target}")
        if options["json"]:
            payload: Any = [t.as_dict() for t in tables] if len(tables) > 1 else tables[0].as_dict()
            self.stdout.write(json.dumps(payload, ensure_ascii=False))
            return
        for table in tables:
            self._print(table)

    @staticmethod
    def _authority(code: str, actor: Actor | None) -> Authority:
        if code:
            authority = Authority.objects.filter(code=code).first()
            if authority is None:
                raise Http404(code)
            return authority
        if actor is not None:
            covered = {grant.authority_id for grant in policy.grants(actor)}
            if len(covered) == 1:
                return Authority.objects.get(pk=covered.pop())
        authorities = list(Authority.objects.all()[:2])
        if len(authorities) == 1:
            return authorities[0]
        raise CommandError("Có nhiều Sở: hãy ghi mã Sở sau --authority.")

    def _print(self, table: ReportTable) -> None:
        self.stdout.write(table.title)
        self.stdout.write(table.provenance.describe())
        labels = [table.row_label, *(column.label for column in table.columns)]
        rows = [[row.label, *(cell.text for cell in row.cells)] for row in table.all_rows]
        widths = [max(len(str(line[j])) for line in [labels, *rows]) for j in range(len(labels))]
        for line in [labels, *rows]:
            self.stdout.write(
                "  ".join(
                    str(text).ljust(widths[0]) if j == 0 else str(text).rjust(widths[j])
                    for j, text in enumerate(line)
                )
            )
        for note in table.notes[:2]:
            self.stdout.write(note)
        self.stdout.write("")

    def _load(self, options: dict[str, Any]) -> None:
        actor = self._actor(options["username"])
        for path in options["files"]:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Không đọc được tệp {path}: {error.strerror}.") from None
            try:
                stored = definition_load(actor=actor, text=text)
            except DefinitionError as error:
                raise CommandError(f"{path}: {error.message}") from None
            self.stdout.write(f"Đã nạp báo cáo «{stored.code}» phiên bản {stored.version}.")

    def _list(self, options: dict[str, Any]) -> None:
        rows = [
            {"code": d.code, "version": d.version, "title": d.title, "source": d.spec.get("source")}
            for d in definitions_active()
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        for row in rows:
            self.stdout.write(f"{row['code']:<28} v{row['version']:<3} {row['title']}")
