"""Anchors: copies of the chain head kept outside the database.

The chain detects a changed, deleted or reordered event, and deleting the newest events is
caught against the head row. Someone holding the database owner's rights can, however, delete
the newest events *and* rewind the head row to match. An anchor is the head (seq, hash) written
now and then to a file the database cannot reach — in production a mount of another host or a
write-once store — one JSON object per line, appended and flushed to disk, never rewritten. The
verifier then checks that every anchored event is still there with the same hash.

Each anchor also carries the hash of event 1, which names the chain: an anchor of another chain
means the database was replaced or rebuilt, which the verifier reports as well.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from edureg.audit.chain import ChainBreak


class AnchorFileError(Exception):
    """The anchor file cannot be read (the message names the line and what to do)."""


@dataclasses.dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    first: str
    at: str

    def line(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"), sort_keys=True)


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef"
                                                               for c in value)


def _parse(number: int, text: str) -> Anchor | None:
    """The anchor on a line; None for a torn line (not JSON: its writer was killed mid-append);
    an error for JSON that is not an anchor."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or set(raw) != {"seq", "hash", "first", "at"}:
        raise AnchorFileError(
            f"Dòng {number} của tệp mốc nhật ký không đúng định dạng; không sửa tay tệp này, "
            "hãy báo cho quản trị hệ thống.")
    seq, digest, first, at = raw["seq"], raw["hash"], raw["first"], raw["at"]
    if (not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not _is_hash(digest)
            or not _is_hash(first) or not isinstance(at, str)):
        raise AnchorFileError(
            f"Dòng {number} của tệp mốc nhật ký có giá trị không hợp lệ; không sửa tay tệp "
            "này, hãy báo cho quản trị hệ thống.")
    return Anchor(seq=seq, hash=digest, first=first, at=at)


def anchors_read(path: Path) -> list[Anchor]:
    """Every anchor in the file, oldest first; none when the file does not exist yet. Torn
    lines (a writer killed mid-append) are left out; any other bad line is an error."""
    if not path.exists():
        return []
    parsed = (_parse(number, text) for number, text in
              enumerate(path.read_text(encoding="utf-8").split("\n"), start=1) if text.strip())
    return [anchor for anchor in parsed if anchor is not None]


def anchor_append(path: Path, anchor: Anchor) -> None:
    """Append one line and flush it to disk. A torn previous line gets its newline first, so
    the new anchor always starts a line of its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        prefix = ""
        if os.fstat(fd).st_size:
            with path.open("rb") as existing:
                existing.seek(-1, os.SEEK_END)
                prefix = "" if existing.read(1) == b"\n" else "\n"
        os.write(fd, f"{prefix}{anchor.line()}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def anchors_check(anchors: Iterable[Anchor], *, head_seq: int, first_hash: str | None,
                  hashes_at: Callable[[list[int]], Mapping[int, str]]) -> ChainBreak | None:
    """The first anchor the stored chain no longer agrees with (lowest seq), or None.

    ``hashes_at`` returns the stored hash of each given seq that still exists."""
    anchors = list(anchors)
    if not anchors:
        return None
    breaks: list[ChainBreak] = []
    for anchor in anchors:
        if first_hash is None or anchor.first != first_hash:
            breaks.append(ChainBreak(1, "mốc ngoài CSDL thuộc một chuỗi khác (cơ sở dữ liệu "
                                        "đã bị thay hoặc tạo lại)"))
            break
    present = hashes_at(sorted({a.seq for a in anchors if a.seq <= head_seq}))
    for anchor in anchors:
        if anchor.seq > head_seq:
            breaks.append(ChainBreak(head_seq + 1, f"các sự kiện đến số {anchor.seq} đã ghi mốc "
                                                   "ngoài CSDL nhưng bị xoá"))
        elif present.get(anchor.seq) != anchor.hash:
            breaks.append(ChainBreak(anchor.seq, "không khớp mốc ngoài CSDL (chuỗi bị viết lại)"))
    return min(breaks, key=lambda b: b.seq) if breaks else None
