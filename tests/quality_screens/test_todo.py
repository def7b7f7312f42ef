"""The to-do (Việc cần làm): exactly the findings of the actor's own pupils, most important
first, each linking to the field that fixes it; the open steps per pupil; the read audited."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from edureg.audit.models import AuditEvent
from edureg.quality.models import Finding, RecordState
from edureg.quality.selectors import open_steps
from edureg.quality.services import current_rule_set
from edureg.registry.models import Student
from tests.conftest import Cast
from tests.web.conftest import edit_form_data

TODO = reverse("web:quality_todo")


def _get(client: Client, actor: Any, url: str = TODO, **query: object) -> Any:
    client.force_login(actor)
    response = client.get(url, query)
    assert response.status_code == 200
    return response


def _shown(response: Any) -> set[tuple[int, str]]:
    return {(row.student_id, row.url) for row in response.context["findings"]}


def test_teacher_sees_exactly_the_findings_of_their_own_pupils(client: Client,
                                                                quality: Cast) -> None:
    response = _get(client, quality.bob)
    own = Student.objects.filter(current_class=quality.class_1a)
    expected = Finding.objects.filter(owner_entity="student", owner_id__in=own.values("pk"))
    rows = response.context["findings"]
    assert len(rows) == expected.count() > 0
    assert {row.student_id for row in rows} == set(expected.values_list("owner_id", flat=True))
    assert response.context["todo"].findings.count == expected.count()
    html = response.content.decode()
    for hidden in (quality.binh, quality.other_school_student):
        assert hidden.full_name not in html
    assert quality.an.full_name in html


def test_each_item_links_to_the_field_that_fixes_it(client: Client, quality: Cast) -> None:
    response = _get(client, quality.bob)
    edit = reverse("web:student_edit", args=[quality.an.pk])
    detail = reverse("web:student", args=[quality.an.pk])
    urls = {row.url for row in response.context["findings"]
            if row.student_id == quality.an.pk}
    assert f"{edit}#id_phone" in urls
    assert f"{edit}#id_ethnicity_code" in urls
    assert f"{detail}#cha-me" in urls  # the guardian's dummy phone
    html = response.content.decode()
    assert f'href="{edit}#id_phone"' in html
    # The anchors exist on the edit form.
    client.force_login(quality.bob)
    form_html = client.get(edit).content.decode()
    for url in urls:
        if url.startswith(edit):
            assert f'id="{url.split("#")[1]}"' in form_html
    assert 'id="cha-me"' in client.get(detail).content.decode()


def test_items_come_by_impact_errors_first(client: Client, quality: Cast) -> None:
    response = _get(client, quality.alice)
    rows = response.context["findings"]
    items = response.context["todo"].findings.items
    assert rows[0].severity == "error"
    assert rows[0].student_id == quality.an.pk
    assert "«Dân tộc» có mã không thuộc danh mục" in rows[0].message
    keys = [({"error": 0, "warning": 1}.get(item.severity, 2), -item.weight) for item in items]
    assert keys == sorted(keys)
    # Within the same severity and weight: class, then pupil in Vietnamese order.
    same = [(item.class_name, item.student_name) for item in items
            if (item.severity, item.weight) == ("warning", 3)]
    assert same == sorted(same, key=lambda pair: (pair[0] or "",
                                                   Student.objects.get(full_name=pair[1])
                                                   .name_sort_key))


def test_messages_and_labels_are_the_rules_own(client: Client, quality: Cast) -> None:
    response = _get(client, quality.bob)
    rule_set = current_rule_set()
    messages = {row.message for row in response.context["findings"]}
    codes = Finding.objects.filter(owner_id=quality.an.pk).values_list("rule_code", flat=True)
    assert {rule_set.get(code).message for code in codes} <= messages
    subjects = {row.subject for row in response.context["findings"]}
    assert "Số điện thoại" in {s.split(": ")[-1] for s in subjects}
    assert any(s.startswith("Cha mẹ, người giám hộ") for s in subjects)


def test_open_steps_per_pupil_are_the_status_rules_messages(client: Client,
                                                            quality: Cast) -> None:
    response = _get(client, quality.bob)
    state = RecordState.objects.get(entity="student", record_id=quality.an.pk)
    expected = open_steps(current_rule_set(), "student", state.status_bits)
    pupil = next(p for p in response.context["steps"] if p.student_id == quality.an.pk)
    assert [step.message for step in pupil.steps] == [rule.message for rule in expected]
    kinds = {str(step.kind) for step in pupil.steps}
    assert kinds == {"chưa đối chiếu hồ sơ", "chưa xác thực", "quá hạn xác nhận"}
    html = response.content.decode()
    for rule in expected:
        assert rule.message in html


def test_fixing_the_field_takes_the_item_off_the_list(client: Client, quality: Cast) -> None:
    client.force_login(quality.bob)
    edit = reverse("web:student_edit", args=[quality.an.pk])
    before = _shown(_get(client, quality.bob))
    assert (quality.an.pk, f"{edit}#id_phone") in before
    data = edit_form_data(client, quality.an)
    data["phone"] = "0903127845"
    assert client.post(edit, data).status_code == 302
    after = _shown(_get(client, quality.bob))
    assert (quality.an.pk, f"{edit}#id_phone") not in after
    assert (quality.an.pk, f"{edit}#id_ethnicity_code") in after


def test_principal_can_narrow_to_one_class(client: Client, quality: Cast) -> None:
    response = _get(client, quality.alice, lop=quality.class_1b.pk)
    assert {row.student_id for row in response.context["findings"]} == {quality.binh.pk}
    everything = _get(client, quality.alice)
    assert {row.student_id for row in everything.context["findings"]} >= {
        quality.an.pk, quality.binh.pk}


def test_another_class_or_school_as_filter_is_not_found(client: Client, quality: Cast) -> None:
    client.force_login(quality.bob)
    assert client.get(TODO, {"lop": quality.class_1b.pk}).status_code == 404
    client.force_login(quality.alice)
    assert client.get(TODO, {"lop": quality.class_b.pk}).status_code == 404


def test_odd_page_numbers_fall_back(client: Client, quality: Cast) -> None:
    for page in ("0", "-3", "x", "999999", str(2**70)):
        assert _get(client, quality.bob, trang=page, trang_buoc=page).status_code == 200


def test_the_read_is_audited_with_the_pupils_shown(client: Client, quality: Cast) -> None:
    _get(client, quality.bob)
    event = AuditEvent.objects.filter(action="student.read").order_by("-seq").first()
    assert event is not None
    assert event.data["view"] == "quality_todo"
    dung = Student.objects.get(full_name="Phạm Thị Dung")
    assert set(event.data["ids"]) == {str(quality.an.pk), str(dung.pk)}


def test_authority_officer_and_subject_teacher_have_no_todo(client: Client,
                                                            quality: Cast) -> None:
    for actor in (quality.erin, quality.carol):
        client.force_login(actor)
        assert client.get(TODO).status_code == 403
