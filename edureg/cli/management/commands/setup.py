"""A new installation's first data (docs/production.md §6):

    edureg setup authority --code SGD79 --name "Sở Giáo dục và Đào tạo …" --province 79
                           [--schools danh_sach_truong.csv]
    edureg setup admin --authority SGD79 --username quantri.sgd --full-name "Nguyễn Văn A"

The first creates (or corrects) the Department and loads its school list, all rows or none; run
it again after the list changes. The second creates the Department's first system
administrator and prints a one-time password, to be changed at the first sign-in, where the
second factor is enrolled too. Every other account is then created in the web interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from edureg.access.setup import (
    SCHOOL_COLUMNS,
    authority_set_up,
    first_admin_create,
    schools_csv_rows,
    schools_load,
)
from edureg.schools.models import Authority


def _messages(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "\n".join(message for messages in error.message_dict.values()
                         for message in messages)
    return "\n".join(error.messages)


class Command(BaseCommand):
    help = "Khởi tạo dữ liệu đầu tiên: Sở, danh sách trường, quản trị viên đầu tiên."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        authority = sub.add_parser("authority", help="Tạo hoặc sửa thông tin Sở; nạp danh sách "
                                                     "trường")
        authority.add_argument("--code", required=True, metavar="MÃ_SỞ")
        authority.add_argument("--name", required=True, metavar="TÊN_SỞ")
        authority.add_argument("--province", required=True, metavar="MÃ_TỈNH",
                               help="Mã tỉnh/thành phố (2 chữ số, ví dụ 79)")
        authority.add_argument("--schools", type=Path, metavar="TỆP.csv",
                               help="Danh sách trường (UTF-8, các cột: "
                                    + ", ".join(SCHOOL_COLUMNS) + ")")
        admin = sub.add_parser("admin", help="Tạo tài khoản quản trị hệ thống đầu tiên của Sở")
        admin.add_argument("--authority", required=True, metavar="MÃ_SỞ")
        admin.add_argument("--username", required=True, metavar="TÊN_ĐĂNG_NHẬP")
        admin.add_argument("--full-name", required=True, metavar="HỌ_TÊN")
        admin.add_argument("--email", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "authority":
                self._authority(options)
            else:
                self._admin(options)
        except ValidationError as error:
            raise CommandError(_messages(error)) from None

    def _authority(self, options: dict[str, Any]) -> None:
        rows = None
        if options["schools"] is not None:
            path: Path = options["schools"]
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CommandError(f"Không tìm thấy tệp {path}.") from None
            except UnicodeDecodeError:
                raise CommandError(f"Tệp {path} không phải văn bản UTF-8: hãy lưu lại dưới dạng "
                                   "“CSV UTF-8”.") from None
            rows = schools_csv_rows(text)  # the header is checked before anything is written
        with transaction.atomic():  # the Department and its list together, or neither
            authority, created = authority_set_up(code=options["code"], name=options["name"],
                                                  province_code=options["province"])
            loaded = schools_load(authority=authority, rows=rows) if rows is not None else None
        self.stdout.write(("Đã tạo" if created else "Đã cập nhật") + f" {authority.name} "
                          f"(mã {authority.code}).")
        if loaded is not None:
            self.stdout.write(f"Danh sách trường: {loaded.created} trường mới, "
                              f"{loaded.updated} trường được cập nhật.")

    def _admin(self, options: dict[str, Any]) -> None:
        authority = Authority.objects.filter(code=options["authority"]).first()
        if authority is None:
            raise CommandError(f"Chưa có Sở mã {options['authority']}: hãy chạy "
                               "`edureg setup authority` trước.")
        user, password = first_admin_create(authority=authority, username=options["username"],
                                            full_name=options["full_name"],
                                            email=options["email"])
        self.stdout.write(
            f"Đã tạo tài khoản quản trị hệ thống {user.username} ({user.full_name}).\n"
            f"Mật khẩu dùng một lần: {password}\n"
            "Hãy trao tận tay người dùng. Ở lần đăng nhập đầu tiên, họ phải đổi mật khẩu và "
            "đăng ký xác thực hai lớp.")
