"""Anchors: the chain head copied outside the database catches a tail deleted with the head
rewound, a rewritten chain and a replaced database, which the stored chain alone cannot."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from edureg.audit.anchors import Anchor, AnchorFileError, anchor_append, anchors_read
from edureg.audit.models import AuditEvent, AuditRecordRef, ChainHead
from edureg.audit.services import audit_anchor, audit_record, audit_verify
from tests.audit.tampering import guard_lifted
from tests.conftest import Cast


def _record(cast: Cast, n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(actor=cast.alice, action="student.update", entity="student",
                         entity_id=i, school_id=cast.school_a.pk,
                         data={"changes": {"x": [i, 1]}})


def _cut_tail_and_rewind_head(keep: int) -> None:
    """Delete the events after ``keep`` and make the head row agree, as someone holding the
    database owner's rights could."""
    with guard_lifted():
        AuditRecordRef.objects.filter(seq__gt=keep).delete()
        AuditEvent.objects.filter(seq__gt=keep).delete()
    last = AuditEvent.objects.get(seq=keep)
    ChainHead.objects.update(seq=keep, last_hash=last.hash, last_occurred_at=last.occurred_at)


@pytest.fixture
def anchors(tmp_path: Path) -> Path:
    return tmp_path / "anchors.jsonl"


def test_a_rewound_head_passes_the_chain_but_not_the_anchor(cast: Cast, anchors: Path) -> None:
    _record(cast, 6)
    assert audit_anchor(anchors) is not None
    _cut_tail_and_rewind_head(keep=4)
    assert audit_verify().broken is None  # the stored chain alone is consistent
    broken = audit_verify(anchors=anchors).broken
    assert broken is not None
    assert broken.seq == 5
    assert "đến số 6" in broken.reason


def test_a_rewritten_tail_of_the_same_length_is_caught(cast: Cast, anchors: Path) -> None:
    _record(cast, 5)
    audit_anchor(anchors)
    _cut_tail_and_rewind_head(keep=3)
    _record(cast, 2)  # new events 4 and 5, chained properly, with other contents
    assert audit_verify().broken is None
    broken = audit_verify(anchors=anchors).broken
    assert broken is not None
    assert (broken.seq, broken.reason) == (5, "không khớp mốc ngoài CSDL (chuỗi bị viết lại)")


def test_anchors_of_another_chain_are_reported(cast: Cast, anchors: Path) -> None:
    _record(cast, 2)
    anchor_append(anchors, Anchor(seq=1, hash="a" * 64, first="b" * 64, at="2026-01-01"))
    broken = audit_verify(anchors=anchors).broken
    assert broken is not None
    assert broken.seq == 1
    assert "chuỗi khác" in broken.reason


def test_an_intact_chain_agrees_with_every_anchor(cast: Cast, anchors: Path) -> None:
    _record(cast, 2)
    first = audit_anchor(anchors)
    assert audit_anchor(anchors) is None  # the head has not moved: nothing new written
    _record(cast, 3)
    second = audit_anchor(anchors)
    assert first is not None
    assert second is not None
    assert [a.seq for a in anchors_read(anchors)] == [first.seq, second.seq]
    assert audit_verify(anchors=anchors).broken is None


def test_a_torn_last_line_is_ignored_and_the_next_anchor_starts_its_own_line(
        cast: Cast, anchors: Path) -> None:
    _record(cast, 2)
    audit_anchor(anchors)
    with anchors.open("a", encoding="utf-8") as handle:
        handle.write('{"seq": 9, "ha')  # the writer killed mid-append
    assert len(anchors_read(anchors)) == 1
    _record(cast, 1)
    assert audit_anchor(anchors) is not None
    assert [a.seq for a in anchors_read(anchors)] == [2, 3]
    assert audit_verify(anchors=anchors).broken is None


def test_a_damaged_line_names_its_number(cast: Cast, anchors: Path) -> None:
    _record(cast, 1)
    anchors.write_text('{"seq": 1}\n{}\n', encoding="utf-8")
    with pytest.raises(AnchorFileError, match="Dòng 1"):
        anchors_read(anchors)
    with pytest.raises(CommandError, match="Dòng 1"):
        call_command("audit", "verify", "--anchors", str(anchors))


def test_the_commands_write_and_check_the_configured_file(
        cast: Cast, anchors: Path, settings: object) -> None:
    settings.EDUREG_AUDIT_ANCHOR_FILE = str(anchors)  # type: ignore[attr-defined]
    _record(cast, 3)
    out = io.StringIO()
    call_command("audit", "anchor", stdout=out)
    assert "sự kiện số 3" in out.getvalue()
    _cut_tail_and_rewind_head(keep=2)
    with pytest.raises(CommandError, match="sự kiện số 3"):
        call_command("audit", "verify")


def test_the_anchor_command_says_when_no_file_is_configured(cast: Cast) -> None:
    with pytest.raises(CommandError, match="EDUREG_AUDIT_ANCHOR_FILE"):
        call_command("audit", "anchor")


def test_the_schedule_anchors_the_head(cast: Cast, anchors: Path, settings: object) -> None:
    settings.EDUREG_AUDIT_ANCHOR_FILE = str(anchors)  # type: ignore[attr-defined]
    _record(cast, 2)
    call_command("schedule", "--once", stdout=io.StringIO())
    (anchor,) = anchors_read(anchors)
    assert anchor.hash == AuditEvent.objects.get(seq=anchor.seq).hash
    assert anchor.seq >= 2
    assert audit_verify(anchors=anchors).broken is None
