"""Staff exports (cán bộ, giáo viên, nhân viên) go through the same dry run and all-or-nothing
commit as pupils' lists: counts, row-level problems with their places, the registry's batch
staff services (policy, cleaning, unique ids, audit, quality), re-import changes nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.intake.models import IntakeRun, RunStatus
from edureg.intake.plan import Action
from edureg.intake.services import intake_commit, intake_dry_run
from edureg.intake.source import Kind, Value
from edureg.intake.staff_plan import StaffRowPlan
from edureg.intake.workbook import read_workbook
from edureg.quality.models import CheckKind, FieldGroupCheck, RecordState
from edureg.registry.models import Staff
from edureg.registry.quality import IDENTITY_GROUP
from edureg.registry.services import ItemRejected
from edureg.registry.staff import NewStaff, StaffChange, staff_create_many, staff_update_many
from edureg.schools.models import School
from edureg.seeding.options import SeedOptions
from edureg.seeding.services import seed_database
from edureg.seeding.workbook import write_export_workbook
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db

SHEET = "CanBo"  # the data sheet of the "moet-canbo-2024" template
BORN = dt.date(1985, 4, 12)


def teacher(full_name: str = "Nguyễn Văn Toàn", **values: Value) -> dict[str, Value]:
    """A row of the staff export: a primary-school teacher."""
    row: dict[str, Value] = {
        "full_name": full_name, "date_of_birth": BORN, "sex": "Nam", "ethnicity": "Kinh",
        "nationality": "Việt Nam", "job_position": "Giáo viên", "position_group": "Giáo viên",
        "employment_status": "Đang làm việc", "qualification": "Đại học",
        "subjects": "Toán, Tiếng Việt", "phone": "0912345678",
    }
    row.update(values)
    return row


def staff_xlsx(rows: Sequence[Mapping[str, Value]]) -> bytes:
    buffer = io.BytesIO()
    write_export_workbook(buffer, kind=Kind.STAFF, rows=rows, today=timezone.localdate())
    return buffer.getvalue()


def _rows() -> list[dict[str, Value]]:
    return [teacher("Nguyễn Văn Toàn", education_id="CB0001", email="toan@truong.edu.vn"),
            teacher("Trần Thị Lan", education_id="CB0002", sex="Nữ",
                    date_of_birth=dt.date(1990, 9, 2), subjects="Tiếng Việt"),
            teacher("Lê Minh Hải", date_of_birth=dt.date(1979, 1, 20),
                    job_position="Nhân viên thư viện", position_group="Nhân viên",
                    subjects=None)]


def _dry(actor: User | None, cast: Cast, data: bytes) -> Any:
    return intake_dry_run(actor=actor, school=cast.school_a, kind=Kind.STAFF, data=data,
                          keep=False)


def _commit(actor: User | None, cast: Cast, data: bytes, reason: str = "") -> Any:
    dry = _dry(actor, cast, data)
    return intake_commit(actor=actor, run=dry.run, data=data, not_duplicate_reason=reason)


def _state() -> list[dict[str, Any]]:
    return list(Staff.objects.order_by("pk").values())


def _writes(after_seq: int) -> list[str]:
    return list(AuditEvent.objects.filter(seq__gt=after_seq, kind="write")
                .exclude(entity="intake_run").values_list("action", flat=True))


def _last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


# --- dry run -------------------------------------------------------------------------------------

def test_dry_run_of_a_staff_export_counts_new_updated_and_unchanged_and_writes_nothing(
        cast: Cast, clerk: User) -> None:
    _commit(clerk, cast, staff_xlsx(_rows()))
    before = _state()
    rows = _rows()
    rows[1]["phone"] = "0987654321"  # changed
    rows.append(teacher("Phạm Thu Hà", sex="Nữ", date_of_birth=dt.date(1995, 6, 30)))

    plan = _dry(clerk, cast, staff_xlsx(rows)).plan

    assert plan.kind is Kind.STAFF
    assert [row.action for row in plan.rows] == [Action.UNCHANGED, Action.UPDATED,
                                                 Action.UNCHANGED, Action.NEW]
    summary = plan.summary()
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (1, 1, 2)
    assert summary["errors"] == 0
    assert summary["absent"] == 2  # the cast's two staff of school A are not in the file
    updated = plan.rows[1]
    assert isinstance(updated, StaffRowPlan)
    assert dict(updated.values) == {"phone": "0987654321"}
    assert _state() == before


def test_a_staff_member_is_matched_by_id_number_then_by_name_and_birth_date(
        cast: Cast, clerk: User) -> None:
    by_number = f.make_staff(cast.school_a, "Đỗ Văn Nam", date_of_birth=BORN,
                             personal_id_number="079085001234")
    by_name = f.make_staff(cast.school_a, "Hoàng Thị Yến", date_of_birth=dt.date(1988, 2, 3))

    plan = _dry(clerk, cast, staff_xlsx([
        teacher("Đỗ Văn Nam", personal_id_number="079085001234"),
        teacher("Hoang Thi Yen", date_of_birth=dt.date(1988, 2, 3), sex="Nữ"),
    ])).plan

    found = [row.staff_id for row in plan.rows if isinstance(row, StaffRowPlan)]
    assert found == [by_number.pk, by_name.pk]
    assert all(row.action is Action.UPDATED for row in plan.rows)
    # Typed without diacritics: the stored spelling is kept.
    assert "full_name" not in plan.rows[1].values


def test_row_errors_name_the_sheet_row_and_column(cast: Cast, clerk: User) -> None:
    future = timezone.localdate() + dt.timedelta(days=30)
    data = staff_xlsx([teacher("Nguyễn Văn Toàn"),
                       teacher("Trần Thị Lan", job_position="Bảo vệ trưởng", sex="Nữ"),
                       teacher("Lê Minh Hải", date_of_birth=future, email="khong-phai-email")])
    read = read_workbook(data, kind=Kind.STAFF)

    plan = _dry(clerk, cast, data).plan

    errors = {(i.problem.row, i.problem.field): i for i in plan.issues if i.is_error}
    second, third = read.rows[1], read.rows[2]
    job = errors[(second.row, "job_position")].problem
    assert (job.sheet, job.column) == (SHEET, second.columns["job_position"])
    assert "Vị trí việc làm" in job.message
    assert errors[(third.row, "date_of_birth")].problem.column == third.columns["date_of_birth"]
    assert errors[(third.row, "email")].problem.column == third.columns["email"]
    assert [row.action for row in plan.rows] == [Action.NEW, Action.REJECTED, Action.REJECTED]
    assert plan.error_rows == [second.row, third.row]


def test_the_same_person_twice_in_the_file_is_an_error(cast: Cast, clerk: User) -> None:
    plan = _dry(clerk, cast, staff_xlsx([teacher(education_id="CB0009"),
                                         teacher("Người Khác", education_id="CB0009")])).plan

    assert [row.action for row in plan.rows] == [Action.NEW, Action.REJECTED]


def test_a_staff_member_of_another_school_is_held_not_written(cast: Cast, clerk: User) -> None:
    elsewhere = f.make_staff(cast.school_b, "Nguyễn Văn Toàn", education_id="CB0001",
                             date_of_birth=BORN)
    data = staff_xlsx([teacher(education_id="CB0001", phone="0900000000")])

    plan = _dry(clerk, cast, data).plan

    assert plan.rows[0].action is Action.HELD
    assert plan.warnings == 1
    _commit(clerk, cast, data)
    elsewhere.refresh_from_db()
    assert elsewhere.school_id == cast.school_b.pk
    assert elsewhere.phone == ""


# --- commit --------------------------------------------------------------------------------------

def test_commit_writes_the_staff_with_their_codes_audit_and_quality_state(
        cast: Cast, clerk: User) -> None:
    seq = _last_seq()

    done = _commit(clerk, cast, staff_xlsx(_rows()))

    assert done.run.status == RunStatus.COMMITTED
    toan = Staff.objects.get(education_id="CB0001")
    assert toan.school_id == cast.school_a.pk
    assert (toan.job_position_code, toan.position_group_code, toan.employment_status_code,
            toan.qualification_code) == ("giao_vien", "giao_vien", "01", "dai_hoc")
    assert toan.subject_codes == ["toan", "tieng_viet"]
    assert toan.email == "toan@truong.edu.vn"
    assert toan.code_versions.get("job_position")
    created = Staff.objects.filter(school=cast.school_a).exclude(pk__in=[
        s.pk for s in Staff.objects.filter(user__isnull=False)])
    assert created.count() == 3
    assert _writes(seq) == ["staff.create"] * 3
    events = AuditEvent.objects.filter(seq__gt=seq, action="staff.create")
    assert {event.entity_id for event in events} == {str(s.pk) for s in created}
    assert all(event.data["intake_run"] == done.run.pk for event in events)
    assert all(event.actor_id == clerk.pk for event in events)
    assert RecordState.objects.filter(entity="staff", record_id__in=[s.pk for s in created]
                                      ).count() == 3


def test_an_update_is_audited_with_what_changed(cast: Cast, clerk: User) -> None:
    _commit(clerk, cast, staff_xlsx(_rows()))
    rows = _rows()
    rows[0]["qualification"] = "Thạc sĩ"
    seq = _last_seq()

    _commit(clerk, cast, staff_xlsx(rows))

    assert Staff.objects.get(education_id="CB0001").qualification_code == "thac_si"
    (event,) = AuditEvent.objects.filter(seq__gt=seq, action="staff.update")
    assert event.data["changes"]["qualification_code"] == ["dai_hoc", "thac_si"]


def test_a_file_with_a_bad_row_writes_nothing(cast: Cast, clerk: User) -> None:
    before, seq = _state(), _last_seq()
    rows = [*_rows(), teacher("Sai Mã", qualification="Tiến sĩ khoa học vũ trụ")]
    # The same bytes twice: a workbook written again may carry another creation time.
    data = staff_xlsx(rows)
    dry = _dry(clerk, cast, data)
    assert dry.plan.counts["new"] == 3
    assert dry.plan.errors == 1

    with pytest.raises(ValidationError) as refused:
        intake_commit(actor=clerk, run=dry.run, data=data)

    assert refused.value.code == "errors"
    assert _state() == before
    assert _writes(seq) == []


def test_reimporting_the_same_file_changes_nothing(cast: Cast, clerk: User) -> None:
    data = staff_xlsx(_rows())
    _commit(clerk, cast, data)
    before, seq = _state(), _last_seq()

    dry = _dry(clerk, cast, data)
    assert dry.plan.counts.get("unchanged") == 3
    assert dry.plan.writes == 0
    done = intake_commit(actor=clerk, run=dry.run, data=data)

    assert done.run.status == RunStatus.COMMITTED
    assert _state() == before
    assert _writes(seq) == []


def test_a_look_alike_at_another_school_needs_a_reason(cast: Cast, clerk: User) -> None:
    f.make_staff(cast.school_b, "Nguyễn Văn Toàn", date_of_birth=BORN)
    data = staff_xlsx([teacher()])
    dry = _dry(clerk, cast, data)
    assert dry.plan.candidate_rows

    with pytest.raises(ValidationError) as refused:
        intake_commit(actor=clerk, run=dry.run, data=data)
    assert refused.value.code == "duplicates"
    assert not Staff.objects.filter(school=cast.school_a, full_name="Nguyễn Văn Toàn").exists()

    _commit(clerk, cast, data, reason="Khác số CCCD, khác quê quán")
    assert Staff.objects.filter(school=cast.school_a, full_name="Nguyễn Văn Toàn").exists()


# --- who may ----------------------------------------------------------------------------------

def test_the_intake_of_another_schools_staff_is_not_found(cast: Cast, clerk: User) -> None:
    with pytest.raises(Http404):
        intake_dry_run(actor=clerk, school=cast.school_b, kind=Kind.STAFF,
                       data=staff_xlsx(_rows()), keep=False)


def test_it_requires_the_intake_permission(cast: Cast) -> None:
    teacher_user = f.make_user("tuan", Role.SUBJECT_TEACHER, cast.school_a)
    with pytest.raises(PermissionDenied):
        _dry(teacher_user, cast, staff_xlsx(_rows()))


def test_the_staff_services_refuse_another_schools_records(cast: Cast, clerk: User) -> None:
    other = f.make_staff(cast.school_b, "Vũ Văn Khoa")
    with pytest.raises(Http404):
        staff_create_many(actor=clerk, items=[NewStaff(school=cast.school_b,
                                                       data={"full_name": "Ai Đó"})])
    with pytest.raises(Http404):
        staff_update_many(actor=clerk, items=[StaffChange(staff=other,
                                                          data={"phone": "0911111111"})])
    assert Staff.objects.filter(school=cast.school_b).count() == 1


# --- the batch services --------------------------------------------------------------------------

def test_a_batch_is_refused_whole_naming_its_first_bad_item(cast: Cast, clerk: User) -> None:
    before = _state()
    with pytest.raises(ItemRejected) as rejected:
        staff_create_many(actor=clerk, items=[
            NewStaff(school=cast.school_a, data={"full_name": "Tốt Một",
                                                 "job_position_code": "giao_vien"}),
            NewStaff(school=cast.school_a, data={"full_name": "Sai Hai",
                                                 "job_position_code": "khong_co"}),
            NewStaff(school=cast.school_a, data={"full_name": ""}),
        ])

    assert rejected.value.index == 1
    assert "job_position_code" in rejected.value.error.message_dict
    assert _state() == before


def test_id_numbers_are_unique_among_staff(cast: Cast, clerk: User) -> None:
    f.make_staff(cast.school_a, "Đỗ Văn Nam", personal_id_number="079085001234")
    with pytest.raises(ItemRejected) as rejected:
        staff_create_many(actor=clerk, items=[NewStaff(
            school=cast.school_a, data={"full_name": "Người Khác",
                                        "personal_id_number": "079085001234"})])
    assert "personal_id_number" in rejected.value.error.message_dict

    with pytest.raises(ItemRejected) as in_batch:
        staff_create_many(actor=clerk, items=[
            NewStaff(school=cast.school_a, data={"full_name": "Một", "education_id": "X1"}),
            NewStaff(school=cast.school_a, data={"full_name": "Hai", "education_id": "X1"})])
    assert in_batch.value.index == 1


def test_an_update_without_change_writes_nothing(cast: Cast, clerk: User) -> None:
    person = f.make_staff(cast.school_a, "Đỗ Văn Nam", phone="0912345678")
    seq = _last_seq()

    (result,) = staff_update_many(actor=clerk, items=[StaffChange(
        staff=person, data={"phone": "0912 345 678", "full_name": "Đỗ Văn Nam"})])

    assert result.changed == ()
    assert _writes(seq) == []


# --- the command line ----------------------------------------------------------------------------

def test_the_command_takes_in_a_staff_workbook(cast: Cast, tmp_path: Path) -> None:
    path = tmp_path / "canbo.xlsx"
    path.write_bytes(staff_xlsx(_rows()))
    out = StringIO()

    call_command("intake", str(path), "--school", cast.school_a.code, "--kind", "staff",
                 "--json", stdout=out)

    result = json.loads(out.getvalue())
    assert result["committed"] is True
    assert result["summary"]["new"] == 3
    assert Staff.objects.filter(education_id__in=["CB0001", "CB0002"]).count() == 2


# --- the screens -------------------------------------------------------------------------------

def test_the_intake_screen_takes_a_staff_workbook(cast: Cast, ivan: User) -> None:
    client = Client()
    client.force_login(ivan)
    response = client.post(reverse("web:intake_upload", args=[cast.school_a.pk]), {
        "kind": "staff", "file": SimpleUploadedFile("can-bo.xlsx", staff_xlsx(_rows()))})
    run = IntakeRun.objects.latest("pk")
    assert run.kind == Kind.STAFF.value
    page = client.get(response["Location"]).content.decode()
    assert "Cán bộ mới" in page
    assert "Chuyển lớp" not in page

    done = client.post(reverse("web:intake_commit", args=[run.pk]), follow=True)

    assert "Đã ghi vào CSDL: 3 cán bộ mới, 0 cập nhật." in done.content.decode()
    assert Staff.objects.filter(education_id__in=["CB0001", "CB0002"]).count() == 2


def test_look_alikes_of_staff_are_named_only_to_those_who_may_see_them(
        cast: Cast, ivan: User) -> None:
    f.make_staff(cast.school_b, "Nguyễn Văn Toàn", date_of_birth=BORN)
    client = Client()
    client.force_login(ivan)
    response = client.post(reverse("web:intake_upload", args=[cast.school_a.pk]), {
        "kind": "staff", "file": SimpleUploadedFile("can-bo.xlsx", staff_xlsx([teacher()]))})

    page = client.get(response["Location"]).content.decode()

    assert f"một cán bộ của {cast.school_b.name}" in page


# --- the sample generator ----------------------------------------------------------------------

def test_a_seeded_schools_staff_export_dry_runs_to_the_changes_it_was_written_with(
        tmp_path: Path) -> None:
    seed_database(SeedOptions(schools=1, students_per_school=60, seed=3,
                              register_path=tmp_path / "register.sqlite3"))
    school = School.objects.get()
    path = tmp_path / "can-bo.xlsx"
    out = StringIO()
    call_command("seed", "--export-workbook", str(path), "--school", school.code, "--kind",
                 "staff", "--seed", "9", stdout=out)
    people = Staff.objects.filter(school=school).count()
    data = path.read_bytes()

    dry = intake_dry_run(actor=None, school=school, kind=Kind.STAFF, data=data, keep=False)

    summary = dry.plan.summary()
    assert summary["errors"] == 0, [i.plain for i in dry.plan.issues if i.is_error]
    assert summary["new"] == 2
    assert summary["updated"] == max(1, people // 20)
    assert summary["unchanged"] == people - summary["updated"]
    intake_commit(actor=None, run=dry.run, data=data)
    again = intake_dry_run(actor=None, school=school, kind=Kind.STAFF, data=data, keep=False)
    assert again.plan.writes == 0
    assert again.plan.summary()["unchanged"] == people + 2


def test_identity_verified_by_the_register_is_not_overwritten_by_a_file(
        cast: Cast, clerk: User) -> None:
    person = f.make_staff(cast.school_a, "Đỗ Văn Nam", date_of_birth=BORN, sex="M",
                          education_id="CB0100")
    FieldGroupCheck.objects.create(entity="staff", record_id=person.pk,
                                   school_id=cast.school_a.pk, group=IDENTITY_GROUP,
                                   kind=CheckKind.REGISTER, checked_at=timezone.now())
    with pytest.raises(ItemRejected) as rejected:
        staff_update_many(actor=clerk, items=[StaffChange(
            staff=person, data={"date_of_birth": dt.date(1986, 4, 12)})])
    assert "identity_change_reason" in rejected.value.error.message_dict

    plan = _dry(clerk, cast, staff_xlsx([teacher("Đỗ Văn Nam", education_id="CB0100",
                                                 date_of_birth=dt.date(1986, 4, 12))])).plan

    assert plan.rows[0].action is Action.UPDATED
    assert "date_of_birth" not in plan.rows[0].values
    assert "job_position_code" in plan.rows[0].values  # other fields are taken in
    assert any(i.problem.field == "date_of_birth" and not i.is_error for i in plan.issues)
