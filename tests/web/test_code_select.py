"""The edit form's one-pass <select> writes what Django's own Select widget writes."""

from __future__ import annotations

from django import forms
from django.test.html import parse_html

from edureg.web.forms import CodeSelect

CHOICES = [("", "— Chọn —"), ("01", "Kinh"), ("02", "Tày"), ("<b>", 'Dấu "lạ" & <thẻ>'),
           ("01", "Kinh (trùng mã)")]


def _both(value: object, attrs: dict[str, object]) -> tuple[str, str]:
    ours, django = CodeSelect(attrs={"data-child": "id_commune"}), forms.Select(
        attrs={"data-child": "id_commune"})
    ours.choices = django.choices = CHOICES
    return (ours.render("ethnicity_code", value, attrs),
            django.render("ethnicity_code", value, attrs))


def test_same_markup_as_django_for_a_chosen_value_and_boolean_attributes() -> None:
    ours, django = _both("02", {"id": "id_ethnicity_code", "required": True, "disabled": False,
                               "aria-describedby": "id_ethnicity_code_msg"})
    assert parse_html(ours) == parse_html(django)
    assert 'value="02" selected' in ours


def test_same_markup_when_nothing_is_chosen_and_labels_are_escaped() -> None:
    ours, django = _both(None, {"id": "id_ethnicity_code"})
    assert parse_html(ours) == parse_html(django)
    assert "&lt;thẻ&gt;" in ours
    assert "<thẻ>" not in ours


def test_only_the_first_option_of_a_repeated_code_is_selected() -> None:
    ours, django = _both("01", {})
    assert parse_html(ours) == parse_html(django)
    assert ours.count(" selected") == 1
