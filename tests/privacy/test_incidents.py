"""The breach register: the 72-hour clock from the data file, overdue flags, recording,
updating and notifying (audited), scope and bad input, and the page."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.access.models import User
from edureg.access.roles import Role
from edureg.audit.models import AuditEvent
from edureg.privacy import datafiles, deadlines
from edureg.privacy.deadlines import deadlines_in_force, notification_deadline
from edureg.privacy.incidents import (
    IncidentData,
    incident_notify,
    incident_record,
    incident_register,
    incident_row,
    incident_update,
)
from edureg.privacy.models import Incident
from tests import factories as f
from tests.conftest import Cast

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _data(**changes: object) -> IncidentData:
    values: dict[str, object] = {
        "detected_at": timezone.now() - dt.timedelta(hours=2),
        "title": "Email gửi nhầm danh sách lớp", "description": "Gửi nhầm cho một phụ huynh.",
        "affected_count": 32, "actions_taken": "Đề nghị xoá thư; đổi quy trình gửi."}
    values.update(changes)
    return IncidentData(**values)  # type: ignore[arg-type]


def test_the_72_hours_are_data() -> None:
    shipped = deadlines_in_force()
    assert shipped.breach_notification_hours == 72
    assert "A05" in shipped.breach_notification_authority
    detected = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    assert notification_deadline(detected, 72) == dt.datetime(2026, 3, 5, 9, 0, tzinfo=dt.UTC)


def test_a_newer_deadlines_file_changes_the_clock(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "deadlines"
    folder.mkdir()
    current = json.loads((datafiles.SHIPPED_DATA_DIR / "deadlines" / "2026.1.json")
                         .read_text(encoding="utf-8"))
    current.update(version="2026.9", valid_from="2026-02-01", breach_notification_hours=48)
    (folder / "2026.9.json").write_text(json.dumps(current), encoding="utf-8")
    monkeypatch.setenv(datafiles.DATA_DIRS_ENV, str(tmp_path))
    datafiles.clear_cache()
    deadlines.clear_cache()
    try:
        assert deadlines_in_force(on=dt.date(2026, 3, 1)).breach_notification_hours == 48
        assert deadlines_in_force(on=dt.date(2026, 1, 15)).breach_notification_hours == 72
    finally:
        monkeypatch.delenv(datafiles.DATA_DIRS_ENV)
        datafiles.clear_cache()
        deadlines.clear_cache()


def test_overdue_when_not_notified_in_time(cast: Cast) -> None:
    now = timezone.now()
    late = incident_record(actor=cast.alice, school=cast.school_a,
                           data=_data(detected_at=now - dt.timedelta(hours=80)))
    fresh = incident_record(actor=cast.alice, school=cast.school_a, data=_data())
    assert incident_row(late, now=now, hours=72).overdue
    row = incident_row(fresh, now=now, hours=72)
    assert not row.overdue
    assert row.hours_left in (69, 70)
    incident_notify(actor=cast.alice, school_id=cast.school_a.pk, incident_id=late.pk,
                    notified_at=None, reference="Công văn 12/THHB")
    late.refresh_from_db()
    assert incident_row(late, now=now, hours=72).overdue, "notified after the deadline"
    incident_notify(actor=cast.alice, school_id=cast.school_a.pk, incident_id=fresh.pk,
                    notified_at=None, reference="Công văn 13/THHB")
    fresh.refresh_from_db()
    assert not incident_row(fresh, now=now, hours=72).overdue
    register = incident_register(actor=cast.alice, school_id=cast.school_a.pk)
    assert [r.incident.pk for r in register.overdue] == [late.pk]


def test_writes_are_audited(cast: Cast) -> None:
    incident = incident_record(actor=cast.alice, school=cast.school_a, data=_data())
    incident_update(actor=cast.alice, school_id=cast.school_a.pk, incident_id=incident.pk,
                    data=_data(affected_count=40))
    incident_notify(actor=cast.alice, school_id=cast.school_a.pk, incident_id=incident.pk,
                    notified_at=None, reference="Công văn 12/THHB")
    incident.refresh_from_db()
    assert incident.affected_count == 40
    assert incident.notified_at is not None
    assert list(AuditEvent.objects.filter(entity="incident").order_by("seq")
                .values_list("action", flat=True)) == [
        "incident.recorded", "incident.updated", "incident.notified"]
    with pytest.raises(ValidationError) as twice:
        incident_notify(actor=cast.alice, school_id=cast.school_a.pk, incident_id=incident.pk,
                        notified_at=None, reference="Công văn 14/THHB")
    assert "notified_at" in twice.value.message_dict


def test_bad_input_is_refused_naming_the_field(cast: Cast) -> None:
    with pytest.raises(ValidationError) as error:
        incident_record(actor=cast.alice, school=cast.school_a, data=_data(
            detected_at=timezone.now() + dt.timedelta(hours=1), title="  ",
            affected_count=-1, description="a\x00b"))
    messages = error.value.message_dict
    assert set(messages) == {"detected_at", "title", "affected_count", "description"}
    assert "tiêu đề" in messages["title"][0]
    assert "mô tả sự cố" in messages["description"][0]
    incident = incident_record(actor=cast.alice, school=cast.school_a, data=_data())
    with pytest.raises(ValidationError) as before:
        incident_notify(actor=cast.alice, school_id=cast.school_a.pk, incident_id=incident.pk,
                        notified_at=incident.detected_at - dt.timedelta(hours=1),
                        reference="CV 1")
    assert "trước thời điểm phát hiện" in before.value.messages[0]
    assert not Incident.objects.exclude(pk=incident.pk).exists()


def test_scope_and_permission(cast: Cast) -> None:
    incident = incident_record(actor=cast.alice, school=cast.school_a, data=_data())
    with pytest.raises(Http404):
        incident_record(actor=cast.dave, school=cast.school_a, data=_data())
    with pytest.raises(Http404):
        incident_update(actor=cast.dave, school_id=cast.school_a.pk, incident_id=incident.pk,
                        data=_data())
    with pytest.raises(Http404):  # the right school id is needed too
        incident_update(actor=cast.dave, school_id=cast.school_b.pk, incident_id=incident.pk,
                        data=_data())
    with pytest.raises(PermissionDenied):
        incident_record(actor=cast.bob, school=cast.school_a, data=_data())
    it = f.make_user("ivan", Role.IT_OFFICER, cast.school_a)
    incident_record(actor=it, school=cast.school_a, data=_data())
    assert len(incident_register(actor=cast.erin, school_id=cast.school_a.pk).rows) == 2


def test_the_page_records_and_highlights_overdue(cast: Cast) -> None:
    client = _client(cast.alice)
    url = reverse("web:privacy_incidents", args=[cast.school_a.pk])
    bad = client.post(url, {"detected_at": "32/13/2026 10:00", "title": "",
                            "description": "", "affected_count": "nhiều"})
    body = bad.content.decode()
    assert bad.status_code == 200
    assert "Thời điểm phát hiện phải theo dạng ngày/tháng/năm" in body
    assert "Số người bị ảnh hưởng phải là một số nguyên" in body
    assert not Incident.objects.exists()
    detected = timezone.localtime() - dt.timedelta(hours=100)
    done = client.post(url, {"detected_at": detected.strftime("%d/%m/%Y %H:%M"),
                             "title": "Mất máy tính xách tay", "description": "Mất ở phòng GV.",
                             "affected_count": "120", "actions_taken": ""})
    assert done.status_code == 302
    page = client.get(url)
    text = page.content.decode()
    assert "Quá hạn thông báo" in text
    assert "is-overdue" in text
    assert "72 giờ" in text
    incident = Incident.objects.get()
    notified = client.post(reverse("web:privacy_incident_notify",
                                   args=[cast.school_a.pk, incident.pk]),
                           {"notified_at": "", "notification_reference": "CV 5/THHB"})
    assert notified.status_code == 302
    assert "Đã thông báo trễ hạn" in client.get(url).content.decode()


def test_the_school_page_links_the_register_for_who_keeps_it(cast: Cast) -> None:
    it = f.make_user("ivan", Role.IT_OFFICER, cast.school_a)
    url = reverse("web:privacy_incidents", args=[cast.school_a.pk])
    for user, shown in ((cast.alice, True), (it, True), (cast.bob, False)):
        page = _client(user).get(reverse("web:school", args=[cast.school_a.pk]))
        assert (url in page.content.decode()) is shown, user.username
