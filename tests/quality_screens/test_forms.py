"""The buttons on the record pages: attest a pupil's field group against a document, confirm a
class still current, sign off a reporting round. Shown where the account may use them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from edureg.quality.models import CheckKind, FieldGroupCheck, RecordState, SignOff
from edureg.quality.services import current_rule_set
from tests.conftest import Cast


def _attest_data(group: str = "identity", **changes: str) -> dict[str, str]:
    data = {"group": group, f"{group}-document_type": "giay_khai_sinh",
            f"{group}-document_number": "123/2019", f"{group}-document_date": "20/03/2019"}
    data.update({f"{group}-{key}": value for key, value in changes.items()})
    return data


def _state_bits(student: Any) -> int:
    return RecordState.objects.get(entity="student", record_id=student.pk).status_bits


def test_student_page_offers_one_attestation_form_per_group(client: Client,
                                                            quality: Cast) -> None:
    client.force_login(quality.bob)
    response = client.get(reverse("web:student", args=[quality.an.pk]))
    html = response.content.decode()
    groups = current_rule_set().parameters.groups_for("student")
    assert [row.code for row in response.context["attestations"]] == [g.code for g in groups]
    assert html.count("Đối chiếu hồ sơ<span") == len(groups)
    assert 'id="id_identity-document_type"' in html
    assert 'id="id_residence-document_type"' in html
    assert "Giấy khai sinh" in html
    assert "Xác nhận thông tin cư trú (CT07)" in html
    # Residence documents are not offered for the identity group.
    identity = response.context["attestations"][0].form
    codes = [code for code, _label in identity.fields["document_type"].widget.choices]
    assert codes == ["", "giay_khai_sinh", "trich_luc_khai_sinh", "csdlqg_dan_cu"]


def test_attesting_a_group_records_it_and_closes_the_step(client: Client,
                                                          quality: Cast) -> None:
    client.force_login(quality.bob)
    bit = 1 << [r.code for r in current_rule_set().status_rules("student")].index(
        "dung.student.attested.identity")
    assert _state_bits(quality.an) & bit
    response = client.post(reverse("web:quality_attest", args=[quality.an.pk]), _attest_data())
    assert response.status_code == 302
    assert response["Location"] == reverse("web:student", args=[quality.an.pk]) + "#doi-chieu"
    check = FieldGroupCheck.objects.get(record_id=quality.an.pk, kind=CheckKind.ATTEST)
    assert (check.group, check.document_type, check.document_number, check.document_date,
            check.checked_by_id) == ("identity", "giay_khai_sinh", "123/2019",
                                     dt.date(2019, 3, 20), quality.bob.pk)
    assert not _state_bits(quality.an) & bit
    html = client.get(response["Location"]).content.decode()
    assert "Đã đối chiếu ngày" in html
    assert "Giấy khai sinh số 123/2019" in html


def test_a_bad_attestation_says_what_to_correct(client: Client, quality: Cast) -> None:
    client.force_login(quality.bob)
    url = reverse("web:quality_attest", args=[quality.an.pk])
    future = (timezone.localdate() + dt.timedelta(days=3)).strftime("%d/%m/%Y")
    cases = [
        ({"document_date": "31/02/2019"}, "Ngày cấp phải theo dạng ngày/tháng/năm"),
        ({"document_type": "xac_nhan_cu_tru"}, "Hãy chọn loại giấy tờ dùng để đối chiếu"),
        ({"document_date": future}, "Ngày cấp giấy tờ không được sau hôm nay"),
    ]
    for changes, message in cases:
        response = client.post(url, _attest_data(**changes))
        assert response.status_code == 200
        assert message in response.content.decode()
        form = response.context["attestations"][0].form
        assert form.errors
    response = client.post(url, {"group": "khong-co"})
    assert response.status_code == 302
    assert not FieldGroupCheck.objects.filter(kind=CheckKind.ATTEST).exists()


def test_class_page_offers_the_confirmation_to_those_who_may(client: Client,
                                                            quality: Cast) -> None:
    url = reverse("web:class", args=[quality.class_1a.pk])
    confirm = reverse("web:quality_class_confirm", args=[quality.class_1a.pk])
    for actor, shown in ((quality.bob, True), (quality.alice, True), (quality.erin, False)):
        client.force_login(actor)
        html = client.get(url).content.decode()
        assert (f'action="{confirm}"' in html) is shown, actor


def test_confirming_the_class_confirms_every_pupil(client: Client, quality: Cast) -> None:
    client.force_login(quality.bob)
    stale = 1 << [r.code for r in current_rule_set().status_rules("student")].index(
        "song.student.yearly")
    assert _state_bits(quality.an) & stale
    response = client.post(reverse("web:quality_class_confirm", args=[quality.class_1a.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("web:class", args=[quality.class_1a.pk])
    assert not _state_bits(quality.an) & stale
    confirmed = set(FieldGroupCheck.objects.filter(kind=CheckKind.CONFIRM)
                    .values_list("record_id", flat=True))
    assert quality.an.pk in confirmed
    assert quality.binh.pk not in confirmed
    html = client.get(response["Location"]).content.decode()
    assert "Đã xác nhận thông tin của 2 học sinh lớp 1A còn đúng." in html


def test_principal_signs_off_a_round_with_the_scores(client: Client, quality: Cast) -> None:
    client.force_login(quality.alice)
    url = reverse("web:quality_sign_off", args=[quality.school_a.pk])
    response = client.post(url, {"round_label": "Đầu năm học 2026–2027", "note": "Đã rà soát"})
    assert response.status_code == 302
    signed = SignOff.objects.get()
    assert (signed.school_id, signed.round_label, signed.signed_by_id) == (
        quality.school_a.pk, "Đầu năm học 2026–2027", quality.alice.pk)
    html = client.get(response["Location"]).content.decode()
    assert "Đầu năm học 2026–2027" in html
    assert "Đã rà soát" in html
    again = client.post(url, {"round_label": "Đầu năm học 2026–2027"})
    assert again.status_code == 200
    assert "Kỳ báo cáo này đã được ký xác nhận" in again.content.decode()
    empty = client.post(url, {"round_label": "  "})
    assert "Hãy ghi kỳ báo cáo" in empty.content.decode()
    assert SignOff.objects.count() == 1


def test_only_the_principal_sees_the_sign_off_form(client: Client, quality: Cast) -> None:
    url = reverse("web:quality_school", args=[quality.school_a.pk])
    action = reverse("web:quality_sign_off", args=[quality.school_a.pk])
    for actor, shown in ((quality.alice, True), (quality.bob, False), (quality.erin, False)):
        client.force_login(actor)
        assert (f'action="{action}"' in client.get(url).content.decode()) is shown
