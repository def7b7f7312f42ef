"""The new intake list (grade 1, grade 6 from outside): new pupils with temporary codes and
verification queued; a child already known to the authority is linked, never created again."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import Http404
from django.test import Client
from django.urls import reverse

from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.identity.models import IdentityState, IdentityStatus
from edureg.registry.models import Enrolment, SchoolClass, Student
from edureg.schools.models import SchoolYear
from edureg.yearly.models import Handover, HandoverStatus, IntakeBatch
from edureg.yearly.new_intake import IntakeRow, RowState, intake_check, intake_commit
from tests import factories as f
from tests.conftest import Cast

NEXT_START = dt.date(2027, 9, 5)


@pytest.fixture
def grade_1(cast: Cast) -> SchoolClass:
    """Class 1A of school A in the next school year (2027–2028)."""
    year = SchoolYear.objects.create(
        school=cast.school_a, start_year=2027, starts_on=NEXT_START, ends_on=dt.date(2028, 5, 31)
    )
    return SchoolClass.objects.create(school=cast.school_a, school_year=year, name="1A", grade=1)


def _row(line: int, school_class: SchoolClass, name: str, born: str, **extra: Any) -> IntakeRow:
    data = {"full_name": name, "date_of_birth": born, "sex": "Nữ"}
    link_to = extra.pop("link_to", None)
    reason = extra.pop("not_duplicate_reason", "")
    return IntakeRow(
        line=line,
        class_id=school_class.pk,
        data=data | extra,
        link_to=link_to,
        not_duplicate_reason=reason,
    )


def _state() -> dict[str, object]:
    return {
        "students": list(Student.objects.order_by("pk").values()),
        "enrolments": list(Enrolment.objects.order_by("pk").values()),
        "batches": list(IntakeBatch.objects.order_by("pk").values()),
    }


def test_new_pupils_get_temporary_codes_and_are_queued_for_verification(
    cast: Cast, grade_1: SchoolClass, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    rows = [
        _row(1, grade_1, "Phan Thị Mai", "12/04/2021"),
        _row(2, grade_1, "Hồ Văn Nam", "30/01/2021", sex="Nam", personal_id_number="079221000123"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        result = intake_commit(actor=cast.alice, school=cast.school_a, start_year=2027, rows=rows)
    assert (len(result.created), len(result.linked)) == (2, 0)
    for student in result.created:
        student.refresh_from_db()
        assert student.education_id is None
        assert student.temporary_code
        assert student.temporary_code.startswith(f"T{cast.school_a.pk:05d}")
        assert (student.school_id, student.current_class_id) == (cast.school_a.pk, grade_1.pk)
        enrolment = Enrolment.objects.get(student=student, is_current=True)
        assert (enrolment.grade, enrolment.started_on) == (1, NEXT_START)
    assert len({s.temporary_code for s in result.created}) == 2
    created = AuditEvent.objects.filter(action="student.create")
    assert {e.data["intake_batch"] for e in created} == {result.batch.pk}
    assert AuditEvent.objects.filter(action="intake_list.committed").get().data["created"] == 2
    # Every new identity is in a verification job on commit.
    states = IdentityState.objects.filter(
        entity="student", record_id__in=[s.pk for s in result.created]
    )
    assert states.count() == 2
    assert {s.job_id is not None for s in states} == {True}
    assert set(states.values_list("status", flat=True)) <= {
        IdentityStatus.SENT,
        IdentityStatus.UNVERIFIED,
    }


def test_child_known_by_id_number_is_linked_not_created(cast: Cast, grade_1: SchoolClass) -> None:
    # A pupil of school B who left (no current enrolment), known by her ID number.
    known = cast.other_school_student
    Student.objects.filter(pk=known.pk).update(personal_id_number="079221000999")
    Enrolment.objects.filter(student=known).update(
        is_current=False, status_code="04", ended_on=f.START
    )
    count = Student.objects.count()
    result = intake_commit(
        actor=cast.alice,
        school=cast.school_a,
        start_year=2027,
        rows=[_row(1, grade_1, "Lê Văn Cường", "01/02/2021", personal_id_number="079221000999")],
    )
    assert Student.objects.count() == count
    assert [s.pk for s in result.linked] == [known.pk]
    known.refresh_from_db()
    assert (known.school_id, known.current_class_id) == (cast.school_a.pk, grade_1.pk)
    moved = AuditEvent.objects.filter(action="student.transferred", entity_id=str(known.pk))
    assert {e.school_id for e in moved} == {cast.school_b.pk, cast.school_a.pk}
    assert {e.data["intake_batch"] for e in moved} == {result.batch.pk}


def test_look_alike_needs_a_decision_then_is_linked_or_created(
    cast: Cast, grade_1: SchoolClass
) -> None:
    known = f.make_student(cast.class_b, "Trịnh Thu Trang", date_of_birth=dt.date(2021, 5, 6))
    Enrolment.objects.filter(student=known).update(is_current=False, status_code="04")
    row = _row(1, grade_1, "Trinh Thu Trang", "06/05/2021")
    check = intake_check(actor=cast.alice, school=cast.school_a, start_year=2027, rows=[row])
    assert not check.ok
    (planned,) = check.rows
    assert planned.state == RowState.DECIDE
    assert [(a.record_id, a.school, a.enrolled) for a in planned.look_alikes] == [
        (known.pk, cast.school_b.name, False)
    ]
    shown = AuditEvent.objects.filter(action="student.read").last()
    assert shown is not None
    assert shown.school_id == cast.school_b.pk
    before = _state()
    with pytest.raises(ValidationError) as raised:
        intake_commit(actor=cast.alice, school=cast.school_a, start_year=2027, rows=[row])
    (message,) = raised.value.message_dict["not_duplicate_reason"]
    assert message.startswith("Dòng 1, lý do không phải cùng một người: có hồ sơ giống")
    assert _state() == before

    linked = intake_commit(
        actor=cast.alice,
        school=cast.school_a,
        start_year=2027,
        rows=[_row(1, grade_1, "Trinh Thu Trang", "06/05/2021", link_to=known.pk)],
    )
    assert [s.pk for s in linked.linked] == [known.pk]
    assert not linked.created


def test_different_child_with_a_reason_is_created(cast: Cast, grade_1: SchoolClass) -> None:
    f.make_student(cast.class_b, "Trịnh Thu Trang", date_of_birth=dt.date(2021, 5, 6))
    result = intake_commit(
        actor=cast.alice,
        school=cast.school_a,
        start_year=2027,
        rows=[
            _row(
                1,
                grade_1,
                "Trịnh Thu Trang",
                "06/05/2021",
                not_duplicate_reason="Khác cha mẹ, khác nơi sinh",
            )
        ],
    )
    assert len(result.created) == 1


def test_child_enrolled_elsewhere_is_refused_and_nothing_is_written(
    cast: Cast, grade_1: SchoolClass
) -> None:
    known = cast.other_school_student  # still enrolled at school B
    Student.objects.filter(pk=known.pk).update(personal_id_number="079221000999")
    before = _state()
    with pytest.raises(ValidationError) as raised:
        intake_commit(
            actor=cast.alice,
            school=cast.school_a,
            start_year=2027,
            rows=[
                _row(1, grade_1, "Phan Thị Mai", "12/04/2021"),
                _row(2, grade_1, "Lê Văn Cường", "01/02/2021", personal_id_number="079221000999"),
            ],
        )
    message = raised.value.message_dict["link_to"][0]
    assert message.startswith("Dòng 2, hồ sơ liên kết: học sinh Lê Văn Cường")
    assert cast.school_b.name in message
    assert _state() == before


def test_class_of_another_school_or_grade_is_refused(cast: Cast, grade_1: SchoolClass) -> None:
    before = _state()
    for wrong, expected in (
        (cast.class_b, "không phải lớp của trường"),
        (cast.class_1a, "không thuộc năm học 2027–2028"),
    ):
        with pytest.raises(ValidationError) as raised:
            intake_commit(
                actor=cast.alice,
                school=cast.school_a,
                start_year=2027,
                rows=[_row(3, wrong, "Phan Thị Mai", "12/04/2021")],
            )
        assert expected in raised.value.message_dict["school_class"][0]
    grade_3 = SchoolClass.objects.create(
        school=cast.school_a, name="3A", grade=3, school_year=grade_1.school_year
    )
    with pytest.raises(ValidationError, match="lớp 1 hoặc lớp 6"):
        intake_commit(
            actor=cast.alice,
            school=cast.school_a,
            start_year=2027,
            rows=[_row(1, grade_3, "Phan Thị Mai", "12/04/2021")],
        )
    assert _state() == before


def test_a_year_that_does_not_exist_is_refused(cast: Cast, grade_1: SchoolClass) -> None:
    with pytest.raises(ValidationError) as raised:
        intake_commit(
            actor=cast.alice,
            school=cast.school_a,
            start_year=2031,
            rows=[_row(1, grade_1, "Phan Thị Mai", "12/04/2021")],
        )
    assert "không có năm học 2031–2032" in raised.value.message_dict["school_year"][0]


def test_the_same_list_twice_is_refused(cast: Cast, grade_1: SchoolClass) -> None:
    rows = [_row(1, grade_1, "Phan Thị Mai", "12/04/2021")]
    intake_commit(actor=cast.alice, school=cast.school_a, start_year=2027, rows=rows)
    before, events = _state(), AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="đã được ghi lúc") as raised:
        intake_commit(actor=cast.alice, school=cast.school_a, start_year=2027, rows=rows)
    assert "rows" in raised.value.message_dict
    assert _state() == before
    assert AuditEvent.objects.count() == events


def test_the_same_child_twice_in_one_list_is_refused(cast: Cast, grade_1: SchoolClass) -> None:
    with pytest.raises(ValidationError, match="trùng với dòng 1"):
        intake_commit(
            actor=cast.alice,
            school=cast.school_a,
            start_year=2027,
            rows=[
                _row(1, grade_1, "Phan Thị Mai", "12/04/2021"),
                _row(2, grade_1, "Phan Thi Mai", "12/04/2021"),
            ],
        )
    assert not IntakeBatch.objects.exists()


def test_a_leaver_handed_over_here_is_linked_and_the_hand_over_accepted(
    cast: Cast, grade_1: SchoolClass
) -> None:
    thcs = f.make_school(cast.school_a.authority, code="C0001", level="thcs")
    year = SchoolYear.objects.create(
        school=thcs, start_year=2027, starts_on=NEXT_START, ends_on=dt.date(2028, 5, 31)
    )
    class_6 = SchoolClass.objects.create(school=thcs, school_year=year, name="6A", grade=6)
    leaver = f.make_student(
        f.make_class(cast.school_a, "5A", grade=5),
        "Đào Minh Quân",
        date_of_birth=dt.date(2016, 7, 8),
        personal_id_number="079216000555",
    )
    completed = Enrolment.objects.get(student=leaver)
    Enrolment.objects.filter(pk=completed.pk).update(is_current=False, status_code="10")
    handover = Handover.objects.create(
        student=leaver,
        from_enrolment=completed,
        from_school=cast.school_a,
        to_school=thcs,
        assigned_at=dt.datetime(2027, 6, 1, tzinfo=dt.UTC),
    )
    principal = f.make_user("son", Role.PRINCIPAL, thcs)
    result = intake_commit(
        actor=principal,
        school=thcs,
        start_year=2027,
        rows=[
            IntakeRow(
                line=1,
                class_id=class_6.pk,
                data={
                    "full_name": "Đào Minh Quân",
                    "date_of_birth": "08/07/2016",
                    "personal_id_number": "079216000555",
                },
            )
        ],
    )
    assert [s.pk for s in result.linked] == [leaver.pk]
    handover.refresh_from_db()
    assert handover.status == HandoverStatus.ACCEPTED
    assert handover.to_enrolment is not None
    assert handover.to_enrolment.school_id == thcs.pk


def test_other_school_and_missing_permission(cast: Cast, grade_1: SchoolClass) -> None:
    rows = [_row(1, grade_1, "Phan Thị Mai", "12/04/2021")]
    with pytest.raises(Http404):
        intake_commit(actor=cast.dave, school=cast.school_a, start_year=2027, rows=rows)
    with pytest.raises(PermissionDenied):
        intake_commit(actor=cast.bob, school=cast.school_a, start_year=2027, rows=rows)
    with pytest.raises(Http404):
        intake_check(actor=cast.dave, school=cast.school_a, start_year=2027, rows=rows)
    assert not Student.objects.filter(full_name="Phan Thị Mai").exists()


def test_command_checks_then_commits_a_csv_list(
    cast: Cast, grade_1: SchoolClass, tmp_path: Path
) -> None:
    listing = tmp_path / "tuyen-moi.csv"
    listing.write_text(
        "ho_ten,ngay_sinh,gioi_tinh,so_dinh_danh,lop,lien_ket\n"
        "Phan Thị Mai,12/04/2021,Nữ,,1A,\n"
        "Hồ Văn Nam,30/01/2021,Nam,,1A,\n",
        encoding="utf-8",
    )
    out = StringIO()
    call_command(
        "year",
        "intake",
        "--school",
        "A0001",
        "--year",
        "2027",
        "--file",
        str(listing),
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue()) == {"new": 2, "link": 0, "problems": []}
    assert not Student.objects.filter(full_name="Phan Thị Mai").exists()
    out = StringIO()
    call_command(
        "year",
        "intake",
        "--school",
        "A0001",
        "--year",
        "2027",
        "--file",
        str(listing),
        "--commit",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue())["created"] == 2
    with pytest.raises(CommandError, match="đã được ghi lúc"):
        call_command(
            "year",
            "intake",
            "--school",
            "A0001",
            "--year",
            "2027",
            "--file",
            str(listing),
            "--commit",
        )
    listing.write_text(
        "ho_ten,ngay_sinh,gioi_tinh,so_dinh_danh,lop,lien_ket\nVũ Hà,01/01/2021,Nữ,,9Z,\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="Dòng 2, lớp"):
        call_command(
            "year",
            "intake",
            "--school",
            "A0001",
            "--year",
            "2027",
            "--file",
            str(listing),
            "--commit",
        )


def test_intake_screen_checks_then_writes_once(cast: Cast, grade_1: SchoolClass) -> None:
    client = Client()
    client.force_login(cast.alice)
    url = reverse("web:handover_intake", args=[cast.school_a.pk, 2027])
    rows = "Phan Thị Mai; 12/04/2021; Nữ; ; 1A\nHồ Văn Nam; 30/01/2021; Nam; ; 1Z"
    checked = client.post(url, {"rows": rows, "action": "check"}).content.decode()
    assert "Học sinh mới: cấp mã tạm" in checked
    assert "Dòng 2, lớp: không phải lớp của trường" in checked
    refused = client.post(url, {"rows": rows, "action": "commit"})
    assert refused.status_code == 200
    assert not Student.objects.filter(full_name="Phan Thị Mai").exists()
    rows = rows.replace("1Z", "1A")
    written = client.post(url, {"rows": rows, "action": "commit"}, follow=True)
    assert "2 học sinh mới" in written.content.decode()
    mai = Student.objects.get(full_name="Phan Thị Mai")
    assert mai.temporary_code
    again = client.post(url, {"rows": rows, "action": "commit"})
    assert "đã được ghi lúc" in again.content.decode()
    assert Student.objects.filter(full_name="Phan Thị Mai").count() == 1


def test_intake_screen_links_a_look_alike_the_school_confirms(
    cast: Cast, grade_1: SchoolClass
) -> None:
    known = f.make_student(cast.class_b, "Trịnh Thu Trang", date_of_birth=dt.date(2021, 5, 6))
    Enrolment.objects.filter(student=known).update(is_current=False, status_code="04")
    client = Client()
    client.force_login(cast.alice)
    url = reverse("web:handover_intake", args=[cast.school_a.pk, 2027])
    rows = "Trinh Thu Trang; 06/05/2021; Nữ; ; 1A"
    checked = client.post(url, {"rows": rows, "action": "check"}).content.decode()
    assert "Có hồ sơ giống: cần quyết định" in checked
    assert f'<option value="{known.pk}">Cùng một người với Trịnh Thu Trang' in checked
    count = Student.objects.count()
    client.post(url, {"rows": rows, "action": "commit", "lien_ket_1": str(known.pk)})
    assert Student.objects.count() == count
    known.refresh_from_db()
    assert (known.school_id, known.current_class_id) == (cast.school_a.pk, grade_1.pk)
