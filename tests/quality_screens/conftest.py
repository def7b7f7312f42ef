"""The standing cast with stored quality state: An (class 1A, Bob's) has a wrong ethnicity code
(an error), a dummy phone, a guardian with a dummy phone and information past its yearly
confirmation; Bình (1B) and Cường (school B) only miss fields; Dung (1A) is filled in well."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from edureg.quality.models import COUNTER_FIELDS, RecordState
from edureg.quality.selectors import Scores
from edureg.registry.models import Student
from edureg.registry.quality import records_refresh
from tests import factories as f
from tests.conftest import Cast

WELL_FILLED = {
    "date_of_birth": dt.date(2019, 3, 14), "sex": "F", "ethnicity_code": "01",
    "nationality_code": "VN", "personal_id_number": "079319001234",
    "birthplace_text": "Bệnh viện Từ Dũ, Thành phố Hồ Chí Minh", "birthplace_province": "79",
    "hometown_province": "79", "permanent_address": "12 Lê Lợi", "permanent_province": "79",
    "permanent_commune": "26734", "current_address": "12 Lê Lợi", "current_province": "79",
    "current_commune": "26734", "phone": "0903127845",
}


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """The authority trend is cached under the snapshots' version; ids restart in each test's
    database, so a test must not meet an earlier test's entry."""
    cache.clear()


@pytest.fixture
def quality(cast: Cast) -> Cast:
    return plant_problems(cast)


def plant_problems(cast: Cast) -> Cast:
    """Give the cast's pupils the problems above and store their quality state."""
    Student.objects.filter(pk=cast.an.pk).update(phone="0000000000", ethnicity_code="99",
                                                 created_at=timezone.now()
                                                 - dt.timedelta(days=800))
    f.make_guardian(cast.an, "Nguyễn Văn Cha", phone="0000000000")
    f.make_student(cast.class_1a, "Phạm Thị Dung", **WELL_FILLED)
    refresh_all()
    cast.an.refresh_from_db()
    return cast


def refresh_all() -> None:
    records_refresh("student", Student.objects.values_list("pk", flat=True))


def fresh_scores(**filters: object) -> Scores:
    """Counters summed afresh from the stored record states."""
    counters = dict.fromkeys(COUNTER_FIELDS, 0)
    for state in RecordState.objects.filter(entity="student", **filters):
        counters["records"] += 1
        for name in COUNTER_FIELDS[1:]:
            counters[name] += int(getattr(state, name))
    return Scores(**counters)
