"""The intake screens through the test client: upload → dry run page → commit or cancel →
result and history; look-alikes named only to those who may see them; the file never kept."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from edureg.access.models import User
from edureg.audit.models import AuditEvent
from edureg.intake.models import IntakeRun, RunStatus
from edureg.registry.models import Student
from edureg.registry.services import student_update
from tests.conftest import Cast
from tests.intake.conftest import pupil, xlsx

pytestmark = pytest.mark.django_db

BORN = dt.date(2020, 3, 1)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _upload(client: Client, cast: Cast, data: bytes, name: str = "hoc-sinh.xlsx") -> Any:
    return client.post(reverse("web:intake_upload", args=[cast.school_a.pk]), {
        "kind": "student", "file": SimpleUploadedFile(name, data)})


def _run() -> IntakeRun:
    return IntakeRun.objects.latest("pk")


def test_the_school_page_offers_the_intake_to_those_whose_job_it_is(
        cast: Cast, ivan: User) -> None:
    link = reverse("web:intake_upload", args=[cast.school_a.pk])
    page = _client(ivan).get(reverse("web:school", args=[cast.school_a.pk]))
    assert link in page.content.decode()
    page = _client(cast.alice).get(reverse("web:school", args=[cast.school_a.pk]))
    assert link not in page.content.decode()


def test_upload_dry_run_commit_and_history(cast: Cast, ivan: User, intake_dir: Path) -> None:
    client = _client(ivan)
    assert client.get(reverse("web:intake_upload", args=[cast.school_a.pk])).status_code == 200
    rows = [pupil(), pupil("Lê Văn Tư", sex="Nam", class_name="1B"),
            pupil("Đỗ Văn Năm", ethnicity="Người sao Hoả")]
    response = _upload(client, cast, xlsx(rows))
    run = _run()
    assert response["Location"] == reverse("web:intake_run", args=[run.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Soi thử tệp nhập" in page
    assert "Người sao Hoả" in page  # the user's own file, quoted to find the cell
    assert "Dân tộc" in page
    assert "Ghi vào CSDL" in page
    assert f'action="{reverse("web:intake_commit", args=[run.pk])}"' not in page  # errors left
    refused = client.post(reverse("web:intake_commit", args=[run.pk]), follow=True)
    assert "chưa ghi gì" in refused.content.decode()
    assert not Student.objects.filter(full_name="Võ Thị Mai").exists()
    # The fixed file.
    response = _upload(client, cast, xlsx(rows[:2]))
    run = _run()
    page = client.get(response["Location"]).content.decode()
    assert f'action="{reverse("web:intake_commit", args=[run.pk])}"' in page
    done = client.post(reverse("web:intake_commit", args=[run.pk]), follow=True)
    assert "Đã ghi vào CSDL: 2 học sinh mới" in done.content.decode()
    assert Student.objects.filter(full_name__in=["Võ Thị Mai", "Lê Văn Tư"]).count() == 2
    run.refresh_from_db()
    assert run.status == RunStatus.COMMITTED
    assert list(intake_dir.iterdir()) == [f for f in intake_dir.iterdir()
                                          if not f.name.startswith(f"run-{run.pk}.")]
    history = client.get(reverse("web:intake_history", args=[cast.school_a.pk]))
    assert f"#{run.pk}" in history.content.decode()
    assert "Đã ghi vào CSDL" in history.content.decode()


def test_a_file_that_is_not_a_workbook_is_refused_on_the_form(cast: Cast, ivan: User) -> None:
    response = _upload(_client(ivan), cast, b"%PDF-1.7 not a workbook", "hoc-sinh.pdf")
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not IntakeRun.objects.exists()


def test_a_file_over_the_limit_is_refused_and_never_kept(
        cast: Cast, ivan: User, settings: Any, intake_dir: Path, tmp_path: Path) -> None:
    settings.EDUREG_INTAKE_MAX_BYTES = 1000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    response = _upload(_client(ivan), cast, xlsx([pupil()]))
    assert response.status_code == 200
    assert "1000" not in str(response.context["form"].errors)
    assert "Tệp lớn hơn" in str(response.context["form"].errors["file"])
    assert list((tmp_path / "uploads").iterdir()) == []
    assert not intake_dir.exists() or list(intake_dir.iterdir()) == []
    assert not IntakeRun.objects.exists()


def test_look_alikes_are_named_only_to_those_who_may_see_them(
        cast: Cast, clerk: User, ivan: User) -> None:
    Student.objects.filter(pk=cast.other_school_student.pk).update(date_of_birth=BORN)
    Student.objects.filter(pk=cast.an.pk).update(date_of_birth=dt.date(2020, 1, 3))
    rows = [pupil("Lê Văn Cường", sex="Nam"), pupil("Nguyễn Văn An", sex="Nam",
                                                  date_of_birth=dt.date(2020, 3, 1))]
    client = _client(clerk)
    _upload(client, cast, xlsx(rows))
    run = _run()
    page = client.get(reverse("web:intake_run", args=[run.pk])).content.decode()
    assert "Lê Văn Cường" not in page.split("nghi-trung-title")[1].split("</section>")[0]
    assert f"một học sinh của {cast.school_b.name}" in page
    assert reverse("web:student", args=[cast.an.pk]) in page  # a pupil of her own school
    (read,) = [event for event in AuditEvent.objects.filter(action="student.read")
               if event.data.get("view") == "intake_dry_run"]
    assert read.data["ids"] == [str(cast.an.pk)]
    # The IT officer sees no pupil's record: schools only.
    other = _client(ivan).get(reverse("web:intake_run", args=[run.pk])).content.decode()
    assert reverse("web:student", args=[cast.an.pk]) not in other
    assert "lý do" in page.lower()


def test_a_commit_after_a_change_asks_for_a_new_dry_run(cast: Cast, clerk: User) -> None:
    Student.objects.filter(pk=cast.an.pk).update(date_of_birth=BORN, sex="M")
    client = _client(clerk)
    _upload(client, cast, xlsx([pupil("Nguyễn Văn An", education_id=cast.an.education_id,
                                      sex="Nam", phone="0912345678")]))
    run = _run()
    student_update(actor=cast.alice, student=cast.an, data={"current_address": "1 Lê Lợi"})
    page = client.post(reverse("web:intake_commit", args=[run.pk]), follow=True)
    assert "hãy soi thử lại" in page.content.decode()
    cast.an.refresh_from_db()
    assert cast.an.phone == ""
    client.post(reverse("web:intake_review", args=[run.pk]))
    client.post(reverse("web:intake_commit", args=[run.pk]))
    cast.an.refresh_from_db()
    assert cast.an.phone == "0912345678"


def test_cancel_removes_the_file(cast: Cast, ivan: User, intake_dir: Path) -> None:
    client = _client(ivan)
    _upload(client, cast, xlsx([pupil()]))
    run = _run()
    assert any(intake_dir.iterdir())
    response = client.post(reverse("web:intake_cancel", args=[run.pk]))
    assert response["Location"] == reverse("web:intake_history", args=[cast.school_a.pk])
    assert list(intake_dir.iterdir()) == []
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    page = client.get(reverse("web:intake_run", args=[run.pk])).content.decode()
    assert "không ghi gì" in page


def test_problems_are_paged(cast: Cast, ivan: User) -> None:
    names = [f"Nguyễn {middle} {given}" for middle in ("An", "Bình", "Cường", "Dũng", "Hà", "Lan")
             for given in ("Anh", "Bảo", "Chi", "Dung", "Giang", "Hải", "Khoa", "Linh", "Minh",
                           "Nam")]
    rows = [pupil(name, date_of_birth=dt.date(2020, 1, 1) + dt.timedelta(n),
                  ethnicity="Người sao Hoả") for n, name in enumerate(names)]
    client = _client(ivan)
    _upload(client, cast, xlsx(rows))
    url = reverse("web:intake_run", args=[_run().pk])
    first = client.get(url).content.decode()
    assert "Trang 1/2" in first
    second = client.get(url, {"trang": "2"}).content.decode()
    assert "Trang 2/2" in second
    assert client.get(url, {"trang": "x"}).status_code == 200


def test_someone_who_has_not_read_the_policy_is_sent_to_it(cast: Cast) -> None:
    from edureg.access.roles import Role
    from tests import factories as f

    newcomer = f.make_user("moi", Role.IT_OFFICER, cast.school_a)
    response = _upload(_client(newcomer), cast, xlsx([pupil()]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:privacy_policy"))
    assert not IntakeRun.objects.exists()


def test_a_file_the_server_cannot_keep_is_refused_with_nothing_recorded(
        cast: Cast, ivan: User, tmp_path: Path, settings: Any) -> None:
    """The upload directory cannot be written (here: its parent is a file; a full disk fails
    the same way, see bench/faults.py): a clear message, no run, no audit event, no file."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    settings.EDUREG_INTAKE_DIR = blocker / "intake"
    events = AuditEvent.objects.count()
    response = _upload(_client(ivan), cast, xlsx([pupil()]))
    assert response.status_code == 200
    assert "Máy chủ chưa lưu tạm được tệp này" in response.content.decode()
    assert not IntakeRun.objects.exists()
    assert AuditEvent.objects.count() == events
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-directory"]
