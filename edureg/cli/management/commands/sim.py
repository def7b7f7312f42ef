"""``edureg sim register``: run the population-register simulator on loopback, over the data
``edureg seed`` wrote, with the faults asked for (changeable later through ``/_sim/control``).
``edureg sim messages``: the SMS-provider simulator, whose outbox (``/_sim/outbox``) shows the
messages edureg sent. ``edureg sim upstream``: the national sector database simulator, which
keeps what it applied in its own SQLite file (``--db``)."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from edureg.core.messages import simulator as messages_simulator
from edureg.identity.register.simulator import Faults, register_size, serve
from edureg.sync.upstream import simulator as upstream_simulator


def _number(option: str, *, low: float, high: float | None = None, integer: bool = False) -> Any:
    def parse(value: str) -> float:
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            limits = f"từ {low:g} đến {high:g}" if high is not None else f"không nhỏ hơn {low:g}"
            kind = "số nguyên" if integer else "số"
            raise argparse.ArgumentTypeError(
                f"{option} phải là {kind} {limits} (đã nhận: {value!r}).")
        return number
    return parse


class Command(BaseCommand):
    help = ("Chạy các hệ thống giả lập (CSDL quốc gia về dân cư; dịch vụ gửi tin nhắn SMS; "
            "CSDL ngành của Bộ GD&ĐT).")

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="system", required=True)
        register = sub.add_parser(
            "register", help="Giả lập CSDL quốc gia về dân cư (dịch vụ xác thực nhân thân)")
        arg = register.add_argument
        arg("--host", default="127.0.0.1", metavar="ĐỊA_CHỈ",
            help="Địa chỉ lắng nghe (mặc định 127.0.0.1, chỉ máy này)")
        arg("--port", type=_number("--port", low=0, high=65535, integer=True), default=None,
            metavar="CỔNG", help="Cổng (mặc định EDUREG_REGISTER_SIM_PORT; 0 = tự chọn cổng trống)")
        arg("--db", default=None, metavar="TỆP",
            help="Tệp dữ liệu dân cư do edureg seed tạo (mặc định EDUREG_REGISTER_SIM_DB)")
        arg("--latency-ms", type=_number("--latency-ms", low=0, integer=True), default=0,
            metavar="MS", help="Độ trễ thêm cho mỗi lần xác thực (mili giây)")
        arg("--quota", type=_number("--quota", low=0.001), default=None, metavar="LẦN/GIÂY",
            help="Hạn mức số lần xác thực mỗi giây; vượt thì trả 429")
        arg("--fail-rate", type=_number("--fail-rate", low=0, high=1), default=0.0,
            metavar="TỈ_LỆ", help="Tỉ lệ lần gọi trả lỗi 503 (0 đến 1)")
        arg("--timeout-rate", type=_number("--timeout-rate", low=0, high=1), default=0.0,
            metavar="TỈ_LỆ", help="Tỉ lệ lần gọi trả lời rất chậm, quá thời gian chờ (0 đến 1)")
        arg("--timeout-seconds", type=_number("--timeout-seconds", low=0), default=30.0,
            metavar="GIÂY", help="Số giây chờ của một lần trả lời rất chậm (mặc định 30)")
        arg("--malformed-rate", type=_number("--malformed-rate", low=0, high=1), default=0.0,
            metavar="TỈ_LỆ", help="Tỉ lệ lần gọi trả về nội dung hỏng (0 đến 1)")
        arg("--down", action="store_true",
            help="Bắt đầu ở trạng thái ngừng dịch vụ (cắt kết nối, không trả lời)")
        arg("--seed", type=_number("--seed", low=0, integer=True), default=None, metavar="SỐ",
            help="Hạt giống ngẫu nhiên, để tái lập lỗi giả lập")
        self._add_messages_arguments(sub.add_parser(
            "messages", help="Giả lập dịch vụ gửi tin nhắn SMS (mã OTP, thông báo)"))
        self._add_upstream_arguments(sub.add_parser(
            "upstream", help="Giả lập CSDL ngành của Bộ GD&ĐT (nhận đồng bộ dữ liệu lên)"))

    def _add_messages_arguments(self, messages: argparse.ArgumentParser) -> None:
        arg = messages.add_argument
        arg("--host", default="127.0.0.1", metavar="ĐỊA_CHỈ",
            help="Địa chỉ lắng nghe (mặc định 127.0.0.1, chỉ máy này)")
        arg("--port", type=_number("--port", low=0, high=65535, integer=True), default=None,
            metavar="CỔNG",
            help="Cổng (mặc định EDUREG_MESSAGES_SIM_PORT; 0 = tự chọn cổng trống)")
        arg("--latency-ms", type=_number("--latency-ms", low=0, integer=True), default=0,
            metavar="MS", help="Độ trễ thêm cho mỗi tin gửi (mili giây)")
        arg("--fail-rate", type=_number("--fail-rate", low=0, high=1), default=0.0,
            metavar="TỈ_LỆ", help="Tỉ lệ lần gửi trả lỗi 503 (0 đến 1)")
        arg("--down", action="store_true",
            help="Bắt đầu ở trạng thái ngừng dịch vụ (mọi lần gửi trả lỗi 503)")
        arg("--seed", type=_number("--seed", low=0, integer=True), default=None, metavar="SỐ",
            help="Hạt giống ngẫu nhiên, để tái lập lỗi giả lập")

    def _add_upstream_arguments(self, upstream: argparse.ArgumentParser) -> None:
        arg = upstream.add_argument
        arg("--host", default="127.0.0.1", metavar="ĐỊA_CHỈ",
            help="Địa chỉ lắng nghe (mặc định 127.0.0.1, chỉ máy này)")
        arg("--port", type=_number("--port", low=0, high=65535, integer=True), default=None,
            metavar="CỔNG",
            help="Cổng (mặc định EDUREG_UPSTREAM_SIM_PORT; 0 = tự chọn cổng trống)")
        arg("--db", default=None, metavar="TỆP",
            help="Tệp SQLite lưu các thay đổi đã nhận (mặc định EDUREG_UPSTREAM_SIM_DB)")
        arg("--latency-ms", type=_number("--latency-ms", low=0, integer=True), default=0,
            metavar="MS", help="Độ trễ thêm cho mỗi lô thay đổi (mili giây)")
        arg("--fail-rate", type=_number("--fail-rate", low=0, high=1), default=0.0,
            metavar="TỈ_LỆ", help="Tỉ lệ lô trả lỗi 503 trước khi ghi nhận (0 đến 1)")
        arg("--malformed-rate", type=_number("--malformed-rate", low=0, high=1), default=0.0,
            metavar="TỈ_LỆ",
            help="Tỉ lệ lô đã ghi nhận nhưng trả về nội dung hỏng (0 đến 1)")
        arg("--down", action="store_true",
            help="Bắt đầu ở trạng thái ngừng dịch vụ (mọi lô trả lỗi 503)")
        arg("--seed", type=_number("--seed", low=0, integer=True), default=None, metavar="SỐ",
            help="Hạt giống ngẫu nhiên, để tái lập lỗi giả lập")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["system"] == "messages":
            self._run_messages(options)
            return
        if options["system"] == "upstream":
            self._run_upstream(options)
            return
        db_path = Path(options["db"] or settings.EDUREG_REGISTER_SIM_DB)
        if not db_path.is_file():
            raise CommandError(
                f"Không tìm thấy dữ liệu dân cư giả lập ({db_path}). Hãy chạy `edureg seed` "
                "trước để tạo dữ liệu.")
        try:
            persons = register_size(db_path)
        except sqlite3.Error:
            raise CommandError(
                f"Tệp {db_path} không phải dữ liệu dân cư giả lập. Hãy chạy lại `edureg seed`."
            ) from None
        faults = Faults(
            latency_ms=options["latency_ms"], quota_per_second=options["quota"],
            fail_rate=options["fail_rate"], timeout_rate=options["timeout_rate"],
            timeout_seconds=options["timeout_seconds"],
            malformed_rate=options["malformed_rate"], down=options["down"],
            seed=options["seed"])
        port = settings.EDUREG_REGISTER_SIM_PORT if options["port"] is None else options["port"]
        try:
            server = serve(options["host"], port, db_path, settings.EDUREG_REGISTER_TOKEN,
                           faults)
        except OSError as error:
            raise CommandError(
                f"Không mở được cổng {options['host']}:{port} ({error.strerror}). Cổng đang "
                "được dùng? Hãy chọn cổng khác bằng --port.") from None
        stopping = threading.Event()

        def stop(signum: int, frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(
            f"Giả lập CSDL dân cư tại {server.url} (dữ liệu: {db_path}, {persons:,} người)")
        self.stdout.flush()
        try:
            while not stopping.wait(0.1):
                pass
        finally:
            server.shutdown()
            server.server_close()
        self.stdout.write("Đã dừng giả lập CSDL dân cư.")

    def _run_messages(self, options: dict[str, Any]) -> None:
        faults = messages_simulator.Faults(
            latency_ms=options["latency_ms"], fail_rate=options["fail_rate"],
            down=options["down"], seed=options["seed"])
        port = settings.EDUREG_MESSAGES_SIM_PORT if options["port"] is None else options["port"]
        try:
            server = messages_simulator.serve(options["host"], port,
                                              settings.EDUREG_MESSAGES_TOKEN, faults)
        except OSError as error:
            raise CommandError(
                f"Không mở được cổng {options['host']}:{port} ({error.strerror}). Cổng đang "
                "được dùng? Hãy chọn cổng khác bằng --port.") from None
        stopping = threading.Event()

        def stop(signum: int, frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Giả lập gửi tin nhắn tại {server.url} (hộp thư đã gửi: "
                          f"{server.url}{messages_simulator.OUTBOX_PATH})")
        self.stdout.flush()
        try:
            while not stopping.wait(0.1):
                pass
        finally:
            server.shutdown()
            server.server_close()
        self.stdout.write("Đã dừng giả lập gửi tin nhắn.")

    def _run_upstream(self, options: dict[str, Any]) -> None:
        faults = upstream_simulator.Faults(
            latency_ms=options["latency_ms"], fail_rate=options["fail_rate"],
            malformed_rate=options["malformed_rate"], down=options["down"],
            seed=options["seed"])
        port = settings.EDUREG_UPSTREAM_SIM_PORT if options["port"] is None else options["port"]
        db_path = Path(options["db"] or settings.EDUREG_UPSTREAM_SIM_DB)
        try:
            server = upstream_simulator.serve(options["host"], port, db_path,
                                              settings.EDUREG_UPSTREAM_TOKEN, faults)
        except sqlite3.Error as error:
            raise CommandError(
                f"Không mở được tệp dữ liệu giả lập CSDL ngành {db_path} ({error}).") from None
        except OSError as error:
            raise CommandError(
                f"Không mở được cổng {options['host']}:{port} ({error.strerror}). Cổng đang "
                "được dùng? Hãy chọn cổng khác bằng --port.") from None
        stopping = threading.Event()

        def stop(signum: int, frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Giả lập CSDL ngành tại {server.url} (dữ liệu: {db_path})")
        self.stdout.flush()
        try:
            while not stopping.wait(0.1):
                pass
        finally:
            server.shutdown()
            server.server_close()
        self.stdout.write("Đã dừng giả lập CSDL ngành.")
