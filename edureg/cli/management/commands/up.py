"""``edureg up``: start the embedded deployment — web server, task worker, scheduler, the
population-register, SMS and sector-database simulators — on loopback, print the demo logins and
where the simulated text messages can be read, and stop them all together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Chạy máy chủ web và tiến trình nền trên 127.0.0.1 (bản nhúng, SQLite)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        bin_dir = os.path.dirname(sys.executable)
        processes = {
            "web": [
                os.path.join(bin_dir, "gunicorn"), "edureg.wsgi:application",
                "--bind", f"{host}:{port}", "--workers", str(options["workers"]),
                "--threads", "4", "--access-logfile", "-",
                "--access-logformat", '%(t)s "%(m)s %(U)s" %(s)s %(L)ss',
            ],
            "worker": [sys.executable, "-m", "edureg.cli.main", "worker",
                       "--queue-name", "*", "--no-reload"],
            "schedule": [sys.executable, "-m", "edureg.cli.main", "schedule"],
            # The SMS-provider simulator, on EDUREG_MESSAGES_SIM_PORT: one-time codes land in
            # its outbox.
            "messages": [sys.executable, "-m", "edureg.cli.main", "sim", "messages"],
            # The national sector database simulator (issue 8), on EDUREG_UPSTREAM_SIM_PORT: the
            # upward sync pushes to it.
            "upstream": [sys.executable, "-m", "edureg.cli.main", "sim", "upstream"],
        }
        if settings.EDUREG_REGISTER_SIM_DB.exists():
            # The population-register simulator (issue 5), on EDUREG_REGISTER_SIM_PORT.
            processes["register"] = [sys.executable, "-m", "edureg.cli.main", "sim", "register"]
        else:
            self.stderr.write("Chưa có dữ liệu CSDL dân cư giả lập: chạy `edureg seed` trước để "
                              "bật giả lập xác thực danh tính.")
        children: dict[str, subprocess.Popen[bytes]] = {}
        for name, command in processes.items():
            children[name] = subprocess.Popen(command)  # noqa: S603 - fixed argument lists
        self._print_logins(host, port)
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"Tiến trình {name} đã dừng (mã {child.returncode}).")
                        stopping = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _print_logins(self, host: str, port: int) -> None:
        from edureg.seeding.demo import demo_logins

        self.stdout.write("")
        self.stdout.write(f"edureg đang chạy tại http://{host}:{port}/  (Ctrl-C để dừng)")
        self.stdout.write(f"Cơ sở dữ liệu: {settings.DATABASES['default']['NAME']}")
        self.stdout.write("Tin nhắn mô phỏng (mã OTP): "
                          f"http://127.0.0.1:{settings.EDUREG_MESSAGES_SIM_PORT}/_sim/outbox")
        logins = demo_logins()
        if logins:
            self.stdout.write("Tài khoản demo:")
            for login in logins:
                self.stdout.write(f"  {login.username:<32} {login.role:<28} {login.school}")
            self.stdout.write(f"Mật khẩu demo: {logins[0].password}")
            self.stdout.write(
                "Hiệu trưởng, phó hiệu trưởng, quản trị CNTT, cán bộ Sở và quản trị hệ thống phải "
                "cài xác thực hai bước (ứng dụng TOTP) ở lần đăng nhập đầu."
            )
        self.stdout.write("")
