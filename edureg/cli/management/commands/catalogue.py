"""``edureg catalogue load FILE | activate VERSION | show``: the field catalogue as data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from edureg.core.catalogue import (
    CatalogueError,
    active_catalogue,
    catalogue_activate,
    catalogue_load,
)


class Command(BaseCommand):
    help = "Nạp, kích hoạt hoặc xem danh mục trường dữ liệu (phiên bản hoá)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="Nạp một tệp TOML làm phiên bản mới")
        load.add_argument("file", type=Path)
        load.add_argument("--no-activate", action="store_true")
        activate = sub.add_parser("activate", help="Dùng một phiên bản đã nạp")
        activate.add_argument("version")
        sub.add_parser("show", help="In danh mục đang dùng")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "load":
                path: Path = options["file"]
                if not path.is_file():
                    raise CommandError(f"Không tìm thấy tệp {path}; hãy kiểm tra đường dẫn.")
                stored = catalogue_load(path.read_text(encoding="utf-8"),
                                        activate=not options["no_activate"])
                self.stdout.write(f"Đã nạp danh mục trường phiên bản {stored.version}.")
            elif options["action"] == "activate":
                catalogue_activate(options["version"])
                self.stdout.write(f"Đang dùng danh mục trường phiên bản {options['version']}.")
            else:
                catalogue = active_catalogue()
                self.stdout.write(f"Phiên bản {catalogue.version} — {catalogue.source}")
                for f in catalogue.fields:
                    required = "bắt buộc" if f.required else "không bắt buộc"
                    self.stdout.write(
                        f"  {f.entity}.{f.name:<24} {f.label:<40} {f.sensitivity:<9} "
                        f"{required:<15} {f.update_group}"
                    )
        except CatalogueError as exc:
            raise CommandError(str(exc)) from exc
