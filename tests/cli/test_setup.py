"""``edureg setup``: a new installation's Department, school list and first administrator,
from the command line as the IT officer runs it."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from edureg.access.models import Membership, User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.schools.models import Authority, School

pytestmark = pytest.mark.django_db

HEADER = "ma_truong,ten_truong,cap_hoc,loai_hinh,ma_xa,dia_chi\n"
GOOD = (HEADER
        + "79100001,Trường Tiểu học Phú Lợi,Tiểu học,Công lập,25750,\"Số 1, đường A\"\n"
        + "79100002,Trường THCS Thủ Dầu Một,thcs,Ngoài công lập,25747,\n")


def _setup(*args: str) -> str:
    out = StringIO()
    call_command("setup", *args, stdout=out)
    return out.getvalue()


def _schools_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "truong.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_department_and_its_schools_are_created_then_updated(tmp_path: Path) -> None:
    out = _setup("authority", "--code", "SGD79", "--name", "Sở Giáo dục và Đào tạo Thử",
                 "--province", "79", "--schools", _schools_file(tmp_path, "\ufeff" + GOOD))
    assert "Đã tạo Sở Giáo dục và Đào tạo Thử" in out
    assert "2 trường mới" in out
    authority = Authority.objects.get(code="SGD79")
    schools = {s.code: s for s in School.objects.filter(authority=authority)}
    assert schools["79100001"].level == "tieu_hoc"
    assert schools["79100001"].address == "Số 1, đường A"
    assert schools["79100002"].ownership == "private"
    renamed = GOOD.replace("Trường THCS Thủ Dầu Một", "Trường THCS Thủ Dầu Một 2")
    out = _setup("authority", "--code", "SGD79", "--name", "Sở Giáo dục và Đào tạo Thử",
                 "--province", "79", "--schools", _schools_file(tmp_path, renamed))
    assert "0 trường mới, 1 trường được cập nhật" in out
    assert School.objects.get(code="79100002").name == "Trường THCS Thủ Dầu Một 2"
    assert AuditEvent.objects.filter(action="schools.loaded").count() == 2


def test_a_bad_list_is_refused_whole_with_each_line_named(tmp_path: Path) -> None:
    bad = (GOOD + "79100003,Trường X,Đại học,Công lập,25750,\n"
           + "79100004,Trường Y,Mầm non,Công lập,00004,\n"
           + "79100001,Trường trùng,THPT,Công lập,25750,\n")
    with pytest.raises(CommandError) as error:
        _setup("authority", "--code", "SGD79", "--name", "Sở Thử", "--province", "79",
               "--schools", _schools_file(tmp_path, bad))
    message = str(error.value)
    assert "Dòng 4: cột cap_hoc" in message
    assert "Dòng 5: cột ma_xa: Phường Ba Đình không thuộc tỉnh/thành phố của Sở" in message
    assert "Dòng 6: mã trường 79100001 đã có ở dòng 2" in message
    # Nothing half-written: not even the Department.
    assert not Authority.objects.filter(code="SGD79").exists()
    assert not School.objects.filter(code="79100001").exists()


def test_a_list_without_the_columns_or_not_utf8_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"thiếu cột .*cap_hoc"):
        _setup("authority", "--code", "SGD79", "--name", "Sở Thử", "--province", "79",
               "--schools", _schools_file(tmp_path, "ma_truong,ten_truong\n1,A\n"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(GOOD.encode("cp1258", errors="replace"))
    with pytest.raises(CommandError, match="UTF-8"):
        _setup("authority", "--code", "SGD79", "--name", "Sở Thử", "--province", "79",
               "--schools", str(latin))
    with pytest.raises(CommandError, match="Mã tỉnh/thành phố 99"):
        _setup("authority", "--code", "SGD79", "--name", "Sở Thử", "--province", "99")
    assert not Authority.objects.exists()


def test_the_first_administrator_signs_in_and_must_change_the_password() -> None:
    _setup("authority", "--code", "SGD79", "--name", "Sở Thử", "--province", "79")
    out = _setup("admin", "--authority", "SGD79", "--username", "quantri.sgd",
                 "--full-name", "Nguyễn Văn Quản")
    password = out.split("Mật khẩu dùng một lần: ")[1].split("\n")[0]
    user = User.objects.get(username="quantri.sgd")
    assert user.must_change_password
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.SYSTEM_ADMIN
    assert membership.school is None
    event = AuditEvent.objects.get(action="account.created", entity_id=str(user.pk))
    assert password not in str(event.data)
    client = Client()
    response = client.post("/dang-nhap/", {"username": "quantri.sgd", "password": password})
    assert response.status_code == 302
    # Signed in, the administrator is sent to enrol the second factor before anything else.
    assert client.get("/").headers["Location"].startswith("/tai-khoan/xac-thuc-hai-buoc/")
    # A second "first" administrator is refused: the next ones are made in the web interface.
    with pytest.raises(CommandError, match="đã có tài khoản quản trị hệ thống"):
        _setup("admin", "--authority", "SGD79", "--username", "quantri2",
               "--full-name", "Trần Thị B")
    with pytest.raises(CommandError, match="Chưa có Sở mã SGD01"):
        _setup("admin", "--authority", "SGD01", "--username", "quantri3", "--full-name", "C")
