"""The dry run (soi thử): rows matched to persons and classified, code-list values mapped by name,
every problem with its sheet, row and column, look-alikes and quality findings — and nothing
written."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from edureg.access.models import User
from edureg.audit.models import AuditEvent
from edureg.intake.plan import Action, Plan, PlanRefused, RowPlan, plan_workbook
from edureg.intake.source import Problem, Severity
from edureg.quality.models import CheckKind, FieldGroupCheck
from edureg.registry.duplicates import student_candidates
from edureg.registry.models import Student, Transfer, TransferStatus
from edureg.registry.quality import IDENTITY_GROUP
from edureg.registry.services import student_candidates_many, student_update
from tests import factories as f
from tests.conftest import Cast
from tests.intake.conftest import SHEET, pupil, row_of, workbook

pytestmark = pytest.mark.django_db

BORN = dt.date(2020, 3, 1)


def _plan(cast: Cast, rows: list[dict[str, object]], actor: User | None = None,
          **options: object) -> Plan:
    return plan_workbook(workbook(rows, **options), school=cast.school_a,  # type: ignore[arg-type]
                         actor=actor)


def _row(plan: Plan, number: int) -> RowPlan:
    return next(row for row in plan.rows if row.row == row_of(number))


def _issues(plan: Plan, number: int, severity: Severity | None = None) -> list[Problem]:
    return [i.problem for i in plan.issues if i.problem.row == row_of(number)
            and (severity is None or i.problem.severity is severity)]


def _known(student: Student, **values: object) -> Student:
    Student.objects.filter(pk=student.pk).update(**values)
    student.refresh_from_db()
    return student


def _as_on_record(student: Student, **values: object) -> dict[str, object]:
    """The export row of a pupil as the registry holds them."""
    assert student.current_class is not None
    row = pupil(student.full_name, education_id=student.education_id,
                class_name=student.current_class.name,
                date_of_birth=student.date_of_birth,
                sex="Nam" if student.sex == "M" else "Nữ")
    row.pop("ethnicity")
    row.pop("nationality")
    row.update(values)
    return row


def test_rows_are_classified_new_updated_unchanged_and_moved(cast: Cast, clerk: User) -> None:
    an = _known(cast.an, date_of_birth=BORN)
    binh = _known(cast.binh, date_of_birth=dt.date(2020, 5, 2), phone="0912345678")
    plan = _plan(cast, [_as_on_record(an), _as_on_record(binh, phone="0987654321"),
                        pupil("Võ Thị Mai")], clerk)
    assert [row.action for row in plan.rows] == [Action.UNCHANGED, Action.UPDATED, Action.NEW]
    assert _row(plan, 0).student_id == an.pk
    assert _row(plan, 1).values == {"phone": "0987654321"}
    new = _row(plan, 2)
    assert new.student_id is None
    assert new.class_id == cast.class_1a.pk
    assert new.values["ethnicity_code"] == "01"
    assert new.values["nationality_code"] == "VN"
    assert new.status_code == "01"
    moved = _plan(cast, [_as_on_record(binh, class_name="1A")], clerk)
    assert moved.rows[0].action is Action.MOVED
    assert moved.rows[0].moved
    assert moved.counts == {"moved": 1, "official_ids": 0, "guardians_new": 0, "absent": 1}
    assert plan.summary()["new"] == 1
    assert plan.summary()["absent"] == 0


def test_the_dry_run_writes_nothing(cast: Cast, clerk: User) -> None:
    an = _known(cast.an, date_of_birth=BORN)
    before = (list(Student.objects.values()), AuditEvent.objects.count())
    _plan(cast, [pupil(), _as_on_record(an, phone="0912345678")], clerk)
    assert (list(Student.objects.values()), AuditEvent.objects.count()) == before


def test_code_list_values_are_mapped_by_name_with_aliases(cast: Cast) -> None:
    plan = _plan(cast, [pupil(ethnicity="Khơ-me", religion="Không tôn giáo",
                              nationality="Viet Nam", disability="Khiếm thính",
                              status="Nghỉ học xin học lại",
                              permanent_province="Hồ Chí Minh",
                              permanent_commune="phường thủ dầu một",
                              hometown_province="Tỉnh Bình Dương",
                              hometown_commune="Phường Phú Cường")])
    values = plan.rows[0].values
    assert plan.rows[0].action is Action.NEW, plan.issues
    assert values["ethnicity_code"] == "05"
    assert values["religion_code"] == "00"
    assert values["nationality_code"] == "VN"
    assert values["disability_code"] == "02"
    assert plan.rows[0].status_code == "06"
    assert (values["permanent_province"], values["permanent_commune"]) == ("79", "25747")
    # A pre-2025 province and ward: the units they became, the old province kept beside.
    assert (values["hometown_province"], values["hometown_commune"],
            values["hometown_legacy_province"]) == ("79", "25747", "74")


def test_a_value_not_in_its_list_names_the_value_the_list_and_the_cell(cast: Cast) -> None:
    plan = _plan(cast, [pupil(ethnicity="Người sao Hoả", permanent_province="Hồ Chí Minh",
                              permanent_commune="Phường Không Có")])
    assert plan.rows[0].action is Action.REJECTED
    ethnicity, commune = sorted(plan.issues, key=lambda i: str(i.problem.column))
    assert (ethnicity.problem.sheet, ethnicity.problem.row, ethnicity.problem.column) == (
        SHEET, row_of(0), "H")
    assert "“Người sao Hoả”" in ethnicity.problem.message
    assert "Dân tộc" in ethnicity.problem.message
    assert "Người sao Hoả" not in ethnicity.plain
    assert "Dân tộc" in ethnicity.plain
    assert "Phường Không Có" in commune.problem.message
    assert "Xã/phường của Thành phố Hồ Chí Minh" in commune.problem.message
    assert plan.errors == 2


def test_dates_in_the_future_are_errors(cast: Cast) -> None:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    plan = _plan(cast, [pupil(date_of_birth=tomorrow), pupil("Lê Văn Tư", status_date=tomorrow)])
    assert [row.action for row in plan.rows] == [Action.REJECTED, Action.REJECTED]
    assert "tương lai" in _issues(plan, 0)[0].message
    assert _issues(plan, 0)[0].column == "F"
    assert "tương lai" in _issues(plan, 1)[0].message
    assert _issues(plan, 1)[0].field == "status_date"


def test_the_same_person_twice_in_the_file_is_an_error_naming_the_first_row(cast: Cast) -> None:
    plan = _plan(cast, [pupil(education_id="7900001111"),
                        pupil("Lê Văn Tư", education_id="7900001111"),
                        pupil("Đỗ Văn Năm"), pupil("Đỗ Văn Năm")])
    assert [row.action for row in plan.rows] == [Action.NEW, Action.REJECTED, Action.NEW,
                                                 Action.REJECTED]
    assert f"hàng {row_of(0)}" in _issues(plan, 1)[0].message
    assert "cùng mã định danh" in _issues(plan, 1)[0].message
    assert f"hàng {row_of(2)}" in _issues(plan, 3)[0].message
    assert plan.error_rows == [row_of(1), row_of(3)]


def test_an_education_id_held_by_another_person_is_an_error(cast: Cast) -> None:
    _known(cast.an, date_of_birth=BORN)
    plan = _plan(cast, [pupil("Hoàng Văn Khác", education_id=cast.an.education_id,
                              date_of_birth=dt.date(2019, 1, 9))])
    assert plan.rows[0].action is Action.REJECTED
    problem = _issues(plan, 0)[0]
    assert problem.field == "education_id"
    assert "người khác" in problem.message


def test_an_id_number_of_another_record_is_an_error(cast: Cast) -> None:
    _known(cast.an, date_of_birth=BORN)
    _known(cast.binh, personal_id_number="079320001234")
    plan = _plan(cast, [_as_on_record(cast.an, personal_id_number="079320001234")])
    assert plan.rows[0].action is Action.REJECTED
    assert _issues(plan, 0)[0].field == "personal_id_number"


def test_a_grade_one_pupil_gets_the_official_id_on_the_same_record(cast: Cast) -> None:
    by_code = f.make_student(cast.class_1a, "Phạm Thị Hoa", education_id=None,
                             temporary_code="T00001000001", date_of_birth=BORN)
    by_name = f.make_student(cast.class_1a, "Phạm Văn Hùng", education_id=None,
                             temporary_code="T00001000002", date_of_birth=BORN)
    bare = {"ethnicity": None, "nationality": None, "sex": None}
    plan = _plan(cast, [pupil("Phạm Thị Hoa", temporary_code="T00001000001",
                              education_id="7912345678", **bare),
                        pupil("Pham Van Hung", education_id="7912345679", **bare)])
    first, second = plan.rows
    assert (first.action, first.student_id, first.official_id) == (Action.UPDATED, by_code.pk,
                                                                   True)
    assert first.values == {"education_id": "7912345678"}
    assert (second.student_id, second.official_id) == (by_name.pk, True)
    assert second.values == {"education_id": "7912345679"}
    assert plan.counts["official_ids"] == 2
    assert plan.counts.get("new", 0) == 0


def test_an_official_id_is_never_replaced(cast: Cast) -> None:
    _known(cast.an, date_of_birth=BORN, temporary_code="T00001000009")
    plan = _plan(cast, [_as_on_record(cast.an, education_id="7999999999",
                                      temporary_code="T00001000009")])
    assert plan.rows[0].action is Action.REJECTED
    assert "chính thức" in _issues(plan, 0)[0].message


def test_a_pupil_of_another_school_is_held_until_a_transfer_is_asked(
        cast: Cast, clerk: User, ivan: User) -> None:
    cuong = _known(cast.other_school_student, date_of_birth=BORN)
    row = _as_on_record(cuong, class_name="1B")
    held = _plan(cast, [row], clerk)
    assert held.rows[0].action is Action.HELD
    assert cast.school_b.name in _issues(held, 0)[0].message
    assert held.errors == 0
    Transfer.objects.create(student=cuong, from_school=cast.school_b, to_school=cast.school_a,
                            effective_on=timezone.localdate(), requested_by=cast.dave,
                            requested_at=timezone.now())
    taken = _plan(cast, [row], clerk)
    assert taken.rows[0].action is Action.TRANSFERRED_IN
    assert taken.rows[0].class_id == cast.class_1b.pk
    # Only those who may accept transfers take a pupil in.
    assert _plan(cast, [row], ivan).rows[0].action is Action.HELD
    assert _plan(cast, [row], None).rows[0].action is Action.HELD


def test_a_file_of_another_school_is_refused(cast: Cast, clerk: User) -> None:
    others = [f.make_student(cast.class_b, f"Lê Văn Số {name}", date_of_birth=BORN)
              for name in ("Một", "Hai", "Ba", "Bốn", "Năm")]
    rows = [_as_on_record(student) for student in others]
    with pytest.raises(PlanRefused) as refused:
        _plan(cast, [*rows, pupil()], clerk)
    assert cast.school_b.name in refused.value.message


def test_a_look_alike_of_a_new_pupil_is_shown_as_a_candidate(cast: Cast, clerk: User) -> None:
    cuong = _known(cast.other_school_student, date_of_birth=BORN)
    plan = _plan(cast, [pupil("Le Van Cuong", sex="Nam"),
                        pupil("Lê Văn Cường", date_of_birth=dt.date(2020, 1, 3), sex="Nam")],
                 clerk)
    same, swapped = plan.rows
    assert same.action is Action.NEW
    assert [c.record_id for c in same.candidates] == [cuong.pk]
    assert [c.record_id for c in swapped.candidates] == [cuong.pk]
    assert "ngày sinh đảo" in swapped.candidates[0].reasons[0]
    assert plan.summary()["candidates"] == 2
    assert any("giống" in p.message for p in _issues(plan, 0, Severity.WARNING))


def test_batch_look_alikes_agree_with_the_entry_check(cast: Cast) -> None:
    _known(cast.an, date_of_birth=BORN, personal_id_number="079220001111")
    _known(cast.other_school_student, date_of_birth=dt.date(2020, 1, 3))
    rows = [{"full_name": "Nguyen Van An", "date_of_birth": BORN},
            {"full_name": "Ai Đó", "date_of_birth": BORN, "personal_id_number": "079220001111"},
            {"full_name": "Lê Văn Cường", "date_of_birth": dt.date(2020, 3, 1)},
            {"full_name": "Không Ai Giống", "date_of_birth": BORN},
            {"full_name": "Nguyễn Văn An"}]
    assert student_candidates_many(rows) == [student_candidates(row) for row in rows]


def test_verified_identity_fields_are_not_overwritten_by_a_file(cast: Cast, clerk: User) -> None:
    an = _known(cast.an, date_of_birth=BORN)
    FieldGroupCheck.objects.create(entity="student", record_id=an.pk, school_id=an.school_id,
                                   group=IDENTITY_GROUP, kind=CheckKind.REGISTER,
                                   checked_at=timezone.now())
    plan = _plan(cast, [_as_on_record(an, full_name="Nguyễn Văn Ân", phone="0912345678")],
                 clerk)
    assert plan.rows[0].values == {"phone": "0912345678"}
    assert any("xác thực" in p.message for p in _issues(plan, 0, Severity.WARNING))


def test_an_empty_cell_never_erases_a_stored_value(cast: Cast) -> None:
    an = _known(cast.an, date_of_birth=BORN, phone="0912345678", ethnicity_code="01")
    plan = _plan(cast, [_as_on_record(an, phone=None, ethnicity="")])
    assert plan.rows[0].action is Action.UNCHANGED


def test_an_invalid_value_the_record_already_holds_is_a_warning(cast: Cast) -> None:
    an = _known(cast.an, date_of_birth=BORN, phone="12345")
    plan = _plan(cast, [_as_on_record(an, phone="12345"), pupil(phone="12345")])
    assert plan.rows[0].action is Action.UNCHANGED
    assert [p.severity for p in _issues(plan, 0)] == [Severity.WARNING]
    assert plan.rows[1].action is Action.REJECTED


def test_a_class_not_in_the_open_year_is_an_error(cast: Cast) -> None:
    plan = _plan(cast, [pupil(class_name="5C"), pupil("Lê Văn Tư", class_name="1 b")])
    assert plan.rows[0].action is Action.REJECTED
    assert _issues(plan, 0)[0].column == "A"
    assert plan.rows[1].class_id == cast.class_1b.pk


def test_a_new_pupil_who_has_left_is_held(cast: Cast) -> None:
    plan = _plan(cast, [pupil(status="Thôi học")])
    assert plan.rows[0].action is Action.HELD
    assert plan.errors == 0


def test_siblings_share_one_new_parent_and_a_known_parent_is_linked(cast: Cast) -> None:
    an = _known(cast.an, date_of_birth=BORN)
    father = f.make_guardian(an, "Nguyễn Văn Bố", relation="01", birth_year=1985)
    plan = _plan(cast, [
        pupil("Nguyễn Thị Em", mother_name="Trần Thị Mẹ", mother_birth_year=1988),
        pupil("Nguyễn Văn Anh", date_of_birth=dt.date(2019, 2, 2), class_name="1B",
              mother_name="Tran Thi Me", mother_birth_year=1988),
        pupil("Nguyễn Thị Út", father_name="Nguyễn Văn Bố", father_birth_year=1985),
    ])
    first, second, third = (row.guardians[0] for row in plan.rows)
    assert first.guardian_id is None
    assert first.new_key is not None
    assert first.new_key == second.new_key
    assert (third.guardian_id, third.link, third.changes) == (father.pk, True, ())
    assert plan.counts["guardians_new"] == 1


def test_a_parent_s_changed_phone_is_an_update(cast: Cast) -> None:
    an = _known(cast.an, date_of_birth=BORN)
    mother = f.make_guardian(an, "Trần Thị Mẹ", relation="02", phone="0912345678")
    plan = _plan(cast, [_as_on_record(an, mother_name="Trần Thị Mẹ", mother_phone="0987654321")])
    assert plan.rows[0].action is Action.UPDATED
    (step,) = plan.rows[0].guardians
    assert (step.guardian_id, step.changes, step.link) == (mother.pk, ("phone",), False)


def test_quality_findings_are_summarised_and_error_rules_block(cast: Cast) -> None:
    an = _known(cast.an, date_of_birth=BORN, phone="0999999999")
    plan = _plan(cast, [pupil(phone="0999999999"), pupil("Lê Văn Tư", phone="0999999999"),
                        _as_on_record(an), pupil("Đỗ Thị Ba", date_of_birth=dt.date(2010, 1, 1),
                                                 mother_name="Đỗ Thị Mẹ",
                                                 mother_birth_year=2008)])
    dummy = next(f for f in plan.findings if f.rule_code == "sach.student.phone.dummy")
    assert dummy.count == 3
    assert dummy.rows == ((SHEET, row_of(0)), (SHEET, row_of(1)), (SHEET, row_of(2)))
    assert dummy.record_ids == (an.pk,)
    assert "giả" in dummy.message
    assert any(f.rule_code.startswith("du.student.") for f in plan.findings)
    age = next(f for f in plan.findings if f.rule_code == "dung.student.date_of_birth.grade")
    assert age.rows == ((SHEET, row_of(3)),)
    parent = next(f for f in plan.findings if f.rule_code == "dung.guardian.birth_year.child")
    assert parent.rows == ((SHEET, row_of(3)),)
    # Warnings do not stop the commit.
    assert plan.errors == 0


def test_reader_problems_are_kept(cast: Cast) -> None:
    problem = Problem(severity=Severity.ERROR, message="Ngày không đọc được.", sheet=SHEET,
                      row=row_of(0), column="F", field="date_of_birth")
    plan = _plan(cast, [pupil()], problems=[problem])
    assert plan.issues[0].problem == problem
    assert plan.errors == 1


def test_the_fingerprint_follows_the_records_the_plan_touches(cast: Cast, clerk: User) -> None:
    an = _known(cast.an, date_of_birth=BORN)
    rows = [_as_on_record(an, phone="0912345678"), pupil()]
    first = _plan(cast, rows, clerk)
    assert _plan(cast, rows, clerk).fingerprint == first.fingerprint
    student_update(actor=cast.alice, student=an, data={"current_address": "12 Lê Lợi"})
    assert _plan(cast, rows, clerk).fingerprint != first.fingerprint
    assert _plan(cast, [*rows, pupil("Lê Văn Tư")], clerk).fingerprint != first.fingerprint


def test_without_an_open_school_year_the_file_is_refused(cast: Cast) -> None:
    f.current_year(cast.school_a).__class__.objects.filter(school=cast.school_a).update(
        status="closed")
    with pytest.raises(PlanRefused):
        _plan(cast, [pupil()])


def test_an_open_transfer_away_from_the_school_does_not_count(cast: Cast) -> None:
    """A pupil of the school asked away by the school itself is still its own."""
    an = _known(cast.an, date_of_birth=BORN)
    Transfer.objects.create(student=an, from_school=cast.school_a, to_school=cast.school_b,
                            effective_on=timezone.localdate(), requested_by=cast.alice,
                            requested_at=timezone.now(), status=TransferStatus.REQUESTED)
    assert _plan(cast, [_as_on_record(an)]).rows[0].action is Action.UNCHANGED
