"""Odd input never crashes a write and never half-writes one."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edureg.registry.models import Student
from edureg.registry.services import EDITABLE_STUDENT_FIELDS, student_update
from tests.conftest import Cast

FIELDS = sorted(EDITABLE_STUDENT_FIELDS - {"education_id"})


@pytest.mark.django_db
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=320), min_size=1,
                            max_size=4))
def test_any_text_is_either_saved_cleanly_or_rejected_whole(cast: Cast,
                                                            data: dict[str, str]) -> None:
    before = Student.objects.filter(pk=cast.an.pk).values().get()
    student = Student.objects.get(pk=cast.an.pk)
    try:
        result = student_update(actor=cast.alice, student=student, data=data)
    except ValidationError as exc:
        rejected = exc.message_dict
    else:
        rejected = None
    if rejected is not None:
        assert set(rejected) <= set(data)
        assert all(rejected.values())
        assert Student.objects.filter(pk=cast.an.pk).values().get() == before
        return
    after = Student.objects.get(pk=cast.an.pk)
    for name in result.changed:
        value = getattr(after, name)
        if isinstance(value, str):
            assert value == value.strip()
            assert not any(ord(ch) < 32 for ch in value)
    # Restore for the next example (hypothesis reuses the function-scoped fixture).
    Student.objects.filter(pk=cast.an.pk).update(**before)
