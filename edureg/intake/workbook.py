"""Reading the Ministry's and the Department's export workbooks (.xlsx, .xls, .ods).

``read_workbook`` turns the bytes of an upload into a ``Workbook`` (``edureg.intake.source``):
the data sheet, its rows keyed by canonical field, and the problems met on the way; or raises
``WorkbookRefused`` when the file cannot be taken in at all. It never writes anything and keeps
no copy of the file.

How a workbook is read:

- The container is checked before any parser sees it: the magic bytes (zip for .xlsx/.ods, OLE
  for .xls; an OLE file holding ``EncryptionInfo``/``EncryptedPackage`` is a password-protected
  .xlsx), and for zip files every member is inflated once, in bounded chunks, to measure its
  real size (a zip bomb is refused whatever its headers claim) and, for .xlsx worksheets, to
  find formula cells without a cached value and error cells (calamine shows both as empty).
- calamine (python-calamine) reads the cells. The data sheet is the sheet whose header (found
  in its first ``HEADER_SCAN_ROWS`` rows, one row or two rows with merged group cells) names
  the most fields; columns are matched by normalised header text against
  ``data/headers.toml``.
- Rows below the header are read; blank rows, repeated headers (page breaks of concatenated
  exports), column-number rows, total rows and the signature block are skipped and counted.
- Values are stripped and NFC; dates, years, grades and digit strings are parsed per field, and
  a cell that cannot be read leaves ``None`` under its field with an ERROR ``Problem`` naming
  the sheet, row and column: the row stays in ``Workbook.rows`` so the dry run can show it.

Decisions:

- Merged cells in data rows (a class name merged down its block of rows) are filled down from
  their top-left cell, in that column only, where the format tells calamine about merged ranges
  (.xlsx, .xls). Where it does not (.ods), blank class cells under a class name are left blank
  and reported in one warning: guessing would put a pupil in the wrong class.
- Digits stored as numbers lose their leading zeros. A *number* cell is padded back when the
  expected length says so: personal ID numbers of 10 or 11 digits to 12 when the padded number
  starts with a known province code (every domestic number starts 0: 001–096), education ids
  to 10, mobiles of 9 digits starting 3/5/7/8/9 and fixed lines of 10 digits starting 2 get
  their 0. A *text* cell is never padded (it was typed that way; the checks downstream say what
  is wrong), except a 9-digit mobile. Each padding is reported once per column, not per row.
- A non-digit value in the education-id column with no temporary code beside it is a temporary
  code (schools write grade-1 pupils' temporary codes there): it moves to ``temporary_code``.
- A bare number in a date column is an Excel serial date (1900 date system), except 1900–2100,
  which is a year alone (a row error: the full date is needed).
- Formula cells are read by their cached value; one without (written by software that does not
  calculate) is a row error. Only .xlsx is checked: .xls and .ods always store the result.
- Footer rows are recognised only where the date-of-birth cell holds no date: a total row
  ("Tổng cộng", "Tổng số: 35"), a signature row ("Người lập biểu", "Hiệu trưởng", "(Ký, ghi rõ
  họ tên)", "…, ngày … tháng … năm …") whose name cell is empty or itself a marker, and every
  date-less row after a signature row (the signers' names).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import html
import io
import itertools
import re
import struct
import tomllib
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from importlib import resources
from types import MappingProxyType
from typing import Final

from django.utils import timezone
from django.utils.translation import gettext as _
from python_calamine import CalamineSheet, CalamineWorkbook, SheetTypeEnum

from edureg.core.codelists import legacy_province_for_id_prefix
from edureg.core.text import fold_diacritics
from edureg.intake.source import (
    FIELDS,
    REQUIRED_COLUMNS,
    Kind,
    Problem,
    Severity,
    SourceRow,
    Value,
    Workbook,
    WorkbookRefused,
)

__all__ = [
    "DEFAULT_MAX_ROWS",
    "HEADER_SCAN_ROWS",
    "MAX_CELL_CHARS",
    "MAX_COMPRESSION_RATIO",
    "MAX_UNCOMPRESSED_BYTES",
    "MAX_UPLOAD_BYTES",
    "MAX_ZIP_MEMBERS",
    "HeaderSet",
    "Template",
    "column_letter",
    "field_label",
    "header_key",
    "header_sets",
    "load_header_sets",
    "read_workbook",
]

# --- limits -------------------------------------------------------------------------------

MAX_UPLOAD_BYTES: Final = 20 * 1024 * 1024
# Zip containers (.xlsx, .ods): the sum of the members' real (inflated) sizes, and the ratio of
# one member's inflated to compressed size. A 50,000-pupil export inflates to ~100 MB at ~13×.
MAX_UNCOMPRESSED_BYTES: Final = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO: Final = 100
# Below this inflated size a member's ratio is not judged: small repetitive XML parts
# (styles, empty sheets) legitimately compress far better than 100× and cannot hurt.
RATIO_CHECK_FLOOR: Final = 1024 * 1024
MAX_ZIP_MEMBERS: Final = 10_000
DEFAULT_MAX_ROWS: Final = 100_000
# Longer cell values are refused (row error): no field edureg reads is near this long.
MAX_CELL_CHARS: Final = 2_000
# The header must be within the first rows of a sheet (exports put 2–8 title rows above it).
HEADER_SCAN_ROWS: Final = 30
# A sheet is a candidate data sheet only when its header names at least this many fields.
MIN_HEADER_FIELDS: Final = 2
# Share of a known template's header texts a file must carry to be reported as that template.
TEMPLATE_MATCH_SHARE: Final = 0.6
UNKNOWN_TEMPLATE: Final = "unknown"
# Rows quoted in one aggregated warning.
_ROWS_QUOTED: Final = 8
_INFLATE_CHUNK: Final = 1024 * 1024

# --- header data --------------------------------------------------------------------------

_NOT_WORD = re.compile(r"[\W_]+")
_PARENTHESISED = re.compile(r"\([^()]*\)")


@functools.lru_cache(maxsize=16_384)  # header texts recur across readings and sheets
def header_key(text: str) -> str:
    """Normalised header text: NFC, diacritics and case folded, punctuation dropped, spaces
    folded. ``"Ngày sinh\\n(dd/mm/yyyy)"`` → ``"ngay sinh dd mm yyyy"``."""
    folded = fold_diacritics(unicodedata.normalize("NFC", text)).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())


@functools.lru_cache(maxsize=4_096)
def _key_without_parentheses(text: str) -> str:
    return header_key(_PARENTHESISED.sub(" ", text))


@dataclasses.dataclass(frozen=True)
class Template:
    """One known export version: its header texts in file order (``"Group > Column"`` for a
    column under a merged group header)."""

    name: str
    headers: tuple[str, ...]
    sheet: str = ""
    title: str = ""

    @functools.cached_property
    def keys(self) -> frozenset[str]:
        return frozenset(header_key(text) for text in self.headers)


@dataclasses.dataclass(frozen=True)
class HeaderSet:
    kind: Kind
    labels: Mapping[str, str]  # field → Vietnamese column name
    aliases: Mapping[str, tuple[str, ...]]  # field → accepted header texts
    by_key: Mapping[str, str]  # normalised header text → field
    ignored: frozenset[str]  # normalised header texts known and not read
    templates: tuple[Template, ...]

    def template(self, name: str) -> Template:
        for template in self.templates:
            if template.name == name:
                return template
        raise KeyError(name)


class HeaderDataError(ValueError):
    """``headers.toml`` contradicts itself or the canonical fields."""


def load_header_sets(text: str) -> dict[Kind, HeaderSet]:
    """Parse and check header data: every field known, no header text meaning two fields, every
    template header either an alias or ignored."""
    data = tomllib.loads(text)
    result: dict[Kind, HeaderSet] = {}
    for kind in Kind:
        section = data.get(kind.value)
        if not isinstance(section, dict):
            raise HeaderDataError(f"headers.toml: no [{kind.value}] section")
        fields = section.get("fields", {})
        labels: dict[str, str] = {}
        aliases: dict[str, tuple[str, ...]] = {}
        by_key: dict[str, str] = {}
        for field, entry in fields.items():
            if field not in FIELDS[kind]:
                raise HeaderDataError(f"headers.toml: {kind.value}.{field} is not a field")
            labels[field] = str(entry["label"])
            texts = tuple(str(alias) for alias in entry["aliases"])
            aliases[field] = texts
            for alias in (entry["label"], *texts):
                key = header_key(alias)
                if by_key.setdefault(key, field) != field:
                    raise HeaderDataError(
                        f"headers.toml: {kind.value} header {alias!r} means both "
                        f"{by_key[key]} and {field}"
                    )
        missing = [field for field in FIELDS[kind] if field not in labels]
        if missing:
            raise HeaderDataError(f"headers.toml: {kind.value} fields without headers: {missing}")
        ignored = frozenset(header_key(str(item)) for item in section.get("ignored", ()))
        clash = ignored & by_key.keys()
        if clash:
            raise HeaderDataError(f"headers.toml: {kind.value} ignored texts are aliases: {clash}")
        templates = []
        for entry in section.get("templates", ()):
            template = Template(
                name=str(entry["name"]), headers=tuple(str(h) for h in entry["headers"]),
                sheet=str(entry.get("sheet", "")), title=str(entry.get("title", "")),
            )
            unknown = [h for h in template.headers
                       if not {header_key(h), _key_without_parentheses(h)} & (
                           by_key.keys() | ignored)]
            if unknown:
                raise HeaderDataError(
                    f"headers.toml: template {template.name} has unknown headers {unknown}"
                )
            templates.append(template)
        result[kind] = HeaderSet(
            kind=kind, labels=MappingProxyType(labels), aliases=MappingProxyType(aliases),
            by_key=MappingProxyType(by_key), ignored=ignored, templates=tuple(templates),
        )
    return result


@functools.cache
def header_sets() -> Mapping[Kind, HeaderSet]:
    text = resources.files("edureg.intake").joinpath("data/headers.toml").read_text("utf-8")
    return MappingProxyType(load_header_sets(text))


def field_label(kind: Kind, field: str) -> str:
    """The Vietnamese column name of a canonical field, for messages."""
    return header_sets()[kind].labels.get(field, field)


def column_letter(index: int) -> str:
    """0 → "A", 25 → "Z", 26 → "AA"."""
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _column_index(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + (ord(char) - 64)
    return number - 1


# --- field types --------------------------------------------------------------------------

_DATE_FIELDS: Final = frozenset({"date_of_birth", "status_date"})
_YEAR_FIELDS: Final = frozenset({"father_birth_year", "mother_birth_year"})
_GRADE_FIELDS: Final = frozenset({"grade"})
_PHONE_FIELDS: Final = frozenset({"phone", "father_phone", "mother_phone"})
# Digit strings whose length is known: a number cell shorter than this lost leading zeros.
# 12: personal identification number (Law 26/2023); 10: the education id as seen in exports
# (DOMAIN.md §2.2, evidence only, so it is a constant here to change in one place).
_ID_LENGTHS: Final = {"personal_id_number": 12, "education_id": 10}
# Text fields a spreadsheet may turn into numbers (codes): whole numbers are written back as
# digits, never as "123.0".
_CODE_FIELDS: Final = frozenset({"temporary_code"})
_TYPED_FIELDS: Final = (_DATE_FIELDS | _YEAR_FIELDS | _GRADE_FIELDS | _PHONE_FIELDS
                        | _ID_LENGTHS.keys() | _CODE_FIELDS)
_TEXT_CACHE_SIZE: Final = 200_000
_GRADE_RANGE: Final = range(0, 13)  # 0: pre-school groups
_EARLIEST_YEAR: Final = 1900
# Excel's serial day 0 in the 1900 date system (the 1900 leap-year bug is why it is the 30th).
_EXCEL_EPOCH: Final = dt.date(1899, 12, 30)
_MAX_EXCEL_SERIAL: Final = 2_958_465  # 31/12/9999
_PLAUSIBLE_SERIALS: Final = (1_000, _MAX_EXCEL_SERIAL)

_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_GRADE_TEXT = re.compile(r"(?:khoi |lop )?(\d{1,2})")
_SCIENTIFIC = re.compile(r"\d(?:[.,]\d+)?[eE]\+?\d+")
_DIGITS = re.compile(r"\d+")
_MOBILE_WITHOUT_ZERO = re.compile(r"[35789]\d{8}")
_FIXED_WITHOUT_ZERO = re.compile(r"2\d{9}")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f"))

# --- structural rows ----------------------------------------------------------------------

_SIGNATURE_KEYS: Final = frozenset({
    "nguoi lap bieu", "nguoi lap", "nguoi lap danh sach", "nguoi lap bang", "nguoi kiem tra",
    "hieu truong", "pho hieu truong", "kt hieu truong", "tl hieu truong", "q hieu truong",
    "ky ghi ro ho ten", "ky va ghi ro ho ten", "ky ghi ro ho ten dong dau", "ky ten dong dau",
    "ky ho ten", "ky ten", "giao vien chu nhiem", "thu truong don vi", "thu truong co quan",
    "xac nhan cua nha truong", "xac nhan cua hieu truong", "ke toan", "van thu",
})
_DATE_LINE = re.compile(r"\bngay\b.*\bthang\b.*\bnam\b")
_TOTAL = re.compile(r"(?:tong cong|tong so)\b.*|(?:tong|cong)(?: \d.*)?")
_COLUMN_NUMBER = re.compile(r"\(?(\d{1,3})\)?")


def _is_footer_text(key: str) -> tuple[bool, bool]:
    """(is a footer marker, is a signature marker) for a normalised cell text."""
    if key in _SIGNATURE_KEYS or _DATE_LINE.search(key):
        return True, True
    if _TOTAL.fullmatch(key):
        return True, False
    return False, False


# --- the container ------------------------------------------------------------------------

_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EMPTY_ZIP_MAGIC: Final = b"PK\x05\x06"


@dataclasses.dataclass
class _CellIssues:
    """Cells calamine reads as empty that are not: uncached formulas and error values, by
    (row, column), both 0-based."""

    uncached: set[tuple[int, int]] = dataclasses.field(default_factory=set)
    errors: dict[tuple[int, int], str] = dataclasses.field(default_factory=dict)


_SHEET_CELL_CAP: Final = 200_000  # issue cells remembered per sheet


def _refuse(message: str, *, field: str | None = None) -> WorkbookRefused:
    return WorkbookRefused(message, field=field)


def _not_a_workbook(data: bytes, filename: str) -> WorkbookRefused:
    head = data[:512].lstrip().lower()
    save_as = _("Hãy mở tệp bằng Excel, chọn Lưu thành (Save As) → Excel Workbook (.xlsx), rồi "
                "tải tệp .xlsx lên.")
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"<meta")):
        what = _("một trang HTML/XML được đặt đuôi Excel (một số phần mềm xuất kiểu này)")
    elif head.startswith(b"%pdf"):
        what = _("một tệp PDF")
        save_as = _("Hãy xuất lại danh sách dưới dạng Excel (.xlsx) rồi tải lên.")
    elif b"\x00" not in data[:4096]:
        what = _("một tệp văn bản (có thể là CSV)")
    else:
        what = _("không phải bảng tính Excel")
    name = f"«{filename}» " if filename else ""
    return _refuse(
        _("Tệp %(name)slà %(what)s, không phải tệp Excel (.xlsx, .xls) hay .ods. %(save_as)s")
        % {"name": name, "what": what, "save_as": save_as}
    )


def _corrupt(filename: str) -> WorkbookRefused:
    name = f"«{filename}» " if filename else ""
    return _refuse(
        _("Tệp %(name)sbị hỏng hoặc chưa tải lên hết nên không đọc được. Hãy mở thử bằng Excel; "
          "nếu mở được thì Lưu thành (Save As) một tệp .xlsx mới rồi tải lên lại, nếu không thì "
          "xuất lại danh sách từ phần mềm gốc.") % {"name": name}
    )


def _password_protected() -> WorkbookRefused:
    return _refuse(
        _("Tệp có mật khẩu, hãy bỏ mật khẩu rồi tải lại (trong Excel: Tệp → Thông tin → Bảo vệ "
          "sổ làm việc → Mã hóa bằng mật khẩu, xoá mật khẩu rồi lưu).")
    )


def _too_big_unpacked() -> WorkbookRefused:
    return _refuse(
        _("Tệp nén chứa dữ liệu lớn bất thường (khi giải nén vượt %(limit)s MB hoặc nén hơn "
          "%(ratio)s lần) nên không được đọc. Hãy xuất lại danh sách từ phần mềm gốc, hoặc "
          "tách theo lớp/khối rồi tải lên từng tệp.")
        % {"limit": MAX_UNCOMPRESSED_BYTES // (1024 * 1024), "ratio": MAX_COMPRESSION_RATIO}
    )


def _sniff(data: bytes, filename: str) -> str:
    if data.startswith(_ZIP_MAGIC):
        return "zip"
    if data.startswith(_OLE_MAGIC):
        return "ole"
    if data.startswith(_EMPTY_ZIP_MAGIC):
        raise _corrupt(filename)
    raise _not_a_workbook(data, filename)


def _ole_has_entry(data: bytes, name: str) -> bool:
    """Whether the OLE compound file has a directory entry called ``name``.

    Directory entries are 128-byte records aligned on 128 bytes (sectors are 512 or 4096
    bytes): the name in UTF-16LE with its terminating NUL, then at offset 64 the name's length
    in bytes including that NUL, then the object type (1 storage, 2 stream, 5 root). A hit must
    sit at such a boundary and carry the matching length and a valid type, so the same text
    inside cell data does not count.
    """
    encoded = name.encode("utf-16-le") + b"\x00\x00"
    length = len(encoded)
    position = data.find(encoded, 512)
    while position != -1:
        if position % 128 == 0 and position + 67 <= len(data):
            (declared,) = struct.unpack_from("<H", data, position + 64)
            if declared == length and data[position + 66] in (1, 2, 5):
                return True
        position = data.find(encoded, position + 1)
    return False


def _inspect_ole(data: bytes, filename: str) -> None:
    if _ole_has_entry(data, "EncryptedPackage") or _ole_has_entry(data, "EncryptionInfo"):
        raise _password_protected()
    if _ole_has_entry(data, "Workbook") or _ole_has_entry(data, "Book"):
        return
    if _ole_has_entry(data, "WordDocument"):
        raise _refuse(_("Tệp là văn bản Word (.doc), không phải bảng tính Excel. Hãy tải lên "
                        "danh sách xuất ra dạng Excel."))
    raise _not_a_workbook(data, filename)


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def _member_data(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """The compressed bytes of one member, located through its local header."""
    offset = info.header_offset
    if offset + _LOCAL_HEADER.size > len(data):
        raise zipfile.BadZipFile("local header outside the file")
    fields = _LOCAL_HEADER.unpack_from(data, offset)
    if fields[0] != _ZIP_MAGIC:
        raise zipfile.BadZipFile("bad local header")
    start = offset + _LOCAL_HEADER.size + fields[9] + fields[10]
    end = start + info.compress_size
    if end > len(data):
        raise zipfile.BadZipFile("member outside the file")
    return memoryview(data)[start:end]


def _inflate(data: bytes, info: zipfile.ZipInfo, budget: int) -> Iterator[bytes]:
    """The member's bytes in chunks, never more than ``budget`` bytes in all (then the bomb
    refusal); checks the real size and CRC against the central directory."""
    raw = _member_data(data, info)
    crc = 0
    produced = 0
    if info.compress_type == zipfile.ZIP_STORED:
        chunks: Iterable[bytes] = (bytes(raw[i:i + _INFLATE_CHUNK])
                                   for i in range(0, len(raw), _INFLATE_CHUNK))
        for chunk in chunks:
            produced += len(chunk)
            if produced > budget:
                raise _too_big_unpacked()
            crc = zlib.crc32(chunk, crc)
            yield chunk
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        inflater = zlib.decompressobj(-15)
        position = 0
        pending = b""
        while True:
            if not pending:
                if position >= len(raw):
                    break
                pending = bytes(raw[position:position + _INFLATE_CHUNK])
                position += _INFLATE_CHUNK
            try:
                chunk = inflater.decompress(pending, _INFLATE_CHUNK)
            except zlib.error as error:
                raise zipfile.BadZipFile(str(error)) from error
            pending = inflater.unconsumed_tail
            if chunk:
                produced += len(chunk)
                if produced > budget:
                    raise _too_big_unpacked()
                if produced > info.file_size:
                    raise zipfile.BadZipFile("more data than the headers declare")
                crc = zlib.crc32(chunk, crc)
                yield chunk
            if inflater.eof:
                break
        tail = inflater.flush()
        if tail:
            produced += len(tail)
            if produced > budget:
                raise _too_big_unpacked()
            crc = zlib.crc32(tail, crc)
            yield tail
    else:
        raise zipfile.BadZipFile(f"compression method {info.compress_type}")
    if produced != info.file_size or crc != info.CRC:
        raise zipfile.BadZipFile("size or CRC mismatch")


_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/>|>(.*?)</(?:\w+:)?c>)", re.DOTALL)
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_REFERENCE = re.compile(rb'\sr="([A-Z]{1,3})(\d{1,7})"')
_ERROR_TYPE = re.compile(rb'\st="e"')
_ROW_END = re.compile(rb"</(?:\w+:)?row>")


def _scan_cells(segment: bytes, issues: _CellIssues) -> None:
    """Record uncached formulas and error cells of a run of whole ``<row>`` elements.

    Most exports hold neither: two substring searches decide that without a regex pass.
    """
    if b'<f' not in segment and b':f' not in segment and b't="e"' not in segment:
        return
    for match in _CELL.finditer(segment):
        attributes, body = match.group(1), match.group(3) or b""
        is_error = _ERROR_TYPE.search(attributes) is not None
        if not is_error and _FORMULA.search(body) is None:
            continue
        reference = _REFERENCE.search(attributes)
        if reference is None:
            continue  # a cell without "r" (allowed, rare): its place is unknown
        if len(issues.uncached) + len(issues.errors) >= _SHEET_CELL_CAP:
            return
        position = (int(reference.group(2)) - 1, _column_index(reference.group(1).decode()))
        value = _VALUE.search(body)
        if is_error:
            issues.errors[position] = (value.group(1).decode("utf-8", "replace")[:20]
                                       if value else "#?")
        elif value is None or (not value.group(1) and b't="str"' not in attributes):
            # Excel writes a formula's empty-text result as t="str" with an empty <v>; without
            # that type an empty or missing <v> means nothing was ever calculated.
            issues.uncached.add(position)


def _scan_worksheet(chunks: Iterable[bytes]) -> _CellIssues:
    issues = _CellIssues()
    carry = b""
    for chunk in chunks:
        buffer = carry + chunk
        last = None
        for match in _ROW_END.finditer(buffer, max(0, len(buffer) - len(chunk) - 16)):
            last = match
        if last is None:
            carry = buffer
            if len(carry) > 8 * _INFLATE_CHUNK:
                _scan_cells(carry, issues)
                carry = b""
            continue
        _scan_cells(buffer[:last.end()], issues)
        carry = buffer[last.end():]
    if carry:
        _scan_cells(carry, issues)
    return issues


_XML_ATTRIBUTE = re.compile(rb'([\w:]+)="([^"]*)"')
_SHEET_ELEMENT = re.compile(rb"<(?:\w+:)?sheet\s([^>]*)>")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\s([^>]*)>")


def _attributes(text: bytes) -> dict[str, str]:
    return {name.decode(): html.unescape(value.decode("utf-8", "replace"))
            for name, value in _XML_ATTRIBUTE.findall(text)}


def _xlsx_sheet_parts(archive: zipfile.ZipFile, names: set[str]) -> dict[str, str]:
    """Worksheet part (zip member) → sheet name, from workbook.xml and its relationships."""
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return {}
    workbook = archive.read("xl/workbook.xml")
    relations = archive.read("xl/_rels/workbook.xml.rels")
    targets: dict[str, str] = {}
    for match in _RELATIONSHIP.finditer(relations):
        attributes = _attributes(match.group(1))
        target = attributes.get("Target", "")
        if target.startswith("/"):
            part = target[1:]
        else:
            parts: list[str] = ["xl"]
            for piece in target.split("/"):
                if piece == "..":
                    if parts:
                        parts.pop()
                elif piece and piece != ".":
                    parts.append(piece)
            part = "/".join(parts)
        targets[attributes.get("Id", "")] = part
    result: dict[str, str] = {}
    for match in _SHEET_ELEMENT.finditer(workbook):
        attributes = _attributes(match.group(1))
        relation = next((value for key, value in attributes.items()
                         if key.endswith(":id") or key == "id"), "")
        if relation in targets and "name" in attributes:
            result[targets[relation]] = attributes["name"]
    return result


def _inspect_zip(data: bytes, filename: str) -> dict[str, _CellIssues]:
    """Check a zip container; return the cell issues of each .xlsx worksheet by sheet name."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise _corrupt(filename) from error
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise _too_big_unpacked()
        names = {info.filename for info in infos}
        if any(info.flag_bits & 0x1 for info in infos):
            raise _password_protected()
        declared = sum(info.file_size for info in infos)
        if declared > MAX_UNCOMPRESSED_BYTES:
            raise _too_big_unpacked()
        for info in infos:
            if (info.file_size > RATIO_CHECK_FLOOR
                    and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1)):
                raise _too_big_unpacked()
        is_excel = "xl/workbook.xml" in names or "xl/workbook.bin" in names
        is_ods = "content.xml" in names and _ods_mimetype(archive, names)
        if not (is_excel or is_ods):
            if "word/document.xml" in names:
                raise _refuse(_("Tệp là văn bản Word (.docx), không phải bảng tính Excel. Hãy "
                                "tải lên danh sách xuất ra dạng Excel (.xlsx)."))
            raise _not_a_workbook(b"\x00", filename)
        sheet_parts = _xlsx_sheet_parts(archive, names) if is_excel else {}
        issues: dict[str, _CellIssues] = {}
        budget = MAX_UNCOMPRESSED_BYTES
        try:
            for info in infos:
                if info.is_dir():
                    continue
                chunks = _inflate(data, info, budget)
                if info.filename in sheet_parts:
                    issues[sheet_parts[info.filename]] = _scan_worksheet(chunks)
                else:
                    for _chunk in chunks:
                        pass
                budget -= info.file_size
        except (zipfile.BadZipFile, ValueError, struct.error) as error:
            raise _corrupt(filename) from error
    return issues


def _ods_mimetype(archive: zipfile.ZipFile, names: set[str]) -> bool:
    if "mimetype" not in names:
        return True
    info = archive.getinfo("mimetype")
    if info.file_size > 200:
        return False
    return archive.read(info).startswith(b"application/vnd.oasis.opendocument.spreadsheet")


# --- opening with calamine ----------------------------------------------------------------

# What calamine gives for a cell ("" for an empty one).
Cell = int | float | str | bool | dt.time | dt.date | dt.datetime | dt.timedelta


def _is_calamine_failure(error: BaseException) -> bool:
    # A Rust panic inside calamine reaches Python as pyo3's PanicException, which derives from
    # BaseException; it means "this file breaks the parser", never an interrupt.
    return isinstance(error, Exception) or type(error).__name__ == "PanicException"


def _open(data: bytes, filename: str) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except BaseException as error:
        if not _is_calamine_failure(error):
            raise
        if type(error).__name__ == "PasswordError":
            raise _password_protected() from error
        raise _corrupt(filename) from error


# --- the header ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Header:
    """One reading of a sheet's header: rows ``first_row``..``last_row`` (0-based)."""

    first_row: int
    last_row: int
    texts: dict[int, str]  # column → header text as displayed ("Group > Column")
    keys: dict[int, frozenset[str]]  # column → normalised texts a repeated header row shows
    fields: dict[str, int]  # field → column
    duplicates: dict[str, list[int]]  # field → columns (more than one)
    ignored: set[int]
    unknown: list[int]

    @property
    def score(self) -> int:
        return len(self.fields) + len(self.duplicates)


def _text(cell: Cell) -> str:
    if isinstance(cell, str):
        return " ".join(unicodedata.normalize("NFC", cell).split())
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, int | float):
        return str(cell)
    return ""


def _match_header(headers: HeaderSet, candidates: dict[int, tuple[list[str], list[str]]]
                  ) -> tuple[dict[str, list[int]], set[int]]:
    """Columns → fields: first by the primary texts, then (for columns still unmatched, and only
    fields no primary text took) by the fallbacks; a field two fallbacks want goes to neither."""
    by_field: dict[str, list[int]] = {}
    ignored: set[int] = set()
    fallback_wanted: dict[str, list[int]] = {}
    for column, (primary, _fallback) in candidates.items():
        for text in primary:
            key = header_key(text)
            field = headers.by_key.get(key)
            if field is not None:
                by_field.setdefault(field, []).append(column)
                break
            if key in headers.ignored:
                ignored.add(column)
                break
    matched = {column for columns in by_field.values() for column in columns} | ignored
    for column, (_primary, fallback) in candidates.items():
        if column in matched:
            continue
        for text in fallback:
            key = _key_without_parentheses(text)
            field = headers.by_key.get(key)
            if field is not None and field not in by_field:
                fallback_wanted.setdefault(field, []).append(column)
                break
            if key in headers.ignored:
                ignored.add(column)
                break
    for field, columns in fallback_wanted.items():
        if len(columns) == 1:
            by_field[field] = columns
    return by_field, ignored


def _read_header(headers: HeaderSet, head: Sequence[Sequence[Cell]], row: int, *,
                 two_rows: bool, offset: int,
                 merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] | None) -> _Header:
    top = [_text(cell) for cell in head[row]]
    bottom = [_text(cell) for cell in head[row + 1]] if two_rows else []
    width = max(len(top), len(bottom))
    top += [""] * (width - len(top))
    bottom += [""] * (width - len(bottom))
    if two_rows:
        if merged is not None:
            # A group cell merged across columns holds its text in the top-left cell only.
            for (first_row, first_col), (_last_row, last_col) in merged:
                if first_row == row and last_col > first_col:
                    source = first_col - offset
                    if 0 <= source < width:
                        for column in range(max(source + 1, 0), min(last_col - offset + 1, width)):
                            if not top[column]:
                                top[column] = top[source]
        # Groups not merged (.ods, where calamine has no merge information, or Excel's "centre
        # across selection"): a group's text carries right over empty cells whose lower cell
        # has text, as long as the group's own column has a lower text.
        group = ""
        for column in range(width):
            if top[column]:
                group = top[column] if bottom[column] else ""
            elif bottom[column] and group:
                top[column] = group
    candidates: dict[int, tuple[list[str], list[str]]] = {}
    texts: dict[int, str] = {}
    keys: dict[int, frozenset[str]] = {}
    for column in range(width):
        upper, lower = top[column], bottom[column]
        if not upper and not lower:
            continue
        if not lower or upper == lower:
            shown = upper
            primary, fallback = [upper], [upper]
        elif not upper:
            shown = lower
            primary, fallback = [lower], [lower]
        else:
            shown = f"{upper} > {lower}"
            primary, fallback = [shown], [shown, lower]
        absolute = column + offset
        candidates[absolute] = (primary, fallback)
        texts[absolute] = shown
        keys[absolute] = frozenset(
            key for key in (header_key(upper), header_key(lower), header_key(shown)) if key
        )
    by_field, ignored = _match_header(headers, candidates)
    fields = {field: columns[0] for field, columns in by_field.items() if len(columns) == 1}
    duplicates = {field: columns for field, columns in by_field.items() if len(columns) > 1}
    used = {column for columns in by_field.values() for column in columns} | ignored
    unknown = [column for column in candidates if column not in used]
    return _Header(first_row=row, last_row=row + 1 if two_rows else row, texts=texts,
                   keys=keys, fields=fields, duplicates=duplicates, ignored=ignored,
                   unknown=unknown)


def _find_header(headers: HeaderSet, head: Sequence[Sequence[Cell]], *, offset: int,
                 merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] | None
                 ) -> _Header | None:
    best: _Header | None = None
    known = headers.by_key.keys() | headers.ignored

    def names_a_column(row: int) -> bool:
        return row < len(head) and any(
            isinstance(cell, str) and (header_key(cell) in known
                                       or _key_without_parentheses(cell) in known)
            for cell in head[row])

    for row in range(min(len(head), HEADER_SCAN_ROWS)):
        if sum(1 for cell in head[row] if isinstance(cell, str) and cell.strip()) < 2:
            continue
        # A header row names at least one column by itself, or (a group row) its lower row does.
        if not (names_a_column(row) or names_a_column(row + 1)):
            continue
        readings = [_read_header(headers, head, row, two_rows=False, offset=offset,
                                 merged=merged)]
        if row + 1 < len(head):
            readings.append(_read_header(headers, head, row, two_rows=True, offset=offset,
                                         merged=merged))
        for reading in readings:
            if best is None or reading.score > best.score:
                best = reading
    if best is None or best.score < MIN_HEADER_FIELDS:
        return None
    return best


def _detect_template(headers: HeaderSet, header: _Header) -> str:
    file_keys = {header_key(text) for text in header.texts.values()}
    best_name, best_share = UNKNOWN_TEMPLATE, 0.0
    for template in headers.templates:
        union = len(template.keys | file_keys)
        share = len(template.keys & file_keys) / union if union else 0.0
        if share > best_share:
            best_name, best_share = template.name, share
    return best_name if best_share >= TEMPLATE_MATCH_SHARE else UNKNOWN_TEMPLATE


# --- values -------------------------------------------------------------------------------


class _CellError(Exception):
    """A cell that cannot be read; becomes a row error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass
class _Notes:
    """Changes worth one warning per column, not one per row."""

    rows: dict[tuple[str, str], list[int]] = dataclasses.field(default_factory=dict)

    def add(self, note: str, field: str, row: int) -> None:
        self.rows.setdefault((note, field), []).append(row)


def _clean_text(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    if not text.isprintable() or "  " in text:
        text = " ".join(text.translate(_ZERO_WIDTH).split())
        for char in text:
            if unicodedata.category(char) in ("Cc", "Cs"):
                raise _CellError(_("Ô có ký tự điều khiển không hợp lệ; hãy gõ lại giá trị bằng "
                                   "bàn phím."))
        if not text:
            return None
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if len(text) > MAX_CELL_CHARS:
        raise _CellError(_("Ô dài %(length)s ký tự, quá %(limit)s ký tự; hãy kiểm tra lại giá "
                           "trị.") % {"length": len(text), "limit": MAX_CELL_CHARS})
    return text


def _reject_odd(value: object) -> None:
    if isinstance(value, bool):
        raise _CellError(_("Ô chứa giá trị đúng/sai (TRUE/FALSE); hãy nhập đúng nội dung của "
                           "cột."))
    if isinstance(value, dt.time | dt.timedelta):
        raise _CellError(_("Ô chứa giờ hoặc khoảng thời gian; hãy nhập đúng nội dung của cột."))


def _number_text(value: float | int) -> str:
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def _as_text(value: Cell) -> str | None:
    if type(value) is str:
        return _clean_text(value)
    _reject_odd(value)
    if isinstance(value, float | int):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%d/%m/%Y %H:%M") if value.time() else value.strftime("%d/%m/%Y")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return _clean_text(str(value))


def _checked_date(year: int, month: int, day: int, shown: str, today: dt.date) -> dt.date:
    try:
        value = dt.date(year, month, day)
    except ValueError:
        raise _CellError(
            _("Ngày «%(value)s» không có thật; hãy sửa theo giấy tờ gốc, dạng dd/mm/yyyy (ví dụ "
              "05/09/2015).") % {"value": shown}
        ) from None
    return _date_in_range(value, today)


def _date_in_range(value: dt.date, today: dt.date) -> dt.date:
    if value > today:
        raise _CellError(
            _("Ngày %(value)s ở tương lai; hãy sửa lại theo giấy tờ gốc.")
            % {"value": value.strftime("%d/%m/%Y")}
        )
    if value.year < _EARLIEST_YEAR:
        raise _CellError(
            _("Ngày %(value)s quá xa (trước năm %(year)s); hãy kiểm tra lại.")
            % {"value": value.strftime("%d/%m/%Y"), "year": _EARLIEST_YEAR}
        )
    return value


def _serial_date(serial: float, today: dt.date) -> dt.date:
    if 1900 <= serial <= 2100 and float(serial).is_integer():
        raise _CellError(
            _("«%(value)s» chỉ là năm; cột này cần ngày đầy đủ dd/mm/yyyy (ví dụ 05/09/2015).")
            % {"value": int(serial)}
        )
    if not 1 <= serial <= _MAX_EXCEL_SERIAL:
        raise _CellError(
            _("«%(value)s» không phải ngày; hãy ghi ngày dạng dd/mm/yyyy (ví dụ 05/09/2015).")
            % {"value": _number_text(serial)}
        )
    return _date_in_range(_EXCEL_EPOCH + dt.timedelta(days=int(serial)), today)


def _as_date(value: Cell, today: dt.date) -> dt.date | None:
    if isinstance(value, str):
        text = _clean_text(value)
        if text is None:
            return None
        match = _DMY.fullmatch(text)
        if match:
            day, month, year = (int(part) for part in match.groups())
            return _checked_date(year, month, day, text, today)
        match = _YMD.fullmatch(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            return _checked_date(year, month, day, text, today)
        raise _CellError(
            _("«%(value)s» không phải ngày hợp lệ; hãy ghi dạng dd/mm/yyyy (ví dụ 05/09/2015).")
            % {"value": text[:40]}
        )
    _reject_odd(value)
    if isinstance(value, dt.datetime):
        return _date_in_range(value.date(), today)
    if isinstance(value, dt.date):
        return _date_in_range(value, today)
    if isinstance(value, float | int):
        return _serial_date(float(value), today)
    raise _CellError(_("Ô không phải ngày; hãy ghi dạng dd/mm/yyyy."))


def _as_year(value: Cell, today: dt.date) -> int | None:
    year: int | None = None
    if isinstance(value, str):
        text = _clean_text(value)
        if text is None:
            return None
        if _DIGITS.fullmatch(text) and len(text) == 4:
            year = int(text)
        else:
            try:
                parsed = _as_date(text, today)
            except _CellError:
                parsed = None
            if parsed is None:
                raise _CellError(_("«%(value)s» không phải năm sinh; hãy ghi 4 chữ số, ví dụ "
                                   "1985.") % {"value": text[:40]})
            year = parsed.year
    else:
        _reject_odd(value)
        if isinstance(value, dt.date):
            year = value.year
        elif isinstance(value, float | int) and float(value).is_integer():
            year = int(value)
        else:
            raise _CellError(_("«%(value)s» không phải năm sinh; hãy ghi 4 chữ số, ví dụ 1985.")
                             % {"value": value})
    if not _EARLIEST_YEAR <= year <= today.year:
        raise _CellError(_("Năm sinh %(value)s không hợp lý; hãy kiểm tra lại.")
                         % {"value": year})
    return year


def _as_grade(value: Cell) -> int | None:
    grade: int | None = None
    if isinstance(value, str):
        text = _clean_text(value)
        if text is None:
            return None
        match = _GRADE_TEXT.fullmatch(header_key(text))
        if match:
            grade = int(match.group(1))
    else:
        _reject_odd(value)
        if isinstance(value, float | int) and float(value).is_integer():
            grade = int(value)
    if grade is None or grade not in _GRADE_RANGE:
        raise _CellError(_("«%(value)s» không phải khối lớp (0–12); hãy ghi số khối, ví dụ 6.")
                         % {"value": _as_text(value) if not isinstance(value, bool) else value})
    return grade


@functools.lru_cache(maxsize=1024)
def _is_province_prefix(prefix: str) -> bool:
    return legacy_province_for_id_prefix(prefix) is not None


def _digits_from_number(value: float | int) -> str:
    if isinstance(value, float) and not value.is_integer():
        raise _CellError(_("«%(value)s» không phải dãy chữ số; hãy định dạng cột là Văn bản "
                           "(Text) rồi nhập lại.") % {"value": repr(value)})
    if value < 0:
        raise _CellError(_("«%(value)s» không phải dãy chữ số.") % {"value": _number_text(value)})
    return str(int(value))


def _as_digits(value: Cell, field: str, row: int, notes: _Notes) -> str | None:
    """ID numbers, codes and phones: always text; number cells get their lost zeros back."""
    if type(value) is str:
        if value.isdigit() and value.isascii():
            if field in _PHONE_FIELDS and _MOBILE_WITHOUT_ZERO.fullmatch(value):
                notes.add("phone_zero", field, row)
                return "0" + value
            return value
        text = _clean_text(value)
        if text is None:
            return None
        text = text.lstrip("'")
        if _SCIENTIFIC.fullmatch(text):
            raise _CellError(
                _("«%(value)s» là số đã bị Excel rút gọn dạng khoa học nên mất chữ số; hãy định "
                  "dạng cột là Văn bản (Text) rồi nhập lại số đầy đủ.") % {"value": text}
            )
        if field in _PHONE_FIELDS and _MOBILE_WITHOUT_ZERO.fullmatch(text):
            notes.add("phone_zero", field, row)
            return "0" + text
        return text or None
    _reject_odd(value)
    if isinstance(value, float | int):
        digits = _digits_from_number(value)
        if field in _PHONE_FIELDS:
            if _MOBILE_WITHOUT_ZERO.fullmatch(digits) or _FIXED_WITHOUT_ZERO.fullmatch(digits):
                notes.add("phone_zero", field, row)
                return "0" + digits
            return digits
        expected = _ID_LENGTHS.get(field)
        if expected is not None and len(digits) < expected:
            padded = digits.zfill(expected)
            # Every domestic personal ID starts 0 (province codes 001–096): a number cell drops
            # one or two zeros. Pad only when what we get back is a known province prefix.
            if field == "personal_id_number" and (
                    len(digits) < expected - 2
                    or not _is_province_prefix(padded[:3])):
                return digits
            notes.add("id_zero", field, row)
            return padded
        return digits
    if isinstance(value, dt.date):
        raise _CellError(_("Ô là ngày tháng, không phải dãy chữ số; hãy định dạng cột là Văn bản "
                           "(Text) rồi nhập lại."))
    return _clean_text(str(value))


def _text_converter(value: Cell, _row: int) -> str | None:
    return _as_text(value)


def _as_code(value: Cell) -> str | None:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return _digits_from_number(value)
    return _as_text(value)


# --- rows ---------------------------------------------------------------------------------


def _looks_like_date(cell: Cell) -> bool:
    """Whether a date-of-birth cell holds something meant as a date (so the row is data)."""
    kind = type(cell)
    if kind is str:
        text = cell.strip()  # type: ignore[union-attr]
        return bool(_DMY.fullmatch(text) or _YMD.fullmatch(text))
    if kind is bool:
        return False
    if kind is float or kind is int:
        # Counts in a total row are small numbers; serial dates of living people are not.
        return _PLAUSIBLE_SERIALS[0] <= cell <= _PLAUSIBLE_SERIALS[1]  # type: ignore[operator]
    return isinstance(cell, dt.date)


def _is_column_numbers(cells: Sequence[Cell]) -> bool:
    numbers: list[int] = []
    for cell in cells:
        if cell == "" or cell is None:
            continue
        if isinstance(cell, bool):
            return False
        if isinstance(cell, float | int) and float(cell).is_integer():
            numbers.append(int(cell))
        elif isinstance(cell, str):
            match = _COLUMN_NUMBER.fullmatch(cell.strip())
            if not match:
                return False
            numbers.append(int(match.group(1)))
        else:
            return False
    return len(numbers) >= 3 and all(b == a + 1 for a, b in itertools.pairwise(numbers))


@dataclasses.dataclass
class _SheetRead:
    rows: list[SourceRow]
    problems: list[Problem]
    skipped: int


class _Reader:
    def __init__(self, *, headers: HeaderSet, header: _Header, sheet_name: str,
                 offset: int, issues: _CellIssues | None,
                 merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] | None,
                 max_rows: int, today: dt.date) -> None:
        self.headers = headers
        # Only pupils have temporary codes: a staff export's code column is read as it is.
        self.temporary_codes = headers.kind is Kind.STUDENT
        self.header = header
        self.sheet = sheet_name
        self.offset = offset
        self.issues = issues or _CellIssues()
        self.max_rows = max_rows
        self.today = today
        self.notes = _Notes()
        self.problems: list[Problem] = []
        self.fields = sorted(header.fields.items(), key=lambda item: item[1])
        self.converters = [(field, column - offset, column, self.converter(field),
                            field not in _TYPED_FIELDS)
                           for field, column in self.fields]
        # Text cells repeat a lot (class, sex, ethnicity, status, places, occupations): each
        # distinct text is cleaned once.
        self.text_cache: dict[str, str] = {}
        self.letters = {field: column_letter(column) for field, column in self.fields}
        self.base_columns = MappingProxyType(dict(self.letters))
        self.dob_column = header.fields.get("date_of_birth")
        self.name_column = header.fields.get("full_name")
        self.class_column = header.fields.get("class_name")
        # Fill-down of vertically merged data cells, by first row: column → last row.
        self.merged_down: dict[int, list[tuple[int, int]]] = {}
        self.has_merge_info = merged is not None
        for (first_row, first_col), (last_row, _last_col) in merged or ():
            if first_row > header.last_row and last_row > first_row:
                self.merged_down.setdefault(first_row, []).append((first_col, last_row))
        self.filling: dict[int, tuple[int, Cell]] = {}
        self.header_keys = {column: keys for column, keys in header.keys.items() if keys}
        self.has_issues = bool(self.issues.uncached or self.issues.errors)

    def cell(self, raw: Sequence[Cell], column: int) -> Cell:
        index = column - self.offset
        return raw[index] if 0 <= index < len(raw) else ""

    def is_repeated_header(self, raw: Sequence[Cell]) -> bool:
        matches = 0
        filled = 0
        for index, cell in enumerate(raw):
            if cell == "":
                continue
            filled += 1
            keys = self.header_keys.get(index + self.offset)
            if keys and isinstance(cell, str) and header_key(cell) in keys:
                matches += 1
        return matches >= 2 and matches * 2 >= filled

    def footer(self, raw: Sequence[Cell]) -> tuple[bool, bool]:
        """(is a footer row, is a signature row)."""
        found = signature = False
        for cell in raw:
            if isinstance(cell, str) and cell.strip():
                is_footer, is_signature = _is_footer_text(header_key(cell))
                found = found or is_footer
                signature = signature or is_signature
        if not found:
            return False, False
        if self.name_column is not None:
            name = self.cell(raw, self.name_column)
            if isinstance(name, str) and name.strip() and not _is_footer_text(header_key(name))[0]:
                return False, False
        return True, signature

    def read(self, rows: Iterable[tuple[int, Sequence[Cell]]]) -> _SheetRead:
        result: list[SourceRow] = []
        skipped = 0
        after_signature = False
        dob_index = -1 if self.dob_column is None else self.dob_column - self.offset
        last_class: Cell = ""
        class_gaps: list[int] = []
        for row_index, raw in rows:
            if self.merged_down:
                raw = self.fill_merged(row_index, raw)
            if not any(raw):  # "", 0 and False only: nothing a row of data would hold
                skipped += 1
                continue
            dob = raw[dob_index] if 0 <= dob_index < len(raw) else ""
            if not _looks_like_date(dob):
                if self.is_repeated_header(raw) or _is_column_numbers(raw):
                    skipped += 1
                    continue
                is_footer, is_signature = self.footer(raw)
                if is_footer or after_signature:
                    skipped += 1
                    after_signature = after_signature or is_signature
                    continue
            if len(result) >= self.max_rows:
                raise _refuse(
                    _("Tệp có hơn %(limit)s dòng dữ liệu, hãy tách theo lớp/khối rồi tải lên "
                      "từng tệp.") % {"limit": f"{self.max_rows:,}".replace(",", ".")}
                )
            excel_row = row_index + 1
            if self.class_column is not None and not self.has_merge_info:
                current = self.cell(raw, self.class_column)
                if current == "" and last_class != "":
                    class_gaps.append(excel_row)
                elif current != "":
                    last_class = current
            result.append(self.convert(raw, row_index, excel_row))
        if class_gaps:
            self.problems.append(self.warning(
                _("Cột %(column)s (Lớp) trống ở %(count)s dòng ngay dưới một dòng có tên lớp "
                  "(dòng %(rows)s): có thể tệp gộp ô tên lớp, mà định dạng tệp này không cho biết "
                  "ô gộp nên tên lớp không được điền xuống. Hãy bỏ gộp ô và ghi tên lớp cho từng "
                  "dòng rồi tải lại.")
                % {"column": self.letters["class_name"], "count": len(class_gaps),
                   "rows": _quote_rows(class_gaps)},
                field="class_name",
            ))
        self.problems.extend(self.note_warnings())
        return _SheetRead(rows=result, problems=self.problems, skipped=skipped)

    def fill_merged(self, row_index: int, raw: Sequence[Cell]) -> Sequence[Cell]:
        for column, last_row in self.merged_down.get(row_index, ()):
            self.filling[column] = (last_row, self.cell(raw, column))
        if not self.filling:
            return raw
        filled = list(raw)
        for column, (last_row, value) in list(self.filling.items()):
            if row_index > last_row:
                del self.filling[column]
                continue
            index = column - self.offset
            if 0 <= index < len(filled) and filled[index] == "":
                filled[index] = value
        return filled

    def converter(self, field: str) -> Callable[[Cell, int], Value]:
        today = self.today
        notes = self.notes
        if field in _DATE_FIELDS:
            return lambda cell, _row: _as_date(cell, today)
        if field in _YEAR_FIELDS:
            return lambda cell, _row: _as_year(cell, today)
        if field in _GRADE_FIELDS:
            return lambda cell, _row: _as_grade(cell)
        if field in _PHONE_FIELDS or field in _ID_LENGTHS:
            return lambda cell, row: _as_digits(cell, field, row, notes)
        if field in _CODE_FIELDS:
            return lambda cell, _row: _as_code(cell)
        return _text_converter

    def convert(self, raw: Sequence[Cell], row_index: int, excel_row: int) -> SourceRow:
        values: dict[str, Value] = {}
        columns: Mapping[str, str] = self.base_columns
        width = len(raw)
        cache = self.text_cache
        for field, index, column, converter, is_text in self.converters:
            cell = raw[index] if 0 <= index < width else ""
            # An uncached formula or an error cell reads as "": look them up first.
            if ((self.has_issues and self.cell_issue(row_index, column, excel_row, field))
                    or cell == ""):
                values[field] = None
            elif is_text and type(cell) is str and cell in cache:
                values[field] = cache[cell]
            else:
                try:
                    value = values[field] = converter(cell, excel_row)
                    if (is_text and type(cell) is str and value is not None
                            and len(cache) < _TEXT_CACHE_SIZE):
                        cache[cell] = value  # type: ignore[assignment]
                except _CellError as error:
                    self.row_error(error.message, excel_row, field)
                    values[field] = None
        education_id = values.get("education_id")
        if (self.temporary_codes and isinstance(education_id, str)
                and not education_id.isdigit() and not values.get("temporary_code")):
            # Grade-1 pupils wait for their Ministry code; schools put their temporary code in
            # the code column meanwhile. Ministry codes are digits, temporary codes are not.
            values["temporary_code"] = education_id
            values["education_id"] = None
            columns = {**self.base_columns, "temporary_code": self.letters["education_id"]}
            self.notes.add("temporary_code", "education_id", excel_row)
        return SourceRow(sheet=self.sheet, row=excel_row, values=values, columns=columns)

    def cell_issue(self, row_index: int, column: int, excel_row: int, field: str) -> bool:
        position = (row_index, column)
        if position in self.issues.uncached:
            self.row_error(
                _("Ô là công thức chưa có giá trị đã tính (tệp được tạo bằng phần mềm không tính "
                  "công thức); hãy mở tệp bằng Excel, lưu lại rồi tải lên lại."), excel_row, field)
            return True
        if position in self.issues.errors:
            self.row_error(
                _("Ô có lỗi công thức %(error)s; hãy sửa công thức hoặc nhập giá trị rồi tải "
                  "lại.") % {"error": self.issues.errors[position]}, excel_row, field)
            return True
        return False

    def where(self, row: int, field: str) -> str:
        return _("Sheet «%(sheet)s», dòng %(row)s, cột %(column)s (%(label)s)") % {
            "sheet": self.sheet, "row": row, "column": self.letters[field],
            "label": self.headers.labels.get(field, field),
        }

    def row_error(self, message: str, row: int, field: str) -> None:
        self.problems.append(Problem(
            severity=Severity.ERROR, message=f"{self.where(row, field)}: {message}",
            sheet=self.sheet, row=row, column=self.letters[field], field=field,
        ))

    def warning(self, message: str, *, field: str | None = None) -> Problem:
        return Problem(severity=Severity.WARNING, message=message, sheet=self.sheet,
                       column=self.letters.get(field) if field else None, field=field)

    def note_warnings(self) -> list[Problem]:
        texts = {
            "id_zero": _("%(count)s ô lưu dạng số nên Excel đã bỏ các số 0 ở đầu; đã thêm lại "
                         "cho đủ %(length)s chữ số (dòng %(rows)s). Lần sau hãy định dạng cột là "
                         "Văn bản (Text) trước khi nhập."),
            "phone_zero": _("%(count)s số điện thoại thiếu số 0 ở đầu (Excel lưu dạng số); đã "
                            "thêm lại (dòng %(rows)s). Lần sau hãy định dạng cột là Văn bản "
                            "(Text)."),
            "temporary_code": _("%(count)s học sinh chưa có mã Bộ GD&ĐT, cột này ghi mã tạm; đã "
                                "đọc là mã tạm (dòng %(rows)s)."),
        }
        problems = []
        for (note, field), rows in self.notes.rows.items():
            message = texts[note] % {"count": len(rows), "rows": _quote_rows(rows),
                                     "length": _ID_LENGTHS.get(field, "")}
            label = self.headers.labels.get(field, field)
            problems.append(self.warning(
                f"Cột {self.letters[field]} ({label}): {message}", field=field
            ))
        return problems


def _quote_rows(rows: Sequence[int]) -> str:
    shown = ", ".join(str(row) for row in rows[:_ROWS_QUOTED])
    return shown + ("…" if len(rows) > _ROWS_QUOTED else "")


# --- the workbook -------------------------------------------------------------------------


@dataclasses.dataclass
class _Candidate:
    name: str
    sheet: CalamineSheet
    head: list[list[Cell]]
    rows: Iterator[list[Cell]]
    header: _Header
    offset: int
    merged: list[tuple[tuple[int, int], tuple[int, int]]] | None


def _sheet_candidate(headers: HeaderSet, name: str, sheet: CalamineSheet) -> _Candidate | None:
    start = sheet.start
    if start is None:
        return None
    # python-calamine 0.9 iterates from row 0 (leading blank rows included) and from the first
    # used column: row numbers are positions, columns are offset by start[1]
    # (pinned by tests/intake/test_workbook.py::test_cells_are_placed_where_excel_shows_them).
    rows = sheet.iter_rows()
    head = list(itertools.islice(rows, HEADER_SCAN_ROWS + 1))
    merged = sheet.merged_cell_ranges
    header = _find_header(headers, head, offset=start[1], merged=merged)
    if header is None:
        return None
    return _Candidate(name=name, sheet=sheet, head=head, rows=rows, header=header,
                      offset=start[1], merged=merged)


def read_workbook(data: bytes, *, kind: Kind, filename: str = "",
                  max_rows: int = DEFAULT_MAX_ROWS, today: dt.date | None = None) -> Workbook:
    """Read an export workbook; raise ``WorkbookRefused`` when it cannot be taken in at all.

    ``today`` (default: the local date) bounds dates: a date after it is a row error.
    """
    kind = Kind(kind)
    if not data:
        raise _refuse(_("Tệp rỗng (0 byte); hãy chọn lại tệp danh sách rồi tải lên."))
    if len(data) > MAX_UPLOAD_BYTES:
        raise _refuse(
            _("Tệp lớn %(size)s MB, vượt giới hạn %(limit)s MB; hãy tách theo lớp/khối rồi tải "
              "lên từng tệp.") % {"size": f"{len(data) / 1024 / 1024:.1f}",
                                  "limit": MAX_UPLOAD_BYTES // (1024 * 1024)}
        )
    container = _sniff(data, filename)
    issues: dict[str, _CellIssues] = {}
    if container == "zip":
        issues = _inspect_zip(data, filename)
    else:
        _inspect_ole(data, filename)
    headers = header_sets()[kind]
    today = today or timezone.localdate()
    book = _open(data, filename)
    try:
        return _read_book(book, data=data, kind=kind, headers=headers, issues=issues,
                          filename=filename, max_rows=max_rows, today=today)
    finally:
        book.close()


def _read_book(book: CalamineWorkbook, *, data: bytes, kind: Kind, headers: HeaderSet,
               issues: Mapping[str, _CellIssues], filename: str, max_rows: int,
               today: dt.date) -> Workbook:
    if not book.sheet_names:
        raise _corrupt(filename)  # every workbook Excel writes has a sheet
    best: _Candidate | None = None
    complete: list[str] = []  # sheets whose header has every required column
    seen_cells = False
    broken = False
    for metadata in book.sheets_metadata:
        if metadata.typ != SheetTypeEnum.WorkSheet:
            continue
        try:
            sheet = book.get_sheet_by_name(metadata.name)
            seen_cells = seen_cells or sheet.start is not None
            candidate = _sheet_candidate(headers, metadata.name, sheet)
        except BaseException as error:
            if not _is_calamine_failure(error):
                raise
            broken = True
            continue
        if candidate is None:
            continue
        if REQUIRED_COLUMNS[kind] <= candidate.header.fields.keys():
            complete.append(candidate.name)
        if best is None or candidate.header.score > best.header.score:
            best = candidate
    if best is None:
        if broken and not seen_cells:
            raise _corrupt(filename)
        if not seen_cells:
            raise _refuse(_("Tệp không có dữ liệu (mọi sheet đều trống); hãy kiểm tra lại tệp "
                            "đã xuất."))
        raise _refuse(
            _("Không tìm thấy dòng tiêu đề của danh sách %(kind)s trong %(rows)s dòng đầu của "
              "sheet nào (cần các cột như «%(examples)s»). Hãy tải lên tệp xuất từ phần mềm "
              "(không sửa tên cột), hoặc thêm một dòng tiêu đề với tên cột như trên.")
            % {"kind": _kind_name(kind), "rows": HEADER_SCAN_ROWS,
               "examples": "», «".join(headers.labels[field]
                                       for field in sorted(REQUIRED_COLUMNS[kind]))}
        )
    header = best.header
    _check_columns(kind, headers, header)
    problems: list[Problem] = []
    if header.unknown:
        listed = ", ".join(f"«{header.texts[column]}» (cột {column_letter(column)})"
                           for column in sorted(header.unknown))
        problems.append(Problem(
            severity=Severity.WARNING, sheet=best.name,
            message=_("Sheet «%(sheet)s»: các cột sau không thuộc danh sách edureg đọc nên được "
                      "bỏ qua: %(columns)s.") % {"sheet": best.name, "columns": listed},
        ))
    others = [name for name in complete if name != best.name]
    if others:
        problems.append(Problem(
            severity=Severity.WARNING, sheet=best.name,
            message=_("Tệp có danh sách ở nhiều sheet; chỉ sheet «%(sheet)s» được đọc (bỏ qua: "
                      "%(others)s). Hãy tải từng sheet thành một tệp riêng.")
            % {"sheet": best.name, "others": ", ".join(f"«{name}»" for name in others)},
        ))
    template = _detect_template(headers, header)
    if template == UNKNOWN_TEMPLATE:
        problems.append(Problem(
            severity=Severity.WARNING, sheet=best.name,
            message=_("Các cột của sheet «%(sheet)s» không khớp mẫu xuất nào đã biết; các cột "
                      "vẫn được đọc theo tên. Hãy kiểm tra kết quả đọc thử kỹ hơn.")
            % {"sheet": best.name},
        ))
    reader = _Reader(headers=headers, header=header, sheet_name=best.name, offset=best.offset,
                     issues=issues.get(best.name), merged=best.merged, max_rows=max_rows,
                     today=today)
    start = header.last_row + 1
    rows = itertools.chain(
        ((index, row) for index, row in enumerate(best.head[start:], start=start)),
        enumerate(best.rows, start=len(best.head)),
    )
    try:
        read = reader.read(rows)
    except BaseException as error:
        if isinstance(error, WorkbookRefused) or not _is_calamine_failure(error):
            raise
        raise _corrupt(filename) from error
    if not read.rows:
        problems.append(Problem(
            severity=Severity.WARNING, sheet=best.name,
            message=_("Sheet «%(sheet)s» có dòng tiêu đề nhưng không có dòng dữ liệu nào.")
            % {"sheet": best.name},
        ))
    return Workbook(
        kind=kind, sha256=hashlib.sha256(data).hexdigest(), size=len(data), sheet=best.name,
        template=template, rows=tuple(read.rows), problems=tuple(problems + read.problems),
        skipped_rows=read.skipped,
    )


def _kind_name(kind: Kind) -> str:
    return _("học sinh") if kind == Kind.STUDENT else _("cán bộ, giáo viên, nhân viên")


def _check_columns(kind: Kind, headers: HeaderSet, header: _Header) -> None:
    for field, columns in sorted(header.duplicates.items()):
        listed = _(" và ").join(f"{column_letter(column)} («{header.texts[column]}»)"
                                for column in columns)
        raise _refuse(
            _("Các cột %(columns)s cùng là «%(label)s», không biết đọc cột nào. Hãy xoá hoặc đổi "
              "tên cột thừa rồi tải lại.") % {"columns": listed,
                                              "label": headers.labels[field]},
            field=field,
        )
    for field in sorted(REQUIRED_COLUMNS[kind] - header.fields.keys()):
        accepted = "», «".join(headers.aliases[field][:6])
        raise _refuse(
            _("Thiếu cột «%(label)s»: không có cột nào có tiêu đề như «%(accepted)s». Hãy thêm "
              "cột này (hoặc sửa tiêu đề cột) rồi tải lại.")
            % {"label": headers.labels[field], "accepted": accepted},
            field=field,
        )
