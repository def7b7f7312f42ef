"""The batch duplicate run over seeded pupils with planted duplicates (typed again without ID
number, with dropped diacritics, swapped day and month or a typo): pairs are stored with their
probability and explanation, decided pairs are not proposed again, and a school's run keeps
only the pairs touching it."""

from __future__ import annotations

import json
import sqlite3
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from edureg.dedupe.models import Decision, DuplicateDecision, DuplicatePair
from edureg.registry.dedupe_run import dedupe_run, dedupe_run_task
from edureg.registry.models import Student, StudentGuardian
from edureg.schools.models import School
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def planted(tmp_path: Path, settings: Any) -> set[tuple[int, int]]:
    register = tmp_path / "register.sqlite3"
    settings.EDUREG_REGISTER_SIM_DB = register
    call_command("seed", "--schools", "3", "--students-per-school", "120", "--seed", "3",
                 "--duplicate-rate", "0.05", "--register-db", str(register), stdout=StringIO())
    with sqlite3.connect(register) as db:
        rows = db.execute("SELECT record_id, other_record_id FROM planted_problem WHERE kind = "
                          "'duplicate' AND entity = 'student'").fetchall()
    # A child typed in twice more gives three records of one person: every pair among them is
    # a true pair, not only the two the seed lists against the original.
    groups: dict[int, set[int]] = {}
    for copy, original in rows:
        group = groups.setdefault(original, {original})
        group.add(copy)
    return {(a, b) for group in groups.values() for a in group for b in group if a < b}


def test_planted_duplicates_are_found_with_an_explanation(planted: set[tuple[int, int]]
                                                          ) -> None:
    assert planted, "the seed planted duplicates"
    report = dedupe_run()
    found = set(DuplicatePair.objects.values_list("left_id", "right_id"))
    assert report.pairs_stored == len(found)
    true = found & planted
    # Measured on this seed: reported, and held as a floor well below the benchmark's figure.
    assert len(true) / len(planted) >= 0.5, (len(true), len(planted))
    assert len(true) / len(found) >= 0.9, (len(true), len(found))
    for pair in DuplicatePair.objects.all():
        assert pair.match_probability >= 0.5
        assert "agreed" in pair.explanation


def test_a_pair_decided_not_the_same_is_not_proposed_again(planted: set[tuple[int, int]]
                                                           ) -> None:
    dedupe_run()
    pair = DuplicatePair.objects.order_by("-match_probability").first()
    assert pair is not None
    DuplicateDecision.objects.create(entity="student", left_id=pair.left_id,
                                     right_id=pair.right_id, decision=Decision.NOT_SAME,
                                     reason="Sinh đôi, đã kiểm tra giấy khai sinh",
                                     decided_by=f.make_user("checker"), decided_at=timezone.now())
    report = dedupe_run()
    assert report.pairs_already_decided >= 1
    assert not DuplicatePair.objects.filter(left_id=pair.left_id, right_id=pair.right_id
                                            ).exists()


def test_a_schools_run_keeps_the_pairs_touching_it(planted: set[tuple[int, int]]) -> None:
    school = School.objects.order_by("pk").first()
    assert school is not None
    out = StringIO()
    call_command("dedupe", "run", "--school", school.code, "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["persons"] == 360
    for pair in DuplicatePair.objects.all():
        assert school.pk in (pair.left_school_id, pair.right_school_id)


def test_the_parents_tell_a_retyped_child_from_a_brother(planted: set[tuple[int, int]]) -> None:
    """A child typed again at another school with a mistyped given name and day and month
    swapped is found through the parents' names and phone; a brother, with the same parents,
    family name and address, is not claimed."""
    source = (Student.objects.filter(guardian_links__isnull=False, personal_id_number__isnull=False,
                                     date_of_birth__day__lte=12)
              .exclude(date_of_birth__day=F("date_of_birth__month")).order_by("pk").first())
    assert source is not None
    assert source.date_of_birth is not None
    parents = list(source.guardians.all())
    other = School.objects.exclude(pk=source.school_id).order_by("pk").first()
    assert other is not None
    words = source.full_name.split()
    copy = f.make_student(f.make_class(other, "9Z"), " ".join([*words[:-1], words[-1] + "h"]),
                          date_of_birth=source.date_of_birth.replace(
                              month=source.date_of_birth.day, day=source.date_of_birth.month),
                          sex=source.sex,
                          birthplace_legacy_province=source.birthplace_legacy_province,
                          permanent_commune=source.permanent_commune)
    for parent in parents:
        f.make_guardian(copy, parent.full_name.upper(), phone=parent.phone)
    brother = f.make_student(source.current_class, f"{words[0]} Văn Khải",
                             date_of_birth=source.date_of_birth.replace(
                                 year=source.date_of_birth.year - 2),
                             personal_id_number=None, sex=source.sex,
                             birthplace_legacy_province=source.birthplace_legacy_province,
                             permanent_commune=source.permanent_commune)
    for parent in parents:
        StudentGuardian.objects.create(student=brother, guardian=parent, relation_code="01")
    dedupe_run()
    pairs = set(DuplicatePair.objects.values_list("left_id", "right_id"))
    assert (source.pk, copy.pk) in pairs
    pair = DuplicatePair.objects.get(left_id=source.pk, right_id=copy.pk)
    assert "guardians" in pair.explanation.split("disagreed")[0]
    assert not {pair for pair in pairs if brother.pk in pair}


def test_the_daily_schedule_enqueues_the_run_for_the_worker(planted: set[tuple[int, int]]
                                                            ) -> None:
    from django_tasks_db.models import DBTaskResult

    call_command("schedule", "--once", stdout=StringIO())
    queued = DBTaskResult.objects.filter(task_path__endswith="dedupe_run_task")
    assert queued.count() == 1
    report = dedupe_run_task.call()
    assert report["pairs_stored"] == DuplicatePair.objects.count() > 0
