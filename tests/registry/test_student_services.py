from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from edureg.audit.models import AuditEvent
from edureg.registry.models import Enrolment, Student
from edureg.registry.services import student_create, student_update
from tests import factories as f
from tests.conftest import Cast


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_update_saves_cleaned_values_and_audits_with_masking(cast: Cast) -> None:
    result = student_update(actor=cast.bob, student=cast.an, data={
        "full_name": "  Nguyễn   Văn  Ân ", "date_of_birth": "05/09/2019",
        "ethnicity_code": "Khơ-me", "phone": "+84 912 345 678",
    })
    cast.an.refresh_from_db()
    assert cast.an.full_name == "Nguyễn Văn Ân"
    assert cast.an.date_of_birth == dt.date(2019, 9, 5)
    assert cast.an.ethnicity_code == "05"
    assert cast.an.phone == "0912345678"
    assert cast.an.code_versions["ethnicity"]
    assert cast.an.name_match_key == "nguyen van an"
    assert set(result.changed) == {"full_name", "date_of_birth", "ethnicity_code", "phone"}
    event = AuditEvent.objects.get(action="student.update")
    assert event.actor == cast.bob
    assert event.data["changes"]["ethnicity_code"] == ["***", "***"]
    assert event.data["changes"]["full_name"] == ["Nguyễn Văn An", "Nguyễn Văn Ân"]
    assert "0912345678" not in str(event.data)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("date_of_birth", "31/02/2019", "Ngày không hợp lệ"),
        ("date_of_birth", "01/01/2999", "tương lai"),
        ("ethnicity_code", "Người sao Hoả", "không có trong danh mục"),
        ("personal_id_number", "07920901234", "12 chữ số"),
        ("personal_id_number", "07920901234A", "12 chữ số"),
        ("full_name", "Nguyễn\x00Văn An", "điều khiển"),
        ("full_name", "Nguyễn Văn An 2", "chữ cái"),
        ("full_name", "", "trống"),
        ("permanent_address", "x" * 301, "300"),
        ("phone", "12345", "điện thoại"),
        ("sex", "Khác", "Nam hoặc Nữ"),
        ("no_such_field", "1", "không được phép"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(cast: Cast, field: str, value: str,
                                                     fragment: str) -> None:
    before = Student.objects.filter(pk=cast.an.pk).values().get()
    with pytest.raises(ValidationError) as exc:
        student_update(actor=cast.alice, student=cast.an,
                       data={"current_address": "12 Lê Lợi", field: value})
    messages = _errors(exc)
    assert list(messages) == [field]
    assert fragment in messages[field][0]
    assert Student.objects.filter(pk=cast.an.pk).values().get() == before
    assert not AuditEvent.objects.filter(action="student.update").exists()


def test_commune_must_lie_in_the_province(cast: Cast) -> None:
    with pytest.raises(ValidationError) as exc:
        student_update(actor=cast.alice, student=cast.an,
                       data={"permanent_province": "01", "permanent_commune": "26734"})
    assert "permanent_commune" in _errors(exc)


def test_id_structure_disagreement_is_a_warning_not_an_error(cast: Cast) -> None:
    # G=3 says "female, born 2000–2099"; the pupil is recorded as male.
    result = student_update(actor=cast.alice, student=cast.an, data={
        "sex": "Nam", "date_of_birth": "05/09/2019", "personal_id_number": "079319012345",
    })
    cast.an.refresh_from_db()
    assert cast.an.personal_id_number == "079319012345"
    assert result.warnings
    assert all(w.field == "personal_id_number" for w in result.warnings)


def test_official_education_id_cannot_be_changed(cast: Cast) -> None:
    with pytest.raises(ValidationError) as exc:
        student_update(actor=cast.alice, student=cast.an, data={"education_id": "7999999999"})
    assert "education_id" in _errors(exc)


def test_personal_id_collision_is_blocked(cast: Cast) -> None:
    Student.objects.filter(pk=cast.binh.pk).update(personal_id_number="079219012345")
    with pytest.raises(ValidationError) as exc:
        student_update(actor=cast.alice, student=cast.an,
                       data={"personal_id_number": "079219012345"})
    assert "personal_id_number" in _errors(exc)


def test_update_requires_permission_and_scope(cast: Cast) -> None:
    with pytest.raises(PermissionDenied):
        student_update(actor=cast.carol, student=cast.an, data={"phone": "0912345678"})
    with pytest.raises(Http404):
        student_update(actor=cast.dave, student=cast.an, data={"phone": "0912345678"})
    with pytest.raises(Http404):
        student_update(actor=cast.bob, student=cast.binh, data={"phone": "0912345678"})


def test_nothing_changed_writes_nothing(cast: Cast) -> None:
    result = student_update(actor=cast.alice, student=cast.an, data={"full_name": "Nguyễn Văn An"})
    assert result.changed == ()
    assert not AuditEvent.objects.exists()


def test_create_issues_a_temporary_code_and_enrols(cast: Cast) -> None:
    result = student_create(actor=cast.alice, school_class=cast.class_1b, data={
        "full_name": "Võ Thị Mai", "date_of_birth": "2020-03-01", "sex": "F",
    })
    student = result.student
    assert student.education_id is None
    assert student.temporary_code
    assert student.temporary_code.startswith("T")
    enrolment = Enrolment.objects.get(student=student)
    assert enrolment.is_current
    assert enrolment.school_class == cast.class_1b
    assert enrolment.status_changes.count() == 1
    assert AuditEvent.objects.filter(action="student.create", entity_id=str(student.pk)).exists()
    second = student_create(actor=cast.alice, school_class=cast.class_1b,
                            data={"full_name": "Võ Văn Nam"}).student
    assert second.temporary_code != student.temporary_code


def test_create_with_bad_input_creates_nothing(cast: Cast) -> None:
    count, enrolments = Student.objects.count(), Enrolment.objects.count()
    with pytest.raises(ValidationError):
        student_create(actor=cast.alice, school_class=cast.class_1b,
                       data={"full_name": "Võ Thị Mai", "date_of_birth": "32/01/2020"})
    assert Student.objects.count() == count
    assert Enrolment.objects.count() == enrolments


def test_create_in_another_school_is_404(cast: Cast) -> None:
    with pytest.raises(Http404):
        student_create(actor=cast.alice, school_class=cast.class_b,
                       data={"full_name": "Võ Thị Mai"})


def test_guardian_factory_links(cast: Cast) -> None:
    guardian = f.make_guardian(cast.an)
    assert list(cast.an.guardians.all()) == [guardian]
